//! Prometheus metrics (served as text on `/metrics`). Labels carry controller names, error
//! reasons, Consul endpoints, HTTP status codes and peering states: never a resource's token,
//! and never anything with unbounded cardinality such as resource names.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub controller: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsulRequestLabels {
    pub endpoint: &'static str,
    /// The HTTP status code, or `error` when no response arrived.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CauseLabels {
    /// Why a token was generated: `created`, `rotation`, `secret-missing`, `peering-gone`, `spec-changed`.
    pub cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

/// Every metric the operator exports, registered once at start-up.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_failures: Family<FailureLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram>,
    consul_requests: Family<ConsulRequestLabels, Histogram>,
    peerings: Family<StateLabels, Gauge>,
    tokens_generated: Family<CauseLabels, Counter>,
    tokens_delivered: Family<ResultLabels, Counter>,
    establishments: Family<ResultLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("consul_peering_operator");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles run, by controller",
            reconciles.clone(),
        );
        let reconcile_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Reconciles that ended in an error, by controller and reason",
            reconcile_failures.clone(),
        );
        let reconcile_duration =
            Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 14))
            });
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, by controller",
            reconcile_duration.clone(),
        );
        let consul_requests =
            Family::<ConsulRequestLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 14))
            });
        registry.register(
            "consul_request_duration_seconds",
            "Consul HTTP API requests, by endpoint and response status",
            consul_requests.clone(),
        );
        let peerings = Family::<StateLabels, Gauge>::default();
        registry.register(
            "peerings",
            "Consul peerings known to the operator, by state",
            peerings.clone(),
        );
        let tokens_generated = Family::<CauseLabels, Counter>::default();
        registry.register(
            "tokens_generated",
            "Peering tokens generated, by cause",
            tokens_generated.clone(),
        );
        let tokens_delivered = Family::<ResultLabels, Counter>::default();
        registry.register(
            "tokens_delivered",
            "Token Secrets written to delivery targets, by result",
            tokens_delivered.clone(),
        );
        let establishments = Family::<ResultLabels, Counter>::default();
        registry.register(
            "establishments",
            "Establish calls made by dialers, by result",
            establishments.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_failures,
            reconcile_duration,
            consul_requests,
            peerings,
            tokens_generated,
            tokens_delivered,
            establishments,
        }
    }

    pub fn reconciled(&self, controller: &'static str, took: Duration) {
        let labels = ControllerLabels { controller };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn reconcile_failed(&self, controller: &'static str, reason: &'static str) {
        self.reconcile_failures
            .get_or_create(&FailureLabels { controller, reason })
            .inc();
    }

    pub fn consul_request(&self, endpoint: &'static str, status: Option<u16>, took: Duration) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.consul_requests
            .get_or_create(&ConsulRequestLabels { endpoint, status })
            .observe(took.as_secs_f64());
    }

    /// Replaces the per-state peering counts with `counts` (states absent from it drop to 0).
    pub fn set_peerings<'a>(&self, counts: impl IntoIterator<Item = (&'a str, i64)>) {
        let counts: Vec<(&str, i64)> = counts.into_iter().collect();
        for state in [
            "PENDING",
            "ESTABLISHING",
            "ACTIVE",
            "FAILING",
            "DELETING",
            "TERMINATED",
            "UNDEFINED",
        ] {
            let n = counts
                .iter()
                .filter(|(s, _)| *s == state)
                .map(|(_, n)| n)
                .sum();
            self.peerings
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(n);
        }
    }

    pub fn token_generated(&self, cause: &'static str) {
        self.tokens_generated
            .get_or_create(&CauseLabels { cause })
            .inc();
    }

    pub fn token_delivered(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.tokens_delivered
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn establish_attempted(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.establishments
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_recorded_figures_with_labels() {
        let metrics = Metrics::new();
        metrics.reconciled("acceptor", Duration::from_millis(3));
        metrics.reconcile_failed("acceptor", "ConsulUnavailable");
        metrics.consul_request("peering_token", Some(200), Duration::from_millis(2));
        metrics.consul_request("peering_token", None, Duration::from_millis(2));
        metrics.set_peerings([("ACTIVE", 2), ("PENDING", 1)]);
        metrics.token_generated("created");
        let text = metrics.encode();
        for expected in [
            "consul_peering_operator_reconciles_total{controller=\"acceptor\"} 1",
            "consul_peering_operator_reconcile_failures_total{controller=\"acceptor\",reason=\"ConsulUnavailable\"} 1",
            "consul_peering_operator_reconcile_duration_seconds_count{controller=\"acceptor\"} 1",
            "consul_peering_operator_consul_request_duration_seconds_count{endpoint=\"peering_token\",status=\"200\"} 1",
            "consul_peering_operator_consul_request_duration_seconds_count{endpoint=\"peering_token\",status=\"error\"} 1",
            "consul_peering_operator_peerings{state=\"ACTIVE\"} 2",
            "consul_peering_operator_peerings{state=\"FAILING\"} 0",
            "consul_peering_operator_tokens_generated_total{cause=\"created\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
