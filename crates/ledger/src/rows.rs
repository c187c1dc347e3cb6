//! Row mapping: the model's types derive `sqlx::FromRow`, and the columns
//! that hold a word of a closed vocabulary, a release id or a time are read
//! through the wrappers here, which parse the stored text strictly.
//!
//! A stored value that does not parse (a status no version of haul wrote,
//! an id that fails the release crate's check, a time that is not one) is
//! an error naming the table, the column and the value, never a default:
//! [`one`] and [`all`] turn sqlx's decode error into
//! [`LedgerError::BadRow`].

use crate::{LedgerError, Result};
use sqlx::any::{Any, AnyRow, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, FromRow, Type, ValueRef};
use std::str::FromStr;

/// A text column parsed with `T`'s strict `FromStr` (whose error names the
/// value).
pub(crate) struct Text<T>(pub T);

impl<'r, T> Decode<'r, Any> for Text<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let s = <String as Decode<'r, Any>>::decode(value)?;
        s.parse().map(Text).map_err(|e: T::Err| e.to_string().into())
    }
}

impl<T> Type<Any> for Text<T> {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

macro_rules! from_text {
    ($($t:ty),+) => {$(
        impl From<Text<$t>> for $t {
            fn from(t: Text<$t>) -> $t {
                t.0
            }
        }
    )+};
}

from_text!(
    haul_api::DeploymentStatus,
    haul_api::HostStatus,
    haul_api::Phase,
    haul_api::Trigger,
    haul_release::ReleaseId,
    crate::VerificationResult,
    crate::ContentOutcome
);

fn parse_time(s: &str) -> std::result::Result<jiff::Timestamp, BoxDynError> {
    s.parse().map_err(|e| format!("{s:?} is not a time: {e}").into())
}

/// A time column (see [`crate::time`] for its text).
pub(crate) struct Stamp(jiff::Timestamp);

impl<'r> Decode<'r, Any> for Stamp {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        parse_time(&<String as Decode<'r, Any>>::decode(value)?).map(Stamp)
    }
}

impl From<Stamp> for jiff::Timestamp {
    fn from(s: Stamp) -> jiff::Timestamp {
        s.0
    }
}

/// A time column that may be NULL.
pub(crate) struct MaybeStamp(Option<jiff::Timestamp>);

impl<'r> Decode<'r, Any> for MaybeStamp {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(MaybeStamp(None));
        }
        parse_time(&<String as Decode<'r, Any>>::decode(value)?).map(|t| MaybeStamp(Some(t)))
    }
}

impl From<MaybeStamp> for Option<jiff::Timestamp> {
    fn from(s: MaybeStamp) -> Option<jiff::Timestamp> {
        s.0
    }
}

/// A deployment's runner, as JSON text; unreadable JSON reads as no runner
/// (it only ever lets a dead runner be recognised sooner).
pub(crate) struct RunnerJson(Option<crate::Runner>);

impl<'r> Decode<'r, Any> for RunnerJson {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(RunnerJson(None));
        }
        let s = <String as Decode<'r, Any>>::decode(value)?;
        Ok(RunnerJson(serde_json::from_str(&s).ok()))
    }
}

impl From<RunnerJson> for Option<crate::Runner> {
    fn from(r: RunnerJson) -> Option<crate::Runner> {
        r.0
    }
}

macro_rules! text_type {
    ($($t:ty),+) => {$(
        impl Type<Any> for $t {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }
    )+};
}

text_type!(Stamp, MaybeStamp, RunnerJson);

/// sqlx's decode error for a column of `table`, as the ledger says it.
pub(crate) fn bad_row(table: &'static str, e: sqlx::Error) -> LedgerError {
    match e {
        sqlx::Error::ColumnDecode { index, source } => {
            LedgerError::BadRow { table, column: index.trim_matches('"').to_string(), message: source.to_string() }
        }
        e => LedgerError::Db(e),
    }
}

/// One row of `table` as a `T`.
pub(crate) fn one<T: for<'r> FromRow<'r, AnyRow>>(table: &'static str, r: &AnyRow) -> Result<T> {
    T::from_row(r).map_err(|e| bad_row(table, e))
}

/// Every row of `table` as a `T`.
pub(crate) fn all<T: for<'r> FromRow<'r, AnyRow>>(table: &'static str, rows: &[AnyRow]) -> Result<Vec<T>> {
    rows.iter().map(|r| one(table, r)).collect()
}
