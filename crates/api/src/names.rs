//! The closed vocabularies: phases, host statuses, deployment statuses and
//! triggers. One macro gives each its spelling, `Display`, `FromStr` (strict),
//! serde and its OpenAPI schema (a string of those words), so the spelling
//! lives in one place.

use std::fmt;
use std::str::FromStr;

/// A value read from outside (a row, a request, an event) that is not one of
/// a vocabulary's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} (expected one of: {expected})")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one spelling, on the wire and in the ledger.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<$name, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        kind: $kind,
                        value: s.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

vocabulary! {
    /// The phases of a deploy, in the order a host goes through them; a host's
    /// result says the last one it reached.
    Phase, "phase" {
        Build => "build",
        Stage => "stage",
        Migrate => "migrate",
        Switch => "switch",
        Verify => "verify",
    }
}

vocabulary! {
    /// What a deployment did to one host.
    HostStatus, "host status" {
        /// Runs the new release.
        Ok => "ok",
        /// Already ran the release; nothing to do.
        Unchanged => "unchanged",
        /// Failed; left on what it ran before unless `switched_back` says more.
        Failed => "failed",
        /// Switched to the new release, then back because the deploy failed.
        SwitchedBack => "switched_back",
        /// Not touched because another host failed first.
        Untouched => "untouched",
        /// Left out of the run: it could not be reached.
        Skipped => "skipped",
        /// Still being deployed: the live progress a run records while its
        /// other hosts go on (and what a run that died leaves behind).
        Running => "running",
    }
}

vocabulary! {
    /// Where a deployment stands.
    DeploymentStatus, "deployment status" {
        Running => "running",
        Succeeded => "succeeded",
        /// Failed; hosts were left as the failure policy said.
        Failed => "failed",
        /// Failed after the switch and every host went back.
        SwitchedBack => "switched_back",
        /// Succeeded, then a later rollback undid it.
        Undone => "undone",
    }
}

vocabulary! {
    /// What started a deployment.
    Trigger, "trigger" {
        Deploy => "deploy",
        Promote => "promote",
        Rollback => "rollback",
    }
}

vocabulary! {
    /// What a verification found.
    VerificationResult, "verification result" {
        Pass => "pass",
        Fail => "fail",
        Error => "error",
    }
}

vocabulary! {
    /// Where a webhook delivery stands.
    DeliveryStatus, "delivery status" {
        /// Due (now or after a backoff), or being sent.
        Pending => "pending",
        Delivered => "delivered",
        /// Out of attempts.
        Failed => "failed",
    }
}

impl DeploymentStatus {
    /// The table of allowed transitions: a running deployment ends once; a
    /// succeeded one can only be undone later; nothing else moves.
    pub fn can_become(self, to: DeploymentStatus) -> bool {
        use DeploymentStatus::*;
        matches!((self, to), (Running, Succeeded | Failed | SwitchedBack) | (Succeeded, Undone))
    }

    /// Whether the deployment has ended.
    pub fn is_finished(self) -> bool {
        self != DeploymentStatus::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy
            + fmt::Debug
            + PartialEq
            + FromStr<Err = UnknownName>
            + serde::Serialize
            + serde::de::DeserializeOwned
            + fmt::Display,
    {
        for v in all {
            assert_eq!(v.to_string().parse::<T>().unwrap(), *v);
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, serde_json::json!(v.to_string()));
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), *v);
        }
    }

    #[test]
    fn every_word_round_trips_through_text_and_json() {
        round_trips(Phase::ALL);
        round_trips(HostStatus::ALL);
        round_trips(DeploymentStatus::ALL);
        round_trips(Trigger::ALL);
        round_trips(VerificationResult::ALL);
        round_trips(DeliveryStatus::ALL);
    }

    #[test]
    fn unknown_status_is_an_error_not_running() {
        let err = "runnin".parse::<DeploymentStatus>().unwrap_err();
        assert_eq!(err.kind, "deployment status");
        assert!(err.to_string().contains("\"runnin\""), "{err}");
        assert!(err.to_string().contains("switched_back"), "{err}");
        assert!("".parse::<DeploymentStatus>().is_err());
        assert!("Running".parse::<DeploymentStatus>().is_err(), "spelling is exact");
        assert!(serde_json::from_value::<HostStatus>(serde_json::json!("lost")).is_err());
        assert!("connect".parse::<Phase>().is_err(), "a phase nothing emits is not a phase");
    }

    #[test]
    fn phases_sort_in_the_order_a_host_goes_through_them() {
        let mut v = Phase::ALL.to_vec();
        v.reverse();
        v.sort();
        assert_eq!(v, Phase::ALL);
    }

    #[test]
    fn a_finished_deployment_moves_only_to_undone() {
        use DeploymentStatus::*;
        for from in DeploymentStatus::ALL {
            for to in DeploymentStatus::ALL {
                let allowed = [(Running, Succeeded), (Running, Failed), (Running, SwitchedBack), (Succeeded, Undone)];
                assert_eq!(from.can_become(*to), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
    }
}
