//! Times as the ledger holds them: [`jiff::Timestamp`] in the model, and one
//! fixed-width text in the database, the audit chain and JSON.
//!
//! The text is UTC with six fractional digits
//! (`2026-11-23T19:05:12.345678Z`), so that text order is time order: SQL
//! compares stored times as text (a lease that ran out, a delivery that is
//! due), and the audit chain hashes the text as written. Existing databases
//! hold exactly this text, so it must never change. A release's `created`
//! is the exception: it is the time its builder gave, stored in jiff's
//! RFC 3339 form as the builders have always written it.

use std::time::Duration;

/// The stored form of every time the ledger itself takes.
pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%6fZ";

/// The current time, to the microsecond (what the stored text keeps, so a
/// time written and read back is the same time).
pub fn now() -> jiff::Timestamp {
    micros(jiff::Timestamp::now())
}

/// The time `d` from now (saturating at the end of time).
pub fn now_plus(d: Duration) -> jiff::Timestamp {
    let d = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    micros(jiff::Timestamp::now().checked_add(d).unwrap_or(jiff::Timestamp::MAX))
}

fn micros(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// `t` in the stored, fixed-width form.
pub fn text(t: jiff::Timestamp) -> String {
    t.strftime(FORMAT).to_string()
}

/// How much time has passed since `t` (zero for a time in the future).
pub(crate) fn age(t: jiff::Timestamp) -> Duration {
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    Duration::from_secs(secs.max(0) as u64)
}

/// Serde in the stored form: `#[serde(with = "crate::time::fixed")]`.
pub(crate) mod fixed {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::text(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(|e| serde::de::Error::custom(format!("{s:?} is not a time: {e}")))
    }
}

/// [`fixed`] for an optional time.
pub(crate) mod fixed_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<jiff::Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::fixed::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<jiff::Timestamp>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| s.parse().map_err(|e| serde::de::Error::custom(format!("{s:?} is not a time: {e}")))).transpose()
    }
}

/// Serde in jiff's RFC 3339 form (a release's `created`).
pub(crate) mod rfc3339 {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        super::fixed::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_is_fixed_width_and_reads_back_the_same_time() {
        let t: jiff::Timestamp = "2026-11-23T19:05:12Z".parse().unwrap();
        assert_eq!(text(t), "2026-11-23T19:05:12.000000Z");
        let n = now();
        assert_eq!(text(n).len(), 27);
        assert_eq!(text(n).parse::<jiff::Timestamp>().unwrap(), n);
        let json = serde_json::to_value(crate::Event {
            seq: 1,
            at: t,
            actor: "a".into(),
            kind: "k".into(),
            subject: "s".into(),
            data: serde_json::Value::Null,
        })
        .unwrap();
        assert_eq!(json["at"], "2026-11-23T19:05:12.000000Z");
    }
}
