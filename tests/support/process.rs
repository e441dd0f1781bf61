//! The operator binary as a child process, for the tests of its production behaviour: an
//! emulated Kubernetes API server (with the CRDs) and an emulated Consul, a kubeconfig per
//! identity, the built binary started with `run` and killed when its guard drops (its output
//! goes to files, printed when a test fails), and its /metrics, /healthz and /readyz over HTTP.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use consul_peering_operator::consul::{self, ConsulConfig, GenerateTokenRequest};
use consul_peering_operator::crd::{PeeringAcceptor, PeeringDialer};
use consul_peering_operator::playground::install_crds;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::PostParams;
use kube_emulator::{KubeEmulator, Rule};
use serde_json::{Value, json};

/// How long any wait for the operator lasts before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The emulated cluster and Consul (`dc1`) an operator process runs against.
pub struct World {
    pub kube: KubeEmulator,
    /// The admin client the test uses.
    pub client: kube::Client,
    pub consul: consul_emulator::Handle,
    dir: PathBuf,
}

impl World {
    pub async fn start() -> World {
        emulator_common::install_crypto_provider();
        let kube = kube_emulator::start().await.expect("kube emulator starts");
        let client = kube.client();
        install_crds(&client).await.expect("the CRDs are installed");
        let consul = consul_emulator::start(
            consul_emulator::Config::new("dc1").deletion_delay(Duration::from_millis(300)),
        )
        .await
        .expect("consul emulator starts");
        World {
            kube,
            client,
            consul,
            dir: scratch_dir(),
        }
    }

    pub async fn create_namespace(&self, name: &str) {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    }

    /// A kubeconfig file for a new user of the emulated cluster holding exactly `rules`.
    pub fn kubeconfig(&self, user: &str, rules: Vec<Rule>) -> PathBuf {
        let token = self.kube.add_user(user, rules);
        let path = self
            .dir
            .join(format!("kubeconfig-{}", user.replace(':', "_")));
        std::fs::write(&path, self.kube.kubeconfig_for(user, &token)).expect("write kubeconfig");
        path
    }

    /// A kubeconfig holding a bearer token the emulator issued (e.g. with `kubectl create token`).
    pub fn kubeconfig_with_token(&self, user: &str, token: &str) -> PathBuf {
        let path = self
            .dir
            .join(format!("kubeconfig-token-{}", user.replace(':', "_")));
        std::fs::write(&path, self.kube.kubeconfig_for(user, token)).expect("write kubeconfig");
        path
    }

    /// `consul-peering-operator run` as `user` (its kubeconfig from [`World::kubeconfig`]).
    pub fn operator(&self, name: &str, kubeconfig: &Path) -> Spawn {
        Spawn {
            name: name.to_owned(),
            args: Vec::new(),
            env: vec![
                ("KUBECONFIG".into(), kubeconfig.display().to_string()),
                ("CONSUL_HTTP_ADDR".into(), self.consul.url()),
                (
                    "RUST_LOG".into(),
                    "info,consul_peering_operator=debug".into(),
                ),
            ],
            dir: self.dir.clone(),
        }
    }

    /// Every request `user` made, as (verb, resource as the emulator counts it) → count.
    pub fn requests_of(&self, user: &str) -> Vec<(String, String, u64)> {
        self.kube
            .request_counts()
            .into_iter()
            .filter(|c| c.user == user)
            .map(|c| (c.verb, c.resource, c.count))
            .collect()
    }

    /// Writes (create, update, patch, delete) `user` made on anything but Leases.
    pub fn writes_of(&self, user: &str) -> u64 {
        self.requests_of(user)
            .iter()
            .filter(|(verb, resource, _)| {
                matches!(
                    verb.as_str(),
                    "create" | "update" | "patch" | "delete" | "deletecollection"
                ) && !resource.starts_with("leases.")
            })
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Token requests (`POST /v1/peering/token`) Consul answered with 200.
    pub fn tokens_issued(&self) -> u64 {
        self.consul
            .counters()
            .iter()
            .filter(|c| c.method == "POST" && c.endpoint == "/v1/peering/token" && c.status == 200)
            .map(|c| c.count)
            .sum()
    }
}

/// Every right on everything: the identity of an operator whose calls are only recorded.
pub fn unrestricted() -> Vec<Rule> {
    vec![Rule::new(&["*"], &["*"], &["*"], &[])]
}

fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = test_support::target_tmpdir().join(format!(
        "binary-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A free port on 127.0.0.1 (closed again, so the operator can bind it).
pub fn free_local_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// How to start one operator process.
pub struct Spawn {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: PathBuf,
}

impl Spawn {
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets (or replaces) an environment variable of the process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
        self
    }

    /// Starts `consul-peering-operator run ARGS --listen-addr 127.0.0.1:0
    /// --consul-watch-wait-seconds 2` with only the environment given here (nothing of the
    /// test's own environment leaks in). The short list wait lets states Consul derives from its
    /// streams (ACTIVE, FAILING), which do not wake its blocking queries, reach status quickly.
    pub fn start(self) -> Operator {
        let stdout = self.dir.join(format!("{}.stdout", self.name));
        let stderr = self.dir.join(format!("{}.stderr", self.name));
        let child = Command::new(test_support::profile_dir().join("consul-peering-operator"))
            .arg("run")
            .args(&self.args)
            // Port 0: the operator binds a port no one else holds and logs it (a free port chosen
            // here could be taken by another test before the operator binds it).
            .args(["--listen-addr", "127.0.0.1:0"])
            .args(["--consul-watch-wait-seconds", "2"])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start the operator binary");
        Operator {
            name: self.name,
            addr: OnceLock::new(),
            child,
            exited: None,
            stdout,
            stderr,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("HTTP client"),
        }
    }
}

/// A running operator process; killed (SIGKILL) when dropped, its output printed if the test
/// is failing.
pub struct Operator {
    pub name: String,
    /// Where /metrics, /healthz and /readyz are served, once the operator has logged it.
    addr: OnceLock<SocketAddr>,
    child: Child,
    exited: Option<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
    http: reqwest::Client,
}

impl Operator {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the operator serves /metrics, /healthz and /readyz: the address of its log line
    /// "serving /metrics…" (text or JSON logs); None until it has bound it.
    pub fn addr(&self) -> Option<SocketAddr> {
        if let Some(addr) = self.addr.get() {
            return Some(*addr);
        }
        let logs = self.stderr();
        let line = logs.lines().find(|l| l.contains("serving /metrics"))?;
        let (_, rest) = line
            .split_once("address=")
            .or_else(|| line.split_once("\"address\":\""))?;
        let end = rest.find(|c: char| c.is_whitespace() || c == '"');
        let addr = rest[..end.unwrap_or(rest.len())].parse().ok()?;
        Some(*self.addr.get_or_init(|| addr))
    }

    /// `GET path` on the operator's endpoint: (status, content type, body), or None when
    /// nothing answers (or the operator has not bound its port yet).
    pub async fn get(&self, path: &str) -> Option<(u16, String, String)> {
        let addr = self.addr()?;
        let response = self
            .http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Some((status, content_type, response.text().await.ok()?))
    }

    /// Waits until `/readyz` answers 200 with a body containing `text`.
    pub async fn wait_ready(&self, text: &str) {
        let what = format!("{} /readyz 200 {text:?}", self.name);
        wait_for(&what, TIMEOUT, || async {
            match self.get("/readyz").await {
                Some((200, _, body)) if body.contains(text) => Some(()),
                _ => None,
            }
        })
        .await
    }

    /// The Prometheus exposition of `/metrics`.
    pub async fn metrics(&self) -> String {
        match self.get("/metrics").await {
            Some((200, _, body)) => body,
            other => panic!("{} /metrics answered {other:?}", self.name),
        }
    }

    /// Sends SIGTERM, as the kubelet does to stop a pod.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Kills the process at once (SIGKILL: no cleanup, the lease is not released) and reaps it.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited {
                return status;
            }
            if let Some(status) = self.child.try_wait().expect("wait for the operator") {
                self.exited = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Lines of stdout and stderr that speak of a refusal by the API server's RBAC (its 403
    /// Status has reason `Forbidden` and a message "… is forbidden: User …").
    pub fn forbidden_lines(&self) -> Vec<String> {
        let (out, err) = (self.stdout(), self.stderr());
        out.lines()
            .chain(err.lines())
            .filter(|l| l.to_lowercase().contains("forbidden"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let tail = |text: String| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(60)..].join("\n")
            };
            eprintln!(
                "--- operator {} ({:?}) stderr, last lines:\n{}\n--- stdout:\n{}",
                self.name,
                self.exited,
                tail(self.stderr()),
                tail(self.stdout())
            );
        }
    }
}

/// Polls `probe` until it gives a value; fails the test after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The holder of a Lease, None when it is free or absent.
pub async fn lease_holder(client: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .expect("read the Lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// Creates a PeeringAcceptor whose token goes to Secret `secret` (key `data`).
pub async fn create_acceptor(client: &kube::Client, namespace: &str, name: &str, secret: &str) {
    create_acceptor_with(client, namespace, name, secret, json!({})).await
}

/// Creates a PeeringAcceptor whose token goes to Secret `secret` (key `data`), with more of
/// its spec (e.g. `delivery`) in `spec`.
pub async fn create_acceptor_with(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    secret: &str,
    mut spec: Value,
) {
    spec["peer"] = json!({"secret": {"name": secret, "key": "data", "backend": "kubernetes"}});
    let acceptor: PeeringAcceptor = serde_json::from_value(json!({
        "apiVersion": "consulpeering.io/v1alpha1",
        "kind": "PeeringAcceptor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }))
    .unwrap();
    Api::<PeeringAcceptor>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &acceptor)
        .await
        .unwrap_or_else(|e| panic!("creating acceptor {namespace}/{name}: {e}"));
}

/// Creates a PeeringDialer that reads its token from Secret `secret` (key `data`).
pub async fn create_dialer(client: &kube::Client, namespace: &str, name: &str, secret: &str) {
    let dialer: PeeringDialer = serde_json::from_value(json!({
        "apiVersion": "consulpeering.io/v1alpha1",
        "kind": "PeeringDialer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"peer": {"secret": {"name": secret, "key": "data", "backend": "kubernetes"}}},
    }))
    .unwrap();
    Api::<PeeringDialer>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &dialer)
        .await
        .unwrap_or_else(|e| panic!("creating dialer {namespace}/{name}: {e}"));
}

/// The resource as JSON (None when absent), for reading status without caring for its types.
pub async fn get_json<K>(client: &kube::Client, namespace: &str, name: &str) -> Option<Value>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("reading {namespace}/{name}: {e}"))
        .map(|o| serde_json::to_value(o).unwrap())
}

/// The `Ready` condition's status ("True", "False") of a resource given as JSON.
pub fn ready_status(object: &Value) -> Option<&str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["status"]
        .as_str()
}

/// Waits until the resource reports Ready=True; returns it as JSON.
pub async fn wait_ready<K>(client: &kube::Client, namespace: &str, name: &str) -> Value
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let object = get_json::<K>(client, namespace, name).await;
        if let Some(object) = object.as_ref().filter(|o| ready_status(o) == Some("True")) {
            return object.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {} {namespace}/{name} Ready=True; last seen:\n{}",
            K::kind(&()),
            serde_json::to_string_pretty(&object).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the resource is gone (its finalizer removed).
pub async fn wait_gone<K>(client: &kube::Client, namespace: &str, name: &str)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let what = format!("{} {namespace}/{name} gone", K::kind(&()));
    wait_for(&what, TIMEOUT, || async {
        match get_json::<K>(client, namespace, name).await {
            None => Some(()),
            Some(_) => None,
        }
    })
    .await
}

/// The value under `key` of a Secret, decoded; None when the Secret or key is absent.
pub async fn secret_value(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Option<String> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .expect("read the Secret")?;
    let bytes = secret.data?.remove(key)?;
    Some(String::from_utf8(bytes.0).expect("UTF-8 Secret value"))
}

/// A peering token from another emulated Consul, for a dialer to establish with, in a Secret
/// `secret` (key `data`).
pub async fn token_secret_from(
    client: &kube::Client,
    peer_consul: &consul_emulator::Handle,
    peer_name: &str,
    namespace: &str,
    secret: &str,
) -> String {
    let consul = consul::Client::new(&ConsulConfig {
        address: peer_consul.url(),
        ..ConsulConfig::default()
    })
    .expect("Consul client");
    let token = consul
        .generate_token(&GenerateTokenRequest {
            peer_name: peer_name.to_owned(),
            partition: String::new(),
            meta: Default::default(),
            server_external_addresses: Vec::new(),
        })
        .await
        .expect("generate a token on the peer")
        .expose()
        .to_owned();
    let object: Secret = serde_json::from_value(json!({
        "metadata": {"name": secret, "namespace": namespace},
        "stringData": {"data": token},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await
        .expect("create the dialer's token Secret");
    token
}
