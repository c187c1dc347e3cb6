//! A started server answers on its own URL and on each database created in it.

use std::process::{Command, Stdio};

use haul_testpg::Postgres;

fn select_one(url: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", "select 1"])
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn databases_answer() {
    let pg = Postgres::start().expect("start postgres");
    assert_eq!(select_one(&pg.url()), "1");
    let a = pg.create_database("ledger_a").expect("create ledger_a");
    let b = pg.create_database("ledger-b").expect("create ledger-b");
    assert!(a.ends_with("/ledger_a") && b.ends_with("/ledger-b"), "{a} {b}");
    assert_ne!(a, b);
    assert_eq!(select_one(&a), "1");
    assert_eq!(select_one(&b), "1");
    assert!(pg.create_database("ledger_a").is_err(), "a database is created only once");
    assert!(pg.create_database("x'; drop").is_err(), "names are checked");
}

#[test]
fn drop_stops_the_server() {
    let pg = Postgres::start().expect("start postgres");
    let url = pg.url();
    let port: u16 = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()?.parse().ok()).expect("port");
    drop(pg);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port} after drop");
}

#[test]
fn a_stopped_server_refuses_connections_and_comes_back_with_its_data() {
    let mut pg = Postgres::start().expect("start postgres");
    let url = pg.create_database("kept").expect("create kept");
    let port: u16 = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()?.parse().ok()).expect("port");
    pg.stop().expect("stop");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port} while stopped");
    pg.restart().expect("restart");
    assert_eq!(select_one(&url), "1", "the database created before the stop is still there");
}
