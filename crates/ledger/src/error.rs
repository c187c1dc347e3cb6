//! Why a ledger operation failed, and which failures mean the database could
//! not be reached (a server answers 503 for those, not 500).

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {url}: {message}")]
    Open { url: String, message: String },
    #[error("ledger: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Refused(String),
    /// Another deployment holds the environment.
    #[error("{0}")]
    Busy(String),
    /// A write's batch could not be committed (or the writer is gone).
    #[error("ledger: {0}")]
    Write(String),
    #[error("no deployment {0} in the ledger")]
    NoDeployment(i64),
    /// A text field breaks the rule of `text` (a NUL byte, a control
    /// character, too long); checked before anything is written.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// The database cannot be reached (down, restarting, or every
    /// connection lost): the write was not acknowledged; trying again later
    /// may work.
    #[error("ledger: the database is unavailable: {0}")]
    Unavailable(String),
    /// A stored value its column may not hold (a status, phase or trigger
    /// no version of haul wrote, a release id that fails the check, a time
    /// that is not one): the row is refused rather than read as a default.
    #[error("ledger: table `{table}`, column `{column}`: {message}")]
    BadRow { table: &'static str, column: String, message: String },
}

impl LedgerError {
    /// Whether the database could not be reached, rather than refusing or
    /// failing a query: a server answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            LedgerError::Unavailable(_) => true,
            LedgerError::Db(e) => unreachable_database(e),
            _ => false,
        }
    }
}

/// A connection-level failure: no connection to be had, or the one in use
/// lost, or the server shutting down (SQLSTATE class 08, 57P01–57P03).
pub(crate) fn unreachable_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}
