//! Starts or stops a simulated fleet of SSH hosts on this machine and prints
//! a matching `haul.toml`, so haul can be tried on many "servers" at once.
//!
//!     haul-fleet up 8 --dir /tmp/fleet [--bastion] [--port 2222]
//!     haul deploy ... --config /tmp/fleet/haul.toml
//!     haul-fleet down --dir /tmp/fleet
#![allow(clippy::print_stdout, clippy::print_stderr)]

use haul_testfleet::{Fleet, FleetOptions};
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!("usage: haul-fleet up N --dir DIR [--bastion] [--port P]\n       haul-fleet down --dir DIR");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut opts = FleetOptions { persist: true, port: 2222, ..FleetOptions::default() };
    let mut count = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = it.next().map(PathBuf::from),
            "--port" => opts.port = it.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| usage()),
            "--bastion" => opts.bastion = true,
            n => count = Some(n.parse::<usize>().unwrap_or_else(|_| usage())),
        }
    }
    let dir = dir.unwrap_or_else(|| usage());
    match args.first().map(String::as_str) {
        Some("up") => {
            opts.hosts = count.unwrap_or_else(|| usage());
            let fleet = Fleet::start_in(&dir, opts).unwrap_or_else(|e| {
                eprintln!("haul-fleet: {e}");
                std::process::exit(1);
            });
            fleet.record().expect("write fleet.pids");
            let body = format!(
                "# A simulated fleet. Deploy with: haul --config {dir}/haul.toml deploy site fleet\n\
                 [apps.site]\nbuild = [\"mkdir -p dist && date > dist/index.html\"]\nship = \"dist\"\n\n\
                 [environments.fleet]\nhosts = {names}\n",
                dir = fleet.dir.display(),
                names = fleet.names_toml()
            );
            let toml = fleet.haul_toml(&body);
            std::fs::write(fleet.dir.join("haul.toml"), &toml).expect("write haul.toml");
            println!("{toml}");
            eprintln!("fleet of {} hosts is up; config in {}/haul.toml", fleet.hosts.len(), fleet.dir.display());
        }
        Some("down") => match haul_testfleet::stop_recorded(&dir) {
            Ok(n) => eprintln!("fleet in {} is down ({n} hosts stopped)", dir.display()),
            Err(e) => {
                eprintln!("haul-fleet: {}: {e}", dir.display());
                std::process::exit(1);
            }
        },
        _ => usage(),
    }
}
