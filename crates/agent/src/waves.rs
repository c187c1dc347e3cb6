//! Waves: THE rule for which wave a host is in and whether a wave is done.
//!
//! Agents gate their switch on it, and `haul deploy`'s follower on a pull
//! environment reads the same reports through the same functions, so the
//! two can never disagree about who may switch.
//!
//! - A host belongs to the first wave whose selector takes it: `roles` (any
//!   of them), `labels` (all of them), `percent` (that share of the hosts no
//!   earlier wave took, by a stable hash of the host's name and the wave's
//!   position, so a host always lands in the same wave of the same plan) or
//!   `rest`. A host no wave takes is in an implicit last wave after all of
//!   them; a blessing with no waves is one wave of every host.
//! - A wave is done when every host of it that is not silent (its last
//!   report is older than `silent_after`) reports `live` for this blessing's
//!   version and release, and at least `min_live` of them do. A wave with
//!   no hosts is done unless it names a `min_live`, so a canary wave that
//!   does cannot be emptied (its host's report deleted from the store, the
//!   host gone) into letting the rest go. A failed or refused host of a
//!   wave keeps it from being done, so a failing first wave stops the rest.
//! - A wave that names `verifications` is done only once each of them has
//!   `pass` as its standing (newest) result for this blessing version; a
//!   `fail` (or `error`) of one counts as the wave's failure, like a failed
//!   host.
//! - A host may switch when every earlier wave is done.

use haul_bless::{Blessing, Selector};
use haul_store::reports::{AgentPhase, AgentReport};
use haul_store::verifications::Outcome;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// The wave `host` (with `roles` and `labels`) is in for `blessing`.
pub fn wave_of(blessing: &Blessing, host: &str, roles: &[String], labels: &BTreeMap<String, String>) -> usize {
    for (i, wave) in blessing.waves.iter().enumerate() {
        let takes = match &wave.select {
            Selector::Roles(want) => want.iter().any(|r| roles.contains(r)),
            Selector::Labels(want) => want.iter().all(|(k, v)| labels.get(k) == Some(v)),
            Selector::Percent(p) => bucket(host, i) < u64::from(*p),
            Selector::Rest => true,
        };
        if takes {
            return i;
        }
    }
    blessing.waves.len()
}

/// A stable number in 0..100 for `host` in the wave at `position`.
fn bucket(host: &str, position: usize) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"haul wave\0");
    h.update(host.as_bytes());
    h.update(&(position as u64).to_le_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_bytes()[..8]);
    u64::from_le_bytes(first) % 100
}

/// Where one wave is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaveState {
    /// The wave's name (`rest` for the implicit last wave, `all` when the
    /// blessing has no waves).
    pub name: String,
    /// Every host that reported and belongs to this wave, sorted.
    pub hosts: Vec<String>,
    /// Hosts live on this blessing.
    pub live: Vec<String>,
    /// Hosts whose work on this blessing failed or was refused, with why.
    pub failed: Vec<(String, String)>,
    /// Hosts still working (or not yet on this blessing).
    pub pending: Vec<String>,
    /// Hosts whose last report is older than `silent_after`. One silent
    /// since an earlier blessing (a machine gone away) does not hold the
    /// wave back; one that went silent while on this blessing is also in
    /// `failed`.
    pub silent: Vec<String>,
    /// The verifications the wave names, with each one's standing result
    /// for this blessing version (`None`: none yet).
    pub verifications: Vec<(String, Option<Outcome>)>,
    /// How many hosts must be live for the wave to be done.
    pub min_live: u32,
}

impl WaveState {
    /// Every non-silent host is live (an empty wave's hosts are), and at
    /// least `min_live` of them.
    pub fn hosts_done(&self) -> bool {
        self.failed.is_empty() && self.pending.is_empty() && self.short().is_none()
    }

    /// How many more live hosts the wave needs, if any.
    fn short(&self) -> Option<usize> {
        (self.min_live as usize).checked_sub(self.live.len()).filter(|n| *n > 0)
    }

    /// Its hosts are done and every verification it names has passed.
    pub fn done(&self) -> bool {
        self.hosts_done() && self.verifications.iter().all(|(_, r)| *r == Some(Outcome::Pass))
    }

    /// Verifications it names that have no result yet.
    pub fn awaited(&self) -> Vec<&str> {
        self.verifications.iter().filter(|(_, r)| r.is_none()).map(|(n, _)| n.as_str()).collect()
    }

    /// Verifications it names whose standing result is `fail` or `error`.
    pub fn failed_verifications(&self) -> Vec<&str> {
        self.verifications
            .iter()
            .filter(|(_, r)| matches!(r, Some(Outcome::Fail | Outcome::Error)))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// A host failed or a verification did.
    pub fn has_failed(&self) -> bool {
        !self.failed.is_empty() || !self.failed_verifications().is_empty()
    }

    /// Why the wave at `index` holds later waves back, `None` when done.
    pub fn holding(&self, index: usize) -> Option<String> {
        let at = format!("wave {} ({})", index + 1, self.name);
        if !self.failed.is_empty() {
            let f: Vec<String> = self.failed.iter().map(|(h, e)| format!("{h}: {e}")).collect();
            return Some(format!("{at} failed: {}", f.join("; ")));
        }
        if let Some(v) = self.failed_verifications().first() {
            return Some(format!("{at} failed: verification `{v}` of wave `{}` did not pass", self.name));
        }
        if !self.pending.is_empty() {
            return Some(format!("{at} is not live yet: {}", self.pending.join(", ")));
        }
        if self.short().is_some() {
            return Some(format!(
                "{at} has {} live host(s) of the {} it needs (`min_live`)",
                self.live.len(),
                self.min_live
            ));
        }
        self.awaited().first().map(|v| format!("waiting for verification `{v}` of wave `{}`", self.name))
    }
}

/// Where every wave of a blessing is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaveProgress {
    pub version: u64,
    /// One per wave of the blessing, plus the implicit last one.
    pub waves: Vec<WaveState>,
}

impl WaveProgress {
    /// Whether a host of wave `wave` may switch: every earlier wave is done.
    pub fn may_switch(&self, wave: usize) -> bool {
        self.waves.iter().take(wave).all(WaveState::done)
    }

    /// The first wave that is not done, if any.
    pub fn current(&self) -> Option<usize> {
        self.waves.iter().position(|w| !w.done())
    }

    /// The first wave with a failed host or verification, if any.
    pub fn failed(&self) -> Option<usize> {
        self.waves.iter().position(WaveState::has_failed)
    }

    /// Fills in each wave's verifications from the standing `results` of
    /// this blessing version, by name (`haul_store::verifications::read`).
    pub fn with_verifications(mut self, blessing: &Blessing, results: &BTreeMap<String, Outcome>) -> Self {
        for (w, wave) in self.waves.iter_mut().zip(&blessing.waves) {
            w.verifications = wave.verifications.iter().map(|n| (n.clone(), results.get(n).copied())).collect();
        }
        self
    }

    /// Every wave is done.
    pub fn complete(&self) -> bool {
        self.waves.iter().all(WaveState::done)
    }
}

/// Where `blessing`'s waves are, judged from the agents' `reports` at `now`.
/// Reports of other apps or environments are ignored.
pub fn progress(blessing: &Blessing, reports: &[AgentReport], now: Timestamp, silent_after: Duration) -> WaveProgress {
    let mut waves: Vec<WaveState> = blessing
        .waves
        .iter()
        .map(|w| WaveState { name: w.name.clone(), min_live: w.min_live, ..Default::default() })
        .chain(std::iter::once(WaveState {
            name: if blessing.waves.is_empty() { "all" } else { "rest" }.into(),
            ..Default::default()
        }))
        .collect();
    let silent_secs = i64::try_from(silent_after.as_secs()).unwrap_or(i64::MAX);
    for r in reports.iter().filter(|r| r.app == blessing.app && r.env == blessing.env) {
        let w = &mut waves[wave_of(blessing, &r.host, &r.roles, &r.labels)];
        w.hosts.push(r.host.clone());
        let on_this = r.blessing == Some(blessing.version);
        let live = on_this && r.phase == AgentPhase::Live && r.live.as_deref() == Some(blessing.release.as_str());
        let silent = now.as_second().saturating_sub(r.at.as_second()) > silent_secs;
        if live {
            w.live.push(r.host.clone());
        } else if silent && on_this {
            // It took this blessing up and then stopped talking: a canary
            // that died while switching must not let the next wave go.
            w.silent.push(r.host.clone());
            let phase = format!("{:?}", r.phase).to_lowercase();
            w.failed.push((
                r.host.clone(),
                format!("went silent while working on this blessing (last: {phase} at {})", r.at),
            ));
        } else if silent {
            w.silent.push(r.host.clone());
        } else if on_this && matches!(r.phase, AgentPhase::Failed | AgentPhase::Refused) {
            let why = r.error.clone().unwrap_or_else(|| format!("{:?}", r.phase).to_lowercase());
            w.failed.push((r.host.clone(), why));
        } else {
            w.pending.push(r.host.clone());
        }
    }
    for w in &mut waves {
        w.hosts.sort();
    }
    WaveProgress { version: blessing.version, waves }
}

#[cfg(test)]
mod tests;
