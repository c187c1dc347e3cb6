//! Key files: made once, read strictly, each refusal naming the file.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use haul_bless::{Envelope, KeyError, PublicKey, SecretKey, verify};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{blessing, now, trust};

fn refusal(r: Result<impl std::fmt::Debug, KeyError>, path: &Path, says: &str) {
    let e = r.expect_err("refused");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(says), "{msg}");
}

#[test]
fn a_key_written_and_read_back_signs_what_its_public_half_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = SecretKey::generate("ops");
    k.write_pair(dir.path()).unwrap();
    let mode = std::fs::metadata(dir.path().join("ops.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(dir.path().join("ops.key")).unwrap();
    assert!(text.starts_with("haul-ed25519-secret ") && text.ends_with('\n') && text.lines().count() == 1);
    let public = std::fs::read_to_string(dir.path().join("ops.pub")).unwrap();
    assert!(public.starts_with("haul-ed25519 ") && public.ends_with(" ops\n"), "{public}");

    let secret = SecretKey::read(&dir.path().join("ops.key")).unwrap();
    let public = PublicKey::read(&dir.path().join("ops.pub")).unwrap();
    assert_eq!((secret.name.as_str(), public.name.as_str()), ("ops", "ops"));
    assert_eq!(secret.public(), public);
    assert_eq!(public.id(), k.public().id());
    assert_eq!(public.id().0.len(), 16);
    let env = Envelope::sign(&blessing(1), &[&secret]);
    verify(&env, &trust(&[&k], 1), "web", "prod", None, now()).unwrap();
    // Two fresh keys differ.
    assert_ne!(SecretKey::generate("a").public().id(), SecretKey::generate("a").public().id());
}

#[test]
fn existing_key_file_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    SecretKey::generate("ops").write_pair(dir.path()).unwrap();
    let before = std::fs::read(dir.path().join("ops.key")).unwrap();
    refusal(SecretKey::generate("ops").write_pair(dir.path()), &dir.path().join("ops.key"), "already exists");
    assert_eq!(std::fs::read(dir.path().join("ops.key")).unwrap(), before);
    // A lone .pub is not replaced either, and no secret is left behind.
    std::fs::write(dir.path().join("ci.pub"), "x").unwrap();
    refusal(SecretKey::generate("ci").write_pair(dir.path()), &dir.path().join("ci.pub"), "already exists");
    assert!(!dir.path().join("ci.key").exists());
    // Nor a dangling link where the key would go.
    std::os::unix::fs::symlink("/nonexistent/elsewhere", dir.path().join("ln.key")).unwrap();
    refusal(SecretKey::generate("ln").write_pair(dir.path()), &dir.path().join("ln.key"), "already exists");
}

#[test]
fn key_name_that_would_leave_the_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["../ops", "a/b", ".hidden", "", "sp ace"] {
        assert!(SecretKey::generate(name).write_pair(dir.path()).is_err(), "{name:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn world_readable_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    SecretKey::generate("ops").write_pair(dir.path()).unwrap();
    let path = dir.path().join("ops.key");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        refusal(SecretKey::read(&path), &path, "chmod 600");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    SecretKey::read(&path).unwrap();
}

fn write_secret(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn secret_key_file_that_is_not_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b32 = STANDARD.encode([7u8; 32]);
    let cases = [
        ("prefix", format!("haul-ed25519 {b32}\n"), "not a haul secret key"),
        ("nospace", format!("haul-ed25519-secret{b32}\n"), "not a haul secret key"),
        ("base64", "haul-ed25519-secret !!!not base64!!!\n".to_string(), "not base64"),
        ("short", format!("haul-ed25519-secret {}\n", STANDARD.encode([7u8; 31])), "31 bytes, not 32"),
        ("long", format!("haul-ed25519-secret {}\n", STANDARD.encode([7u8; 33])), "33 bytes, not 32"),
        ("huge", format!("haul-ed25519-secret {}\n", "A".repeat(10_000)), "too large"),
        ("empty", String::new(), "not a haul secret key"),
    ];
    for (name, text, says) in cases {
        let path = write_secret(dir.path(), &format!("{name}.key"), &text);
        refusal(SecretKey::read(&path), &path, says);
    }
    let missing = dir.path().join("missing.key");
    refusal(SecretKey::read(&missing), &missing, "No such file");
    refusal(SecretKey::read(dir.path()), dir.path(), "not a regular file");
}

#[test]
fn weak_public_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The identity point: every signature verifies against it (non-strictly).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let path = dir.path().join("weak.pub");
    std::fs::write(&path, format!("haul-ed25519 {} weak\n", STANDARD.encode(identity))).unwrap();
    refusal(PublicKey::read(&path), &path, "weak");
}

#[test]
fn public_key_file_that_is_not_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = SecretKey::generate("ops").public().to_line();
    let b64 = good.split(' ').nth(1).unwrap().to_string();
    let cases = [
        ("prefix", format!("ssh-ed25519 {b64} ops\n"), "not a haul public key"),
        ("base64", "haul-ed25519 %%%% ops\n".to_string(), "not base64"),
        ("short", format!("haul-ed25519 {} ops\n", STANDARD.encode([9u8; 16])), "16 bytes, not 32"),
        ("fields", format!("haul-ed25519 {b64} ops extra\n"), "more than three fields"),
        ("name", format!("haul-ed25519 {b64} ../x\n"), "not allowed"),
    ];
    for (name, text, says) in cases {
        let path = dir.path().join(format!("{name}.pub"));
        std::fs::write(&path, text).unwrap();
        refusal(PublicKey::read(&path), &path, says);
    }
    // No name on the line: the file's name is the key's.
    let path = dir.path().join("nameless.pub");
    std::fs::write(&path, format!("haul-ed25519 {b64}\n")).unwrap();
    assert_eq!(PublicKey::read(&path).unwrap().name, "nameless");
}

#[test]
fn trusted_public_key_file_writable_by_anyone_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ops.pub");
    std::fs::write(&path, SecretKey::generate("ops").public().to_line()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    refusal(PublicKey::read(&path), &path, "writable by anyone");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(PublicKey::read(&path).unwrap().name, "ops");
}

#[test]
fn key_file_that_is_a_fifo_or_a_device_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.key");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o600)).unwrap();
    refusal(SecretKey::read(&fifo), &fifo, "not a regular file");
    let link = dir.path().join("zero.pub");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    refusal(PublicKey::read(&link), &link, "not a regular file");
}
