//! The playground's fault switch: `consul-peering-operator playground fault --state-dir DIR
//! CLUSTER KIND [--for DURATION]` puts one of a few failures in force in a running playground,
//! for people who want to see what the operator does then, and for tests.
//!
//! The playground serves one small control endpoint (plain HTTP on loopback, listed in
//! `playground.json` as each cluster's `faultControl`); the command posts the fault there and
//! returns at once. The emulators end a timed fault by themselves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use clap::{Args, ValueEnum};
use consul_emulator::{ConsulFault, Failure, FaultSwitch};
use kube_emulator::{KubeEmulator, KubeFault};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Cluster;

/// How late a slow Consul answers.
pub const CONSUL_SLOW: Duration = Duration::from_secs(2);
/// How often the watch faults strike again while in force.
pub const WATCH_FAULT_EVERY: Duration = Duration::from_secs(5);
/// The `Retry-After` of a throttled Kubernetes API, in seconds.
pub const KUBE_RETRY_AFTER_SECONDS: u64 = 1;

/// What can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum FaultKind {
    /// Consul refuses connections.
    #[value(name = "consul-down")]
    #[serde(rename = "consul-down")]
    ConsulDown,
    /// Consul answers every request with 500 (no cluster leader).
    #[value(name = "consul-500")]
    #[serde(rename = "consul-500")]
    Consul500,
    /// Consul answers every request 2 s late.
    #[value(name = "consul-slow")]
    #[serde(rename = "consul-slow")]
    ConsulSlow,
    /// The Kubernetes API answers every request with 429 Too Many Requests (Retry-After 1).
    #[value(name = "kube-429")]
    #[serde(rename = "kube-429")]
    Kube429,
    /// The Kubernetes API answers every write with 409 Conflict.
    #[value(name = "kube-conflict")]
    #[serde(rename = "kube-conflict")]
    KubeConflict,
    /// The Kubernetes API closes every watch, and again every 5 s.
    #[value(name = "kube-watch-drop")]
    #[serde(rename = "kube-watch-drop")]
    KubeWatchDrop,
    /// The Kubernetes API forgets its history and closes every watch (the re-watches get
    /// 410 Gone), and again every 5 s.
    #[value(name = "kube-expired")]
    #[serde(rename = "kube-expired")]
    KubeExpired,
    /// Ends every fault of the cluster.
    #[value(name = "clear")]
    #[serde(rename = "clear")]
    Clear,
}

/// What a fault can act on: one cluster's Kubernetes API and, unless it is a real one, its
/// Consul.
#[derive(Clone)]
pub struct Target {
    pub kube: KubeEmulator,
    pub consul: Option<FaultSwitch>,
}

impl FaultKind {
    /// Puts the fault in force on `target` for `duration` (`None`: until cleared); returns
    /// what it did, in words.
    pub fn apply(self, target: &Target, duration: Option<Duration>) -> Result<String, String> {
        let consul = || {
            target
                .consul
                .as_ref()
                .ok_or("this cluster uses a real Consul; only kube-* faults apply")
        };
        let kube = |fault| target.kube.set_fault(fault, duration);
        let every = WATCH_FAULT_EVERY;
        let what = match self {
            FaultKind::ConsulDown => {
                consul()?.set(ConsulFault::Down, duration);
                "Consul refuses connections"
            }
            FaultKind::Consul500 => {
                consul()?.set(ConsulFault::Failing(Failure::consul_like(500)), duration);
                "Consul answers every request with 500"
            }
            FaultKind::ConsulSlow => {
                consul()?.set(ConsulFault::Slow(CONSUL_SLOW), duration);
                "Consul answers every request 2 s late"
            }
            FaultKind::Kube429 => {
                kube(KubeFault::Throttle {
                    retry_after_seconds: KUBE_RETRY_AFTER_SECONDS,
                });
                "the Kubernetes API answers every request with 429 (Retry-After: 1)"
            }
            FaultKind::KubeConflict => {
                kube(KubeFault::ConflictOnWrites);
                "the Kubernetes API answers every write with 409 Conflict"
            }
            FaultKind::KubeWatchDrop => {
                kube(KubeFault::DropWatches { every });
                "the Kubernetes API closes every watch, again every 5 s"
            }
            FaultKind::KubeExpired => {
                kube(KubeFault::ExpireWatches { every });
                "the Kubernetes API answers re-watches with 410 Gone, again every 5 s"
            }
            FaultKind::Clear => {
                target.kube.clear_faults();
                if let Some(consul) = &target.consul {
                    consul.clear();
                }
                return Ok("every fault cleared".to_owned());
            }
        };
        Ok(match duration {
            Some(d) => format!("{what} for {}", show_duration(d)),
            None => format!("{what} until cleared (`playground fault … clear`)"),
        })
    }
}

/// `playground fault`.
#[derive(Args, Debug, Clone)]
pub struct FaultArgs {
    /// The running playground's state directory (where playground.json is).
    #[arg(long)]
    pub state_dir: PathBuf,
    /// The cluster (datacenter) to act on, e.g. dc1.
    pub cluster: String,
    /// What fails.
    #[arg(value_enum)]
    pub kind: FaultKind,
    /// How long the fault lasts (`500ms`, `30s`, `2m`, `1h`); without it, until `clear`.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// What the command posts to a cluster's control endpoint.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultRequest {
    kind: FaultKind,
    for_millis: Option<u64>,
}

/// The `playground fault` command: prints what it set and returns.
pub async fn run(args: FaultArgs) -> anyhow::Result<()> {
    println!("{}", request(&args).await?);
    Ok(())
}

/// Posts the fault to the cluster's control endpoint named in `playground.json`; returns what
/// the playground says it did.
pub async fn request(args: &FaultArgs) -> anyhow::Result<String> {
    let url = control_url(&args.state_dir, &args.cluster)?;
    let body = FaultRequest {
        kind: args.kind,
        for_millis: args
            .duration
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("reaching the playground's fault control at {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{}: {text}", args.cluster);
    Ok(format!("{}: {text}", args.cluster))
}

/// The `faultControl` of `cluster` in `DIR/playground.json`.
fn control_url(state_dir: &Path, cluster: &str) -> anyhow::Result<String> {
    let path = state_dir.join("playground.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is a playground running with --state-dir {}?)",
            path.display(),
            state_dir.display()
        )
    })?;
    let state: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let clusters = state["clusters"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = clusters.iter().filter_map(|c| c["name"].as_str()).collect();
    let found = clusters
        .iter()
        .find(|c| c["name"] == cluster)
        .with_context(|| {
            format!(
                "no cluster {cluster:?} in {}; it has {}",
                path.display(),
                names.join(", ")
            )
        })?;
    found["faultControl"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{cluster} in {} has no faultControl", path.display()))
}

/// The running control endpoint: one loopback listener for every cluster.
pub struct Control {
    addr: SocketAddr,
}

impl Control {
    /// Where a cluster's faults are set (`faultControl` in `playground.json`).
    pub fn url(&self, cluster: &str) -> String {
        format!("http://{}/clusters/{cluster}/fault", self.addr)
    }
}

/// Serves the control endpoint of `clusters` until `stop`.
pub(super) async fn serve(
    clusters: &[Cluster],
    stop: CancellationToken,
) -> anyhow::Result<Control> {
    let targets: Arc<Vec<(String, Target)>> = Arc::new(
        clusters
            .iter()
            .map(|c| {
                let target = Target {
                    kube: c.kube.clone(),
                    consul: c
                        ._consul
                        .as_ref()
                        .map(consul_emulator::Handle::fault_switch),
                };
                (c.name.clone(), target)
            })
            .collect(),
    );
    let app = axum::Router::new()
        .route("/clusters/{cluster}/fault", axum::routing::post(set_fault))
        .with_state(targets);
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding the fault control endpoint")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the playground's fault control endpoint stopped");
        }
    });
    Ok(Control { addr })
}

async fn set_fault(
    State(targets): State<Arc<Vec<(String, Target)>>>,
    UrlPath(cluster): UrlPath<String>,
    Json(request): Json<FaultRequest>,
) -> (StatusCode, String) {
    let Some((_, target)) = targets.iter().find(|(name, _)| *name == cluster) else {
        return (StatusCode::NOT_FOUND, format!("no cluster {cluster:?}"));
    };
    let duration = request.for_millis.map(Duration::from_millis);
    match request.kind.apply(target, duration) {
        Ok(done) => {
            tracing::info!(%cluster, fault = ?request.kind, ?duration, "{done}");
            (StatusCode::OK, done)
        }
        Err(refused) => (StatusCode::CONFLICT, refused),
    }
}

/// A duration as `500ms`, `30s`, `2m` or `1h`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw:?}: give a unit, e.g. 30s, 500ms, 2m"))?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?}: expected a whole number then a unit, e.g. 30s"))?;
    let seconds = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{raw:?} is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        _ => Err(format!("{raw:?}: the unit is one of ms, s, m, h")),
    }
}

fn show_duration(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 1000 != 0 => format!("{ms}ms"),
        ms => format!("{}s", ms / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_a_unit() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["30", "s", "3x", "-1s", "1.5s", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show_duration(Duration::from_secs(30)), "30s");
    }

    #[test]
    fn kinds_have_the_names_of_the_command_line() {
        let names: Vec<String> = FaultKind::value_variants()
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let clap_names: Vec<String> = FaultKind::value_variants()
            .iter()
            .map(|k| k.to_possible_value().unwrap().get_name().to_owned())
            .collect();
        assert_eq!(names, clap_names);
        assert_eq!(
            names,
            [
                "consul-down",
                "consul-500",
                "consul-slow",
                "kube-429",
                "kube-conflict",
                "kube-watch-drop",
                "kube-expired",
                "clear"
            ]
        );
    }
}
