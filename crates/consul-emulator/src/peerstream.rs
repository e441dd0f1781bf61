//! The peering listener (Consul's gRPC TLS port) and the streams between datacenters.
//!
//! Design (the emulator's own wire format, not gRPC): a TLS connection to the listener whose
//! certificate, issued by the datacenter's Connect CA, names `server.<dc>.peering.<domain>`;
//! the dialer verifies it with the CA and server name from the token. The first line the
//! dialer sends is a JSON hello:
//! * `ExchangeSecret` trades the token's establishment secret for a stream secret (one answer,
//!   then the connection closes);
//! * `Open` authenticates with a stream secret and keeps the connection as the peering's
//!   long-lived stream, on which both sides send `Heartbeat` lines and, when a side deletes
//!   its peering, a `Terminated` line.
//!
//! A stream that ends without `Terminated` is a failure: both sides read FAILING and the
//! dialer reconnects with backoff.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::dc::Datacenter;
use crate::errors::ApiError;
use crate::store::Record;

const FRAME_LIMIT: usize = 64 * 1024;
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long establish retries the secret exchange through unreachable addresses (Consul: 3 s).
const EXCHANGE_RETRY_WINDOW: Duration = Duration::from_secs(3);
const EXCHANGE_RETRY_WAIT: Duration = Duration::from_millis(150);
/// How often a held-down dialer checks whether the hold was lifted.
const HOLD_POLL: Duration = Duration::from_millis(100);

#[derive(Serialize, Deserialize)]
#[serde(tag = "Op")]
enum Hello {
    ExchangeSecret {
        #[serde(rename = "PeerID")]
        peer_id: String,
        #[serde(rename = "EstablishmentSecret")]
        establishment_secret: String,
    },
    Open {
        #[serde(rename = "PeerID")]
        peer_id: String,
        #[serde(rename = "StreamSecret")]
        stream_secret: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "Result")]
enum Reply {
    Ok {
        #[serde(rename = "StreamSecret", default)]
        stream_secret: Option<String>,
    },
    Error {
        #[serde(rename = "Code")]
        code: String,
        #[serde(rename = "Message")]
        message: String,
    },
    /// The acceptor no longer has the peering: the dialer's side is terminated.
    Terminated,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "Msg")]
enum Frame {
    Heartbeat,
    Terminated,
}

/// What the owner of a stream can ask of it.
#[derive(Clone, Copy, Debug)]
pub enum Control {
    /// Tell the peer the peering is gone, then close (the peering is being deleted).
    Terminate,
    /// Cut the connection as a network failure would.
    Drop,
    /// A dialer waiting to reconnect should try now (a new secret was established).
    Kick,
    /// A newer stream replaced this one.
    Close,
}

struct Link {
    generation: u64,
    control: mpsc::UnboundedSender<Control>,
    /// Set for dialers: the task that keeps the stream up.
    dialer: Option<AbortHandle>,
}

/// The live streams of a datacenter by local peering ID.
#[derive(Default)]
pub struct Links {
    links: Mutex<HashMap<String, Link>>,
    next_generation: AtomicU64,
}

impl Links {
    pub fn send(&self, id: &str, control: Control) {
        if let Some(link) = self.links.lock().expect("links lock").get(id) {
            let _ = link.control.send(control);
        }
    }

    fn register(
        &self,
        id: &str,
        control: mpsc::UnboundedSender<Control>,
        dialer: Option<AbortHandle>,
    ) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let old = self.links.lock().expect("links lock").insert(
            id.to_string(),
            Link {
                generation,
                control,
                dialer,
            },
        );
        if let Some(old) = old {
            let _ = old.control.send(Control::Close);
        }
        generation
    }

    fn is_current(&self, id: &str, generation: u64) -> bool {
        self.links
            .lock()
            .expect("links lock")
            .get(id)
            .is_some_and(|l| l.generation == generation)
    }

    fn unregister(&self, id: &str, generation: u64) {
        let mut links = self.links.lock().expect("links lock");
        if links.get(id).is_some_and(|l| l.generation == generation) {
            links.remove(id);
        }
    }
}

/// Serves the peering listener until the task is aborted.
pub async fn serve(dc: Arc<Datacenter>, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let dc2 = Arc::clone(&dc);
        let acceptor = acceptor.clone();
        let task = tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            accept_connection(dc2, tls).await;
        });
        dc.keep_task(task.abort_handle());
    }
}

async fn accept_connection<S: AsyncRead + AsyncWrite + Unpin>(dc: Arc<Datacenter>, io: S) {
    let (rd, mut wr) = tokio::io::split(io);
    let mut rd = BufReader::new(rd);
    let mut buf = Vec::new();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut rd, &mut buf)).await {
        Ok(Ok(Some(line))) => serde_json::from_slice::<Hello>(&line).ok(),
        _ => None,
    };
    let Some(hello) = hello else { return };
    match hello {
        Hello::ExchangeSecret {
            peer_id,
            establishment_secret,
        } => {
            let stream_secret = uuid::Uuid::new_v4().to_string();
            let accepted = dc.mutate(|s| {
                s.exchange_secret(&peer_id, &establishment_secret, stream_secret.clone())
            });
            let reply = if accepted {
                tracing::debug!(dc = %dc.cfg.datacenter, %peer_id, "exchanged an establishment secret");
                Reply::Ok {
                    stream_secret: Some(stream_secret),
                }
            } else {
                Reply::Error {
                    code: "PermissionDenied".into(),
                    message: "invalid peering establishment secret".into(),
                }
            };
            let _ = write_frame(&mut wr, &reply).await;
            let _ = wr.shutdown().await;
        }
        Hello::Open {
            peer_id,
            stream_secret,
        } => {
            let reply = open_reply(&dc, &peer_id, &stream_secret);
            let accepted = matches!(reply, Reply::Ok { .. });
            if write_frame(&mut wr, &reply).await.is_err() || !accepted {
                let _ = wr.shutdown().await;
                return;
            }
            let (tx, mut rx) = mpsc::unbounded_channel();
            let generation = dc.links.register(&peer_id, tx, None);
            let ended = run_session(&dc, &peer_id, &mut rd, &mut wr, &mut buf, &mut rx).await;
            finish(&dc, &peer_id, generation, ended);
            dc.links.unregister(&peer_id, generation);
        }
    }
}

/// The acceptor's answer to an `Open`.
fn open_reply(dc: &Datacenter, peer_id: &str, stream_secret: &str) -> Reply {
    if dc.faults.stream_hold(peer_id).is_some() {
        return Reply::Error {
            code: "Unavailable".into(),
            message: "stream held down by an injected fault".into(),
        };
    }
    let record = dc.store().by_id(peer_id).cloned();
    match record {
        None => Reply::Terminated,
        Some(r) if !r.is_active() => Reply::Terminated,
        Some(r) if r.should_dial() => Reply::Error {
            code: "FailedPrecondition".into(),
            message: "peering is not expecting to be dialed".into(),
        },
        Some(_) => {
            if dc.mutate(|s| s.accept_stream_secret(peer_id, stream_secret)) {
                Reply::Ok {
                    stream_secret: None,
                }
            } else {
                Reply::Error {
                    code: "PermissionDenied".into(),
                    message: "invalid peering stream secret".into(),
                }
            }
        }
    }
}

/// How a stream session ended.
enum Ended {
    /// The peer deleted its side.
    PeerTerminated,
    /// We deleted our side and told the peer.
    WeTerminated,
    /// The connection failed (or a fault cut it).
    Failed(String),
    /// Replaced by a newer stream, or the datacenter stopped.
    Closed,
}

async fn run_session<R, W>(
    dc: &Datacenter,
    id: &str,
    rd: &mut R,
    wr: &mut W,
    buf: &mut Vec<u8>,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Ended
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let interval = dc.cfg.heartbeat_interval;
    let timeout = interval * 8;
    dc.track(id, |t| {
        t.connected = true;
        t.disconnect_error = None;
    });
    tracing::debug!(dc = %dc.cfg.datacenter, peering = %id, "peering stream connected");
    let mut last_receive = Instant::now();
    let mut next_heartbeat = Instant::now();
    loop {
        tokio::select! {
            frame = read_frame(rd, buf) => {
                let line = match frame {
                    Ok(Some(line)) => line,
                    Ok(None) => return Ended::Failed("stream closed by the peer".into()),
                    Err(e) => return Ended::Failed(format!("stream receive error: {e}")),
                };
                last_receive = Instant::now();
                match serde_json::from_slice::<Frame>(&line) {
                    Ok(Frame::Heartbeat) => {
                        let now = SystemTime::now();
                        dc.track(id, |t| {
                            t.last_heartbeat = Some(now);
                            t.last_receive = Some(now);
                        });
                    }
                    Ok(Frame::Terminated) => return Ended::PeerTerminated,
                    Err(_) => return Ended::Failed("malformed stream message".into()),
                }
            }
            _ = tokio::time::sleep_until(next_heartbeat.into()) => {
                if let Err(e) = write_frame(wr, &Frame::Heartbeat).await {
                    return Ended::Failed(format!("stream send error: {e}"));
                }
                let now = SystemTime::now();
                dc.track(id, |t| t.last_send = Some(now));
                next_heartbeat = Instant::now() + interval;
            }
            _ = tokio::time::sleep_until((last_receive + timeout).into()) => {
                return Ended::Failed("heartbeat timeout".into());
            }
            control = control.recv() => match control {
                Some(Control::Terminate) => {
                    let _ = write_frame(wr, &Frame::Terminated).await;
                    let _ = wr.shutdown().await;
                    return Ended::WeTerminated;
                }
                Some(Control::Drop) => return Ended::Failed("stream dropped by an injected fault".into()),
                Some(Control::Kick) => {}
                Some(Control::Close) | None => return Ended::Closed,
            },
        }
    }
}

/// Records how a session ended, for the stream that is still the current one.
fn finish(dc: &Datacenter, id: &str, generation: u64, ended: Ended) {
    match ended {
        Ended::PeerTerminated => {
            tracing::debug!(dc = %dc.cfg.datacenter, peering = %id, "peer terminated the peering");
            dc.mutate(|s| s.terminate_by_id(id));
        }
        Ended::WeTerminated => dc.mutate(|s| s.forget_stream(id)),
        Ended::Failed(reason) if dc.links.is_current(id, generation) => {
            tracing::debug!(dc = %dc.cfg.datacenter, peering = %id, %reason, "peering stream failed");
            dc.track(id, |t| {
                t.connected = false;
                t.disconnect_error = Some(reason);
            });
        }
        Ended::Failed(_) | Ended::Closed => {}
    }
}

/// Starts (or wakes) the task that keeps a dialer's stream up.
pub fn ensure_dialer(dc: &Arc<Datacenter>, id: &str) {
    {
        let links = dc.links.links.lock().expect("links lock");
        if let Some(link) = links.get(id)
            && link.dialer.as_ref().is_some_and(|t| !t.is_finished())
        {
            let _ = link.control.send(Control::Kick);
            return;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let dc2 = Arc::clone(dc);
    let id2 = id.to_string();
    let (generation_tx, generation_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let Ok(generation) = generation_rx.await else {
            return;
        };
        dialer_loop(dc2, id2, generation, rx).await;
    });
    let generation = dc.links.register(id, tx, Some(task.abort_handle()));
    let _ = generation_tx.send(generation);
    dc.keep_task(task.abort_handle());
}

struct Target {
    addresses: Vec<String>,
    ca_pems: Vec<String>,
    server_name: String,
    peer_id: String,
    secret: String,
}

fn dial_target(dc: &Datacenter, id: &str) -> Option<Target> {
    let store = dc.store();
    let record = store
        .by_id(id)
        .filter(|r| r.is_active() && r.should_dial())?;
    let secret = store.secrets(id).active_stream?;
    Some(Target {
        addresses: record.addresses_to_dial(),
        ca_pems: record.peer_ca_pems.clone(),
        server_name: record.peer_server_name.clone(),
        peer_id: record.peer_id.clone(),
        secret,
    })
}

async fn dialer_loop(
    dc: Arc<Datacenter>,
    id: String,
    generation: u64,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let base = dc.cfg.reconnect_backoff;
    let mut backoff = base;
    while let Some(target) = dial_target(&dc, &id) {
        // A hold-down is re-checked often so that clearing faults takes effect quickly.
        let (wait, grow) = match dc.faults.stream_hold(&id) {
            Some(until) => (
                until
                    .saturating_duration_since(Instant::now())
                    .min(HOLD_POLL),
                false,
            ),
            None => match open_stream(&target).await {
                Ok(Opened::Stream(stream)) => {
                    backoff = base;
                    let (rd, mut wr) = tokio::io::split(*stream);
                    let mut rd = BufReader::new(rd);
                    let mut buf = Vec::new();
                    let ended =
                        run_session(&dc, &id, &mut rd, &mut wr, &mut buf, &mut control).await;
                    let again = matches!(ended, Ended::Failed(_));
                    finish(&dc, &id, generation, ended);
                    if !again {
                        break;
                    }
                    (backoff, true)
                }
                Ok(Opened::Terminated) => {
                    finish(&dc, &id, generation, Ended::PeerTerminated);
                    break;
                }
                Err(reason) => {
                    finish(&dc, &id, generation, Ended::Failed(reason));
                    (backoff, true)
                }
            },
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            c = control.recv() => match c {
                Some(Control::Terminate) | Some(Control::Close) | None => break,
                Some(Control::Kick) | Some(Control::Drop) => {}
            },
        }
        if grow {
            backoff = (backoff * 2).min(base * 8);
        }
    }
    dc.links.unregister(&id, generation);
}

/// A client TLS stream with whatever the peer sent after its reply still buffered.
type ClientStream = BufReader<tokio_rustls::client::TlsStream<TcpStream>>;

enum Opened {
    Stream(Box<ClientStream>),
    Terminated,
}

/// Opens the stream through the first address that answers.
async fn open_stream(target: &Target) -> Result<Opened, String> {
    let mut last_error = String::from("no addresses to dial");
    for addr in &target.addresses {
        let hello = Hello::Open {
            peer_id: target.peer_id.clone(),
            stream_secret: target.secret.clone(),
        };
        match call(addr, &target.ca_pems, &target.server_name, &hello).await {
            Ok((Reply::Ok { .. }, stream)) => return Ok(Opened::Stream(Box::new(stream))),
            Ok((Reply::Terminated, _)) => return Ok(Opened::Terminated),
            Ok((Reply::Error { code, message }, _)) => {
                last_error = format!("rpc error: code = {code} desc = {message}")
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Trades the token's establishment secret for a stream secret, retrying unreachable
/// addresses for three seconds as Consul does.
pub async fn exchange_secret(
    record: &Record,
    establishment_secret: &str,
) -> Result<String, ApiError> {
    let addresses = record.addresses_to_dial();
    let hello = Hello::ExchangeSecret {
        peer_id: record.peer_id.clone(),
        establishment_secret: establishment_secret.to_string(),
    };
    let deadline = Instant::now() + EXCHANGE_RETRY_WINDOW;
    let mut errors = Vec::new();
    for addr in addresses.iter().cycle() {
        match call(addr, &record.peer_ca_pems, &record.peer_server_name, &hello).await {
            Ok((Reply::Ok { stream_secret: Some(secret) }, _)) => return Ok(secret),
            Ok((Reply::Error { code, message }, _)) if code == "PermissionDenied" => {
                return Err(ApiError::rpc(
                    "PermissionDenied",
                    format!("a new peering token must be generated: {message}"),
                ));
            }
            Ok((Reply::Error { code, message }, _)) => errors.push(format!(
                "failed to exchange peering secret through address {addr:?}: rpc error: code = {code} desc = {message}"
            )),
            Ok(_) => errors.push(format!(
                "failed to exchange peering secret through address {addr:?}: rpc error: code = Internal desc = unexpected reply"
            )),
            Err(e) => errors.push(format!("failed to exchange peering secret through address {addr:?}: {e}")),
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(jitter(EXCHANGE_RETRY_WAIT)).await;
        if Instant::now() >= deadline {
            break;
        }
    }
    Err(ApiError::unknown(multierror(&errors)))
}

/// `go-multierror`'s list format.
fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    if errors.len() == 1 {
        format!("1 error occurred:\n\t{}\n\n", points[0])
    } else {
        format!(
            "{} errors occurred:\n\t{}\n\n",
            errors.len(),
            points.join("\n\t")
        )
    }
}

/// Up to 25% either way, like Consul's retry jitter.
fn jitter(base: Duration) -> Duration {
    let r = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    base.mul_f64(0.75 + r * 0.5)
}

/// Dials `addr`, verifies the peer with the token's CA and server name, sends `hello` and
/// reads the reply. Errors read like the gRPC errors Consul reports.
async fn call(
    addr: &str,
    ca_pems: &[String],
    server_name: &str,
    hello: &Hello,
) -> Result<(Reply, ClientStream), String> {
    let unavailable = |desc: String| {
        format!("rpc error: code = Unavailable desc = connection error: desc = {desc:?}")
    };
    let tcp = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(
                "rpc error: code = DeadlineExceeded desc = context deadline exceeded".into(),
            );
        }
        Ok(Err(e)) => {
            return Err(unavailable(format!(
                "transport: Error while dialing: {}",
                dial_error(addr, &e)
            )));
        }
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    let config = client_config(ca_pems).map_err(|e| unavailable(format!("transport: {e}")))?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| unavailable(format!("transport: invalid server name {server_name:?}")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = match tokio::time::timeout(HELLO_TIMEOUT, connector.connect(name, tcp)).await {
        Err(_) => {
            return Err(
                "rpc error: code = DeadlineExceeded desc = context deadline exceeded".into(),
            );
        }
        Ok(Err(e)) => {
            return Err(unavailable(format!(
                "transport: authentication handshake failed: {}",
                tls_error(&e)
            )));
        }
        Ok(Ok(tls)) => tls,
    };
    let mut tls = tls;
    write_frame(&mut tls, hello)
        .await
        .map_err(|e| unavailable(format!("transport: {e}")))?;
    let mut rd = BufReader::new(tls);
    let mut buf = Vec::new();
    let line = match tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut rd, &mut buf)).await {
        Err(_) => {
            return Err(
                "rpc error: code = DeadlineExceeded desc = context deadline exceeded".into(),
            );
        }
        Ok(Err(e)) => return Err(unavailable(format!("transport: {e}"))),
        Ok(Ok(None)) => return Err(unavailable("transport: connection closed".into())),
        Ok(Ok(Some(line))) => line,
    };
    let reply = serde_json::from_slice::<Reply>(&line)
        .map_err(|_| "rpc error: code = Internal desc = malformed reply".to_string())?;
    Ok((reply, rd))
}

fn dial_error(addr: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => format!("dial tcp {addr}: connect: connection refused"),
        _ => format!("dial tcp {addr}: {e}"),
    }
}

fn tls_error(e: &io::Error) -> String {
    let text = e.to_string();
    if text.contains("UnknownIssuer") {
        "tls: failed to verify certificate: x509: certificate signed by unknown authority".into()
    } else if text.contains("NotValidForName") {
        "tls: failed to verify certificate: x509: certificate is not valid for the requested name"
            .into()
    } else {
        format!("tls: {text}")
    }
}

fn client_config(ca_pems: &[String]) -> Result<Arc<rustls::ClientConfig>, String> {
    emulator_common::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("invalid CA: {e}"))?;
            roots.add(cert).map_err(|e| format!("invalid CA: {e}"))?;
        }
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(wr: &mut W, value: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    wr.write_all(&line).await?;
    wr.flush().await
}

/// Reads one line. Cancel-safe: partial input stays in `buf` for the next call.
async fn read_frame<R: AsyncBufRead + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Vec<u8>>> {
    loop {
        let available = rd.fill_buf().await?;
        if available.is_empty() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "truncated message",
                ))
            };
        }
        if let Some(pos) = available.iter().position(|&c| c == b'\n') {
            buf.extend_from_slice(&available[..pos]);
            rd.consume(pos + 1);
            return Ok(Some(std::mem::take(buf)));
        }
        let n = available.len();
        buf.extend_from_slice(available);
        rd.consume(n);
        if buf.len() > FRAME_LIMIT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message too long",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::multierror;

    #[test]
    fn multierror_format_matches_go_multierror() {
        assert_eq!(multierror(&["a".into()]), "1 error occurred:\n\t* a\n\n");
        assert_eq!(
            multierror(&["a".into(), "b".into()]),
            "2 errors occurred:\n\t* a\n\t* b\n\n"
        );
    }
}
