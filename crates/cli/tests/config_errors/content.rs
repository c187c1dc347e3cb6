//! Content sets (`[apps.<app>.content.<name>]`) and `protected`.

#[test]
fn commands_set_without_an_import() {
    rejects!(
        r#"
[apps.web]
ship = "d"

[apps.web.content.db]
kind = "commands"
export = "pg_dump -Fc app"
"#
    );
}

#[test]
fn snapshot_without_a_restore() {
    rejects!(
        r#"
[apps.web]
ship = "d"

[apps.web.content.db]
kind = "commands"
export = "pg_dump -Fc app"
import = "pg_restore --clean --if-exists -d app"
snapshot = "pg_dump -Fc app > shared/before.dump"
"#
    );
}

#[test]
fn files_field_on_a_commands_set() {
    rejects!(
        r#"
[apps.web]
ship = "d"
shared = ["uploads/"]

[apps.web.content.db]
kind = "commands"
export = "pg_dump -Fc app"
import = "pg_restore -d app"
paths = ["uploads/"]
"#
    );
}

#[test]
fn files_set_of_a_directory_not_shared() {
    rejects!(
        r#"
[apps.web]
ship = "d"
shared = ["uploads/", "config.yml"]

[apps.web.content.media]
kind = "files"
paths = ["uploads/", "config.yml"]
"#
    );
}

#[test]
fn files_set_path_leaving_shared() {
    rejects!(
        r#"
[apps.web]
ship = "d"
shared = ["uploads/"]

[apps.web.content.media]
kind = "files"
paths = ["../uploads/"]
"#
    );
}

#[test]
fn content_set_with_an_unknown_kind() {
    rejects!(
        r#"
[apps.web]
ship = "d"

[apps.web.content.db]
kind = "database"
"#
    );
}

#[test]
fn content_set_role_no_host_has() {
    rejects!(
        r#"
[apps.web]
ship = "d"

[apps.web.content.db]
kind = "commands"
role = "database"
export = "pg_dump -Fc app"
import = "pg_restore -d app"

[hosts.a]
transport = "local"
root = "a"
roles = ["db"]
"#
    );
}

#[test]
fn protected_that_is_not_a_boolean() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
protected = "yes"

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn files_set_of_the_directory_haul_stages_in() {
    rejects!(
        r#"
[apps.web]
ship = "d"
shared = [".haul-content/"]

[apps.web.content.media]
kind = "files"
paths = [".haul-content/"]
"#
    );
}
