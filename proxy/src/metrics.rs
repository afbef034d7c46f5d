//! What an operator graphs, in Prometheus' text format (the Prometheus project's
//! `prometheus-client`): sessions running by kind, audit events by kind (sign-ins and
//! their failures among them), refusals by reason, bytes relayed, and HTTP latency by
//! route. Served on the separate, plain-HTTP `metrics_listen` address (off unless set):
//! an operator's network, not the people's.
//!
//! The counters are process-wide statics (a metric is a fact about the process), each
//! resolved once so a hot path only adds to an atomic.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RelayLabel {
    kind: &'static str,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
    method: String,
    status: u16,
}

struct Metrics {
    registry: Registry,
    active: Family<KindLabel, Gauge>,
    audit: Family<KindLabel, Counter>,
    refusals: Family<ReasonLabel, Counter>,
    relayed: Family<RelayLabel, Counter>,
    requests: Family<RouteLabel, Histogram>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("gatehouse");
    let active = Family::<KindLabel, Gauge>::default();
    registry.register("active_sessions", "SSH and desktop sessions running on this proxy", active.clone());
    let audit = Family::<KindLabel, Counter>::default();
    registry.register("audit_events", "Audit records written, by kind (signin.ok, signin.failed, …)", audit.clone());
    let refusals = Family::<ReasonLabel, Counter>::default();
    registry.register("refusals", "Requests and sessions refused, by reason", refusals.clone());
    let relayed = Family::<RelayLabel, Counter>::default();
    registry.register("relayed_bytes", "Bytes relayed between browsers and nodes or desktops", relayed.clone());
    let requests = Family::<RouteLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
    registry.register(
        "http_request_duration_seconds",
        "HTTP requests by route, until the response starts",
        requests.clone(),
    );
    Metrics { registry, active, audit, refusals, relayed, requests }
});

/// An audit record of `kind` was written.
pub fn audited(kind: &str) {
    METRICS.audit.get_or_create(&KindLabel { kind: kind.to_string() }).inc();
}

pub fn refused(refusal: &crate::access::Refusal) {
    METRICS.refusals.get_or_create(&ReasonLabel { reason: refusal.reason() }).inc();
}

/// Where relayed bytes go.
#[derive(Debug, Clone, Copy)]
pub enum Relay {
    SshToBrowser,
    SshFromBrowser,
    DesktopToBrowser,
    DesktopFromBrowser,
}

/// The counter for one direction, to keep beside a pump and add to.
pub fn relay_counter(relay: Relay) -> Counter {
    let (kind, direction) = match relay {
        Relay::SshToBrowser => ("ssh", "to_browser"),
        Relay::SshFromBrowser => ("ssh", "from_browser"),
        Relay::DesktopToBrowser => ("desktop", "to_browser"),
        Relay::DesktopFromBrowser => ("desktop", "from_browser"),
    };
    METRICS.relayed.get_or_create(&RelayLabel { kind, direction }).clone()
}

/// One HTTP request took `seconds` until its response started.
pub fn request(route: &str, method: &str, status: u16, seconds: f64) {
    let label = RouteLabel { route: route.to_string(), method: method.to_string(), status };
    METRICS.requests.get_or_create(&label).observe(seconds);
}

/// The text exposition, with the session gauges set to `active` (kind, count) first.
pub fn render(active: &[(&str, i64)]) -> String {
    for (kind, count) in active {
        METRICS.active.get_or_create(&KindLabel { kind: kind.to_string() }).set(*count);
    }
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &METRICS.registry) {
        Ok(()) => text,
        Err(err) => format!("# the metrics could not be written: {err}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_what_happened() {
        audited("signin.failed");
        refused(&crate::access::Refusal::Locked("locked".into()));
        relay_counter(Relay::SshToBrowser).inc_by(1234);
        request("/api/v1/session", "POST", 200, 0.003);
        let text = render(&[("ssh", 3), ("desktop", 0)]);
        assert!(text.contains("gatehouse_audit_events_total{kind=\"signin.failed\"}"), "{text}");
        assert!(text.contains("gatehouse_refusals_total{reason=\"locked\"}"), "{text}");
        assert!(text.contains("gatehouse_active_sessions{kind=\"ssh\"} 3"), "{text}");
        assert!(text.contains("gatehouse_relayed_bytes_total{kind=\"ssh\",direction=\"to_browser\"}"), "{text}");
        assert!(text.contains("gatehouse_http_request_duration_seconds_bucket{"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
