//! `ship` as a list (Plugbox's `upload`): several files and directories,
//! each placed at its own relative path in the release, and nothing else;
//! refused by name when a path is missing, a glob, outside the tree, listed
//! twice or inside another, or reached through a link.

mod common;

use common::Project;

/// App `app` on local host `a` in `test`, shipping `ship` (TOML).
fn project(ship: &str) -> Project {
    let p = Project::new(&format!(
        "[apps.app]\nship = {ship}\n\n[environments.test]\nhosts = [\"a\"]\n\n\
         [hosts.a]\ntransport = \"local\"\nroot = \".haul/hosts/a\"\n"
    ));
    p.write("bin/app", "#!/bin/sh\n")
        .write("config/app.toml", "port = 1\n")
        .write("config/nested/deep.txt", "deep\n")
        .write("static/index.html", "<p>hi</p>\n")
        .write("secret.env", "KEY=not for release\n")
        .write("notes/todo.txt", "not shipped\n");
    p
}

fn shipped(p: &Project) -> Vec<String> {
    let live = p.host("a").join("current");
    let mut out = Vec::new();
    let mut stack = vec![live.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(&live).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
                out.push(format!("{rel}/"));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn listed_files_and_directories_ship_at_their_own_paths_and_nothing_else() {
    let p = project(r#"["bin/app", "config/", "static"]"#);
    let plan = p.haul(&["plan", "app", "test"]).ok().stdout;
    assert!(plan.contains(": bin/app, config, static"), "{plan}");
    p.deploy();
    assert_eq!(
        shipped(&p),
        [
            "bin/",
            "bin/app",
            "config/",
            "config/app.toml",
            "config/nested/",
            "config/nested/deep.txt",
            "static/",
            "static/index.html"
        ]
    );
    // Only what is listed, even when something else changes.
    p.write("secret.env", "KEY=changed\n");
    let out = p.haul(&["build", "app"]).ok().stdout;
    let again = p.haul(&["build", "app"]).ok().stdout;
    assert_eq!(out, again, "an unlisted change is no new release");
    p.write("static/index.html", "<p>new</p>\n");
    let changed = p.haul(&["build", "app"]).ok().stdout;
    assert_ne!(changed, out);
}

#[test]
fn a_listed_path_that_is_missing_or_reached_through_a_link_is_refused_by_name() {
    let p = project(r#"["bin/app", "nowhere/file"]"#);
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("`ship` lists `nowhere/file`, which does not exist"), "{}", out.stderr);
    assert!(p.live("a").is_none());

    // A leading directory that is a link would ship what it leads to,
    // outside the tree.
    let p = project(r#"["outside/passwd"]"#);
    let away = tempfile::tempdir().unwrap();
    std::fs::write(away.path().join("passwd"), "root:x:0:0\n").unwrap();
    std::os::unix::fs::symlink(away.path(), p.path().join("outside")).unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("`outside` on the way to it is a link or a file"), "{}", out.stderr);
    assert!(p.live("a").is_none());

    // A listed link that leaves the tree is refused as any link is.
    let p = project(r#"["bin/app", "escape"]"#);
    std::os::unix::fs::symlink("/etc", p.path().join("escape")).unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("escape"), "{}", out.stderr);
    assert!(p.live("a").is_none());
}

#[test]
fn a_ship_list_that_cannot_mean_one_thing_is_refused_where_it_is_written() {
    for (ship, says) in [
        (r#"[]"#, "`ship` lists nothing"),
        (r#"["static/*.html"]"#, "has `*`: list paths without globs"),
        (r#"["../elsewhere"]"#, "must be a relative path inside the release"),
        (r#"["/etc/passwd"]"#, "must be a relative path inside the release"),
        (r#"["config", "config/app.toml"]"#, "ship path `config/app.toml` is inside ship path `config`"),
        (r#"["bin/app", "bin/app"]"#, "ship path `bin/app` is listed twice"),
        (r#"[1]"#, "ship"),
    ] {
        let p = project(ship);
        let out = p.haul(&["plan", "app", "test"]).fails(2);
        assert!(out.stderr.contains(says), "{ship}: {}", out.stderr);
        assert!(out.stderr.contains("haul.toml"), "{ship}: {}", out.stderr);
    }
}
