//! Certificates for the HTTPS tests, made with the `openssl` command so the
//! TLS under test meets a real CA and a real certificate chain.

use std::path::Path;
use std::process::{Command, Stdio};

/// Makes, in `dir`, a test CA (`ca.pem`), a certificate for 127.0.0.1 it
/// signed (`srv.pem`, key `srv.key`) and an unrelated CA (`other-ca.pem`),
/// with the `openssl` command.
pub fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).stdin(Stdio::null()).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ca = |key: &str, pem: &str, name: &str| {
        let subj = format!("/CN={name}");
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem, "-days", "2", "-subj", &subj,
        ]);
    };
    ca("ca.key", "ca.pem", "haul test CA");
    ca("other.key", "other-ca.pem", "another CA");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").expect("write");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
}
