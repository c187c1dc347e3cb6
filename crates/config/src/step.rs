//! A step: one shell command, written as a string or as a table.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use toml::Spanned;

/// A shell command run by `sh -c`, on the hosts or (with `local = true`) on
/// the machine running haul.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub run: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Spanned<String>>,
}

impl Step {
    /// A label: the name, or the command's first line.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.run.lines().next().unwrap_or("").trim().to_string(),
        }
    }

    /// Whether this step runs on a host with `roles`.
    pub fn applies_to(&self, roles: &[String]) -> bool {
        self.roles.is_empty() || self.roles.iter().any(|r| roles.contains(r.get_ref()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepTable {
    run: String,
    name: Option<String>,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    roles: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a table with `run`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Step, E> {
                Ok(Step { run: s.to_string(), name: None, local: false, roles: vec![] })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Step, A::Error> {
                let t = StepTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Step { run: t.run, name: t.name, local: t.local, roles: t.roles })
            }
        }
        d.deserialize_any(V)
    }
}
