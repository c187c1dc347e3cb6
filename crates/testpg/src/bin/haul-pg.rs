//! `haul-pg`: a throwaway PostgreSQL server for benchmarks and trying haul
//! by hand. Starts one on a free loopback port (as the `postgres` user when
//! run as root), creates database `haul`, prints its URL on stdout, and
//! stops it (removing its files) when stdin closes.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;

fn main() {
    let pg = match haul_testpg::Postgres::start() {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("haul-pg: {e}");
            std::process::exit(1);
        }
    };
    let url = match pg.create_database("haul") {
        Ok(url) => url,
        Err(e) => {
            eprintln!("haul-pg: create database: {e}");
            std::process::exit(1);
        }
    };
    println!("{url}");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(pg);
}
