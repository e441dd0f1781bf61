//! Bursts of acceptors created by parallel clients until all are Ready, and an operator
//! started over existing acceptors, with what they cost the API server and Consul.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kube::Api;
use serde::Serialize;

use super::arrivals::Arrivals;
use super::operator_process::OperatorProcess;
use super::world::{World, acceptor, sum_of};
use crate::crd::{CONDITION_READY, ConditionStatus, PeeringAcceptor, find_condition};

/// How long the reconcile count must stay still for the operator to count as settled.
const SETTLED: Duration = Duration::from_secs(2);

/// One burst's figures (the JSON's `burst[]` entry, with the counts it was derived from).
#[derive(Clone, Debug, Serialize)]
pub struct Burst {
    pub n: usize,
    pub all_ready_s: f64,
    pub ms_per_acceptor: f64,
    pub k8s_writes_per_acceptor: f64,
    pub consul_calls_per_acceptor: f64,
    pub reconciles_per_acceptor: f64,
    pub operator_peak_rss_mib: f64,
    /// Seconds the 8 clients took to create them all.
    pub created_s: f64,
    pub k8s_writes: BTreeMap<String, u64>,
    pub consul_calls: BTreeMap<String, u64>,
}

pub fn is_ready(acceptor: &PeeringAcceptor) -> bool {
    acceptor
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, CONDITION_READY))
        .is_some_and(|c| c.status == ConditionStatus::True)
}

/// `n` acceptors created in the new `namespace` of dc1 by parallel clients; from the first
/// create until the watch saw the last one Ready, then until the operator settled.
pub async fn burst(
    world: &World,
    operator: &OperatorProcess,
    namespace: &str,
    n: usize,
) -> anyhow::Result<Burst> {
    world.create_namespace("dc1", namespace).await?;
    let api = Api::<PeeringAcceptor>::namespaced(world.dc("dc1").kube.client(), namespace);
    let ready = Arrivals::watch(api, is_ready).await?;
    world.reset_counters("dc1")?;
    let reconciles_before = operator.reconciles("acceptor").await?;
    let objects = (0..n)
        .map(|i| acceptor(namespace, &format!("{namespace}-{i}")))
        .collect();
    let started = Instant::now();
    world
        .create_parallel::<PeeringAcceptor>("dc1", namespace, objects)
        .await?;
    let created_s = started.elapsed().as_secs_f64();
    let last = ready.all(n, Duration::from_secs(900)).await?;
    let all_ready_s = (last - started).as_secs_f64();
    let reconciles = operator
        .settled_reconciles("acceptor", SETTLED, Duration::from_secs(120))
        .await?
        - reconciles_before;
    let k8s_writes = world.operator_writes("dc1");
    let consul_calls = world.consul_calls("dc1")?;
    let per = |count: u64| count as f64 / n as f64;
    Ok(Burst {
        n,
        all_ready_s,
        ms_per_acceptor: all_ready_s * 1000.0 / n as f64,
        k8s_writes_per_acceptor: per(sum_of(&k8s_writes, "")),
        consul_calls_per_acceptor: per(sum_of(&consul_calls, "")),
        reconciles_per_acceptor: per(reconciles),
        operator_peak_rss_mib: operator.memory()?.peak_mib,
        created_s,
        k8s_writes,
        consul_calls,
    })
}

/// An operator started over the `acceptors` that exist: process start until ready (caches
/// synced), and what it wrote and asked Consul until it had reconciled each once and settled.
#[derive(Clone, Debug, Serialize)]
pub struct Startup {
    pub startup_s: f64,
    pub token_calls: u64,
    pub k8s_writes: BTreeMap<String, u64>,
    pub consul_calls: BTreeMap<String, u64>,
}

pub async fn startup(
    world: &World,
    binary: &Path,
    kubeconfig: &Path,
    log: &Path,
    acceptors: u64,
    consul_watch_wait_seconds: u64,
) -> anyhow::Result<(OperatorProcess, Startup)> {
    world.reset_counters("dc1")?;
    let consul_address = world.dc("dc1").consul_address.clone();
    let mut operator = OperatorProcess::spawn(
        binary,
        kubeconfig,
        &consul_address,
        log,
        consul_watch_wait_seconds,
    )?;
    let startup = operator.wait_ready(Duration::from_secs(120)).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while operator.reconciles("acceptor").await? < acceptors && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    operator
        .settled_reconciles("acceptor", SETTLED, Duration::from_secs(60))
        .await?;
    let consul_calls = world.consul_calls("dc1")?;
    let figures = Startup {
        startup_s: startup.as_secs_f64(),
        token_calls: sum_of(&consul_calls, "POST /v1/peering/token"),
        k8s_writes: world.operator_writes("dc1"),
        consul_calls,
    };
    Ok((operator, figures))
}
