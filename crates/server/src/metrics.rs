//! `/metrics`, in Prometheus' text format: what the server itself counts
//! (requests by status class and how long each route took to answer,
//! ledger writes, webhook deliveries) beside what the ledger records per
//! app and environment (deployments by outcome, their durations, host
//! failures, and when one last went live, for a "nothing reached prod in
//! 14 days" alert), and the four DORA measures per app and environment.
//!
//! Route latency is kept in memory per matched route (bounded by the
//! routes the router has), from the request's arrival to its response
//! head; the ledger's series are read from the ledger on each scrape.

use crate::State;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the API latency buckets, in seconds.
const API_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upper bounds of the deployment duration buckets, in seconds.
const DEPLOY_BUCKETS: [f64; 11] = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

/// A cumulative histogram over fixed buckets.
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Counts per bucket (not cumulative; summed when written), then +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1];
        }
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut acc = 0;
        for (i, b) in bounds.iter().enumerate() {
            acc += self.counts.get(i).copied().unwrap_or(0);
            out.push_str(&format!("{name}_bucket{{{labels}{sep}le=\"{b}\"}} {acc}\n"));
        }
        out.push_str(&format!("{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}\n", self.count));
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        out.push_str(&format!("{name}_sum{braces} {}\n{name}_count{braces} {}\n", self.sum, self.count));
    }
}

/// What the server counts itself.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_class: [AtomicU64; 5],
    pub(crate) writes: AtomicU64,
    /// Latency by matched route (`unmatched` for the rest).
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    pub(crate) fn record(&self, route: &str, status: u16, took: Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let mut l = self.latency.lock().expect("not poisoned");
        l.entry(route.to_string()).or_default().observe(&API_BUCKETS, took.as_secs_f64());
    }
}

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    out.push_str(&format!("# HELP {name} {text}\n# TYPE {name} {kind}\n"));
}

/// The whole scrape.
pub(crate) async fn render(state: &State) -> Result<String, haul_ledger::LedgerError> {
    let m = &state.metrics;
    let mut out = String::new();
    help(&mut out, "haul_http_requests_total", "counter", "HTTP requests answered, by status class.");
    for (i, n) in m.by_class.iter().enumerate() {
        out.push_str(&format!("haul_http_requests_total{{code=\"{}xx\"}} {}\n", i + 1, n.load(Ordering::Relaxed)));
    }
    help(
        &mut out,
        "haul_http_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to its response head, by route.",
    );
    let latency = m.latency.lock().expect("not poisoned").clone();
    for (route, h) in &latency {
        h.write(&mut out, "haul_http_request_duration_seconds", &format!("route=\"{}\"", label(route)), &API_BUCKETS);
    }
    help(&mut out, "haul_ledger_writes_total", "counter", "Records written to the ledger through the API.");
    out.push_str(&format!("haul_ledger_writes_total {}\n", m.writes.load(Ordering::Relaxed)));
    out.push_str(&crate::deliveries::metrics(state).await);

    let envs = state.ledger.env_metrics().await?;
    let key = |app: &str, env: &str| format!("app=\"{}\",env=\"{}\"", label(app), label(env));
    help(&mut out, "haul_deployments_total", "counter", "Finished deployments, by how they ended.");
    for ((app, env), e) in &envs {
        for (status, n) in &e.by_status {
            out.push_str(&format!("haul_deployments_total{{{},status=\"{}\"}} {n}\n", key(app, env), label(status)));
        }
    }
    help(&mut out, "haul_deployment_duration_seconds", "histogram", "How long finished deployments took.");
    for ((app, env), e) in &envs {
        let mut h = Histogram::default();
        for d in &e.durations_s {
            h.observe(&DEPLOY_BUCKETS, *d);
        }
        h.write(&mut out, "haul_deployment_duration_seconds", &key(app, env), &DEPLOY_BUCKETS);
    }
    help(&mut out, "haul_host_failures_total", "counter", "Host results that ended failed.");
    for ((app, env), e) in &envs {
        out.push_str(&format!("haul_host_failures_total{{{}}} {}\n", key(app, env), e.host_failures));
    }
    help(
        &mut out,
        "haul_last_success_timestamp_seconds",
        "gauge",
        "When a deployment last went live (Unix time), per app and environment.",
    );
    for ((app, env), e) in &envs {
        if let Some(t) = e.last_success {
            let secs = t.as_microsecond() as f64 / 1e6;
            out.push_str(&format!("haul_last_success_timestamp_seconds{{{}}} {secs}\n", key(app, env)));
        }
    }
    dora(state, &mut out).await?;
    Ok(out)
}

/// One DORA measure read off the measures.
type Measure = fn(&haul_api::pipeline::Dora) -> Option<f64>;

/// The DORA measures of every app in every environment over the
/// pipeline's default window (the same reading as `haul pipeline`).
async fn dora(state: &State, out: &mut String) -> Result<(), haul_ledger::LedgerError> {
    let days = crate::pipeline::DEFAULT_DAYS;
    let (since, until) = crate::pipeline::window(days);
    let mut rows = Vec::new();
    for app in state.config.apps.keys() {
        for env in state.config.promotion_order() {
            let d = state.ledger.dora(app.get_ref(), &env, since, until).await?;
            rows.push((format!("app=\"{}\",env=\"{}\"", label(app.get_ref()), label(&env)), d));
        }
    }
    let window = format!("over the last {days} days");
    let series: [(&str, &str, Measure); 4] = [
        ("haul_dora_deployments_per_day", "Changes that went live per day", |d| Some(d.per_day)),
        ("haul_dora_lead_time_seconds", "Median time from a release built to it live", |d| d.lead_time_s),
        ("haul_dora_change_failure_rate", "Failed changes over changes", |d| d.change_failure_rate),
        ("haul_dora_time_to_restore_seconds", "Median time from a failure to its restoration", |d| d.time_to_restore_s),
    ];
    for (name, text, value) in series {
        help(out, name, "gauge", &format!("{text}, {window} (haul pipeline's DORA measures)."));
        for (labels, d) in &rows {
            // Nothing to measure is no sample, never a zero.
            if let Some(v) = value(d) {
                out.push_str(&format!("{name}{{{labels}}} {v}\n"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_and_counts_what_is_past_its_last_bucket() {
        let mut h = Histogram::default();
        for v in [0.5, 1.0, 3.0, 99.0] {
            h.observe(&[1.0, 2.0, 5.0], v);
        }
        let mut out = String::new();
        h.write(&mut out, "x", "a=\"b\"", &[1.0, 2.0, 5.0]);
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"1\"} 2\nx_bucket{a=\"b\",le=\"2\"} 2\nx_bucket{a=\"b\",le=\"5\"} 3\n\
             x_bucket{a=\"b\",le=\"+Inf\"} 4\nx_sum{a=\"b\"} 103.5\nx_count{a=\"b\"} 4\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
