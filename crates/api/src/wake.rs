//! The shapes of the agents' wake-up subscription
//! (`GET /api/v1/agents/wake`): which apps of which environment an agent
//! follows, and the one event it is sent, "a blessing newer than the one you
//! know exists". The event carries no blessing: an agent still reads the
//! signed envelope from the store and judges it, so whoever sends the event
//! can wake an agent, never make it accept anything.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The SSE event type of a wake-up.
pub const WAKE_EVENT: &str = "blessing";

/// The most apps one subscription follows.
pub const MAX_WAKE_APPS: usize = 64;

/// `GET /api/v1/agents/wake`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WakeQuery {
    /// The apps followed, comma separated (one connection for all an agent
    /// runs).
    #[param(min_length = 1)]
    pub app: String,
    /// Their environment, which must deploy by pull.
    #[param(min_length = 1)]
    pub env: String,
    /// The version the agent knows: an app whose newest blessing is above
    /// it is announced at once (default 0: every blessed app at once).
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

impl WakeQuery {
    /// The apps, trimmed, without empty or repeated names.
    pub fn apps(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in self.app.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}

/// The data of a `blessing` event: `app` in `env` has a blessing of
/// `version` (or newer). Only a hint to look at the store now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Wake {
    pub app: String,
    pub env: String,
    #[schema(minimum = 1)]
    pub version: u64,
}
