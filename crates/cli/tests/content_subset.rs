//! A content set that takes only a subset into an environment, stated in
//! `haul.toml` (Truck's "canonical, or a subset of production"): another
//! export or extra transforms for a `commands` set, some of the paths for
//! a `files` set; said when it syncs and shown on the pipeline.

mod common;

use common::Project;

fn project(subset: &str) -> Project {
    let toml = format!(
        r#"[apps.app]
ship = "src"
shared = ["uploads/", "avatars/"]

[apps.app.content.notes]
kind = "commands"
export = "cat notes.txt"
import = "cat > notes.txt"

[apps.app.content.files]
kind = "files"
paths = ["uploads/", "avatars/"]

{subset}

[environments.prod]
hosts = ["a"]

[environments.stage]
hosts = ["b"]
content = "prod"

[environments.dev]
hosts = ["c"]
content = "prod"

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[hosts.b]
transport = "local"
root = ".haul/hosts/b"

[hosts.c]
transport = "local"
root = ".haul/hosts/c"
"#
    );
    let p = Project::new(&toml);
    p.write("src/index.html", "hi");
    p
}

const SUBSETS: &str = r#"[apps.app.content.notes.subset.stage]
description = "notes without private lines"
transform = ["grep -v private"]

[apps.app.content.files.subset.stage]
description = "uploads only, no avatars"
paths = ["uploads/"]
"#;

#[test]
fn a_stated_subset_is_what_reaches_its_environment_and_nothing_more() {
    let p = project(SUBSETS);
    for env in ["prod", "stage", "dev"] {
        p.haul(&["deploy", "app", env]).ok();
    }
    let prod = p.host("a");
    std::fs::write(prod.join("notes.txt"), "public 1\nprivate 2\npublic 3\n").unwrap();
    std::fs::write(prod.join("shared/uploads/u.txt"), "upload\n").unwrap();
    std::fs::write(prod.join("shared/avatars/face.png"), "face\n").unwrap();

    let out = p.haul(&["content", "sync", "app", "--to", "stage"]).ok();
    assert!(out.stderr.contains("notes: stage takes a subset: notes without private lines"), "{}", out.stderr);
    assert!(out.stderr.contains("files: stage takes a subset: uploads only, no avatars"), "{}", out.stderr);
    let stage = p.host("b");
    assert_eq!(std::fs::read_to_string(stage.join("notes.txt")).unwrap(), "public 1\npublic 3\n");
    assert_eq!(std::fs::read_to_string(stage.join("shared/uploads/u.txt")).unwrap(), "upload\n");
    assert!(!stage.join("shared/avatars/face.png").exists(), "avatars are not in stage's subset");

    // dev states no subset: it gets everything.
    p.haul(&["content", "sync", "app", "--to", "dev"]).ok();
    let dev = p.host("c");
    assert_eq!(std::fs::read_to_string(dev.join("notes.txt")).unwrap(), "public 1\nprivate 2\npublic 3\n");
    assert!(dev.join("shared/avatars/face.png").exists());

    let pipeline = p.haul(&["pipeline", "app", "--json"]).ok().json();
    let stage = pipeline["environments"].as_array().unwrap().iter().find(|s| s["env"] == "stage").unwrap();
    let subsets: Vec<(&str, &str)> = stage["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["set"].as_str().unwrap(), s["description"].as_str().unwrap()))
        .collect();
    assert_eq!(subsets, [("files", "uploads only, no avatars"), ("notes", "notes without private lines")]);
}

#[test]
fn a_subset_that_cannot_apply_is_refused_where_it_is_written() {
    for (subset, says) in [
        (
            "[apps.app.content.notes.subset.qa]\ndescription = \"x\"\ntransform = [\"cat\"]",
            "`subset.qa` names no environment",
        ),
        (
            "[apps.app.content.notes.subset.stage]\ndescription = \" \"\ntransform = [\"cat\"]",
            "a subset's `description` says what it takes",
        ),
        ("[apps.app.content.notes.subset.stage]\ndescription = \"x\"", "changes nothing"),
        (
            "[apps.app.content.notes.subset.stage]\ndescription = \"x\"\npaths = [\"uploads/\"]",
            "a subset's `paths` belongs to a `files` set",
        ),
        (
            "[apps.app.content.files.subset.stage]\ndescription = \"x\"\npaths = [\"logs/\"]",
            "subset path `logs/` is not one of the set's `paths`",
        ),
        (
            "[apps.app.content.files.subset.stage]\ndescription = \"x\"\nexport = \"cat\"",
            "a subset's `export` belongs to a `commands` set",
        ),
        ("[apps.app.content.files.subset.stage]\ndescription = \"x\"\nwhere = \"1\"", "unknown field `where`"),
    ] {
        let p = project(subset);
        let out = p.haul(&["plan", "app", "prod"]).fails(2);
        assert!(out.stderr.contains(says), "{subset}: {}", out.stderr);
        assert!(out.stderr.contains("haul.toml"), "{}", out.stderr);
    }
}
