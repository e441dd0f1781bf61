//! How fast a change Consul holds reaches a resource's status: a peering deleted out of band,
//! an establish (both sides ACTIVE) and a stream going FAILING, each for many resources at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::arrivals::Arrivals;
use super::burst::is_ready;
use super::latency::millis;
use super::world::{World, acceptor, token_secret};
use crate::consul::PeeringState;
use crate::crd::{CONDITION_READY, PeeringAcceptor, PeeringDialer, find_condition};

const WAIT: Duration = Duration::from_secs(90);

/// What a stored change shows in an acceptor's status.
fn status_key(a: &PeeringAcceptor) -> (Option<String>, Option<String>, Option<String>) {
    let status = a.status.clone().unwrap_or_default();
    let reason = find_condition(&status.conditions, CONDITION_READY).map(|c| c.reason.clone());
    (status.state, status.peering_id, reason)
}

/// Consul deletes the peerings of the acceptors `names` in dc1's `namespace` (as an operator
/// with the CLI would); milliseconds until each status showed it.
pub async fn stored_change(
    world: &World,
    namespace: &str,
    names: &[String],
) -> anyhow::Result<Vec<f64>> {
    let api = Api::<PeeringAcceptor>::namespaced(world.dc("dc1").kube.client(), namespace);
    let mut before = HashMap::new();
    for name in names {
        before.insert(name.clone(), status_key(&api.get(name).await?));
    }
    let changed = Arrivals::watch(api, move |a| {
        before
            .get(&a.name_any())
            .is_some_and(|b| *b != status_key(a))
    })
    .await?;
    let consul = world.consul("dc1")?;
    let mut started = Vec::with_capacity(names.len());
    for name in names {
        started.push(Instant::now());
        consul.delete_peering("default", name);
    }
    let mut figures = Vec::with_capacity(names.len());
    for (name, started) in names.iter().zip(started) {
        figures.push(millis(changed.of(name, WAIT).await? - started));
    }
    Ok(figures)
}

/// Both sides' state watches for one state.
struct BothSides {
    acceptors: Arrivals,
    dialers: Arrivals,
}

impl BothSides {
    async fn watch(world: &World, namespace: &str, state: PeeringState) -> anyhow::Result<Self> {
        let wanted = state.clone();
        let acceptors = Arrivals::watch(
            Api::<PeeringAcceptor>::namespaced(world.dc("dc1").kube.client(), namespace),
            move |a| a.status.as_ref().and_then(|s| s.consul_state()) == Some(wanted.clone()),
        )
        .await?;
        let dialers = Arrivals::watch(
            Api::<PeeringDialer>::namespaced(world.dc("dc2").kube.client(), namespace),
            move |d| d.status.as_ref().and_then(|s| s.consul_state()) == Some(state.clone()),
        )
        .await?;
        Ok(BothSides { acceptors, dialers })
    }

    /// When both sides of `name` had arrived.
    async fn of(&self, name: &str) -> anyhow::Result<Instant> {
        Ok(self
            .acceptors
            .of(name, WAIT)
            .await?
            .max(self.dialers.of(name, WAIT).await?))
    }
}

/// What [`establish`] measured, in milliseconds from each dialer's create.
pub struct Established {
    /// Until both sides' status read ACTIVE.
    pub both_sides: Vec<f64>,
    /// Until the dialer's status read ACTIVE.
    pub dialer: Vec<f64>,
    pub names: Vec<String>,
}

/// `samples` acceptors in dc1 whose tokens the benchmark copies to dc2, then a dialer per token:
/// how long until the status of each side read ACTIVE.
pub async fn establish(
    world: &World,
    namespace: &str,
    samples: usize,
) -> anyhow::Result<Established> {
    world.create_namespace("dc1", namespace).await?;
    world.create_namespace("dc2", namespace).await?;
    let dc1 = world.dc("dc1").kube.client();
    let ready = Arrivals::watch(
        Api::<PeeringAcceptor>::namespaced(dc1.clone(), namespace),
        is_ready,
    )
    .await?;
    let names: Vec<String> = (0..samples).map(|i| format!("{namespace}-{i}")).collect();
    let objects = names.iter().map(|n| acceptor(namespace, n)).collect();
    world
        .create_parallel::<PeeringAcceptor>("dc1", namespace, objects)
        .await?;
    ready.all(samples, WAIT).await?;
    copy_tokens(world, namespace, &names).await?;

    let active = BothSides::watch(world, namespace, PeeringState::Active).await?;
    let dialers = Api::<PeeringDialer>::namespaced(world.dc("dc2").kube.client(), namespace);
    let mut started = Vec::with_capacity(samples);
    for name in &names {
        let dialer: PeeringDialer = serde_json::from_value(json!({
            "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringDialer",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"peer": {"secret": {"name": token_secret(name), "key": "data", "backend": "kubernetes"}}},
        }))?;
        started.push(Instant::now());
        dialers.create(&PostParams::default(), &dialer).await?;
    }
    let mut both_sides = Vec::with_capacity(samples);
    let mut dialer = Vec::with_capacity(samples);
    for (name, started) in names.iter().zip(started) {
        both_sides.push(millis(active.of(name).await? - started));
        dialer.push(millis(active.dialers.of(name, WAIT).await? - started));
    }
    Ok(Established {
        both_sides,
        dialer,
        names,
    })
}

/// The token Secrets of `names` from dc1 to dc2, as a delivery would put them.
async fn copy_tokens(world: &World, namespace: &str, names: &[String]) -> anyhow::Result<()> {
    let from = Api::<Secret>::namespaced(world.dc("dc1").kube.client(), namespace);
    let to = Api::<Secret>::namespaced(world.dc("dc2").kube.client(), namespace);
    for name in names {
        let secret = from.get(&token_secret(name)).await?;
        let copy: Secret = serde_json::from_value(json!({
            "metadata": {"name": token_secret(name), "namespace": namespace},
            "data": secret.data,
        }))?;
        to.create(&PostParams::default(), &copy).await?;
    }
    Ok(())
}

/// dc1's Consul breaks the streams of the established peerings `names`: milliseconds until
/// both sides' status read FAILING. The streams come back afterwards.
pub async fn failing(world: &World, namespace: &str, names: &[String]) -> anyhow::Result<Vec<f64>> {
    let failing = BothSides::watch(world, namespace, PeeringState::Failing).await?;
    let consul = world.consul("dc1")?;
    let mut started = Vec::with_capacity(names.len());
    for name in names {
        started.push(Instant::now());
        consul.drop_stream("default", name, None);
    }
    let mut figures = Vec::with_capacity(names.len());
    for (name, started) in names.iter().zip(started) {
        figures.push(millis(failing.of(name).await? - started));
    }
    consul.clear_faults();
    Ok(figures)
}
