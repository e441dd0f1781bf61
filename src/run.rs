//! `consul-peering-operator run`: the controllers against the current kubeconfig or the
//! in-cluster configuration, with leader election, the metrics and health endpoints, and a
//! graceful stop on SIGTERM that wins over every wait: within `--shutdown-timeout-seconds`,
//! in-flight reconciles finish and the lease is released (exit 0), or what is left is
//! abandoned (exit 1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::consul_args::ConsulArgs;
use crate::consul::ConsulConfig;
use crate::controller::{self, ConsulClients, Context};
use crate::telemetry::health::with_causes;
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

    /// How long a stop (SIGTERM) may take: reconciles in flight get up to three quarters of it
    /// to finish, the release of the leader lease the rest. What is still running then is
    /// abandoned and the exit code is 1.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout_seconds: u64,

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
            shutdown_timeout_seconds: 10,
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

    fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }

    /// How long reconciles in flight may run on after a stop.
    fn drain_timeout(&self) -> Duration {
        self.shutdown_timeout() * 3 / 4
    }

    /// How long the release of the leader lease may take after the drain (a margin remains).
    fn release_timeout(&self) -> Duration {
        self.shutdown_timeout() / 5
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
/// Used by `run`, by the playground and by the tests. Ends at most `--shutdown-timeout-seconds`
/// after `stop`: `Ok` when everything stopped cleanly, an error naming what was abandoned.
pub async fn run_with(
    client: kube::Client,
    consul: ConsulClients,
    args: RunArgs,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let health = Health::default();
    let (bound, serving) = server::bind(
        args.listen_addr,
        metrics.clone(),
        health.clone(),
        cancelled(stop.clone()),
    )
    .await
    .with_context(|| format!("listening on {}", args.listen_addr))?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    let mut serving = tokio::spawn(serving);

    let config = controller::Config {
        namespace: args.namespace.clone(),
        instance: Some(args.identity()),
        consul_wait: Duration::from_secs(args.consul_watch_wait_seconds),
    };
    let consul = Arc::new(consul.observed_by(metrics.clone()));
    let ctx = Context::new(client.clone(), consul, metrics, &config);
    let work = async {
        if args.leader_elect {
            lead_then_run(client, ctx, config, health.clone(), &args, stop.clone()).await
        } else {
            health.set_leader_state(LeaderState::Disabled);
            run_controllers(
                ctx,
                config,
                health.clone(),
                stop.clone(),
                args.drain_timeout(),
            )
            .await
        }
    };
    let timeout = args.shutdown_timeout();
    let result = tokio::select! {
        result = work => result,
        () = health.report_waiting() => unreachable!("reporting never ends"),
        () = shutdown_deadline(&stop, &health, timeout) => Err(anyhow::anyhow!(
            "not stopped {} s after the stop request: abandoned what was still running",
            timeout.as_secs()
        )),
    };
    health.set_shutting_down();
    stop.cancel();
    // The endpoints answer at once; a client keeping its connection open must not hold the exit.
    if tokio::time::timeout(Duration::from_secs(1), &mut serving)
        .await
        .is_err()
    {
        serving.abort();
    }
    match &result {
        Ok(()) => tracing::info!("stopped"),
        Err(e) => tracing::error!(error = %format!("{e:#}"), "stopped"),
    }
    result
}

/// Completes `timeout` after `stop`, which it reports as shutting down at once.
async fn shutdown_deadline(stop: &CancellationToken, health: &Health, timeout: Duration) {
    stop.cancelled().await;
    health.set_shutting_down();
    tokio::time::sleep(timeout).await;
}

/// The controllers until `until` is cancelled, then until their reconciles in flight end, for
/// at most `drain`: an error says a reconcile was abandoned (aborted where it waited).
async fn run_controllers(
    ctx: Arc<Context>,
    config: controller::Config,
    health: Health,
    until: CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    let run = controller::run(ctx, config, health, cancelled(until.clone()));
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => return Ok(()),
        () = until.cancelled() => {}
    }
    tokio::time::timeout(drain, run).await.map_err(|_| {
        anyhow::anyhow!(
            "a reconcile still running {:.1} s after the stop was abandoned",
            drain.as_secs_f64()
        )
    })
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
    let election = Election::new(&client, args);
    health.set_leader_state(LeaderState::Electing);
    let Some((mut leading, mut lease_task)) = election.start(&health, &stop).await else {
        return Ok(());
    };
    tracing::info!(lease = %args.lease_name, namespace = %election.namespace, "waiting for the leader lease");
    let leases: Api<Lease> = Api::namespaced(client.clone(), &election.namespace);
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
                match election.start(&health, &stop).await {
                    Some(started) => (leading, lease_task) = started,
                    None => return Ok(()),
                }
            }
        }
    };
    let mut result = Ok(());
    if acquired {
        health.set_leader_state(LeaderState::Leading);
        tracing::info!("acquired the leader lease; reconciling");
        let until = stop.child_token();
        let run = run_controllers(
            ctx,
            config,
            health.clone(),
            until.clone(),
            args.drain_timeout(),
        );
        tokio::pin!(run);
        tokio::select! {
            drained = &mut run => result = drained,
            () = async { drop(leading.wait_for(|is_leader| !*is_leader).await) } => {
                tracing::error!("lost the leader lease; stopping");
                until.cancel();
                let _ = run.await;
                result = Err(anyhow::anyhow!("lost the leader lease"));
            }
        }
    }
    let released = release_lease(leading, lease_task, args.release_timeout()).await;
    result.and(released)
}

/// How this replica takes part in leader election.
struct Election<'a> {
    client: &'a kube::Client,
    args: &'a RunArgs,
    namespace: String,
    identity: String,
}

impl<'a> Election<'a> {
    fn new(client: &'a kube::Client, args: &'a RunArgs) -> Self {
        Election {
            client,
            args,
            namespace: args
                .lease_namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_owned()),
            identity: args.identity(),
        }
    }

    /// Starts the lease manager (it reads or creates the Lease first), retrying with a backoff
    /// while the API server does not answer (not ready meanwhile: this replica could not take
    /// over), then stands by. `None` when stopped first.
    async fn start(&self, health: &Health, stop: &CancellationToken) -> Option<LeaseWatch> {
        let mut failures = 0;
        loop {
            let built = tokio::select! {
                () = stop.cancelled() => return None,
                built = self.build() => built,
            };
            let error = match built {
                Ok(manager) => {
                    health.set_leader_state(LeaderState::Standby);
                    return Some(manager.watch().await);
                }
                Err(error) => error,
            };
            failures += 1;
            health.set_leader_state(LeaderState::Electing);
            health.api_failed(&error);
            let error = with_causes(&error);
            if failures == 1 {
                tracing::warn!(%error, "leader election cannot start; retrying");
            } else {
                tracing::debug!(%error, failures, "leader election cannot start; retrying");
            }
            let retry = controller::error::backoff(failures).min(Duration::from_secs(30));
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(retry) => {}
            }
        }
    }

    async fn build(&self) -> Result<LeaseManager, LeaseManagerError> {
        let duration = self.args.lease_duration_seconds.max(2);
        LeaseManagerBuilder::new(self.client.clone(), &self.args.lease_name)
            .with_namespace(self.namespace.as_str())
            .with_identity(self.identity.clone())
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            .build()
            .await
    }
}

/// Whether this replica holds the lease, and the lease manager's task.
type LeaseWatch = (
    watch::Receiver<bool>,
    JoinHandle<Result<LeaseManager, LeaseManagerError>>,
);

/// Ends the lease task: dropping the receiver makes it release the Lease if this replica holds
/// it. An error when a held Lease could not be released within `within` (it then expires
/// after its duration); a standby's failure to end cleanly holds nothing up.
async fn release_lease(
    leading: watch::Receiver<bool>,
    mut task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
    within: Duration,
) -> anyhow::Result<()> {
    let held = *leading.borrow();
    drop(leading);
    let ended = tokio::time::timeout(within, &mut task).await;
    task.abort();
    let failure = match ended {
        Ok(Ok(Ok(_))) => {
            if held {
                tracing::info!("released the leader lease");
            }
            return Ok(());
        }
        Ok(Ok(Err(e))) => with_causes(&e),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {:.1} s", within.as_secs_f64()),
    };
    if !held {
        tracing::debug!(error = %failure, "the lease manager of a standby did not end cleanly");
        return Ok(());
    }
    tracing::warn!(error = %failure, "releasing the leader lease failed");
    anyhow::bail!("the leader lease was not released ({failure}); it expires by itself")
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

/// Cancels `stop` on SIGTERM or Ctrl-C; a second one ends the process at once (exit 1).
pub async fn stop_on_signal(stop: CancellationToken) {
    let Some(signal) = next_signal().await else {
        return;
    };
    tracing::info!("{signal}: stopping");
    stop.cancel();
    if let Some(signal) = next_signal().await {
        tracing::warn!("{signal} again: exiting at once");
        std::process::exit(1);
    }
}

/// The next SIGTERM or Ctrl-C (SIGINT), by name; `None` when no signal can be received.
async fn next_signal() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => Some("SIGTERM"),
                _ = tokio::signal::ctrl_c() => Some("interrupted"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                tokio::signal::ctrl_c().await.ok().map(|()| "interrupted")
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|()| "interrupted")
    }
}
