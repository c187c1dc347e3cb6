//! Every external tool the host scripts use, in one list, and the probe that
//! finds which of them a host lacks.
//!
//! The scripts keep to what POSIX and BusyBox both give (BusyBox has no
//! `cksum`, so the record check falls back to `sha256sum`), and a host that
//! lacks something is told so by name, by `haul check --hosts` before a
//! deploy and by the failing script itself during one ([`missing_tool`]),
//! never as some other fault.

/// One thing the host scripts need, and the `sh` test that shows the host
/// has it. Tests run in a scratch directory holding a file `f`, a
/// directory `d` and a symlink `l -> d`. (`[ a -ef b ]` is not POSIX, but
/// every `sh` haul meets has it: dash, bash, BusyBox, ksh, zsh.)
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// How a person names it: `tar`, `cp -l`, `cksum or sha256sum`.
    pub name: &'static str,
    /// What it is used for, said when it is missing.
    pub used_for: &'static str,
    /// Deploys cannot work without it (else it only makes them better).
    pub required: bool,
    test: &'static str,
}

const fn need(name: &'static str, used_for: &'static str, test: &'static str) -> Tool {
    Tool { name, used_for, required: true, test }
}

/// Every tool, in the order `haul check --hosts` lists them. `sh` builtins
/// (`cd`, `printf`, `[`, `command`, `set`) are not listed: `sh` has them.
pub const TOOLS: &[Tool] = &[
    need("sh", "running every script", "true"),
    need("tar", "unpacking what a deploy sends", "command -v tar"),
    need(
        "cp -l",
        "reusing files of the previous release as hard links",
        "cp -al f g 2>/dev/null && [ f -ef g ] && rm -f g",
    ),
    need(
        "mv -T",
        "switching `current` by one rename",
        "ln -s d l2 && { mv -T l2 m 2>/dev/null || mv -h l2 m 2>/dev/null; } && [ -L m ] && rm -f m l2",
    ),
    need("ln -s", "the `current` link and shared paths", "ln -s d l3 && [ -L l3 ] && rm -f l3"),
    need("mkdir", "release and shared directories", "mkdir -p p/q && [ -d p/q ]"),
    need("rm", "removing releases and staging leftovers", "command -v rm"),
    need("cat", "reading records, locks and history", "command -v cat"),
    need("dirname", "shared file paths", "[ \"$(dirname a/b)\" = a ]"),
    need("xargs -0", "removing files a release no longer has", "[ \"$(printf 'x\\0' | xargs -0 echo)\" = x ]"),
    need("awk", "applying the patch of a release record", "[ \"$(echo 'a b' | awk '{ print $2 }')\" = b ]"),
    need(
        "cksum or sha256sum",
        "checking a patched release record",
        "command -v cksum || command -v sha256sum || command -v shasum",
    ),
    need("grep -F", "telling whose lock is held", "echo 'a.b' | grep -qF a.b"),
    need(
        "readlink, or ls and sed",
        "reading where `current` points",
        "command -v readlink || { command -v ls && command -v sed; }",
    ),
    Tool {
        name: "rsync",
        used_for: "sending large changed files as deltas",
        required: false,
        test: "command -v rsync",
    },
];

/// The `sh` that checks every tool: prints `tool yes N` or `tool no N` for
/// the tool at index `N` of [`TOOLS`], in a scratch directory it removes
/// again.
pub fn probe_script() -> String {
    let mut s = String::from(
        "t=$(mktemp -d 2>/dev/null || echo \"${TMPDIR:-/tmp}/haul-probe-$$\"); mkdir -p \"$t\" && cd \"$t\" || exit 3\n\
         : > f; mkdir d; ln -s d l 2>/dev/null\n",
    );
    for (i, t) in TOOLS.iter().enumerate() {
        s.push_str(&format!(
            "if {{ {}; }} >/dev/null 2>&1; then echo \"tool yes {i}\"; else echo \"tool no {i}\"; fi\n",
            t.test
        ));
    }
    s.push_str("cd / && rm -rf \"$t\"\n");
    s
}

/// Reads one line of [`probe_script`]'s output: the tool's name and whether
/// the host has it.
pub fn parse_probe_line(line: &str) -> Option<(&'static str, bool)> {
    let rest = line.strip_prefix("tool ")?;
    let (v, i) = rest.split_once(' ')?;
    let tool = TOOLS.get(i.trim().parse::<usize>().ok()?)?;
    Some((tool.name, v == "yes"))
}

/// The required tools `found` does not show as present, with what each is
/// for: `awk (applying the patch of a release record)`.
pub fn missing_tools(found: &std::collections::BTreeMap<String, bool>) -> Vec<String> {
    TOOLS
        .iter()
        .filter(|t| t.required && found.get(t.name) != Some(&true))
        .map(|t| format!("{} ({})", t.name, t.used_for))
        .collect()
}

/// The command a script's shell could not find, from its output (`sh: 1:
/// tar: not found`, `sh: tar: not found`, `bash: line 1: tar: command not
/// found`), when it exited with 127.
pub fn missing_tool(code: Option<i32>, output: &str) -> Option<String> {
    if code != Some(127) {
        return None;
    }
    output.lines().find_map(|l| {
        let l = l.trim_end();
        let head = l.strip_suffix(": command not found").or_else(|| l.strip_suffix(": not found"))?;
        let tool = head.rsplit(": ").next()?.trim();
        (!tool.is_empty()).then(|| tool.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_reads_every_shells_message() {
        for out in ["sh: 1: cksum: not found", "sh: cksum: not found", "bash: line 1: cksum: command not found"] {
            assert_eq!(missing_tool(Some(127), out).as_deref(), Some("cksum"), "{out}");
        }
        assert_eq!(missing_tool(Some(1), "sh: cksum: not found"), None);
    }

    #[test]
    fn the_probe_finds_every_tool_here_under_dash() {
        let out = std::process::Command::new("dash").args(["-c", &probe_script()]).output().expect("dash runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let found: std::collections::BTreeMap<String, bool> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(parse_probe_line)
            .map(|(name, yes)| (name.to_string(), yes))
            .collect();
        assert_eq!(found.len(), TOOLS.len(), "{found:?}");
        assert_eq!(missing_tools(&found), Vec::<String>::new());
    }

    #[test]
    fn probe_lines_name_their_tool() {
        assert_eq!(parse_probe_line("tool yes 0"), Some(("sh", true)));
        assert_eq!(parse_probe_line("tool no 2"), Some(("cp -l", false)));
        assert_eq!(parse_probe_line(&format!("tool no {}", TOOLS.len())), None);
    }
}
