//! Prometheus metrics (served as text on `/metrics`). Labels carry controller names, error
//! reasons, Consul endpoints, HTTP status codes, peering states and, for the per-resource
//! series ([`resources`]), the resource's kind, namespace and name: never a token, and nothing
//! else whose values are unbounded.

mod resources;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use resources::ResourceMetrics;
pub use resources::ResourceReport;

use crate::consul::PeeringState;

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
    /// Why a token was generated: `created`, `rotation`, `secret-missing`, `peering-gone`, `spec-changed`, `peer-refused`.
    pub cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    /// `consul_peerings` (the blocking list), `peeringacceptors`, `peeringdialers`.
    pub watch: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IdentityLabels {
    /// This replica's identity in the Lease and in Events (the pod name).
    pub identity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
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
    watch_restarts: Family<WatchLabels, Counter>,
    leader: Family<IdentityLabels, Gauge>,
    resources: Arc<ResourceMetrics>,
}

/// A metric family registered under `name`, returned for recording.
fn registered<M>(registry: &mut Registry, name: &str, help: &str) -> M
where
    M: Default + Clone + prometheus_client::registry::Metric,
{
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// A family of latency histograms (1 ms to about 8 s) registered under `name`.
fn registered_histograms<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Histogram>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.001, 2.0, 14))
    });
    registry.register(name, help, family.clone());
    family
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
        let r = &mut registry;
        let reconciles = registered(r, "reconciles", "Reconciles run, by controller");
        let reconcile_failures = registered(
            r,
            "reconcile_failures",
            "Reconciles that ended in an error, by controller and reason",
        );
        let reconcile_duration = registered_histograms(
            r,
            "reconcile_duration_seconds",
            "Time one reconcile took, by controller",
        );
        let consul_requests = registered_histograms(
            r,
            "consul_request_duration_seconds",
            "Consul HTTP API requests, by endpoint and response status",
        );
        let peerings = registered(
            r,
            "peerings",
            "Consul peerings known to the operator, by state",
        );
        let tokens_generated =
            registered(r, "tokens_generated", "Peering tokens generated, by cause");
        let tokens_delivered = registered(
            r,
            "tokens_delivered",
            "Token Secrets written to delivery targets, by result",
        );
        let establishments = registered(
            r,
            "establishments",
            "Establish calls made by dialers, by result",
        );
        let watch_restarts: Family<WatchLabels, Counter> = registered(
            r,
            "watch_restarts",
            "Watches that failed and were started again, by watch",
        );
        // Every watch starts at 0, so that a first restart shows as an increase.
        for watch in ["consul_peerings", "peeringacceptors", "peeringdialers"] {
            watch_restarts
                .get_or_create(&WatchLabels { watch })
                .inc_by(0);
        }
        let leader = registered(
            r,
            "leader",
            "1 while this replica reconciles (holds the lease, or leader election is off), 0 while it stands by",
        );
        let build_info: Family<BuildLabels, Gauge> = registered(
            r,
            "build_info",
            "Always 1, labelled with the operator's version",
        );
        let version = env!("CARGO_PKG_VERSION");
        build_info.get_or_create(&BuildLabels { version }).set(1);
        let resources = Arc::new(ResourceMetrics::default());
        registry.register_collector(Box::new(resources.clone()));
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
            watch_restarts,
            leader,
            resources,
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
        for state in PeeringState::KNOWN.iter().map(PeeringState::as_str) {
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

    pub fn watch_restarted(&self, watch: &'static str) {
        self.watch_restarts
            .get_or_create(&WatchLabels { watch })
            .inc();
    }

    /// Whether this replica reconciles; `identity` is its name in the Lease.
    pub fn set_leader(&self, identity: &str, leading: bool) {
        self.leader
            .get_or_create(&IdentityLabels {
                identity: identity.to_owned(),
            })
            .set(i64::from(leading));
    }

    /// The status one reconcile pass computed for a resource.
    pub fn resource_observed(&self, report: ResourceReport) {
        self.resources.observe(report);
    }

    /// A PeeringDialer's token was refused (counted once per refusal, not per retry).
    pub fn dialer_token_rejected(&self, namespace: &str, name: &str) {
        self.resources.token_rejected(namespace, name);
    }

    /// A resource is gone: its series go with it.
    pub fn resource_deleted(&self, kind: &str, namespace: &str, name: &str) {
        self.resources.forget(kind, namespace, name);
    }

    /// This replica stopped reconciling: the resources are another replica's to report.
    pub fn forget_resources(&self) {
        self.resources.forget_all();
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

    fn report(
        kind: &str,
        state: Option<&str>,
        ready: bool,
        reason: &'static str,
    ) -> ResourceReport {
        ResourceReport {
            kind: kind.into(),
            namespace: "default".into(),
            name: "dc2".into(),
            state: state.map(Into::into),
            ready,
            reason,
            delivery: vec![("kc/default/token".into(), !ready)],
        }
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn per_resource_series_follow_the_status_and_go_with_the_resource() {
        let metrics = Metrics::new();
        metrics.resource_observed(report("PeeringAcceptor", Some("ACTIVE"), true, "Active"));
        let text = metrics.encode();
        let state = |s: &str| {
            format!(
                "consul_peering_operator_peering_state{{kind=\"PeeringAcceptor\",namespace=\"default\",name=\"dc2\",state=\"{s}\"}}"
            )
        };
        let last_active = "consul_peering_operator_peering_last_active_timestamp_seconds{kind=\"PeeringAcceptor\",namespace=\"default\",name=\"dc2\"}";
        assert_eq!(sample(&text, &state("ACTIVE")), Some(1.0), "{text}");
        assert_eq!(sample(&text, &state("FAILING")), Some(0.0), "{text}");
        let while_active = sample(&text, last_active).expect("a last-active sample");

        metrics.resource_observed(report(
            "PeeringAcceptor",
            Some("FAILING"),
            false,
            "PeeringFailing",
        ));
        std::thread::sleep(Duration::from_millis(20));
        let text = metrics.encode();
        assert_eq!(sample(&text, &state("ACTIVE")), Some(0.0), "{text}");
        assert_eq!(sample(&text, &state("FAILING")), Some(1.0), "{text}");
        let left_active = sample(&text, last_active).expect("a last-active sample");
        assert!(left_active >= while_active);
        // No longer ACTIVE: the time stays where the peering left ACTIVE.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(sample(&metrics.encode(), last_active), Some(left_active));
        assert!(text.contains("consul_peering_operator_resource_ready{kind=\"PeeringAcceptor\",namespace=\"default\",name=\"dc2\",reason=\"PeeringFailing\"} 0"), "{text}");
        assert!(text.contains("consul_peering_operator_delivery_target_failing{namespace=\"default\",name=\"dc2\",target=\"kc/default/token\"} 1"), "{text}");

        metrics.resource_deleted("PeeringAcceptor", "default", "dc2");
        let text = metrics.encode();
        assert!(!text.contains("name=\"dc2\""), "{text}");
    }

    #[test]
    fn dialer_rejections_leader_watches_and_build_info() {
        let metrics = Metrics::new();
        metrics.resource_observed(report("PeeringDialer", None, false, "TokenRejected"));
        metrics.dialer_token_rejected("default", "dc2");
        metrics.dialer_token_rejected("default", "dc2");
        metrics.set_leader("pod-a", true);
        metrics.watch_restarted("consul_peerings");
        let text = metrics.encode();
        for expected in [
            "consul_peering_operator_dialer_token_rejections_total{namespace=\"default\",name=\"dc2\"} 2",
            "consul_peering_operator_leader{identity=\"pod-a\"} 1",
            "consul_peering_operator_watch_restarts_total{watch=\"consul_peerings\"} 1",
            "consul_peering_operator_build_info{version=",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // Without a peering, no state is 1 and there is no last-ACTIVE time.
        assert!(!text.contains("peering_state{kind=\"PeeringDialer\",namespace=\"default\",name=\"dc2\",state=\"ACTIVE\"} 1"));
        assert!(!text.contains("last_active_timestamp_seconds{"), "{text}");
        metrics.set_leader("pod-a", false);
        metrics.forget_resources();
        let text = metrics.encode();
        assert!(text.contains("consul_peering_operator_leader{identity=\"pod-a\"} 0"));
        assert!(!text.contains("dialer_token_rejections_total{"), "{text}");
    }
}
