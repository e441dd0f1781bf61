//! Starting the emulator and the handle tests and the playground hold: client, kubeconfig,
//! users, faults and request counters.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use emulator_common::{LOOPBACK, Pki, install_crypto_provider, serve, server_config};
use serde_json::json;
use tokio::net::TcpListener;

use crate::auth::{Rule, User};
use crate::faults::{self, KubeFault, RequestKey};
use crate::http::{Front, handle};
use crate::state::{Shared, State};
use crate::write::{FieldValidation, Op, WriteReq};

/// How to start the emulator.
#[derive(Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The admin's bearer token; random when `None`.
    pub admin_token: Option<String>,
    /// Changes retained for watches to resume from; older resourceVersions get 410 Gone.
    pub history_limit: usize,
    /// Interval of the periodic BOOKMARK on watches that allow bookmarks (the real server: ~1 min).
    pub bookmark_interval: Duration,
    /// Requests without a token: 401 (false, the default: a bearer token is required, like
    /// kube-apiserver with anonymous requests allowed only on its health and version
    /// endpoints), or `system:anonymous` with no rights (true, kube-apiserver's own default).
    pub anonymous_auth: bool,
    /// Cluster, context and user name in the kubeconfig.
    pub cluster_name: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 0,
            admin_token: None,
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(60),
            anonymous_auth: false,
            cluster_name: "kube-emulator".to_string(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("history_limit", &self.history_limit)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("anonymous_auth", &self.anonymous_auth)
            .field("cluster_name", &self.cluster_name)
            .finish()
    }
}

struct Inner {
    shared: Arc<Shared>,
    url: String,
    ca_pem: String,
    admin_token: String,
    cluster_name: String,
    client: kube::Client,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// A running emulator. Cheap to clone; the server stops on `stop()` (or when the runtime ends).
#[derive(Clone)]
pub struct KubeEmulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KubeEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeEmulator")
            .field("url", &self.inner.url)
            .finish()
    }
}

/// Starts an emulator with the default configuration.
pub async fn start() -> std::io::Result<KubeEmulator> {
    start_with(Config::default()).await
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Starts an emulator.
pub async fn start_with(config: Config) -> std::io::Result<KubeEmulator> {
    install_crypto_provider();
    let pki = Pki::new("kube-emulator-ca");
    let cert = pki.issue_server(&["127.0.0.1", "localhost"]);
    let listener = TcpListener::bind((LOOPBACK, config.port)).await?;
    let addr = listener.local_addr()?;
    let url = format!("https://{addr}");
    let mut state = State::new(config.history_limit);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        create_namespace(&mut state, ns);
    }
    let shared = Arc::new(Shared::new(
        state,
        config.bookmark_interval,
        config.anonymous_auth,
    ));
    let admin_token = config.admin_token.clone().unwrap_or_else(random_token);
    shared
        .auth
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .add(admin_token.clone(), User::admin("kubernetes-admin"));
    let front = Arc::new(Front {
        shared: shared.clone(),
        server_address: addr.to_string(),
    });
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let front = front.clone();
        async move { handle(front, req).await }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        app,
        Some(server_config(&cert, None)),
        async move {
            let _ = stop_rx.await;
        },
    ));
    tokio::spawn(crate::controllers::run(Arc::downgrade(&shared)));
    let ca_pem = pki.ca_pem().to_string();
    let kubeconfig = render_kubeconfig(&config.cluster_name, &url, &ca_pem, "admin", &admin_token);
    let client = client_from_kubeconfig(&kubeconfig)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(KubeEmulator {
        inner: Arc::new(Inner {
            shared,
            url,
            ca_pem,
            admin_token,
            cluster_name: config.cluster_name,
            client,
            stop: Mutex::new(Some(stop_tx)),
        }),
    })
}

/// Runs an emulator until Ctrl-C, writing its kubeconfig to `kubeconfig_path` (for the
/// playground binary).
pub async fn run(config: Config, kubeconfig_path: &Path) -> std::io::Result<()> {
    let emulator = start_with(config).await?;
    emulator.write_kubeconfig(kubeconfig_path)?;
    tokio::signal::ctrl_c().await?;
    emulator.stop();
    Ok(())
}

fn create_namespace(state: &mut State, name: &str) {
    let served = state
        .registry
        .lookup("", "v1", "namespaces")
        .expect("namespaces are built in");
    let req = WriteReq {
        served: &served,
        op: Op::Create,
        namespace: None,
        name: None,
        subresource: None,
        manager: "kube-apiserver",
        dry_run: false,
        validation: FieldValidation::Ignore,
        applied: false,
        duplicates: &[],
    };
    crate::write::commit(
        state,
        &req,
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .expect("built-in namespaces are valid");
}

fn render_kubeconfig(cluster: &str, url: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {user}\n    namespace: default\ncurrent-context: {cluster}\nusers:\n- name: {user}\n  user:\n    token: {token}\n"
    )
}

async fn client_from_kubeconfig(yaml: &str) -> Result<kube::Client, kube::Error> {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(yaml).map_err(kube::Error::InferKubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(kube::Error::InferKubeconfig)?;
    kube::Client::try_from(config)
}

/// One line of the request counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestCount {
    pub verb: String,
    pub resource: String,
    pub user: String,
    pub count: u64,
}

impl KubeEmulator {
    /// A client authenticated as the admin.
    pub fn client(&self) -> kube::Client {
        self.inner.client.clone()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The CA certificate that signed the server certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.inner.ca_pem
    }

    /// The admin's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    /// A kubeconfig for the admin.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_for("admin", &self.inner.admin_token)
    }

    /// A kubeconfig for any token.
    pub fn kubeconfig_for(&self, user: &str, token: &str) -> String {
        render_kubeconfig(
            &self.inner.cluster_name,
            &self.inner.url,
            &self.inner.ca_pem,
            user,
            token,
        )
    }

    /// Writes the admin kubeconfig to a file.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// Adds a user with only the given rights; returns its bearer token.
    pub fn add_user(&self, name: &str, rules: Vec<Rule>) -> String {
        let token = random_token();
        self.inner
            .shared
            .auth
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add(token.clone(), User::with_rules(name, rules));
        token
    }

    /// A client authenticated with `token`.
    pub async fn client_with_token(&self, token: &str) -> Result<kube::Client, kube::Error> {
        client_from_kubeconfig(&self.kubeconfig_for("user", token)).await
    }

    /// The next `count` writes (create, update, patch, delete) fail with `code` (409 or 500).
    pub fn fail_next_writes(&self, count: u32, code: u16) {
        self.inner.shared.faults.fail_writes(count, code);
    }

    /// The next `count` resource requests get 429 Too Many Requests with `Retry-After`.
    pub fn throttle_next(&self, count: u32, retry_after_seconds: u64) {
        self.inner
            .shared
            .faults
            .throttle(count, retry_after_seconds);
    }

    /// Puts a lasting fault in force for `duration` (`None`: until [`Self::clear_faults`]),
    /// replacing the one in force.
    pub fn set_fault(&self, fault: KubeFault, duration: Option<Duration>) {
        faults::set_lasting(&self.inner.shared, fault, duration);
    }

    /// The lasting fault in force, if any.
    pub fn fault(&self) -> Option<KubeFault> {
        faults::lasting_now(&self.inner.shared)
    }

    /// Disarms all injected faults, lasting ones included.
    pub fn clear_faults(&self) {
        self.inner.shared.faults.clear();
    }

    /// Ends every open watch (clients see a clean end of stream and re-watch).
    pub fn close_watches(&self) {
        self.inner.shared.lock().store.close_watches();
    }

    /// Forgets the change history: watches from any current or earlier resourceVersion get 410.
    pub fn expire_history(&self) {
        self.inner.shared.lock().store.expire_history();
    }

    /// How many watches are open.
    pub fn open_watches(&self) -> usize {
        self.inner.shared.lock().store.open_watches()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.shared.lock().store.resource_version()
    }

    /// Request counts by verb, resource and user.
    pub fn request_counts(&self) -> Vec<RequestCount> {
        self.inner
            .shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
            .into_iter()
            .map(
                |(
                    RequestKey {
                        verb,
                        resource,
                        user,
                    },
                    count,
                )| RequestCount {
                    verb,
                    resource,
                    user,
                    count,
                },
            )
            .collect()
    }

    /// Total requests with this verb on this resource (`secrets`, `gadgets.demo.example.com`).
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.request_counts()
            .iter()
            .filter(|c| c.verb == verb && c.resource == resource)
            .map(|c| c.count)
            .sum()
    }

    pub fn reset_counts(&self) {
        self.inner
            .shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
    }

    /// Stops serving (open connections and watches end).
    pub fn stop(&self) {
        if let Some(tx) = self
            .inner
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }
}
