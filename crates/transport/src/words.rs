//! How a script and its arguments reach a host's shell, quoted once.
//!
//! Host scripts take their data as positional arguments (`"$1"`, `"$2"`…)
//! and never have data written into their text, so the only place a value
//! meets a shell's parser is here. Locally nothing is parsed at all: the
//! script and every argument are separate `argv` entries of `sh -c -- SCRIPT
//! haul ARG…`. Over SSH the remote side takes one command line, which the
//! login shell splits: [`command_line`] builds it with [`quote`], which puts
//! every word in single quotes, so no character of a value (a quote, `$()`,
//! a newline, a leading `-`, nothing at all) can be read as syntax.
//!
//! Both transports refuse the same arguments, so a script proven locally
//! never meets an argument SSH would refuse: one with a NUL byte (no `argv`
//! entry can hold one) or that is not UTF-8 (a host's shell and locale might
//! read it as anything).

use std::ffi::OsStr;

/// An argument that cannot be handed to a host's shell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("argument {index} of the script is not UTF-8: {shown}")]
    NotUtf8 { index: usize, shown: String },
    #[error("argument {index} of the script holds a NUL byte: {shown:?}")]
    Nul { index: usize, shown: String },
    #[error("the script holds a NUL byte")]
    NulInScript,
}

/// The name scripts see as `$0`.
pub(crate) const NAME: &str = "haul";

/// `args` as strings a shell can receive, in order, or why one cannot.
pub(crate) fn checked<'a, A: AsRef<OsStr>>(script: &str, args: &'a [A]) -> Result<Vec<&'a str>, ArgError> {
    if script.contains('\0') {
        return Err(ArgError::NulInScript);
    }
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            let index = i + 1;
            let a = a.as_ref();
            let s = a.to_str().ok_or_else(|| ArgError::NotUtf8 { index, shown: a.to_string_lossy().into_owned() })?;
            if s.contains('\0') {
                return Err(ArgError::Nul { index, shown: s.replace('\0', "\\0") });
            }
            Ok(s)
        })
        .collect()
}

/// `s` as one `sh` word: in single quotes, each `'` in it written as `'\''`.
/// `s` must hold no NUL byte (no shell word can).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str(r"'\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    q
}

/// The one command line that runs `script` with `args` under `sh`, whatever
/// the login shell that splits it (as long as it is a POSIX one).
pub fn command_line<A: AsRef<OsStr>>(script: &str, args: &[A]) -> Result<String, ArgError> {
    let args = checked(script, args)?;
    let mut line = format!("sh -c -- {} {NAME}", quote(script));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    Ok(line)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    /// Arguments that would each break a line built by pasting.
    pub(crate) const HOSTILE: &[&str] = &[
        "it's",
        "\"double\"",
        "$(touch pwned)",
        "`touch pwned`",
        "${HOME}",
        "a\nb",
        "\n",
        "-x",
        "--",
        "-c",
        "",
        " lead and trail ",
        "back\\slash\\",
        "'",
        "''",
        "*",
        "; exit 9",
        "| cat",
        "#comment",
        "~",
        "\t",
        "\u{e9}t\u{e9} \u{1f680}",
    ];

    /// What a script receives when a login shell `login` splits the
    /// command line (as sshd has it do with `$SHELL -c LINE`).
    fn received(login: &[&str], script: &str, args: &[&str]) -> (Vec<String>, String) {
        let dir = tempfile::tempdir().unwrap();
        let line = command_line(script, args).unwrap();
        let out = std::process::Command::new(login[0])
            .args(&login[1..])
            .arg("-c")
            .arg(&line)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{login:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!dir.path().join("pwned").exists(), "{login:?} ran a command from an argument");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut parts: Vec<String> = text.split('\0').map(str::to_string).collect();
        let zero = parts.remove(0);
        parts.pop(); // after the last NUL
        (parts, zero)
    }

    fn hostile_arguments_arrive_intact_under(login: &[&str]) {
        let script = "printf '%s\\0' \"$0\" \"$@\"";
        let (got, zero) = received(login, script, HOSTILE);
        assert_eq!(zero, NAME);
        assert_eq!(got, HOSTILE, "{login:?}");
        // One at a time too: an empty or lone argument is still one.
        for a in HOSTILE {
            assert_eq!(received(login, script, &[a]).0, [*a], "{login:?}: {a:?}");
        }
        assert_eq!(received(login, script, &[] as &[&str]).0, Vec::<String>::new());
    }

    #[test]
    fn hostile_arguments_arrive_intact_under_dash() {
        hostile_arguments_arrive_intact_under(&["dash"]);
    }

    #[test]
    fn hostile_arguments_arrive_intact_under_bash() {
        hostile_arguments_arrive_intact_under(&["bash"]);
    }

    #[test]
    fn hostile_arguments_arrive_intact_under_busybox_sh() {
        hostile_arguments_arrive_intact_under(&["busybox", "sh"]);
    }

    #[test]
    fn a_hostile_script_is_one_word_too() {
        for script in ["-e", "echo '$(x)'; echo \"it's\"\necho `printf ok`", "--version"] {
            let line = command_line(script, &[] as &[&str]).unwrap();
            let out = std::process::Command::new("dash").arg("-c").arg(&line).output().unwrap();
            let direct = std::process::Command::new("dash").args(["-c", "--", script]).output().unwrap();
            assert_eq!(out.stdout, direct.stdout, "{script:?}");
            assert_eq!(out.status.code(), direct.status.code(), "{script:?}");
        }
    }

    #[test]
    fn arguments_that_are_not_utf8_or_hold_nul_are_refused() {
        let bad = OsString::from_vec(vec![b'a', 0xff, b'b']);
        let e = command_line("true", &[OsString::from("ok"), bad]).unwrap_err();
        assert!(matches!(e, ArgError::NotUtf8 { index: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("argument 2"), "{e}");
        let e = command_line("true", &["a\0b"]).unwrap_err();
        assert_eq!(e, ArgError::Nul { index: 1, shown: "a\\0b".into() });
        assert_eq!(command_line("true\0", &[] as &[&str]).unwrap_err(), ArgError::NulInScript);
    }

    #[test]
    fn every_word_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(command_line("echo", &["-n", ""]).unwrap(), "sh -c -- 'echo' haul '-n' ''");
    }
}
