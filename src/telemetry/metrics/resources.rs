//! Per-resource series: what `kubectl get` shows, as metrics. Labelled by the resource's kind,
//! namespace and name (bounded by the resources that exist; a deleted resource's series go with
//! it) and by bounded values (peering state, condition reason, delivery target of the spec).
//! Encoded at scrape time, so "last seen ACTIVE" is current without any polling.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::consul::PeeringState;

const DIALER_KIND: &str = "PeeringDialer";

/// What one reconcile pass computed for a resource's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceReport {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The Consul peering's state, when there is a peering.
    pub state: Option<String>,
    pub ready: bool,
    /// The `Ready` condition's reason (a fixed set of constants).
    pub reason: &'static str,
    /// Acceptors: each delivery target (as `kubeconfig-secret/namespace/secret`) and whether
    /// delivering to it is failing.
    pub delivery: Vec<(String, bool)>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ResourceKey {
    kind: String,
    namespace: String,
    name: String,
}

#[derive(Debug)]
struct ResourceRecord {
    state: Option<PeeringState>,
    ready: bool,
    reason: &'static str,
    last_active: Option<SystemTime>,
    token_rejections: u64,
    delivery: Vec<(String, bool)>,
}

/// The per-resource records, encoded on each scrape.
#[derive(Debug, Default)]
pub struct ResourceMetrics {
    records: Mutex<BTreeMap<ResourceKey, ResourceRecord>>,
}

/// One series per state Consul defines; a state Consul adds later is reported as `UNDEFINED`.
fn known_state(state: &str) -> PeeringState {
    match PeeringState::from(state.to_owned()) {
        PeeringState::Other(_) => PeeringState::Undefined,
        known => known,
    }
}

impl ResourceMetrics {
    pub fn observe(&self, report: ResourceReport) {
        let key = ResourceKey {
            kind: report.kind,
            namespace: report.namespace,
            name: report.name,
        };
        let state = report.state.as_deref().map(known_state);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let record = records.entry(key).or_insert(ResourceRecord {
            state: state.clone(),
            ready: report.ready,
            reason: report.reason,
            last_active: None,
            token_rejections: 0,
            delivery: Vec::new(),
        });
        // Leaving ACTIVE: "last seen ACTIVE" stops moving now.
        let active = Some(PeeringState::Active);
        if record.state == active && state != active {
            record.last_active = Some(SystemTime::now());
        }
        record.state = state;
        record.ready = report.ready;
        record.reason = report.reason;
        record.delivery = report.delivery;
    }

    pub fn token_rejected(&self, namespace: &str, name: &str) {
        let key = ResourceKey {
            kind: DIALER_KIND.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(record) = records.get_mut(&key) {
            record.token_rejections += 1;
        }
    }

    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let key = ResourceKey {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    pub fn forget_all(&self) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

type Records = BTreeMap<ResourceKey, ResourceRecord>;

impl Collector for ResourceMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        encode_states(&mut encoder, &records)?;
        encode_last_active(&mut encoder, &records, SystemTime::now())?;
        encode_ready(&mut encoder, &records)?;
        encode_token_rejections(&mut encoder, &records)?;
        encode_delivery(&mut encoder, &records)
    }
}

fn encode_states(encoder: &mut DescriptorEncoder, records: &Records) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "peering_state",
        "Per resource, 1 for the current state of its Consul peering (all 0 without a peering)",
        None,
        MetricType::Gauge,
    )?;
    for (key, record) in records.iter() {
        for state in &PeeringState::KNOWN {
            let labels = [
                ("kind", key.kind.as_str()),
                ("namespace", key.namespace.as_str()),
                ("name", key.name.as_str()),
                ("state", state.as_str()),
            ];
            let value = i64::from(record.state.as_ref() == Some(state));
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn encode_last_active(
    encoder: &mut DescriptorEncoder,
    records: &Records,
    now: SystemTime,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "peering_last_active_timestamp_seconds",
        "Per resource, when its peering was last seen ACTIVE (now while it is); absent if \
         never seen ACTIVE since the operator started",
        None,
        MetricType::Gauge,
    )?;
    for (key, record) in records.iter() {
        let last = if record.state == Some(PeeringState::Active) {
            Some(now)
        } else {
            record.last_active
        };
        if let Some(last) = last {
            let labels = key_labels(key);
            ConstGauge::new(unix_seconds(last)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn encode_ready(encoder: &mut DescriptorEncoder, records: &Records) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "resource_ready",
        "Per resource, its Ready condition (1 True, 0 False) with the condition's reason",
        None,
        MetricType::Gauge,
    )?;
    for (key, record) in records.iter() {
        let labels = [
            ("kind", key.kind.as_str()),
            ("namespace", key.namespace.as_str()),
            ("name", key.name.as_str()),
            ("reason", record.reason),
        ];
        ConstGauge::new(i64::from(record.ready)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn encode_token_rejections(encoder: &mut DescriptorEncoder, records: &Records) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "dialer_token_rejections",
        "Per PeeringDialer, tokens it found refused (by Consul, or not a peering token)",
        None,
        MetricType::Counter,
    )?;
    for (key, record) in records.iter().filter(|(k, _)| k.kind == DIALER_KIND) {
        let labels = [
            ("namespace", key.namespace.as_str()),
            ("name", key.name.as_str()),
        ];
        ConstCounter::new(record.token_rejections).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn encode_delivery(encoder: &mut DescriptorEncoder, records: &Records) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "delivery_target_failing",
        "Per PeeringAcceptor delivery target (kubeconfig-secret/namespace/secret), 1 while \
         delivering the token Secret to it fails",
        None,
        MetricType::Gauge,
    )?;
    for (key, record) in records.iter() {
        for (target, failing) in &record.delivery {
            let labels = [
                ("namespace", key.namespace.as_str()),
                ("name", key.name.as_str()),
                ("target", target.as_str()),
            ];
            ConstGauge::new(i64::from(*failing)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn key_labels(key: &ResourceKey) -> [(&'static str, &str); 3] {
    [
        ("kind", key.kind.as_str()),
        ("namespace", key.namespace.as_str()),
        ("name", key.name.as_str()),
    ]
}
