//! `consul-peering-operator bench`: how fast, lean and quiet the operator is, measured against
//! the floor in one run (issue #9). The emulated clusters and Consuls run in this process (the
//! playground without operators); the operator under test is this binary's `run` in a process
//! of its own, so its memory and CPU are its own. Prints a table with each target beside its
//! figure and writes the JSON any script can check.
//!
//! Built only with the `playground` feature, like the emulators it drives.

mod arrivals;
mod burst;
mod latency;
mod operator_process;
mod propagation;
mod report;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::core::v1::Secret;

use crate::telemetry::logging::{self, LogFormat};
use operator_process::OperatorProcess;
use report::{Machine, Percentiles, Propagation, Quiet, Results, Rss, RunInfo, round};
use world::{World, sum_of, unrelated_secret};

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Acceptors in the large burst (the targets are for 10,000).
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Acceptors in the small burst (the targets are for 1,000).
    #[arg(long, default_value_t = 1_000)]
    pub small_n: usize,
    /// Acceptors created one at a time for the latency and the floor.
    #[arg(long, default_value_t = 200)]
    pub latency_samples: usize,
    /// Events of each propagation figure.
    #[arg(long, default_value_t = 100)]
    pub propagation_samples: usize,
    /// Unrelated 1 KiB Secrets for the memory figure.
    #[arg(long, default_value_t = 50_000)]
    pub unrelated_secrets: usize,
    /// How long nothing changes for the quiet figure.
    #[arg(long, default_value_t = 60)]
    pub quiet_seconds: u64,
    /// The operator's `--consul-watch-wait-seconds` (its default is 10): the quiet figure and
    /// how soon states Consul derives from its streams reach status depend on it.
    #[arg(long, default_value_t = 10)]
    pub consul_watch_wait_seconds: u64,
    /// Where the JSON goes.
    #[arg(long, default_value = "target/bench/operator.json")]
    pub output: PathBuf,
    /// The operator binary to measure (default: this one).
    #[arg(long)]
    pub operator: Option<PathBuf>,
}

/// The `bench` command.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    logging::init_with_default(LogFormat::Text, "warn");
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("consul-peering-bench-{}", std::process::id()));
    let world = World::start(&dir).await?;
    let results = measure(&args, &world, &dir, started).await?;
    println!("{}", results.table());
    if let Some(parent) = args.output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.output, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn progress(started: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

/// What the first operator process showed, from its start to the unrelated Secrets.
struct FirstRun {
    idle_mib: f64,
    through: Vec<f64>,
    bursts: Vec<burst::Burst>,
    large_mib: f64,
    quiet: Quiet,
    quiet_calls: std::collections::BTreeMap<String, u64>,
    unrelated_mib: f64,
}

/// Every phase, in an order where each leaves what the next needs.
async fn measure(
    args: &BenchArgs,
    world: &World,
    dir: &std::path::Path,
    started: Instant,
) -> anyhow::Result<Results> {
    let binary = match &args.operator {
        Some(path) => path.clone(),
        None => std::env::current_exe()?,
    };
    let kubeconfig = world.operator_kubeconfig("dc1").await?;
    progress(started, "floor: a bare client, serially");
    let floor = latency::floor(world, "floor", args.latency_samples).await?;

    progress(started, "starting the operator");
    let log = dir.join("operator-dc1.log");
    let consul_address = world.dc("dc1").consul_address.clone();
    let wait = args.consul_watch_wait_seconds;
    let mut operator = OperatorProcess::spawn(&binary, &kubeconfig, &consul_address, &log, wait)?;
    operator.wait_ready(Duration::from_secs(60)).await?;
    let first = first_run(args, world, &operator, started).await?;

    progress(started, "startup over the existing acceptors");
    operator.stop().await?;
    let acceptors = (args.small_n + args.n + args.latency_samples) as u64;
    let (operator, startup) =
        burst::startup(world, &binary, &kubeconfig, &log, acceptors, wait).await?;
    let (propagation, percentiles) = propagation(args, world, &binary, dir, started).await?;
    operator.stop().await?;

    let latency = Percentiles::of(&first.through);
    let floor = Percentiles::of(&floor);
    Ok(Results {
        machine: Machine::this(),
        ratio_p50: round(latency.p50 / floor.p50.max(f64::MIN_POSITIVE), 2),
        create_to_secret_ms: latency,
        floor_ms: floor,
        burst: first.bursts,
        rss_mib: Rss {
            idle: round(first.idle_mib, 1),
            n10000: round(first.large_mib, 1),
            n10000_plus_50000_unrelated_secrets: round(first.unrelated_mib, 1),
        },
        quiet_60s: first.quiet,
        propagation_ms: propagation,
        startup_s_with_10000: round(startup.startup_s, 3),
        startup_token_calls: startup.token_calls,
        startup_k8s_writes: sum_of(&startup.k8s_writes, ""),
        run: RunInfo {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            latency_samples: args.latency_samples,
            propagation_samples: args.propagation_samples,
            unrelated_secrets: args.unrelated_secrets,
            quiet_seconds: args.quiet_seconds,
            consul_watch_wait_s: wait,
            acceptors_at_startup: acceptors,
            startup,
            quiet_consul_calls: first.quiet_calls,
            propagation_p50_ms: percentiles.p50,
            propagation_p99_ms: percentiles.p99,
            seconds: round(started.elapsed().as_secs_f64(), 1),
        },
    })
}

/// Idle memory, latency, the bursts, quiet and the unrelated Secrets, with one operator.
async fn first_run(
    args: &BenchArgs,
    world: &World,
    operator: &OperatorProcess,
    started: Instant,
) -> anyhow::Result<FirstRun> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_mib = operator.memory()?.rss_mib;
    progress(started, "latency: sequential creates");
    let through = latency::through_operator(world, "latency", args.latency_samples).await?;
    let mut bursts = Vec::new();
    for (namespace, n) in [("small", args.small_n), ("large", args.n)] {
        progress(started, &format!("burst of {n}"));
        bursts.push(burst::burst(world, operator, namespace, n).await?);
    }
    let large_mib = operator.memory()?.rss_mib;
    progress(started, "quiet");
    let (quiet, quiet_calls) = quiet(world, operator, args.quiet_seconds).await?;
    let unrelated = args.unrelated_secrets;
    progress(started, &format!("{unrelated} unrelated Secrets"));
    let unrelated_mib = with_unrelated_secrets(world, operator, unrelated).await?;
    Ok(FirstRun {
        idle_mib,
        through,
        bursts,
        large_mib,
        quiet,
        quiet_calls,
        unrelated_mib,
    })
}

/// Nothing changes for `seconds`: what the operator asks of the API server and Consul.
async fn quiet(
    world: &World,
    operator: &OperatorProcess,
    seconds: u64,
) -> anyhow::Result<(Quiet, std::collections::BTreeMap<String, u64>)> {
    world.reset_counters("dc1")?;
    let cpu = operator.cpu_seconds()?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let calls = world.consul_calls("dc1")?;
    let quiet = Quiet {
        k8s_writes: sum_of(&world.operator_writes("dc1"), ""),
        consul_token_calls: sum_of(&calls, "POST /v1/peering/token"),
        consul_establish_calls: sum_of(&calls, "POST /v1/peering/establish"),
        consul_reads: sum_of(&calls, "GET "),
        operator_cpu_s: round(operator.cpu_seconds()? - cpu, 2),
    };
    Ok((quiet, calls))
}

/// Creates `count` unrelated 1 KiB Secrets; the operator's RSS once they are in.
async fn with_unrelated_secrets(
    world: &World,
    operator: &OperatorProcess,
    count: usize,
) -> anyhow::Result<f64> {
    world.create_namespace("dc1", "unrelated").await?;
    let secrets = (0..count)
        .map(|i| unrelated_secret("unrelated", &format!("unrelated-{i}")))
        .collect();
    world
        .create_parallel::<Secret>("dc1", "unrelated", secrets)
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(operator.memory()?.rss_mib)
}

/// The propagation figures, with dc2's operator running for the dialers.
async fn propagation(
    args: &BenchArgs,
    world: &World,
    binary: &std::path::Path,
    dir: &std::path::Path,
    started: Instant,
) -> anyhow::Result<(Propagation, PropagationPercentiles)> {
    let kubeconfig = world.operator_kubeconfig("dc2").await?;
    let consul_address = world.dc("dc2").consul_address.clone();
    let log = dir.join("operator-dc2.log");
    let mut dc2 = OperatorProcess::spawn(
        binary,
        &kubeconfig,
        &consul_address,
        &log,
        args.consul_watch_wait_seconds,
    )?;
    dc2.wait_ready(Duration::from_secs(60)).await?;
    let samples = args.propagation_samples;
    progress(started, "propagation: establish → ACTIVE");
    let established = propagation::establish(world, "prop", samples).await?;
    progress(started, "propagation: stream FAILING");
    let failing = propagation::failing(world, "prop", &established.names).await?;
    progress(started, "propagation: peerings deleted in Consul");
    let deleted: Vec<String> = (0..samples.min(args.n))
        .map(|i| format!("large-{i}"))
        .collect();
    let stored = propagation::stored_change(world, "large", &deleted).await?;
    dc2.stop().await?;
    let figures = [
        ("stored_change", &stored),
        ("established_to_active", &established.both_sides),
        ("established_to_dialer_active", &established.dialer),
        ("failing", &failing),
    ];
    let percentiles = PropagationPercentiles {
        p50: figures
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Percentiles::of(v).p50))
            .collect(),
        p99: figures
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Percentiles::of(v).p99))
            .collect(),
    };
    Ok((
        Propagation {
            stored_change_p99: Percentiles::of(&stored).p99,
            established_to_active_p99: Percentiles::of(&established.both_sides).p99,
            failing_p99: Percentiles::of(&failing).p99,
        },
        percentiles,
    ))
}

/// Every propagation figure's p50 and p99 (ms), for the run's record: the dialer's own side of
/// an establish among them.
struct PropagationPercentiles {
    p50: std::collections::BTreeMap<String, f64>,
    p99: std::collections::BTreeMap<String, f64>,
}
