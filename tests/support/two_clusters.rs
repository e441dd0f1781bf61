//! Two emulated datacenters, dc1 and dc2, each an emulated Kubernetes API server, an emulated
//! Consul and the real operator running in-process against them (as `run` runs it), plus what
//! the end-to-end tests of the dialer and of delivery share: manifests, waits, a history of every
//! version of a resource, a TCP gate to take a cluster off the network, and a capture of all
//! tracing output to check that no credential is ever logged.
//!
//! Every test starts its own pair, so tests run in parallel without sharing anything. The log
//! capture is T4's [`Logs`]: the test thread's default subscriber, so tests run on tokio's
//! current-thread runtime (plain `#[tokio::test]`), where the operators' tasks log into it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use consul_peering_operator::consul::{ConsulConfig, PeeringToken};
use consul_peering_operator::controller::ConsulClients;
use consul_peering_operator::crd::reason;
use consul_peering_operator::crd::{
    CONDITION_DELIVERED, CONDITION_READY, Condition, ConditionStatus, LABEL_PEERING_TOKEN,
    LABEL_PEERING_TOKEN_VALUE, PeeringAcceptor, PeeringDialer, find_condition,
};
use consul_peering_operator::playground::{
    EXAMPLE_ACCEPTOR_WITH_DELIVERY, EXAMPLE_DIALER, apply_example, install_crds,
};
use consul_peering_operator::run::{RunArgs, run_with};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use kube_emulator::KubeEmulator;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::LevelFilter;

use super::operator::{Logs, consul_config};

/// How long a wait for the operator lasts before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The operators' longest wait on Consul's peering list, in seconds.
pub const WATCH_WAIT_SECONDS: u64 = 1;
/// The namespace everything lives in (each test has clusters of its own).
pub const NS: &str = "default";
/// Names from `examples/acceptor-with-delivery.yaml` and `examples/dialer.yaml`: the acceptor in
/// dc1 (its peer is dc2), the dialer in dc2 (its peer is dc1), the token Secret on both sides,
/// and the Secret in dc1 holding dc2's kubeconfig.
pub const ACCEPTOR: &str = "dc2";
pub const DIALER: &str = "dc1";
pub const TOKEN_SECRET: &str = "peering-token-dc2";
pub const KUBECONFIG_SECRET: &str = "dc2-kubeconfig";
/// The field manager of everything the tests write.
const TEST_MANAGER: &str = "e2e-test";

/// One datacenter: its Kubernetes API, its Consul and, running against both, an operator.
pub struct Dc {
    pub name: &'static str,
    pub kube: KubeEmulator,
    pub consul: consul_emulator::Handle,
    /// Where the operator serves `/metrics`.
    pub metrics: SocketAddr,
}

impl Dc {
    pub fn client(&self) -> kube::Client {
        self.kube.client()
    }

    pub fn acceptors(&self) -> Api<PeeringAcceptor> {
        Api::namespaced(self.client(), NS)
    }

    pub fn dialers(&self) -> Api<PeeringDialer> {
        Api::namespaced(self.client(), NS)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client(), NS)
    }

    /// The peering as Consul's API shows it (with the stream's state).
    pub fn peering(&self, name: &str) -> Option<consul_emulator::Peering> {
        self.consul.peering("", name)
    }

    pub fn state(&self, name: &str) -> Option<&'static str> {
        self.peering(name).map(|p| p.state.as_str())
    }

    /// `POST /v1/peering/establish` requests this Consul got, whatever the answer.
    pub fn establish_calls(&self) -> u64 {
        self.consul.count("POST", "/v1/peering/establish")
    }

    /// `POST /v1/peering/token` requests this Consul got.
    pub fn token_calls(&self) -> u64 {
        self.consul.count("POST", "/v1/peering/token")
    }

    /// Waits until Consul shows the peering in `state` (`None`: gone).
    pub async fn wait_peering(&self, name: &str, state: Option<&str>) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let now = self.state(name);
            if now == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: peering {name:?} is {now:?}, expected {state:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts datacenter `name`: its emulated Kubernetes API (with the CRDs) and Consul, and its
    /// operator, which runs until `stop`; returns it and the operator's task.
    pub async fn start(
        name: &'static str,
        stop: &CancellationToken,
    ) -> (Dc, JoinHandle<anyhow::Result<()>>) {
        let kube = kube_emulator::start_with(kube_emulator::Config {
            cluster_name: name.to_owned(),
            ..kube_emulator::Config::default()
        })
        .await
        .expect("kube emulator starts");
        let consul = consul_emulator::start(consul_config(name))
            .await
            .expect("consul emulator starts");
        install_crds(&kube.client()).await.expect("CRDs installed");
        let (metrics, operator) = start_operator(name, &kube, &consul, stop).await;
        let dc = Dc {
            name,
            kube,
            consul,
            metrics,
        };
        (dc, operator)
    }
}

/// The operators of a set of datacenters, all stopped by one token, with their log output
/// captured (as the test thread's default subscriber) while this lives; dropping it stops them.
pub struct Operators {
    stop: CancellationToken,
    /// Each operator's task, by datacenter name.
    tasks: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
    _log_guard: tracing::subscriber::DefaultGuard,
}

impl Operators {
    /// No operator yet; those started log into `logs`, at trace level.
    pub fn capturing(logs: &Logs) -> Operators {
        emulator_common::install_crypto_provider();
        Operators {
            _log_guard: logs.capture(LevelFilter::TRACE),
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// Starts datacenter `name` with its operator (see [`Dc::start`]).
    pub async fn start_dc(&mut self, name: &'static str) -> Dc {
        let (dc, operator) = Dc::start(name, &self.stop).await;
        self.tasks.push((name, operator));
        dc
    }

    /// Kills `dc`'s operator as SIGKILL would (its task aborted where it waits: no drain, no
    /// lease release; only what it spawned that reads, such as `/metrics`, may linger), then
    /// starts a new one against the same clusters.
    pub async fn restart(&mut self, dc: &mut Dc) {
        let stop = self.stop.clone();
        let task = self.kill(dc.name).await;
        let (metrics, operator) = start_operator(dc.name, &dc.kube, &dc.consul, &stop).await;
        dc.metrics = metrics;
        *task = operator;
    }

    /// Kills datacenter `name`'s operator (see [`Operators::restart`]); returns its place.
    pub async fn kill(&mut self, name: &str) -> &mut JoinHandle<anyhow::Result<()>> {
        let (_, task) = self
            .tasks
            .iter_mut()
            .find(|(dc, _)| *dc == name)
            .expect("an operator of this datacenter");
        task.abort();
        let ended = (&mut *task).await;
        assert!(
            ended.as_ref().is_err_and(|e| e.is_cancelled()),
            "{name}: the operator was running when killed: {ended:?}"
        );
        task
    }

    /// Whether datacenter `name`'s operator has ended (it should run until stopped).
    pub fn has_ended(&self, name: &str) -> bool {
        self.tasks
            .iter()
            .any(|(dc, task)| *dc == name && task.is_finished())
    }

    /// Stops the operators and checks that they ended cleanly.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        for (_, operator) in self.tasks.drain(..) {
            tokio::time::timeout(TIMEOUT, operator)
                .await
                .expect("operator stops in time")
                .expect("operator task")
                .expect("operator ends without error");
        }
    }
}

impl Drop for Operators {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// dc1 and dc2 with their operators; dropping it stops the operators and the emulators.
pub struct TwoClusters {
    /// First, so that dropping stops the operators before the emulators go.
    operators: Operators,
    pub dc1: Dc,
    pub dc2: Dc,
    /// Both operators' log output, at trace level (the emulators' own events left out).
    pub logs: Logs,
}

impl TwoClusters {
    pub async fn start() -> TwoClusters {
        let logs = Logs::default();
        let mut operators = Operators::capturing(&logs);
        let dc1 = operators.start_dc("dc1").await;
        let dc2 = operators.start_dc("dc2").await;
        TwoClusters {
            operators,
            dc1,
            dc2,
            logs,
        }
    }

    /// Stops both operators and checks that they ended cleanly.
    pub async fn stop(mut self) {
        self.operators.stop().await;
    }

    /// Whether datacenter `name`'s operator has ended (see [`Operators::has_ended`]).
    pub fn operator_ended(&self, name: &str) -> bool {
        self.operators.has_ended(name)
    }

    /// Kills the operator of datacenter `name` for good (see [`Operators::restart`]).
    pub async fn kill_operator(&mut self, name: &str) {
        self.operators.kill(name).await;
    }

    /// Kills the operator of datacenter `name` and starts it again (see [`Operators::restart`]).
    pub async fn restart_operator(&mut self, name: &str) {
        let dc = if name == self.dc1.name {
            &mut self.dc1
        } else {
            &mut self.dc2
        };
        self.operators.restart(dc).await;
    }

    /// Creates, in dc1, the Secret holding dc2's admin kubeconfig (as the playground does), with
    /// the server address replaced by `server` when given.
    pub async fn kubeconfig_secret(&self, name: &str, server: Option<&str>) -> String {
        let mut kubeconfig = self.dc2.kube.kubeconfig();
        if let Some(server) = server {
            kubeconfig = kubeconfig.replace(self.dc2.kube.url(), server);
        }
        consul_peering_operator::playground::create_kubeconfig_secret(
            &self.dc1.client(),
            name,
            &kubeconfig,
        )
        .await
        .expect("kubeconfig Secret created");
        kubeconfig
    }
}

impl TwoClusters {
    /// The main job from nothing: dc2's kubeconfig Secret in dc1, then only the two example
    /// manifests applied (the acceptor with delivery in dc1, the dialer in dc2); returns the
    /// token once both sides are ACTIVE and Ready.
    pub async fn peer_from_examples(&self) -> String {
        self.kubeconfig_secret(KUBECONFIG_SECRET, None).await;
        self.apply_examples().await;
        self.wait_peered().await
    }

    /// The two example manifests applied: the acceptor with delivery in dc1, the dialer in dc2.
    pub async fn apply_examples(&self) {
        let _: PeeringAcceptor = apply_example(&self.dc1.client(), EXAMPLE_ACCEPTOR_WITH_DELIVERY)
            .await
            .expect("the example acceptor applies");
        let _: PeeringDialer = apply_example(&self.dc2.client(), EXAMPLE_DIALER)
            .await
            .expect("the example dialer applies");
    }

    /// Waits until both resources are Ready with the peering ACTIVE and the copy delivered;
    /// returns the token.
    pub async fn wait_peered(&self) -> String {
        let acceptor = wait_for(
            &self.dc1.acceptors(),
            ACCEPTOR,
            "ACTIVE, Ready, delivered",
            |a| {
                acceptor_state(a) == Some("ACTIVE")
                    && is(acceptor_ready(a), ConditionStatus::True, reason::ACTIVE)
                    && is(delivered(a), ConditionStatus::True, reason::DELIVERED)
            },
        )
        .await;
        let dialer = wait_for(&self.dc2.dialers(), DIALER, "ACTIVE and Ready", |d| {
            dialer_state(d) == Some("ACTIVE")
                && is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE)
        })
        .await;
        let token = secret_value(&self.dc1.secrets(), TOKEN_SECRET, "data")
            .await
            .expect("the acceptor's Secret holds the token");
        let fp = fingerprint(&token);
        let status = dialer.status.expect("dialer status");
        assert_eq!(status.token_fingerprint.as_deref(), Some(fp.as_str()));
        let delivery = &acceptor.status.expect("acceptor status").delivery[0];
        assert_eq!(delivery.token_fingerprint.as_deref(), Some(fp.as_str()));
        token
    }

    /// Fails if a credential appears in either operator's log (any level) or in any status or
    /// Event of either cluster; `also` are more texts to search (e.g. recorded statuses).
    pub async fn assert_no_leak(&self, credentials: &[String], also: &[(&str, String)]) {
        let log = self.logs.text();
        // The capture must have seen the operators at trace level, or the check proves nothing.
        assert!(
            log.contains("consul_peering_operator") && log.contains("TRACE"),
            "the log capture is empty"
        );
        assert_no_credentials(&log, "the operators' log", credentials);
        for dc in [&self.dc1, &self.dc2] {
            let shown = statuses_and_events(dc).await;
            assert_no_credentials(
                &shown,
                &format!("{}'s statuses and Events", dc.name),
                credentials,
            );
        }
        for (place, text) in also {
            assert_no_credentials(text, place, credentials);
        }
    }
}

/// A PeeringAcceptor named `name` keeping its token in Secret `secret` (key `data`), with the
/// given `spec.delivery` targets.
pub fn acceptor(name: &str, secret: &str, delivery: Option<Value>) -> PeeringAcceptor {
    let mut spec =
        json!({"peer": {"secret": {"name": secret, "key": "data", "backend": "kubernetes"}}});
    if let Some(delivery) = delivery {
        spec["delivery"] = delivery;
    }
    serde_json::from_value(json!({
        "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringAcceptor",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .expect("a valid PeeringAcceptor")
}

/// One delivery target: the kubeconfig in Secret `kubeconfig_secret` (key `kubeconfig`), into
/// the namespace `default` under the acceptor's Secret name.
pub fn delivery_to(kubeconfig_secret: &str) -> Value {
    json!([{"kubeconfigSecretRef": {"name": kubeconfig_secret, "key": "kubeconfig"}, "namespace": NS}])
}

/// A PeeringDialer named `name` (its Consul peer name) reading Secret `secret`, key `data`.
pub fn dialer(name: &str, secret: &str) -> PeeringDialer {
    serde_json::from_value(json!({
        "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringDialer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"peer": {"secret": {"name": secret, "key": "data", "backend": "kubernetes"}}},
    }))
    .expect("a valid PeeringDialer")
}

/// Server-side applies `obj` as a user would with `kubectl apply --server-side`.
pub async fn apply<K>(api: &Api<K>, obj: &K) -> K
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    api.patch(
        &obj.name_any(),
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {}: {e}", obj.name_any()))
}

/// Merge-patches metadata (labels, annotations) of `name`.
pub async fn patch_metadata<K>(api: &Api<K>, name: &str, metadata: Value)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": metadata})),
    )
    .await
    .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// Raises the rotation annotation of a resource to `version`.
pub async fn rotate<K>(api: &Api<K>, name: &str, version: i64)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    patch_metadata(
        api,
        name,
        json!({"annotations": {"consulpeering.io/peering-version": version.to_string()}}),
    )
    .await;
}

/// Writes a Secret with `data` (string values), labelled as a token Secret when `labelled`.
pub async fn put_secret(api: &Api<Secret>, name: &str, data: &[(&str, &str)], labelled: bool) {
    let labels = labelled.then(|| {
        BTreeMap::from([(
            LABEL_PEERING_TOKEN.to_owned(),
            LABEL_PEERING_TOKEN_VALUE.to_owned(),
        )])
    });
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            labels,
            ..ObjectMeta::default()
        },
        string_data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Secret::default()
    };
    apply(api, &secret).await;
}

/// The text under `key` of Secret `name`, if both exist.
pub async fn secret_value(api: &Api<Secret>, name: &str, key: &str) -> Option<String> {
    let secret = api.get_opt(name).await.expect("reading a Secret")?;
    let value = secret.data?.remove(key)?;
    Some(String::from_utf8(value.0).expect("UTF-8 Secret value"))
}

/// Waits until the Secret holds a token different from `not`; returns it.
pub async fn wait_token(api: &Api<Secret>, name: &str, not: Option<&str>) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(token) = secret_value(api, name, "data").await
            && Some(token.as_str()) != not
        {
            return token;
        }
        assert!(
            Instant::now() < deadline,
            "Secret {name} never held a new token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `name` until `done` holds; fails with the last version seen.
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, done: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let current = api.get_opt(name).await.expect("reading the resource");
        if let Some(obj) = &current
            && done(obj)
        {
            return obj.clone();
        }
        if Instant::now() >= deadline {
            let shown = current
                .map(|o| serde_json::to_string_pretty(&o).unwrap_or_default())
                .unwrap_or_else(|| "(absent)".into());
            panic!("{name}: {what} did not happen within {TIMEOUT:?}; last seen:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `name` until its `condition` has this status and reason; returns it.
pub async fn wait_condition<K>(
    api: &Api<K>,
    name: &str,
    condition: fn(&K) -> Option<&Condition>,
    status: ConditionStatus,
    reason: &str,
) -> K
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let what = format!("{reason} ({status:?})");
    wait_for(api, name, &what, |obj| is(condition(obj), status, reason)).await
}

/// Polls until `name` is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let deadline = Instant::now() + TIMEOUT;
    while api.get_opt(name).await.expect("reading").is_some() {
        assert!(Instant::now() < deadline, "{name} still exists");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Deletes `name` and waits until it is gone (its finalizers done).
pub async fn delete_and_wait_gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
    wait_gone(api, name).await;
}

pub fn ready_of(conditions: &[Condition]) -> Option<&Condition> {
    find_condition(conditions, CONDITION_READY)
}

/// The dialer's `Ready` condition.
pub fn dialer_ready(d: &PeeringDialer) -> Option<&Condition> {
    d.status.as_ref().and_then(|s| ready_of(&s.conditions))
}

/// The acceptor's `Ready` condition.
pub fn acceptor_ready(a: &PeeringAcceptor) -> Option<&Condition> {
    a.status.as_ref().and_then(|s| ready_of(&s.conditions))
}

/// The `Delivered` condition of the acceptor's only delivery target.
pub fn delivered(a: &PeeringAcceptor) -> Option<&Condition> {
    let status = a.status.as_ref()?;
    assert!(status.delivery.len() <= 1, "one delivery target expected");
    find_condition(&status.delivery.first()?.conditions, CONDITION_DELIVERED)
}

/// Whether `condition` has this status and reason.
pub fn is(condition: Option<&Condition>, status: ConditionStatus, reason: &str) -> bool {
    condition.is_some_and(|c| c.status == status && c.reason == reason)
}

pub fn dialer_state(d: &PeeringDialer) -> Option<&str> {
    d.status.as_ref()?.state.as_deref()
}

pub fn acceptor_state(a: &PeeringAcceptor) -> Option<&str> {
    a.status.as_ref()?.state.as_deref()
}

/// Every version of one resource, as a watch delivers them, from now on.
pub struct History<K> {
    seen: Arc<Mutex<Vec<K>>>,
    task: JoinHandle<()>,
}

impl<K> History<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    pub fn record(client: kube::Client, name: &str) -> History<K> {
        let api: Api<K> = Api::namespaced(client, NS);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let mut versions = watcher(api, config).applied_objects().boxed();
            while let Some(version) = versions.next().await {
                if let Ok(obj) = version {
                    sink.lock().unwrap().push(obj);
                }
            }
        });
        History { seen, task }
    }

    pub fn versions(&self) -> Vec<K> {
        self.seen.lock().unwrap().clone()
    }

    /// Every version recorded, as JSON lines (to search for credentials).
    pub fn json(&self) -> String
    where
        K: Serialize,
    {
        self.versions()
            .iter()
            .map(|v| serde_json::to_string(v).expect("json"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl<K> Drop for History<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP forwarder in front of a server: while closed, connections are refused (accepted and
/// dropped at once) and open ones are cut, as when a cluster drops off the network.
pub struct Gate {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Gate {
    /// A gate in front of `target` (`https://127.0.0.1:PORT`), open.
    pub async fn to(target: &str) -> Gate {
        let target: SocketAddr = target
            .trim_start_matches("https://")
            .parse()
            .expect("a loopback address");
        let listener = TcpListener::bind((emulator_common::LOOPBACK, 0))
            .await
            .expect("bind the gate");
        let addr = listener.local_addr().expect("gate address");
        let (open, _) = watch::channel(true);
        let state = open.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut state = state.clone();
                if !*state.borrow_and_update() {
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Gate { addr, open, task }
    }

    /// `https://127.0.0.1:PORT` of the gate (the emulator's certificate is for 127.0.0.1).
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn close(&self) {
        self.open.send_replace(false);
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `name`'s operator as `run` does, serving `/metrics` on a free loopback port; returns
/// that address once the operator holds it, and the operator's task.
///
/// The port is free when chosen, but another test's listener or connection may take it before
/// the operator binds it: the operator then ends at once with the bind error, and is started
/// again on another port instead of leaving the test without an operator.
pub async fn start_operator(
    name: &str,
    kube: &KubeEmulator,
    consul: &consul_emulator::Handle,
    stop: &CancellationToken,
) -> (SocketAddr, JoinHandle<anyhow::Result<()>>) {
    start_operator_with(name, kube.client(), consul, stop, |_| {}).await
}

/// [`start_operator`] with this Kubernetes client and the arguments changed by `configure`.
pub async fn start_operator_with(
    name: &str,
    client: kube::Client,
    consul: &consul_emulator::Handle,
    stop: &CancellationToken,
    configure: impl Fn(&mut RunArgs),
) -> (SocketAddr, JoinHandle<anyhow::Result<()>>) {
    let mut failures = Vec::new();
    for _attempt in 0..5 {
        let mut args = RunArgs::for_embedding();
        args.identity = Some(format!("operator-{name}"));
        // Stream-derived states (ACTIVE, FAILING) reach status when a wait runs out.
        args.consul_watch_wait_seconds = WATCH_WAIT_SECONDS;
        let address = free_loopback_address();
        args.listen_addr = address;
        configure(&mut args);
        let clients = ConsulClients::new(ConsulConfig {
            address: consul.url(),
            ..ConsulConfig::default()
        })
        .expect("Consul client");
        let operator = tokio::spawn(run_with(client.clone(), clients, args, stop.clone()));
        if serves(address, &operator).await {
            return (address, operator);
        }
        let ended = operator.await.expect("the operator task does not panic");
        failures.push(format!("{ended:?}"));
    }
    panic!("{name}: the operator never held its port: {failures:#?}");
}

/// Whether the operator serves on `address`: something accepts connections there and the
/// operator, whose bind is the first thing it does, has not ended since.
async fn serves(address: SocketAddr, operator: &JoinHandle<anyhow::Result<()>>) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline && !operator.is_finished() {
        if TcpStream::connect(address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return !operator.is_finished();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    !operator.is_finished()
}

/// A loopback address with a port free at the time of asking.
fn free_loopback_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind((emulator_common::LOOPBACK, 0)).expect("bind");
    listener.local_addr().expect("address")
}

/// A loopback address nothing listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind((emulator_common::LOOPBACK, 0)).expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("https://{addr}")
}

/// The parts of a peering token that must never be shown: the token and its establishment
/// secret.
pub fn token_credentials(token: &str) -> Vec<String> {
    let decoded = PeeringToken::new(token.to_owned())
        .decode()
        .expect("a peering token");
    vec![
        token.to_owned(),
        decoded.establishment_secret.expose().to_owned(),
    ]
}

/// The credentials of a kubeconfig: bearer tokens and client keys.
pub fn kubeconfig_credentials(kubeconfig: &str) -> Vec<String> {
    kubeconfig
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("token: ")
                .or_else(|| l.strip_prefix("client-key-data: "))
        })
        .map(str::to_owned)
        .collect()
}

/// Fails if any credential occurs in `text`, naming where.
pub fn assert_no_credentials(text: &str, place: &str, credentials: &[String]) {
    for credential in credentials {
        assert!(
            credential.len() >= 16,
            "too short to search for: {credential:?}"
        );
        if let Some(at) = text.find(credential.as_str()) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!(
                "a credential appears in {place}: {}",
                text[start..end].replace(credential.as_str(), "<CREDENTIAL>")
            );
        }
    }
}

/// The statuses of every acceptor and dialer and every Event of a cluster, as JSON text.
pub async fn statuses_and_events(dc: &Dc) -> String {
    let mut out = Vec::new();
    let acceptors = dc
        .acceptors()
        .list(&Default::default())
        .await
        .expect("list");
    for a in acceptors {
        out.push(serde_json::to_string(&a.status).expect("json"));
    }
    let dialers = dc.dialers().list(&Default::default()).await.expect("list");
    for d in dialers {
        out.push(serde_json::to_string(&d.status).expect("json"));
    }
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::all(dc.client());
    for e in events.list(&Default::default()).await.expect("list") {
        out.push(serde_json::to_string(&e).expect("json"));
    }
    out.join("\n")
}

/// The fingerprint the operator shows for a token.
pub fn fingerprint(token: &str) -> String {
    consul_peering_operator::crd::token_fingerprint(token)
}

/// base64 of a string (for Secret data compared byte for byte).
pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}
