//! The whole operator in-process against emulators, for the end-to-end tests: a Kubernetes API
//! emulator with the CRDs installed, two emulated Consul datacenters (`dc1`, the operator's, and
//! `dc2`, the peer that establishes with the tokens), and `run_with` exactly as the `run`
//! command calls it. Around it, what the tests assert with: waits with a deadline, Consul and
//! Kubernetes request counts, the operator's log output captured at any level, and a fault on the
//! operator's status writes.
//!
//! Each test gets its own emulators on free ports. The log capture is the test thread's default
//! subscriber, so the test must run on tokio's current-thread runtime (plain `#[tokio::test]`):
//! then the operator's tasks, polled on that thread, log into it.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use consul_emulator::{Access, Rules};
use consul_peering_operator::consul::{
    self, AclToken, ConsulConfig, ConsulError, EstablishRequest, PeeringToken, RetryPolicy,
};
use consul_peering_operator::controller::ConsulClients;
use consul_peering_operator::crd::{CONDITION_READY, Condition, PeeringAcceptor, find_condition};
use consul_peering_operator::playground::install_crds;
use consul_peering_operator::run::{RunArgs, run_with};
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::client::Body;
use kube_emulator::{KubeEmulator, Rule};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Where the tests put their resources.
pub const NAMESPACE: &str = "default";
/// The user the operator authenticates as, so that its requests are counted apart from the
/// test's own (the test is the admin).
pub const OPERATOR_USER: &str = "system:serviceaccount:consul-peering:consul-peering-operator";
/// The field manager of the test's own writes.
pub const TEST_MANAGER: &str = "e2e-test";
/// How long a wait for the operator lasts before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How to set up a [`Harness`].
#[derive(Clone, Debug)]
pub struct Options {
    /// ACLs on in dc1, and the operator's Consul token has these rules (read from a token file
    /// that [`Harness::set_consul_rules`] rewrites).
    pub acl_rules: Option<Rules>,
    /// The level of the captured operator log.
    pub log_level: LevelFilter,
    /// Start the operator at once (else call [`Harness::start_operator`]).
    pub start_operator: bool,
    /// Each event of the operator's watches of its own resources arrives this much late, as
    /// from a busy API server: its cache then lags behind its own writes.
    pub watch_lag: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            acl_rules: None,
            log_level: LevelFilter::DEBUG,
            start_operator: true,
            watch_lag: None,
        }
    }
}

/// One test's world.
pub struct Harness {
    pub kube: KubeEmulator,
    /// The admin client the test uses.
    pub client: kube::Client,
    /// The operator's Consul.
    pub dc1: consul_emulator::Handle,
    /// The peer datacenter.
    pub dc2: consul_emulator::Handle,
    pub logs: Logs,
    /// Armed by the test to fail the operator's next status writes.
    pub status_fault: StatusWriteFault,
    /// Armed by the test to fail the operator's next writes of Secrets (the token Secret).
    pub secret_fault: StatusWriteFault,
    operator_token: String,
    watch_lag: Option<Duration>,
    consul_token_file: Option<PathBuf>,
    operator: Option<Operator>,
    _log_guard: tracing::subscriber::DefaultGuard,
}

struct Operator {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A Consul datacenter as the tests configure it: quick heartbeats, a short deletion delay.
pub fn consul_config(name: &str) -> consul_emulator::Config {
    consul_emulator::Config::new(name)
        .heartbeat_interval(Duration::from_millis(200))
        .deletion_delay(Duration::from_millis(300))
}

impl Harness {
    /// Emulators, CRDs and a running operator.
    pub async fn start() -> Harness {
        Harness::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Harness {
        emulator_common::install_crypto_provider();
        let logs = Logs::default();
        let log_guard = logs.capture(options.log_level);

        let kube = kube_emulator::start().await.expect("kube emulator starts");
        let client = kube.client();
        install_crds(&client).await.expect("CRDs install");
        let mut dc1_config = consul_config("dc1");
        if options.acl_rules.is_some() {
            dc1_config = dc1_config.with_acls();
        }
        let dc1 = consul_emulator::start(dc1_config)
            .await
            .expect("dc1 starts");
        let dc2 = consul_emulator::start(consul_config("dc2"))
            .await
            .expect("dc2 starts");
        // Until its server task first runs, a datacenter ignores faults armed on its handle.
        for dc in [&dc1, &dc2] {
            let mut client = ConsulConfig {
                address: dc.url(),
                retry: RetryPolicy::never(),
                ..ConsulConfig::default()
            };
            if let Some(token) = dc.management_token() {
                client.token = Some(AclToken::new(token));
            }
            consul::Client::new(&client)
                .expect("Consul client")
                .list(None)
                .await
                .expect("the emulated Consul serves");
        }
        dc1.reset_counters();
        dc2.reset_counters();
        let operator_token =
            kube.add_user(OPERATOR_USER, vec![Rule::new(&["*"], &["*"], &["*"], &[])]);
        let consul_token_file = options.acl_rules.map(|rules| {
            let path = scratch_file("consul-token");
            std::fs::write(&path, dc1.create_token(rules).secret_id).expect("write token file");
            path
        });
        let mut harness = Harness {
            kube,
            client,
            dc1,
            dc2,
            logs,
            status_fault: StatusWriteFault::default(),
            secret_fault: StatusWriteFault::on_secrets(),
            operator_token,
            watch_lag: options.watch_lag,
            consul_token_file,
            operator: None,
            _log_guard: log_guard,
        };
        if options.start_operator {
            harness.start_operator().await;
        }
        harness
    }

    /// The operator's Consul client configuration (dc1, hermetic: no environment).
    pub fn operator_consul_config(&self) -> ConsulConfig {
        ConsulConfig {
            address: self.dc1.url(),
            token_file: self.consul_token_file.clone(),
            ..ConsulConfig::default()
        }
    }

    /// Starts the operator as `run` does, with the kube client of [`OPERATOR_USER`] (through
    /// the status write fault).
    pub async fn start_operator(&mut self) {
        assert!(self.operator.is_none(), "the operator is already running");
        let inner = self
            .kube
            .client_with_token(&self.operator_token)
            .await
            .expect("operator kube client");
        let client = kube::Client::new(
            FaultyKube {
                inner,
                faults: [self.status_fault.clone(), self.secret_fault.clone()],
                watch_lag: self.watch_lag,
            },
            NAMESPACE,
        );
        let consul =
            ConsulClients::new(self.operator_consul_config()).expect("operator Consul client");
        let mut args = RunArgs::for_embedding();
        args.identity = Some("e2e-operator".into());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_with(client, consul, args, stop.clone()));
        self.operator = Some(Operator { stop, task });
    }

    /// Stops the operator as SIGTERM does and waits until it has stopped.
    pub async fn stop_operator(&mut self) {
        let operator = self.operator.take().expect("the operator is running");
        operator.stop.cancel();
        tokio::time::timeout(TIMEOUT, operator.task)
            .await
            .expect("the operator stops in time")
            .expect("the operator task does not panic")
            .expect("the operator ends without error");
    }

    /// Gives the operator's Consul token file a new token with these rules.
    pub fn set_consul_rules(&self, rules: Rules) {
        let path = self
            .consul_token_file
            .as_ref()
            .expect("the harness was started with acl_rules");
        std::fs::write(path, self.dc1.create_token(rules).secret_id).expect("rewrite token file");
    }

    pub fn acceptors(&self) -> Api<PeeringAcceptor> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// Creates a PeeringAcceptor from its JSON (`metadata` and `spec`).
    pub async fn try_create_acceptor(&self, object: Value) -> Result<PeeringAcceptor, kube::Error> {
        let mut object = object;
        object["apiVersion"] = json!("consulpeering.io/v1alpha1");
        object["kind"] = json!("PeeringAcceptor");
        let acceptor: PeeringAcceptor = serde_json::from_value(object).expect("a PeeringAcceptor");
        self.acceptors()
            .create(&PostParams::default(), &acceptor)
            .await
    }

    pub async fn create_acceptor(&self, object: Value) -> PeeringAcceptor {
        self.try_create_acceptor(object)
            .await
            .expect("the API server accepts the PeeringAcceptor")
    }

    /// A PeeringAcceptor `name` whose token goes to Secret `secret` (key `data`).
    pub async fn create_simple_acceptor(&self, name: &str, secret: &str) -> PeeringAcceptor {
        self.create_acceptor(json!({
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"peer": {"secret": {"name": secret, "key": "data", "backend": "kubernetes"}}},
        }))
        .await
    }

    /// Sets (or, with `None`, removes) an annotation on a PeeringAcceptor.
    pub async fn annotate(&self, name: &str, key: &str, value: Option<&str>) {
        self.acceptors()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .expect("annotate the PeeringAcceptor");
    }

    pub async fn delete_acceptor(&self, name: &str) {
        self.acceptors()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete the PeeringAcceptor");
    }

    /// Waits until the PeeringAcceptor satisfies `done`; fails the test with its last status
    /// and the end of the operator log otherwise.
    pub async fn wait_acceptor(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&PeeringAcceptor) -> bool,
    ) -> PeeringAcceptor {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let current = self
                .acceptors()
                .get_opt(name)
                .await
                .expect("read the PeeringAcceptor");
            if let Some(acceptor) = &current
                && done(acceptor)
            {
                return acceptor.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "PeeringAcceptor {name}: waited {TIMEOUT:?} for {what}; last seen: {}\n{}",
                    current
                        .map(|a| serde_json::to_string_pretty(&json!({
                            "metadata": {"finalizers": a.metadata.finalizers,
                                         "deletionTimestamp": a.metadata.deletion_timestamp},
                            "status": a.status}))
                        .unwrap())
                        .unwrap_or_else(|| "gone".into()),
                    self.logs.tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the acceptor is Ready=True for its current generation.
    pub async fn wait_ready(&self, name: &str) -> PeeringAcceptor {
        self.wait_acceptor(name, "Ready=True", |a| {
            ready(a).is_some_and(|c| {
                c.status.as_str() == "True" && c.observed_generation == a.metadata.generation
            })
        })
        .await
    }

    /// Waits until the Ready condition has this reason.
    pub async fn wait_reason(&self, name: &str, reason: &str) -> PeeringAcceptor {
        self.wait_acceptor(name, &format!("Ready reason {reason}"), |a| {
            ready(a).is_some_and(|c| c.reason == reason)
        })
        .await
    }

    /// Waits until `probe` gives a value.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if Instant::now() > deadline {
                panic!("waited {TIMEOUT:?} for {what}\n{}", self.logs.tail(40));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The token in Secret `name` under `key`, if there is one.
    pub async fn token(&self, name: &str, key: &str) -> Option<String> {
        let secret = self
            .secrets()
            .get_opt(name)
            .await
            .expect("read the Secret")?;
        let bytes = secret.data?.remove(key)?.0;
        Some(String::from_utf8(bytes).expect("the token is text"))
    }

    /// Waits until Secret `name` holds a token other than `old` under `key`.
    pub async fn wait_new_token(&self, name: &str, key: &str, old: Option<&str>) -> String {
        self.wait_for(&format!("a new token in Secret {name}"), || async {
            self.token(name, key)
                .await
                .filter(|t| Some(t.as_str()) != old)
        })
        .await
    }

    /// Establishes a peering named `peer_name` in dc2 with `token`, as a dialer would.
    pub async fn establish_on_dc2(&self, peer_name: &str, token: &str) -> Result<(), ConsulError> {
        consul_client(&self.dc2.url())
            .establish(&EstablishRequest {
                peer_name: peer_name.into(),
                peering_token: PeeringToken::new(token),
                ..EstablishRequest::default()
            })
            .await
    }

    /// Takes dc1's HTTP API down for `duration` (connections refused) and returns once new
    /// connections are refused (the emulator closes its listener asynchronously).
    /// dc1 refuses connections until [`Harness::consul_back`]; returns once it does. (A
    /// timed outage races the operator's retries: a pass whose last try falls after it ends
    /// succeeds before the test has seen the failure.)
    pub async fn consul_down(&self) {
        self.dc1.set_fault(consul_emulator::ConsulFault::Down, None);
        self.wait_refused().await;
    }

    /// Ends [`Harness::consul_down`].
    pub fn consul_back(&self) {
        self.dc1.clear_faults();
    }

    pub async fn consul_outage(&self, duration: Duration) {
        self.dc1.outage(duration);
        self.wait_refused().await;
    }

    async fn wait_refused(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(self.dc1.http_addr())
            .await
            .is_ok()
        {
            assert!(Instant::now() < deadline, "dc1 still accepts connections");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Tokens dc1 issued (successful `POST /v1/peering/token`).
    pub fn tokens_issued(&self) -> u64 {
        count(&self.dc1, "POST", "/v1/peering/token", Some(200))
    }

    /// What the operator has done so far, as the emulators counted it.
    pub fn activity(&self) -> Activity {
        let kube = self.kube.request_counts();
        let operator = |verbs: &[&str]| -> u64 {
            kube.iter()
                .filter(|c| c.user == OPERATOR_USER && verbs.contains(&c.verb.as_str()))
                .map(|c| c.count)
                .sum()
        };
        Activity {
            token_calls: count(&self.dc1, "POST", "/v1/peering/token", None),
            establish_calls: count(&self.dc1, "POST", "/v1/peering/establish", None)
                + count(&self.dc2, "POST", "/v1/peering/establish", None),
            read_calls: count(&self.dc1, "GET", "/v1/peering/:name", None),
            delete_calls: count(&self.dc1, "DELETE", "/v1/peering/:name", None),
            list_calls: count(&self.dc1, "GET", "/v1/peerings", None),
            consul_failures: self
                .dc1
                .counters()
                .iter()
                .filter(|c| c.status >= 400)
                .map(|c| c.count)
                .sum(),
            kube_writes: operator(&["create", "update", "patch", "delete", "deletecollection"]),
            kube_reads: operator(&["get"]),
        }
    }

    /// The operator's Kubernetes requests so far, for failure messages.
    pub fn operator_requests(&self) -> String {
        self.kube
            .request_counts()
            .iter()
            .filter(|c| c.user == OPERATOR_USER)
            .map(|c| format!("{} {} {}", c.verb, c.resource, c.count))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What the operator does over `window` while the test does nothing.
    pub async fn activity_over(&self, window: Duration) -> Activity {
        let before = self.activity();
        tokio::time::sleep(window).await;
        self.activity().minus(&before)
    }

    /// Fails the test unless the operator is quiet for `window`: no token, establish, read or
    /// delete call to Consul, no Kubernetes read or write. The shared long-poll answers once per
    /// wait (2 s embedded) and nothing else may happen. The window opens after a short settle:
    /// the operator's own last status write wakes it once more (a read, no write).
    pub async fn assert_quiet(&self, window: Duration, context: &str) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let done = self.activity_over(window).await;
        let long_polls = (window.as_secs_f64() / 2.0).ceil() as u64 + 1;
        assert!(
            done.token_calls == 0
                && done.establish_calls == 0
                && done.read_calls == 0
                && done.delete_calls == 0
                && done.list_calls <= long_polls
                && done.kube_writes == 0
                && done.kube_reads == 0,
            "{context}: the operator is not quiet at steady state over {window:?}: {done:?}\n\
             Kubernetes requests so far: {}\n{}",
            self.operator_requests(),
            self.logs.tail(40)
        );
    }

    /// Events of the namespace, both APIs, as JSON text.
    pub async fn events_json(&self) -> String {
        let lp = ListParams::default();
        let modern: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), NAMESPACE);
        let core: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), NAMESPACE);
        let modern = modern.list(&lp).await.expect("list events.k8s.io Events");
        let core = core.list(&lp).await.expect("list core Events");
        format!(
            "{}\n{}",
            serde_json::to_string(&modern.items).unwrap(),
            serde_json::to_string(&core.items).unwrap()
        )
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(operator) = &self.operator {
            operator.stop.cancel();
        }
        if let Some(path) = &self.consul_token_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A Consul client like the operator's, without retries.
pub fn consul_client(address: &str) -> consul::Client {
    consul::Client::new(&ConsulConfig {
        address: address.into(),
        retry: RetryPolicy::never(),
        ..ConsulConfig::default()
    })
    .expect("Consul client")
}

/// A Consul client with an ACL token.
pub fn consul_client_with_token(address: &str, token: &str) -> consul::Client {
    consul::Client::new(&ConsulConfig {
        address: address.into(),
        token: Some(AclToken::new(token)),
        retry: RetryPolicy::never(),
        ..ConsulConfig::default()
    })
    .expect("Consul client")
}

/// Requests of `method` to `endpoint` that Consul answered (with `status`, or any).
pub fn count(
    dc: &consul_emulator::Handle,
    method: &str,
    endpoint: &str,
    status: Option<u16>,
) -> u64 {
    dc.counters()
        .iter()
        .filter(|c| {
            c.method == method && c.endpoint == endpoint && status.is_none_or(|s| s == c.status)
        })
        .map(|c| c.count)
        .sum()
}

/// Rules that allow everything peering needs but `peering:write`.
pub fn read_only_rules() -> Rules {
    Rules::peering(Access::Read)
}

pub fn write_rules() -> Rules {
    Rules::peering(Access::Write)
}

/// The `Ready` condition.
pub fn ready(acceptor: &PeeringAcceptor) -> Option<&Condition> {
    acceptor
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, CONDITION_READY))
}

/// The `Ready` condition's reason (empty when there is none).
pub fn reason(acceptor: &PeeringAcceptor) -> &str {
    ready(acceptor).map(|c| c.reason.as_str()).unwrap_or("")
}

/// The Consul state the status shows.
pub fn state(acceptor: &PeeringAcceptor) -> Option<&str> {
    acceptor.status.as_ref().and_then(|s| s.state.as_deref())
}

/// What the operator did, as counted by the emulators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// dc1 `POST /v1/peering/token`, any answer.
    pub token_calls: u64,
    /// `POST /v1/peering/establish` on dc1 and dc2.
    pub establish_calls: u64,
    /// dc1 `GET /v1/peering/:name`.
    pub read_calls: u64,
    /// dc1 `DELETE /v1/peering/:name`.
    pub delete_calls: u64,
    /// dc1 `GET /v1/peerings` (answered).
    pub list_calls: u64,
    /// dc1 answers with status >= 400.
    pub consul_failures: u64,
    /// Kubernetes create/update/patch/delete by the operator.
    pub kube_writes: u64,
    /// Kubernetes get by the operator.
    pub kube_reads: u64,
}

impl Activity {
    pub fn minus(&self, before: &Activity) -> Activity {
        Activity {
            token_calls: self.token_calls - before.token_calls,
            establish_calls: self.establish_calls - before.establish_calls,
            read_calls: self.read_calls - before.read_calls,
            delete_calls: self.delete_calls - before.delete_calls,
            list_calls: self.list_calls - before.list_calls,
            consul_failures: self.consul_failures - before.consul_failures,
            kube_writes: self.kube_writes - before.kube_writes,
            kube_reads: self.kube_reads - before.kube_reads,
        }
    }

    /// All Consul requests counted.
    pub fn consul_calls(&self) -> u64 {
        self.token_calls
            + self.establish_calls
            + self.read_calls
            + self.delete_calls
            + self.list_calls
    }
}

/// A file under the test binary's scratch directory, unique to this call.
pub fn scratch_file(stem: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = test_support::target_tmpdir().join("e2e");
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir.join(format!(
        "{stem}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The operator's log output, captured on the test thread at a fixed level whatever
/// `RUST_LOG` says. The emulators' own events are left out: they are the servers, not the
/// operator. Records of the `log` crate (used by some dependencies) are captured too, as the
/// `run` command's subscriber does.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Makes this capture the test thread's default subscriber until the guard drops.
    pub fn capture(&self, level: LevelFilter) -> tracing::subscriber::DefaultGuard {
        static LOG_BRIDGE: Once = Once::new();
        LOG_BRIDGE.call_once(|| {
            // A global subscriber that records nothing, installed for the `log` to `tracing`
            // bridge it brings; each test's own subscriber is the thread default over it.
            let _ = Registry::default().try_init();
        });
        let filter = Targets::new()
            .with_default(level)
            .with_target("consul_emulator", LevelFilter::OFF)
            .with_target("kube_emulator", LevelFilter::OFF)
            .with_target("emulator_common", LevelFilter::OFF);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_filter(filter);
        tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The last `lines` lines from the operator's own modules and its controller runtime
    /// (the rest is mostly the test's own polling), for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        let text = self.text();
        let all: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("consul_peering_operator") || l.contains("kube_runtime"))
            .collect();
        let start = all.len().saturating_sub(lines);
        format!(
            "--- operator log, last {} lines ---\n{}",
            all.len() - start,
            all[start..].join("\n")
        )
    }

    /// The log's length now, to look only at what comes after with [`Logs::since`].
    pub fn mark(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn since(&self, mark: usize) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()[mark..]).into_owned()
    }

    /// Takes what was captured so far and empties the capture (marks taken before no longer
    /// apply): a long run checks its log in parts instead of holding all of it.
    pub fn take(&self) -> String {
        let taken = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8_lossy(&taken).into_owned()
    }
}

pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

/// Fails the operator's next status writes to PeeringAcceptors (or, made with
/// [`StatusWriteFault::on_secrets`], its next writes of Secrets) as the API server does when
/// it errs (500 with a `Status`), so a test can make exactly that write fail (the emulator's
/// own write fault takes whatever write comes next).
#[derive(Clone, Default)]
pub struct StatusWriteFault {
    armed: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    secrets: bool,
}

impl StatusWriteFault {
    /// A fault on the writes of Secrets instead.
    pub fn on_secrets() -> Self {
        StatusWriteFault {
            secrets: true,
            ..StatusWriteFault::default()
        }
    }

    /// Fails the next `count` status writes.
    pub fn arm(&self, count: u32) {
        self.armed.store(count, Ordering::SeqCst);
    }

    /// How many status writes were failed so far.
    pub fn failed(&self) -> u32 {
        self.failed.load(Ordering::SeqCst)
    }

    fn take(&self, request: &http::Request<Body>) -> bool {
        let path = request.uri().path();
        let targeted = if self.secrets {
            path.contains("/secrets/")
        } else {
            path.contains("/peeringacceptors/") && path.ends_with("/status")
        };
        if request.method() == http::Method::GET || !targeted {
            return false;
        }
        let took = self
            .armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if took {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        took
    }
}

/// The operator's Kubernetes transport: the emulator's client, with [`StatusWriteFault`] and
/// [`Options::watch_lag`].
struct FaultyKube {
    inner: kube::Client,
    faults: [StatusWriteFault; 2],
    watch_lag: Option<Duration>,
}

type LaggingBody = UnsyncBoxBody<Bytes, tower::BoxError>;

/// Whether `request` watches the operator's own resources.
fn watches_own_kind(request: &http::Request<Body>) -> bool {
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or_default();
    (path.ends_with("/peeringacceptors") || path.ends_with("/peeringdialers"))
        && query.split('&').any(|pair| pair == "watch=true")
}

/// `body`, each of its frames held back by `lag`.
fn lagging(body: Body, lag: Duration) -> LaggingBody {
    let frames = BodyStream::new(body).then(move |frame| async move {
        tokio::time::sleep(lag).await;
        frame.map_err(tower::BoxError::from)
    });
    StreamBody::new(frames).boxed_unsync()
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<Body>> for FaultyKube {
    type Response = http::Response<LaggingBody>;
    type Error = tower::BoxError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let fail = self.faults.iter().any(|fault| fault.take(&request));
        let lag = self.watch_lag.filter(|_| watches_own_kind(&request));
        Box::pin(async move {
            if fail {
                let status = json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "message": "injected fault", "reason": "InternalError",
                    "code": 500,
                });
                return Ok(http::Response::builder()
                    .status(500)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&status).unwrap()))
                    .unwrap()
                    .map(|body| body.map_err(tower::BoxError::from).boxed_unsync()));
            }
            let response = inner.send(request).await?;
            Ok(response.map(|body| match lag {
                Some(lag) => lagging(body, lag),
                None => body.map_err(tower::BoxError::from).boxed_unsync(),
            }))
        })
    }
}
