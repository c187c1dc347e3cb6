//! Human durations in config (`"30s"`, `"5m"`, `"2h"`, `"1h 30m"`, `"1d"`).
//!
//! One duration syntax for the whole workspace: jiff's friendly format, the
//! same library the rest of haul keeps time with. A day is 24 hours and a
//! week 7 days here (a timeout does not follow a calendar); months, years and
//! negative durations are refused.

use jiff::fmt::friendly::SpanParser;
use jiff::{SignedDuration, SpanRelativeTo};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration written the human way in `haul.toml`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// Reads `"30s"`, `"1h 30m"`, `"1.5h"`, `"2 days"`; `None` for anything
    /// else (a month, a negative or an overflowing duration, a typo).
    pub fn parse(s: &str) -> Option<Self> {
        static PARSER: SpanParser = SpanParser::new();
        let span = PARSER.parse_span(s).ok()?;
        let d = span.to_duration(SpanRelativeTo::days_are_24_hours()).ok()?;
        std::time::Duration::try_from(d).ok().map(Duration)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The friendly form, `1h 30m` (`{:#}` of a [`SignedDuration`]).
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match SignedDuration::try_from(self.0) {
            Ok(d) => write!(f, "{d:#}"),
            Err(_) => write!(f, "{}s", self.0.as_secs()),
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid duration `{s}`: write it like \"30s\", \"5m\" or \"2h\""))
        })
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;
    use std::time::Duration as Std;

    #[test]
    fn reads_the_friendly_forms_haul_documents() {
        let cases = [
            ("500ms", Std::from_millis(500)),
            ("30s", Std::from_secs(30)),
            ("5m", Std::from_secs(300)),
            ("2h", Std::from_secs(7200)),
            ("1h 30m", Std::from_secs(5400)),
            ("1h30m", Std::from_secs(5400)),
            ("1.5h", Std::from_secs(5400)),
            ("1 hour", Std::from_secs(3600)),
            ("0s", Std::ZERO),
            ("1d", Std::from_secs(86_400)),
            ("2 days", Std::from_secs(172_800)),
            ("1w", Std::from_secs(604_800)),
        ];
        for (text, want) in cases {
            assert_eq!(Duration::parse(text).map(|d| d.0), Some(want), "{text}");
        }
    }

    #[test]
    fn a_negative_duration_is_refused_not_read_as_its_size() {
        for text in ["-5s", "5s ago", "-1h"] {
            assert_eq!(Duration::parse(text), None, "{text}");
        }
    }

    #[test]
    fn calendar_units_without_a_fixed_length_and_other_text_are_refused() {
        for text in ["1 month", "1y", "an hour", "", "5", "PT5S", "5 parsecs"] {
            assert_eq!(Duration::parse(text), None, "{text}");
        }
    }

    #[test]
    fn prints_what_it_reads() {
        for (text, shown) in [("90s", "1m 30s"), ("3600s", "1h"), ("0s", "0s"), ("1500ms", "1s 500ms"), ("1d", "24h")] {
            let d = Duration::parse(text).expect(text);
            assert_eq!(d.to_string(), shown);
            assert_eq!(Duration::parse(&d.to_string()), Some(d));
        }
    }
}
