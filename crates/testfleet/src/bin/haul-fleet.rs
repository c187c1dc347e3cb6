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
            let pids: Vec<String> = fleet
                .hosts
                .iter()
                .chain(fleet.bastion.as_ref())
                .map(|h| format!("{} {} {}", h.holder, h.address, h.port))
                .collect();
            std::fs::write(dir.join("fleet.pids"), pids.join("\n") + "\n").expect("write fleet.pids");
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
        Some("down") => {
            let pids = std::fs::read_to_string(dir.join("fleet.pids")).unwrap_or_default();
            for line in pids.lines() {
                let Some(holder) = line.split_whitespace().next() else {
                    continue;
                };
                let ns = std::fs::read_link(format!("/proc/{holder}/ns/mnt"));
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let pid = e.file_name();
                    if std::fs::read_link(e.path().join("ns/mnt")).ok() == ns.as_ref().ok().cloned() {
                        let _ = std::process::Command::new("kill").arg("-9").arg(&pid).status();
                    }
                }
            }
            let _ = std::fs::remove_file(dir.join("fleet.pids"));
            eprintln!("fleet in {} is down", dir.display());
        }
        _ => usage(),
    }
}
