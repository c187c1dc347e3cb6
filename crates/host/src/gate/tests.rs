//! The gate against hostile archives built here with the `tar` crate, and
//! against a real `tar` run by `sh`: what passes is what was asked for,
//! nothing else.

use super::pass;

fn asked(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data).unwrap();
}

/// An archive whose header carries `name` as written, `..` and all (the
/// builder refuses such names, a hostile host's tar need not).
fn raw(name: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0; 1024]);
    out
}

fn entries(tar_bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (e.path().unwrap().display().to_string(), e.header().mode().unwrap(), data)
        })
        .collect()
}

#[test]
fn asked_for_files_pass_with_their_permission_bits_only() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./up/a.txt", 0o4755, b"a");
    file(&mut b, "./up/deep/b", 0o640, b"bb");
    let src = b.into_inner().unwrap();
    let mut out = Vec::new();
    assert_eq!(pass(&asked(&["./up/a.txt", "./up/deep/b"]), &src[..], &mut out), Ok(2));
    assert_eq!(
        entries(&out),
        [("up/a.txt".to_string(), 0o755, b"a".to_vec()), ("up/deep/b".to_string(), 0o640, b"bb".to_vec())]
    );
}

#[test]
fn archives_one_after_another_pass_as_one() {
    let mut src = Vec::new();
    for (n, d) in [("./up/1", "one"), ("./up/2", "two")] {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, n, 0o644, d.as_bytes());
        src.extend(b.into_inner().unwrap());
    }
    let mut out = Vec::new();
    assert_eq!(pass(&asked(&["./up/1", "./up/2"]), &src[..], &mut out), Ok(2));
    assert_eq!(entries(&out).len(), 2);
}

#[test]
fn a_link_a_device_a_directory_or_an_escaping_name_is_refused_by_name() {
    for (name, kind, says) in [
        ("./up/l", tar::EntryType::Symlink, "not a regular file"),
        ("./up/hard", tar::EntryType::Link, "not a regular file"),
        ("./up/dev", tar::EntryType::Char, "not a regular file"),
        ("./up/dir", tar::EntryType::Directory, "not a regular file"),
        ("./up/../../etc/cron.d/x", tar::EntryType::Regular, "not a plain path"),
        ("/etc/passwd", tar::EntryType::Regular, "not a plain path"),
    ] {
        let mut out = Vec::new();
        // Asked for too, as a hostile listing would: the gate judges the
        // name itself.
        let e = pass(&asked(&[name, "./up/x"]), &raw(name, kind, b"x")[..], &mut out)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let e = e.expect_err(name);
        assert!(e.contains(says) && e.contains(&format!("{name:?}")), "{name}: {e}");
    }
}

#[test]
fn a_file_sent_twice_or_one_missing_is_refused() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./up/a", 0o644, b"1");
    file(&mut b, "./up/a", 0o644, b"2");
    let twice = b.into_inner().unwrap();
    let e = pass(&asked(&["./up/a"]), &twice[..], Vec::new()).unwrap_err();
    assert!(e.contains("sent twice"), "{e}");
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./up/a", 0o644, b"1");
    let one = b.into_inner().unwrap();
    let e = pass(&asked(&["./up/a", "./up/b"]), &one[..], Vec::new()).unwrap_err();
    assert!(e.contains("did not send \"./up/b\""), "{e}");
}

#[test]
fn a_truncated_archive_is_refused() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./up/a", 0o644, &[7; 4000]);
    let src = b.into_inner().unwrap();
    let e = pass(&asked(&["./up/a"]), &src[..1500], Vec::new()).unwrap_err();
    assert!(e.contains("./up/a") || e.contains("unreadable"), "{e}");
}

#[test]
fn long_names_from_a_real_tar_pass() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("up/{}/{}", "d".repeat(120), "f".repeat(150));
    std::fs::create_dir_all(dir.path().join(&long).parent().unwrap()).unwrap();
    std::fs::write(dir.path().join(&long), "long").unwrap();
    let name = format!("./{long}");
    let out =
        std::process::Command::new("tar").arg("-cf").arg("-").arg(&name).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut passed = Vec::new();
    assert_eq!(pass(std::slice::from_ref(&name), &out.stdout[..], &mut passed), Ok(1));
    assert_eq!(entries(&passed), [(name, 0o644 & entries(&out.stdout)[0].1, b"long".to_vec())]);
}

#[test]
fn a_file_not_asked_for_is_refused() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./up/other", 0o644, b"1");
    let e = pass(&asked(&["./up/a"]), &b.into_inner().unwrap()[..], Vec::new()).unwrap_err();
    assert!(e.contains("up/other\", which was not asked for"), "{e}");
}
