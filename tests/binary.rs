//! The operator binary as it runs in production, as processes against the emulated API server
//! and Consul: leader election between two replicas (take-over after a crash and after a
//! graceful stop; a leader that loses its Lease stops), SIGTERM winning over every wait within
//! its bound (a reconcile in flight, an unreachable API server, leader election, a hanging
//! Consul long-poll), real figures on /metrics with /healthz and /readyz, and logs (JSON with a
//! flag, never a token, no colours in a file).

use support::process;

use std::time::{Duration, Instant};

use consul_peering_operator::consul::DecodedToken;
use consul_peering_operator::crd::{PeeringAcceptor, PeeringDialer};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use process::{
    Operator, TIMEOUT, World, create_acceptor, create_dialer, free_local_addr, get_json,
    lease_holder, secret_value, token_secret_from, unrestricted, wait_for, wait_ready,
};
use serde_json::{Value, json};

const NAMESPACE: &str = "default";
/// The `run` command's default Lease name.
const LEASE: &str = "consul-peering-operator";
/// Long enough that a take-over after a graceful stop is clearly quicker than one after a crash.
const LEASE_SECONDS: u64 = 6;
/// How long a process may take to exit after SIGTERM: the default bound
/// (`--shutdown-timeout-seconds 10`) and room for a loaded machine.
const STOP_BOUND: Duration = Duration::from_secs(15);

/// The emulator user an operator process `name` authenticates as.
fn user_of(name: &str) -> String {
    format!("operator-{name}")
}

/// A replica with leader election, identity `name`, its own emulator user.
fn replica(world: &World, name: &str) -> Operator {
    let kubeconfig = world.kubeconfig(&user_of(name), unrestricted());
    world
        .operator(name, &kubeconfig)
        .args([
            "--leader-elect",
            "--lease-namespace",
            NAMESPACE,
            "--identity",
            name,
        ])
        .args(["--lease-duration-seconds", &LEASE_SECONDS.to_string()])
        .start()
}

/// A single operator without leader election.
fn single(world: &World, name: &str) -> process::Spawn {
    let kubeconfig = world.kubeconfig(&user_of(name), unrestricted());
    world.operator(name, &kubeconfig)
}

/// An operator `name` whose kubeconfig points at a port where nothing listens: its API server
/// refuses every connection (as during a control-plane upgrade, or with a wrong address).
fn cut_off(world: &World, name: &str) -> process::Spawn {
    let kubeconfig = world.kubeconfig(&user_of(name), unrestricted());
    let text = std::fs::read_to_string(&kubeconfig).expect("read the kubeconfig");
    let refusing = format!("https://{}", free_local_addr());
    assert!(text.contains(world.kube.url()), "{text}");
    std::fs::write(&kubeconfig, text.replace(world.kube.url(), &refusing))
        .expect("write the kubeconfig");
    world.operator(name, &kubeconfig)
}

/// Waits until `/readyz` answers 503 with a body containing `text`; returns the body.
async fn wait_not_ready(operator: &Operator, text: &str) -> String {
    let what = format!("{} /readyz 503 {text:?}", operator.name);
    wait_for(&what, TIMEOUT, || async {
        match operator.get("/readyz").await {
            Some((503, _, body)) if body.contains(text) => Some(body),
            _ => None,
        }
    })
    .await
}

/// Sends SIGTERM and asserts the exit within `bound`, cleanly or not as `clean` says.
async fn terminate_within(operator: &mut Operator, bound: Duration, clean: bool) {
    operator.terminate();
    let status = operator.wait_exit(bound).await;
    let expected = if clean { Some(0) } else { Some(1) };
    assert_eq!(
        status.code(),
        expected,
        "SIGTERM: {} exited with {status}",
        operator.name
    );
}

async fn wait_holder(world: &World, expected: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let what = format!("the Lease held by {expected}");
    wait_for(&what, within, || async {
        (lease_holder(&world.client, NAMESPACE, LEASE)
            .await
            .as_deref()
            == Some(expected))
        .then_some(())
    })
    .await;
    started.elapsed()
}

/// Creates an acceptor and waits until it is Ready with its token in the Secret.
async fn reconciled_acceptor(world: &World, name: &str) -> String {
    let secret = format!("{name}-token");
    create_acceptor(&world.client, NAMESPACE, name, &secret).await;
    wait_ready::<PeeringAcceptor>(&world.client, NAMESPACE, name).await;
    secret_value(&world.client, NAMESPACE, &secret, "data")
        .await
        .expect("the acceptor's Secret holds the token")
}

/// The `reportingInstance` of every Event about `name`.
async fn reporting_instances(world: &World, name: &str) -> Vec<String> {
    Api::<Event>::namespaced(world.client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| e.reporting_instance.unwrap_or_default())
        .collect()
}

/// Writes by the standby replica must not exist; every request it made concerns the Lease.
fn assert_stood_by(world: &World, standby: &str) {
    let requests = world.requests_of(&user_of(standby));
    assert!(
        requests
            .iter()
            .all(|(_, resource, _)| resource.starts_with("leases.")),
        "the standby {standby} touched more than its Lease: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_a_standby_takes_over_after_a_crash_and_after_sigterm() {
    let world = World::start().await;
    let a = replica(&world, "a");
    let b = replica(&world, "b");
    let first_holder = wait_for("a Lease holder", TIMEOUT, || {
        lease_holder(&world.client, NAMESPACE, LEASE)
    })
    .await;
    let (mut leader, standby) = match first_holder.as_str() {
        "a" => (a, b),
        "b" => (b, a),
        other => panic!("unexpected Lease holder {other:?}"),
    };
    leader.wait_ready("leading").await;
    standby.wait_ready("standby").await;

    // Exactly one reconciles: the leader writes, the standby only watches the Lease.
    reconciled_acceptor(&world, "first").await;
    assert!(world.writes_of(&user_of(&leader.name)) > 0);
    assert_stood_by(&world, &standby.name);
    assert_eq!(world.tokens_issued(), 1);
    let instances = reporting_instances(&world, "first").await;
    assert!(!instances.is_empty(), "no Event about the acceptor");
    assert!(
        instances.iter().all(|i| *i == leader.name),
        "Events reported by {instances:?}, not only by the leader {}",
        leader.name
    );

    // A crash (SIGKILL) leaves the Lease held: the standby takes it over once it expires.
    leader.kill();
    let took = wait_holder(
        &world,
        &standby.name,
        Duration::from_secs(LEASE_SECONDS + 5),
    )
    .await;
    eprintln!("take-over after SIGKILL: {took:?} (lease {LEASE_SECONDS}s)");
    standby.wait_ready("leading").await;
    let leader = standby;
    reconciled_acceptor(&world, "second").await;
    assert!(world.writes_of(&user_of(&leader.name)) > 0);
    assert_eq!(
        world.tokens_issued(),
        2,
        "the new leader issued a token for the new acceptor only, none again for the first"
    );
    assert!(
        reporting_instances(&world, "second")
            .await
            .iter()
            .all(|i| *i == leader.name)
    );

    // SIGTERM: the leader stops, exits 0 and releases the Lease; a standby takes it at once,
    // without waiting for the term to run out.
    let c = replica(&world, "c");
    c.wait_ready("standby").await;
    let mut leader = leader;
    let stopped_at = Instant::now();
    leader.terminate();
    let status = leader.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "SIGTERM: the leader exited with {status}");
    let holder = lease_holder(&world.client, NAMESPACE, LEASE).await;
    assert!(
        holder.is_none() || holder.as_deref() == Some("c"),
        "after a graceful stop the Lease is released, not held by {holder:?}"
    );
    wait_holder(&world, "c", Duration::from_secs(LEASE_SECONDS / 2)).await;
    eprintln!(
        "take-over after SIGTERM: {:?} (lease {LEASE_SECONDS}s)",
        stopped_at.elapsed()
    );
    c.wait_ready("leading").await;
    reconciled_acceptor(&world, "third").await;
    assert!(world.writes_of(&user_of("c")) > 0);
    assert_eq!(world.tokens_issued(), 3);
    assert!(
        leader.stderr().contains("released the leader lease"),
        "{}",
        leader.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stops_reconciling_and_exits_non_zero() {
    let world = World::start().await;
    let mut leader = replica(&world, "a");
    leader.wait_ready("leading").await;
    reconciled_acceptor(&world, "before").await;

    // Another holder takes the Lease (as after a long pause of this process, or a split).
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    Api::<Lease>::namespaced(world.client.clone(), NAMESPACE)
        .patch(
            LEASE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "holderIdentity": "intruder",
                "acquireTime": now,
                "renewTime": now,
                "leaseDurationSeconds": 600,
            }})),
        )
        .await
        .expect("take the Lease over");
    let status = leader
        .wait_exit(Duration::from_secs(LEASE_SECONDS + 5))
        .await;
    assert!(
        !status.success(),
        "a leader that lost its Lease exited with {status}"
    );
    assert!(
        leader.stderr().contains("lost the leader lease"),
        "{}",
        leader.stderr()
    );
    // It does not release a Lease that is no longer its own.
    assert_eq!(
        lease_holder(&world.client, NAMESPACE, LEASE)
            .await
            .as_deref(),
        Some("intruder")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_reconcile_in_flight_finish_then_exits_0() {
    let world = World::start().await;
    let mut operator = single(&world, "solo").start();
    operator.wait_ready("caches synced").await;

    // Every Consul call takes a while: the acceptor's pass (read, token, read) is long.
    world.consul.set_delay(Some(Duration::from_millis(1500)));
    create_acceptor(&world.client, NAMESPACE, "slow", "slow-token").await;
    // The pass that generates the token begins by reading the Secret; Consul calls follow.
    wait_for("the reconcile to read the Secret", TIMEOUT, || async {
        world
            .requests_of(&user_of("solo"))
            .iter()
            .any(|(verb, resource, _)| verb == "get" && resource == "secrets")
            .then_some(())
    })
    .await;
    assert_eq!(
        world.tokens_issued(),
        0,
        "the token request is still in flight"
    );
    operator.terminate();
    let status = operator.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "SIGTERM: exited with {status}");

    // The pass finished before the exit: the token is in the Secret and the status says so.
    assert_eq!(world.tokens_issued(), 1);
    assert!(
        secret_value(&world.client, NAMESPACE, "slow-token", "data")
            .await
            .is_some(),
        "the in-flight reconcile did not write the Secret"
    );
    let acceptor = get_json::<PeeringAcceptor>(&world.client, NAMESPACE, "slow")
        .await
        .unwrap();
    assert_eq!(process::ready_status(&acceptor), Some("True"), "{acceptor}");
    assert!(
        operator.stderr().contains("stopped"),
        "{}",
        operator.stderr()
    );
}

/// The value of the sample `name{labels}` in a Prometheus exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_show_real_figures_after_a_reconcile() {
    let world = World::start().await;
    let operator = single(&world, "metered").start();
    operator.wait_ready("caches synced").await;
    let (status, _, body) = operator.get("/healthz").await.expect("/healthz answers");
    assert_eq!((status, body.as_str()), (200, "ok"));
    // Human-readable logs by default.
    let first = operator
        .stderr()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(first.contains("INFO") && !first.starts_with('{'), "{first}");

    reconciled_acceptor(&world, "metered").await;
    const P: &str = "consul_peering_operator_";
    let pending = format!("{P}peerings{{state=\"PENDING\"}}");
    let metrics = wait_for("the PENDING peering on /metrics", TIMEOUT, || async {
        let metrics = operator.metrics().await;
        (sample(&metrics, &pending) == Some(1.0)).then_some(metrics)
    })
    .await;

    let (_, content_type, _) = operator.get("/metrics").await.unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    let value = |series: &str| {
        sample(&metrics, &format!("{P}{series}"))
            .unwrap_or_else(|| panic!("no sample {P}{series} in\n{metrics}"))
    };
    let reconciles = value("reconciles_total{controller=\"acceptor\"}");
    assert!(reconciles >= 1.0, "{metrics}");
    assert_eq!(
        value("reconcile_duration_seconds_count{controller=\"acceptor\"}"),
        reconciles,
        "one duration per reconcile"
    );
    assert_eq!(value("tokens_generated_total{cause=\"created\"}"), 1.0);
    assert_eq!(value("peerings{state=\"ACTIVE\"}"), 0.0);
    assert!(
        !metrics.contains(&format!(
            "{P}reconcile_failures_total{{controller=\"acceptor\""
        )),
        "{metrics}"
    );
    // The Consul request histogram counts what the emulated Consul answered.
    assert_eq!(world.tokens_issued(), 1);
    let token_requests = sample(
        &metrics,
        &format!(
            "{P}consul_request_duration_seconds_count{{endpoint=\"peering_token\",status=\"200\"}}"
        ),
    );
    assert_eq!(
        token_requests,
        Some(1.0),
        "Consul request durations are not recorded for the token endpoint:\n{metrics}"
    );

    let (status, _, body) = operator.get("/readyz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "caches synced"));
    // Logs written to a file carry no colour codes.
    assert!(
        !operator.stderr().contains('\u{1b}'),
        "ANSI escapes in a log file: {}",
        operator.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_at_trace_level_never_show_a_token() {
    let world = World::start().await;
    let peer = consul_emulator::start(consul_emulator::Config::new("dc2"))
        .await
        .expect("dc2 starts");
    let mut operator = single(&world, "chatty")
        .args(["--log-format", "json"])
        .env("RUST_LOG", "trace")
        .start();
    operator.wait_ready("caches synced").await;

    // A token the operator generates and writes, and one it reads and establishes with.
    let generated = reconciled_acceptor(&world, "secretive").await;
    let dialed = token_secret_from(&world.client, &peer, "dc1", NAMESPACE, "dc2-token").await;
    create_dialer(&world.client, NAMESPACE, "dc2", "dc2-token").await;
    wait_ready::<PeeringDialer>(&world.client, NAMESPACE, "dc2").await;
    operator.terminate();
    assert!(operator.wait_exit(TIMEOUT).await.success());

    let stderr = operator.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() > 100,
        "trace level logs a lot: {} lines",
        lines.len()
    );
    let mut levels = std::collections::BTreeSet::new();
    for line in &lines {
        let record: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(record["timestamp"].is_string(), "{line}");
        assert!(record["target"].is_string(), "{line}");
        levels.insert(record["level"].as_str().expect("level").to_owned());
    }
    assert!(
        levels.contains("TRACE"),
        "RUST_LOG=trace is honoured: {levels:?}"
    );

    let output = format!("{}{stderr}", operator.stdout());
    for token in [&generated, &dialed] {
        let secret = DecodedToken::decode(token).expect("a peering token");
        let secret = secret.establishment_secret.expose();
        assert!(!secret.is_empty());
        // The whole token, any long piece of it, and the secret inside it.
        let middle = &token[token.len() / 2..token.len() / 2 + 24];
        for needle in [token.as_str(), middle, secret] {
            assert!(
                !output.contains(needle),
                "a token (or its secret) is in the logs: {}",
                output
                    .lines()
                    .find(|l| l.contains(needle))
                    .unwrap_or_default()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_api_server_refuses_connections_exits_0_within_the_bound() {
    let world = World::start().await;
    let mut operator = cut_off(&world, "cut-off").start();

    // Not ready, and /readyz says why: the caches wait for an API server that refuses.
    let why = wait_not_ready(&operator, "last error").await;
    assert!(
        why.starts_with("waiting for caches to sync: PeeringAcceptor, PeeringDialer, PeeringMesh")
            && why.contains("Connect"),
        "{why}"
    );
    // The log says it too, at a steady rate, besides the client's connection errors.
    wait_for(
        "the log to say what the operator waits for",
        TIMEOUT,
        || async {
            operator
                .stderr()
                .contains("waiting for caches to sync: PeeringAcceptor, PeeringDialer, PeeringMesh; last error:")
                .then_some(())
        },
    )
    .await;

    terminate_within(&mut operator, STOP_BOUND, true).await;
    assert!(
        operator.stderr().contains("stopped"),
        "{}",
        operator.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_leader_election_cannot_reach_the_api_server_exits_0_within_the_bound() {
    let world = World::start().await;
    let mut operator = cut_off(&world, "electing")
        .args(["--leader-elect", "--lease-namespace", NAMESPACE])
        .args(["--identity", "electing"])
        .start();
    let why = wait_not_ready(
        &operator,
        "waiting for leader election to start; last error",
    )
    .await;
    assert!(why.contains("Connect"), "{why}");
    terminate_within(&mut operator, STOP_BOUND, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_a_standby_waiting_for_the_lease_exits_0_and_leaves_the_lease_alone() {
    let world = World::start().await;
    // Another replica holds the Lease for a long term.
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": LEASE, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": "elsewhere",
            "acquireTime": now,
            "renewTime": now,
            "leaseDurationSeconds": 600,
        },
    }))
    .unwrap();
    Api::<Lease>::namespaced(world.client.clone(), NAMESPACE)
        .create(&Default::default(), &lease)
        .await
        .expect("create the Lease");

    let mut standby = replica(&world, "waiting");
    standby.wait_ready("standby").await;
    terminate_within(&mut standby, STOP_BOUND, true).await;
    assert_eq!(
        lease_holder(&world.client, NAMESPACE, LEASE)
            .await
            .as_deref(),
        Some("elsewhere")
    );
    assert_stood_by(&world, "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_consul_long_poll_hangs_exits_0_within_the_bound() {
    let world = World::start().await;
    let mut operator = single(&world, "patient").start();
    operator.wait_ready("caches synced").await;
    // A resource makes the operator watch Consul's peering list.
    reconciled_acceptor(&world, "watched").await;

    // From now on Consul answers nothing: the list in flight ends, the next one hangs.
    let lists = || world.consul.count("GET", "/v1/peerings");
    let answered = lists();
    world.consul.set_delay(Some(Duration::from_secs(3600)));
    wait_for("the list in flight to end", TIMEOUT, || async {
        (lists() > answered).then_some(())
    })
    .await;

    terminate_within(&mut operator, STOP_BOUND, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_abandons_a_reconcile_still_running_at_the_bound_and_exits_1() {
    let world = World::start().await;
    let mut operator = single(&world, "stuck")
        .args(["--shutdown-timeout-seconds", "2"])
        .start();
    operator.wait_ready("caches synced").await;

    // Consul answers nothing: the acceptor's pass waits on its first Consul call.
    world.consul.set_delay(Some(Duration::from_secs(3600)));
    create_acceptor(&world.client, NAMESPACE, "stuck", "stuck-token").await;
    wait_for("the reconcile to read the Secret", TIMEOUT, || async {
        world
            .requests_of(&user_of("stuck"))
            .iter()
            .any(|(verb, resource, _)| verb == "get" && resource == "secrets")
            .then_some(())
    })
    .await;

    // Well before the default bound (10 s) would end it.
    terminate_within(&mut operator, Duration::from_secs(8), false).await;
    let stderr = operator.stderr();
    assert!(
        stderr.contains("a reconcile still running 1.5 s after the stop was abandoned"),
        "{stderr}"
    );
    assert_eq!(world.tokens_issued(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_a_leader_whose_api_server_went_away_exits_1_within_the_bound() {
    let world = World::start().await;
    let mut leader = replica(&world, "stranded");
    leader.wait_ready("leading").await;
    assert_eq!(
        lease_holder(&world.client, NAMESPACE, LEASE)
            .await
            .as_deref(),
        Some("stranded")
    );

    // The API server goes away: the Lease cannot be released, it will expire by itself.
    world.kube.stop();
    terminate_within(&mut leader, STOP_BOUND, false).await;
    let stderr = leader.stderr();
    assert!(
        stderr.contains("the leader lease was not released"),
        "{stderr}"
    );
}
