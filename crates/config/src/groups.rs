//! Environment groups (`[groups]`) and the order environments are promoted
//! in.
//!
//! A group names environments that are promoted together, in the order
//! listed (`prod = ["prod-eu", "prod-us"]`): `haul promote app --to prod`
//! promotes to each member in turn and stops at the first that fails. A
//! group is only a name for a list; each member keeps its own upstream,
//! requirements and gate. Group names share the environments' namespace, so
//! `--to prod` can never mean two things.

use crate::model::Config;
use crate::validate::check_name;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    for (name, members) in &c.groups {
        check_name("group", name)?;
        if c.environments.contains_key(name.get_ref().as_str()) {
            return Err((
                name.span(),
                format!("group `{}` has the name of an environment; a name means one thing", name.get_ref()),
            ));
        }
        if members.get_ref().is_empty() {
            return Err((members.span(), format!("group `{}` lists no environments", name.get_ref())));
        }
        let mut seen = BTreeSet::new();
        for m in members.get_ref() {
            if !c.environments.contains_key(m.get_ref().as_str()) {
                return Err((
                    m.span(),
                    format!(
                        "group `{}` names `{}`, which is not an environment (groups list environments, not groups)",
                        name.get_ref(),
                        m.get_ref()
                    ),
                ));
            }
            if !seen.insert(m.get_ref()) {
                return Err((m.span(), format!("group `{}` lists `{}` twice", name.get_ref(), m.get_ref())));
            }
        }
    }
    Ok(())
}

impl Config {
    /// The members of group `name`, in order; `None` when it is no group.
    pub fn group(&self, name: &str) -> Option<Vec<String>> {
        self.groups.get(name).map(|m| m.get_ref().iter().map(|e| e.get_ref().clone()).collect())
    }

    /// The environments `name` stands for: a group's members in order, or
    /// the one environment of that name (whether it exists is the caller's
    /// check, which names the file).
    pub fn targets(&self, name: &str) -> Vec<String> {
        self.group(name).unwrap_or_else(|| vec![name.to_string()])
    }

    /// Environments in promotion order: those that build their own code
    /// first, then each after the one it takes its code from; by name
    /// within a step.
    pub fn promotion_order(&self) -> Vec<String> {
        let envs = &self.environments;
        let depth = |name: &str| {
            let mut d = 0;
            let mut at = name;
            // Validation refused cycles; the bound only keeps this total.
            while let Some(e) = envs.get(at) {
                let code = e.code.get_ref();
                if code == "build" || d > envs.len() {
                    break;
                }
                d += 1;
                at = code;
            }
            d
        };
        let mut names: Vec<String> = envs.keys().map(|k| k.get_ref().clone()).collect();
        names.sort_by_key(|n| (depth(n), n.clone()));
        names
    }

    /// The environment `env` takes its code from, or `None` when it builds
    /// (or does not exist).
    pub fn upstream(&self, env: &str) -> Option<String> {
        let code = self.environments.get(env)?.code.get_ref();
        (code != "build").then(|| code.clone())
    }
}

/// What `[groups]` holds: a group's name and its members, in order.
pub type Groups = std::collections::BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>;

#[cfg(test)]
mod tests {
    use crate::Config;
    use std::path::Path;

    const ENVS: &str = r#"
[apps.web]
ship = "."
[hosts.a]
root = "/tmp/a"
[environments.stage]
hosts = ["a"]
[environments.prod-eu]
hosts = ["a"]
code = "stage"
[environments.prod-us]
hosts = ["a"]
code = "stage"
"#;

    fn parse(extra: &str) -> Result<Config, String> {
        Config::parse(Path::new("/p/haul.toml"), &format!("{ENVS}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_group_names_its_members_in_order() {
        let c = parse("[groups]\nprod = [\"prod-us\", \"prod-eu\"]\n").unwrap();
        assert_eq!(c.group("prod"), Some(vec!["prod-us".to_string(), "prod-eu".to_string()]));
        assert_eq!(c.targets("prod"), vec!["prod-us", "prod-eu"]);
        assert_eq!(c.targets("stage"), vec!["stage"]);
        assert_eq!(c.promotion_order(), vec!["stage", "prod-eu", "prod-us"]);
        assert_eq!(c.upstream("prod-eu").as_deref(), Some("stage"));
        assert_eq!(c.upstream("stage"), None);
    }

    #[test]
    fn a_group_that_is_wrong_is_refused_by_name() {
        for (groups, says) in [
            ("prod = [\"prod-eu\", \"prod-asia\"]", "names `prod-asia`, which is not an environment"),
            ("prod = [\"prod-eu\", \"prod-eu\"]", "lists `prod-eu` twice"),
            ("prod = []", "lists no environments"),
            ("stage = [\"prod-eu\"]", "has the name of an environment"),
            ("\"bad name\" = [\"prod-eu\"]", "group name `bad name` may only use"),
            ("all = [\"prod-eu\"]\nprod = [\"all\"]", "groups list environments, not groups"),
        ] {
            let err = parse(&format!("[groups]\n{groups}\n")).unwrap_err();
            assert!(err.contains(says), "{groups}: {err}");
            assert!(err.contains("haul.toml"), "{err}");
        }
    }
}
