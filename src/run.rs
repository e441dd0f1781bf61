//! `consul-peering-operator run`: the controllers against the current kubeconfig or the
//! in-cluster configuration, with leader election, the metrics and health endpoints, and a
//! graceful stop on SIGTERM (in-flight reconciles finish, the lease is released, exit 0).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::LeaseManagerBuilder;
use tokio_util::sync::CancellationToken;

use crate::cli::consul_args::ConsulArgs;
use crate::consul::ConsulConfig;
use crate::controller::{self, ConsulClients, Context};
use crate::telemetry::logging::{self, LogFormat};
use crate::telemetry::{Health, LeaderState, Metrics, server};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,

    /// How to reach Consul: the Consul CLI's API flags, falling back to its CONSUL_* variables.
    #[command(flatten)]
    pub consul: ConsulArgs,
    /// Consul admin partition for every request (Enterprise) [env: CONSUL_PARTITION].
    #[arg(long)]
    pub partition: Option<String>,

    /// Longest wait of the blocking query on Consul's peering list. New, deleted and terminated
    /// peerings arrive at once; states Consul derives from its streams (ACTIVE, FAILING) do not
    /// move its index and a timed-out answer is as old as the wait, so they reach status within
    /// twice this time.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub consul_watch_wait_seconds: u64,

    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,

    /// Reconcile only while holding a coordination.k8s.io Lease (for several replicas).
    #[arg(long, env = "LEADER_ELECT")]
    pub leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "consul-peering-operator")]
    pub lease_name: String,
    /// Namespace of the leader-election Lease (default: the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a lease lasts without renewal; a standby takes over within it.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// This replica's identity in the Lease and in Events (default: host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl RunArgs {
    /// Arguments for an operator embedded in another process (the playground, tests): all
    /// namespaces, no leader election, endpoints on a free loopback port.
    pub fn for_embedding() -> Self {
        RunArgs {
            namespace: None,
            consul: ConsulArgs::default(),
            partition: None,
            consul_watch_wait_seconds: 2,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            leader_elect: false,
            lease_name: "consul-peering-operator".into(),
            lease_namespace: None,
            lease_duration_seconds: 15,
            identity: None,
            log_format: LogFormat::Text,
        }
    }

    /// The Consul client configuration: the environment (as the Consul CLI reads it), then
    /// these flags on top.
    pub fn consul_config(&self) -> ConsulConfig {
        let mut config = self.consul.to_config();
        if let Some(partition) = &self.partition {
            config.partition = Some(partition.clone());
        }
        config
    }

    fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            std::env::var("HOSTNAME").unwrap_or_else(|_| format!("operator-{}", std::process::id()))
        })
    }
}

/// The `run` command.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    logging::init(args.log_format);
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration: set KUBECONFIG or run in a pod")?;
    let consul = ConsulClients::new(args.consul_config()).context("Consul client configuration")?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    run_with(client, consul, args, stop).await
}

/// The operator with a given Kubernetes client and Consul client, until `stop` is cancelled.
/// Used by `run`, by the playground and by the tests.
pub async fn run_with(
    client: kube::Client,
    consul: ConsulClients,
    args: RunArgs,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let health = Health::default();
    let (bound, serving) = server::bind(args.listen_addr, metrics.clone(), health.clone(), {
        let stop = stop.clone();
        async move { stop.cancelled().await }
    })
    .await
    .with_context(|| format!("listening on {}", args.listen_addr))?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    let serving = tokio::spawn(serving);

    let config = controller::Config {
        namespace: args.namespace.clone(),
        instance: Some(args.identity()),
        consul_wait: Duration::from_secs(args.consul_watch_wait_seconds),
    };
    let consul = Arc::new(consul.observed_by(metrics.clone()));
    let ctx = Context::new(client.clone(), consul, metrics, &config);
    let result = if args.leader_elect {
        lead_then_run(client, ctx, config, health.clone(), &args, stop.clone()).await
    } else {
        health.set_leader_state(LeaderState::Disabled);
        controller::run(ctx, config, health.clone(), cancelled(stop.clone())).await;
        Ok(())
    };
    health.set_shutting_down();
    stop.cancel();
    let _ = serving.await;
    tracing::info!("stopped");
    result
}

/// Waits for the lease, runs the controllers while holding it, and releases it on stop. Losing
/// the lease stops the controllers and ends with an error, so the pod restarts as a standby.
async fn lead_then_run(
    client: kube::Client,
    ctx: Arc<Context>,
    config: controller::Config,
    health: Health,
    args: &RunArgs,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let namespace = args
        .lease_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let duration = args.lease_duration_seconds.max(2);
    let identity = args.identity();
    let watch_lease = || async {
        let manager = LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(namespace.as_str())
            .with_identity(identity.clone())
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            .build()
            .await
            .context("leader election")?;
        anyhow::Ok(manager.watch().await)
    };
    let (mut leading, mut lease_task) = watch_lease().await?;
    health.set_leader_state(LeaderState::Standby);
    tracing::info!(lease = %args.lease_name, %namespace, "waiting for the leader lease");
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let acquired = loop {
        tokio::select! {
            _ = stop.cancelled() => break false,
            acquired = async { leading.wait_for(|is_leader| *is_leader).await.is_ok() } => {
                break acquired;
            }
            // The lease manager reads the Lease again only when the term it last saw ends, so a
            // Lease released by a leader that stopped gracefully would stay free until then.
            // Start over at once instead (a standby holds nothing, so nothing is released).
            () = lease_freed(&leases, &args.lease_name) => {
                lease_task.abort();
                (leading, lease_task) = watch_lease().await?;
            }
        }
    };
    let mut lost = false;
    if acquired {
        health.set_leader_state(LeaderState::Leading);
        tracing::info!("acquired the leader lease; reconciling");
        let controllers_stop = CancellationToken::new();
        let run = controller::run(
            ctx,
            config,
            health.clone(),
            cancelled(controllers_stop.clone()),
        );
        tokio::pin!(run);
        let lost_lease = tokio::select! {
            _ = &mut run => None,
            _ = stop.cancelled() => Some(false),
            _ = leading.wait_for(|is_leader| !*is_leader) => Some(true),
        };
        if let Some(lost_lease) = lost_lease {
            if lost_lease {
                tracing::error!("lost the leader lease; stopping");
            }
            lost = lost_lease;
            controllers_stop.cancel();
            run.await;
        }
    }
    // Dropping the receiver makes the lease task release the lease and end.
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(10), lease_task).await {
        Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the leader lease failed"),
        _ => tracing::warn!("releasing the leader lease did not finish"),
    }
    if lost {
        anyhow::bail!("lost the leader lease");
    }
    Ok(())
}

/// Completes once the Lease exists without a holder; looks every second. A failed read counts
/// as not free: the lease manager reports real trouble.
async fn lease_freed(leases: &Api<Lease>, name: &str) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok(Some(lease)) = leases.get_opt(name).await
            && lease
                .spec
                .and_then(|s| s.holder_identity)
                .is_none_or(|holder| holder.is_empty())
        {
            return;
        }
    }
}

async fn cancelled(stop: CancellationToken) {
    stop.cancelled().await
}

/// Cancels `stop` on SIGTERM or Ctrl-C.
pub async fn stop_on_signal(stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                stop.cancel();
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    stop.cancel();
}
