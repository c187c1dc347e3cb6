//! Every external tool the host scripts use, in one list, and the probe that
//! finds which of them a host lacks.
//!
//! The scripts keep to what POSIX and BusyBox both give (BusyBox has no
//! `cksum`, so the record check falls back to `sha256sum`), and a host that
//! lacks something is told so by name, by `haul check --hosts` before a
//! deploy and by the failing script itself during one ([`missing_tool`]),
//! never as some other fault.

/// One thing the host scripts need. The `sh` test that shows the host has
/// it is in `scripts/tools.sh`, at the tool's index in [`TOOLS`].
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// How a person names it: `tar`, `cp -l`, `cksum or sha256sum`.
    pub name: &'static str,
    /// What it is used for, said when it is missing.
    pub used_for: &'static str,
    /// Deploys cannot work without it (else it only makes them better).
    pub required: bool,
}

const fn need(name: &'static str, used_for: &'static str) -> Tool {
    Tool { name, used_for, required: true }
}

/// Every tool, in the order `haul check --hosts` lists them. `sh` builtins
/// (`cd`, `printf`, `[`, `command`, `set`) are not listed: `sh` has them.
pub const TOOLS: &[Tool] = &[
    need("sh", "running every script"),
    need("tar", "unpacking what a deploy sends"),
    need("cp -l", "reusing files of the previous release as hard links"),
    need("mv -T", "switching `current` by one rename"),
    need("ln -s", "the `current` link and shared paths"),
    need("mkdir", "release and shared directories"),
    need("rm", "removing releases and staging leftovers"),
    need("cat", "reading records, locks and history"),
    need("dirname", "shared file paths"),
    need("xargs -0", "removing files a release no longer has"),
    need("awk", "applying the patch of a release record"),
    need("cksum or sha256sum", "checking a patched release record"),
    need("grep -F", "telling whose lock is held"),
    need("readlink, or ls and sed", "reading where `current` points"),
    Tool { name: "rsync", used_for: "sending large changed files as deltas", required: false },
    need("chmod", "giving a secret file its mode"),
    need("wc -c", "checking a secret file arrived whole"),
    Tool { name: "chown", used_for: "giving a secret file the owner `haul.toml` names", required: false },
    Tool { name: "find", used_for: "listing the files of content sets", required: false },
];

/// The `sh` that checks every tool (`scripts/tools.sh`): prints `tool yes
/// N` or `tool no N` for the tool at index `N` of [`TOOLS`], in a scratch
/// directory it removes again.
pub fn probe_script() -> &'static str {
    crate::scripts::TOOLS
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

    fn the_probe_finds_every_tool_here_under(shell: &[&str]) {
        let out = std::process::Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", probe_script()])
            .output()
            .expect("the shell runs");
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
    fn the_probe_finds_every_tool_here_under_dash() {
        the_probe_finds_every_tool_here_under(&["dash"]);
    }

    #[test]
    fn the_probe_finds_every_tool_here_under_bash() {
        the_probe_finds_every_tool_here_under(&["bash"]);
    }

    #[test]
    fn the_probe_finds_every_tool_here_under_busybox_sh() {
        the_probe_finds_every_tool_here_under(&["busybox", "sh"]);
    }

    #[test]
    fn the_probe_script_checks_each_tool_once_in_order() {
        let indices: Vec<usize> = probe_script()
            .lines()
            .filter_map(|l| l.split_once("; found ")?.1.split(' ').next()?.parse().ok())
            .collect();
        assert_eq!(indices, (0..TOOLS.len()).collect::<Vec<_>>());
        // Each test sits under a comment naming its tool.
        let names: Vec<&str> = probe_script()
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].contains("; found "))
            .map(|w| w[0].trim_start_matches("# "))
            .collect();
        assert_eq!(names, TOOLS.iter().map(|t| t.name).collect::<Vec<_>>());
    }

    #[test]
    fn probe_lines_name_their_tool() {
        assert_eq!(parse_probe_line("tool yes 0"), Some(("sh", true)));
        assert_eq!(parse_probe_line("tool no 2"), Some(("cp -l", false)));
        assert_eq!(parse_probe_line(&format!("tool no {}", TOOLS.len())), None);
    }
}
