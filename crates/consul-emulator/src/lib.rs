//! An emulated Consul peering API for the operator's tests and playground.
//!
//! Each [`start`] brings up one datacenter: an HTTP(S) API listener serving the four peering
//! endpoints as Consul serves them, and a TLS peering listener (Consul's gRPC TLS port) that
//! the tokens it generates point at. Several datacenters on loopback peer with each other for
//! real: establish exchanges the token's secret with the acceptor and keeps a stream open, so
//! both sides read `ACTIVE`, `FAILING` when the stream breaks, `TERMINATED` when the other
//! side deletes. See the crate README for the control paths and every deviation from Consul.
//!
//! This crate belongs to the test world; the production operator never links it.

mod acl;
mod config;
mod control;
mod counters;
mod dc;
mod errors;
mod faults;
mod gobase64;
mod goduration;
mod gojson;
mod gotime;
mod http_api;
mod model;
mod peerstream;
mod store;
mod token;
mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use emulator_common::{CertifiedKey, LOOPBACK, Pki};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use acl::{ANONYMOUS_ACCESSOR_ID, Access, AclToken, Rules};
pub use config::{ApiTransport, Config, Flavor};
pub use counters::{IssuedToken, RequestCount};
pub use faults::{ConsulFault, Failure};
pub use model::{Locality, Peering, PeeringState, Remote, StreamStatus};

use dc::Datacenter;

/// Why a datacenter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {what} listener on port {port}: {source}")]
    Bind {
        what: &'static str,
        port: u16,
        source: std::io::Error,
    },
}

/// A running emulated datacenter. Dropping it stops it.
pub struct Handle {
    dc: Arc<Datacenter>,
    http_addr: SocketAddr,
    https: bool,
    api_ca_pem: Option<String>,
    client_identity: Option<CertifiedKey>,
    stop: watch::Sender<bool>,
}

/// Sets and clears the faults of one datacenter; cheap to clone.
#[derive(Clone)]
pub struct FaultSwitch(Arc<Datacenter>);

impl FaultSwitch {
    /// Puts a lasting fault in force for `duration` (`None`: until [`FaultSwitch::clear`]).
    pub fn set(&self, fault: ConsulFault, duration: Option<Duration>) {
        self.0.faults.set_lasting(fault, duration);
    }

    /// The lasting faults in force.
    pub fn in_force(&self) -> Vec<ConsulFault> {
        self.0.faults.lasting()
    }

    /// Clears every fault and ends an outage.
    pub fn clear(&self) {
        self.0.faults.clear();
    }
}

/// Starts one emulated datacenter.
pub async fn start(cfg: Config) -> Result<Handle, StartError> {
    emulator_common::install_crypto_provider();
    let trust_domain = format!("{}.consul", uuid::Uuid::new_v4());
    let connect_ca = Pki::new(&format!("Consul CA {}", cfg.datacenter));
    let peering_listener = TcpListener::bind((LOOPBACK, cfg.peering_port))
        .await
        .map_err(|source| StartError::Bind {
            what: "peering",
            port: cfg.peering_port,
            source,
        })?;
    let http_listener = TcpListener::bind((LOOPBACK, cfg.http_port))
        .await
        .map_err(|source| StartError::Bind {
            what: "HTTP API",
            port: cfg.http_port,
            source,
        })?;
    let peering_addr = peering_listener
        .local_addr()
        .expect("bound listener has an address");
    let http_addr = http_listener
        .local_addr()
        .expect("bound listener has an address");

    let dc = Arc::new(Datacenter::new(
        cfg.clone(),
        connect_ca.ca_pem().to_string(),
        trust_domain,
        peering_addr,
    ));
    let peering_cert = connect_ca.issue_server(&[&dc.server_name]);
    let peering_tls = emulator_common::server_config(&peering_cert, None);
    let task = tokio::spawn(peerstream::serve(
        Arc::clone(&dc),
        peering_listener,
        peering_tls,
    ));
    dc.keep_task(task.abort_handle());

    let (api_tls, api_ca_pem, client_identity) = match cfg.transport {
        ApiTransport::Http => (None, None, None),
        ApiTransport::Https { verify_client } => {
            let api_ca = Pki::new(&format!("Consul Agent CA {}", cfg.datacenter));
            let server_name = format!("server.{}.consul", cfg.datacenter);
            let server = api_ca.issue_server(&["127.0.0.1", "localhost", &server_name]);
            let client = verify_client.then(|| api_ca.issue_client("consul-client"));
            let tls =
                emulator_common::server_config(&server, verify_client.then_some(api_ca.ca_pem()));
            (Some(tls), Some(api_ca.ca_pem().to_string()), client)
        }
    };
    let app = axum::Router::new()
        .fallback(http_api::handle)
        .with_state(Arc::clone(&dc));
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(serve_api(
        Arc::clone(&dc),
        http_listener,
        http_addr.port(),
        app,
        api_tls,
        stop_rx,
    ));
    dc.keep_task(task.abort_handle());
    tracing::debug!(datacenter = %cfg.datacenter, %http_addr, %peering_addr, "consul emulator started");
    Ok(Handle {
        dc,
        http_addr,
        https: api_ca_pem.is_some(),
        api_ca_pem,
        client_identity,
        stop,
    })
}

/// Serves the API listener; an outage fault drops the listener and binds the same port again
/// when it is over (or cleared).
async fn serve_api(
    dc: Arc<Datacenter>,
    listener: TcpListener,
    port: u16,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(current) = listener.take() else {
            return;
        };
        let (reason_tx, reason_rx) = tokio::sync::oneshot::channel::<Option<Duration>>();
        let (mut stop2, mut outage) = (stop.clone(), dc.faults.outage.subscribe());
        let shutdown = async move {
            let reason = tokio::select! {
                _ = stop2.changed() => None,
                down = outage.wait_for(Option::is_some) => down.ok().and_then(|d| *d),
            };
            let _ = reason_tx.send(reason);
        };
        emulator_common::serve(current, app.clone(), tls.clone(), shutdown).await;
        let Ok(Some(down_for)) = reason_rx.await else {
            return;
        };
        // Hold the port through the outage, so that no other socket (an outgoing connection's
        // ephemeral port) takes it before the API listens again.
        let reserved = reserve(port);
        tracing::debug!(datacenter = %dc.cfg.datacenter, ?down_for, "API outage");
        if !wait_out_outage(&dc, down_for, &mut stop).await {
            return;
        }
        listener = match reserved.and_then(|socket| socket.listen(1024)) {
            Ok(l) => Some(l),
            Err(_) => rebind(port, &mut stop).await,
        };
    }
}

/// The API port bound but not listening: connections to it are refused.
fn reserve(port: u16) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(LOOPBACK, port))?;
    Ok(socket)
}

/// Binds the API port again, trying until it is free or the datacenter stops.
async fn rebind(port: u16, stop: &mut watch::Receiver<bool>) -> Option<TcpListener> {
    loop {
        match TcpListener::bind((LOOPBACK, port)).await {
            Ok(l) => return Some(l),
            Err(e) => tracing::debug!(port, error = %e, "the API port is taken; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = stop.changed() => return None,
        }
    }
}

/// Waits until an outage is over, cleared or replaced by a new one (whose time then counts);
/// false when the datacenter stops meanwhile.
async fn wait_out_outage(
    dc: &Datacenter,
    mut down_for: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut outage = dc.faults.outage.subscribe();
    if outage.borrow_and_update().is_none() {
        return true;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(down_for) => break,
            _ = stop.changed() => return false,
            changed = outage.changed() => match changed.ok().and(*outage.borrow_and_update()) {
                Some(again) => down_for = again,
                None => break,
            },
        }
    }
    dc.faults.outage.send_replace(None);
    true
}

impl Handle {
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.http_addr)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn datacenter(&self) -> &str {
        &self.dc.cfg.datacenter
    }

    /// The CA that signed the HTTPS API certificate (valid for `127.0.0.1`, `localhost` and
    /// `server.<dc>.consul`), when the API is HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.api_ca_pem.as_deref()
    }

    /// A client certificate and key the API accepts, when client verification is on.
    pub fn client_identity(&self) -> Option<&CertifiedKey> {
        self.client_identity.as_ref()
    }

    /// The management token's SecretID, when ACLs are on.
    pub fn management_token(&self) -> Option<&str> {
        self.dc
            .acl
            .enabled()
            .then(|| self.dc.acl.management().secret_id.as_str())
    }

    /// Creates an ACL token with the given rules (ACLs must be on).
    pub fn create_token(&self, rules: Rules) -> AclToken {
        self.dc.mutate(|s| s.bump_raft_index());
        self.dc.acl.create(rules)
    }

    /// Where tokens of this datacenter point dialers (`ServerAddresses`).
    pub fn peering_addr(&self) -> SocketAddr {
        self.dc.peering_addr
    }

    /// `server.<dc>.peering.<trust domain>`.
    pub fn server_name(&self) -> &str {
        &self.dc.server_name
    }

    /// `<uuid>.consul`.
    pub fn trust_domain(&self) -> &str {
        &self.dc.trust_domain
    }

    /// The Connect CA certificate put into tokens.
    pub fn connect_ca_pem(&self) -> &str {
        &self.dc.connect_ca_pem
    }

    /// The peerings of a partition (`""` for the default) as `GET /v1/peerings` shows them.
    pub fn peerings(&self, partition: &str) -> Vec<Peering> {
        self.dc.views(partition)
    }

    /// One peering as `GET /v1/peering/:name` shows it.
    pub fn peering(&self, partition: &str, name: &str) -> Option<Peering> {
        let s = self.dc.store();
        s.get(&self.dc.record_partition(partition), name)
            .map(|r| s.view(r))
    }

    /// The state stored for a peering, without the stream overlay.
    pub fn stored_state(&self, partition: &str, name: &str) -> Option<PeeringState> {
        self.dc
            .store()
            .get(&self.dc.record_partition(partition), name)
            .map(|r| r.state)
    }

    /// Answers the next `count` API requests with `failure` (see [`Failure::consul_like`]).
    pub fn fail_next(&self, count: u32, failure: Failure) {
        self.dc.faults.fail_next(count, failure);
    }

    /// Makes the next `count` establishes fail once the accepting side has taken their
    /// establishment secret (a leader lost between the exchange and the final write): the
    /// token is spent, the dialer's record stays `PENDING` and the caller gets a 500.
    pub fn cut_next_establishes(&self, count: u32) {
        self.dc.faults.cut_next_establishes(count);
    }

    /// Delays every API answer by `delay` (`None` clears).
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.dc.faults.set_delay(delay);
    }

    /// Stops accepting API connections for `duration` (open connections are closed), then
    /// listens on the same port again.
    pub fn outage(&self, duration: Duration) {
        self.dc.faults.outage(duration);
    }

    /// Cuts a peering's stream as a network failure would: both sides read `FAILING`. The
    /// dialer reconnects after `reconnect_after` (and its backoff); `None` keeps the stream
    /// down until [`Handle::clear_faults`]. Returns whether the peering exists.
    pub fn drop_stream(
        &self,
        partition: &str,
        name: &str,
        reconnect_after: Option<Duration>,
    ) -> bool {
        self.dc.drop_stream(name, partition, reconnect_after)
    }

    /// Deletes a peering out of band, as an operator with the CLI would (no ACL check, not
    /// counted). Returns whether there was one to delete.
    pub fn delete_peering(&self, partition: &str, name: &str) -> bool {
        self.dc.mark_for_deletion(name, partition).unwrap_or(false)
    }

    /// Puts a lasting fault in force for `duration` (`None`: until [`Handle::clear_faults`]).
    pub fn set_fault(&self, fault: ConsulFault, duration: Option<Duration>) {
        self.fault_switch().set(fault, duration);
    }

    /// The lasting faults in force.
    pub fn faults(&self) -> Vec<ConsulFault> {
        self.fault_switch().in_force()
    }

    /// A handle on this datacenter's faults alone, to share (it does not keep the datacenter
    /// running).
    pub fn fault_switch(&self) -> FaultSwitch {
        FaultSwitch(Arc::clone(&self.dc))
    }

    /// Clears armed failures, delays, stream hold-downs and lasting faults, and ends an outage.
    pub fn clear_faults(&self) {
        self.fault_switch().clear();
    }

    /// Request counts by method, endpoint and status.
    pub fn counters(&self) -> Vec<RequestCount> {
        self.dc.counters.snapshot()
    }

    /// How many `method` requests `endpoint` got (any status).
    pub fn count(&self, method: &str, endpoint: &str) -> u64 {
        self.counters()
            .iter()
            .filter(|c| c.method == method && c.endpoint == endpoint)
            .map(|c| c.count)
            .sum()
    }

    /// Every token this datacenter issued, oldest first (reset counters does not forget them).
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.dc.counters.issued_tokens()
    }

    pub fn reset_counters(&self) {
        self.dc.counters.reset();
    }

    /// Stops the datacenter: listeners close and streams break (peers read `FAILING`).
    pub async fn stop(self) {
        self.shutdown();
        tokio::task::yield_now().await;
    }

    fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.dc.abort_tasks();
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("datacenter", &self.dc.cfg.datacenter)
            .field("url", &self.url())
            .field("peering_addr", &self.dc.peering_addr)
            .finish()
    }
}

/// Starts one datacenter per config; they can all peer with each other.
pub async fn start_all(configs: Vec<Config>) -> Result<Vec<Handle>, StartError> {
    let mut handles = Vec::with_capacity(configs.len());
    for cfg in configs {
        handles.push(start(cfg).await?);
    }
    Ok(handles)
}

/// Runs datacenters until `shutdown` completes (the operator's `playground` command), calling
/// `ready` once they all listen.
pub async fn run(
    configs: Vec<Config>,
    ready: impl FnOnce(&[Handle]),
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let handles = start_all(configs).await?;
    ready(&handles);
    shutdown.await;
    for handle in handles {
        handle.stop().await;
    }
    Ok(())
}
