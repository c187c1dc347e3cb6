//! A switch says truthfully whether it may have moved `current`: one that
//! refused before its rename (the release is not complete) left it where it
//! was; one that renamed and then could not write the history (a full disk,
//! a history file the deploy user cannot write) moved it, and its error
//! says so, under every shell a host may have.

mod shells;

use haul_host::{Event, EventKind, HostApp};
use std::path::Path;

const R1: &str = "20260101T000000.000Z-111111111111";
const R2: &str = "20260101T000001.000Z-222222222222";

fn app(root: &Path) -> std::path::PathBuf {
    let app = root.join("app");
    for r in [R1, R2] {
        std::fs::create_dir_all(app.join("releases").join(r)).unwrap();
        std::fs::write(app.join("releases").join(format!("{r}.manifest")), "").unwrap();
    }
    std::os::unix::fs::symlink(format!("releases/{R1}"), app.join("current")).unwrap();
    std::fs::create_dir_all(app.join(".haul")).unwrap();
    app
}

fn live(app: &Path) -> String {
    std::fs::read_link(app.join("current")).unwrap().display().to_string()
}

fn switch(shell: &[&str], app: &Path, to: &str) -> Result<(), haul_host::HostError> {
    let host = HostApp::new(shells::local(shell), app.display().to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let to = haul_release::ReleaseId::parse(to).unwrap();
    rt.block_on(host.switch(&to, &Event::now(EventKind::Deploy, "test")))
}

fn a_switch_that_could_not_write_its_history_says_it_moved_current(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    // The history cannot be appended to: it is a directory.
    std::fs::create_dir_all(app.join(".haul/history")).unwrap();
    let e = switch(shell, &app, R2).unwrap_err();
    assert_eq!(live(&app), format!("releases/{R2}"), "the rename happened");
    assert!(e.switch_may_have_moved(), "{e}");
    assert!(e.to_string().contains("history could not be written"), "{e}");
}

fn a_switch_refused_before_its_rename_says_current_stayed(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    std::fs::remove_file(app.join("releases").join(format!("{R2}.manifest"))).unwrap();
    let e = switch(shell, &app, R2).unwrap_err();
    assert_eq!(live(&app), format!("releases/{R1}"));
    assert!(!e.switch_may_have_moved(), "{e}");
    // And a switch that works records its line.
    std::fs::write(app.join("releases").join(format!("{R2}.manifest")), "").unwrap();
    switch(shell, &app, R2).unwrap();
    assert_eq!(live(&app), format!("releases/{R2}"));
    assert_eq!(std::fs::read_to_string(app.join(".haul/history")).unwrap().lines().count(), 1);
}

under_every_shell!(
    a_switch_that_could_not_write_its_history_says_it_moved_current,
    a_switch_refused_before_its_rename_says_current_stayed,
);
