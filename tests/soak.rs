//! The soak (issue 10, item 5): acceptors and dialers in both directions across two
//! datacenters, random faults from the playground's fault switch for a while, with rotations
//! meanwhile; then quiet: every resource Ready and ACTIVE, and every invariant of
//! [`support::invariants::check`] holds.
//!
//! `cargo test --workspace` runs it for 60 s with 150 acceptors and 150 dialers (75 each way).
//! The full soak — 300 and 300 for 10 minutes — is:
//!
//! ```sh
//! SOAK_SECONDS=600 SOAK_PAIRS=150 cargo test --test soak -- --nocapture
//! ```
//!
//! `SOAK_PAIRS` is the number of acceptor–dialer pairs each way; `SOAK_SEED` replays a run
//! (the seed is printed). The figures (tokens issued against those caused, faults, failed
//! reconciles, time to recover) are printed at the end.
//!
//! A `consul-down` that cuts an establish between the secret exchange and its final write
//! spends the token while both peerings stay PENDING; the dialing side then reports the refusal
//! on the delivered copy and the accepting side issues a new token (cause `peer-refused`).
//! Those tokens count as caused, as many as the operators say, but never more than Consul
//! refused establishes.

use std::time::{Duration, Instant};

use consul_peering_operator::crd::{ConditionStatus, PeeringAcceptor, PeeringDialer, reason};
use consul_peering_operator::playground::create_kubeconfig_secret;
use consul_peering_operator::playground::fault::{FaultKind, Target};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::invariants::{TokenSearch, check};
use support::two_clusters::*;

/// The faults the soak draws from: every kind of the fault switch.
const FAULTS: [FaultKind; 7] = [
    FaultKind::ConsulDown,
    FaultKind::Consul500,
    FaultKind::ConsulSlow,
    FaultKind::Kube429,
    FaultKind::KubeConflict,
    FaultKind::KubeWatchDrop,
    FaultKind::KubeExpired,
];

/// How often a long soak checks and drops the log captured so far (the rest is checked at
/// the end): its trace log is about 50 MB a minute.
const LOG_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Checks the log captured so far for every token issued so far (a token cannot be in the
/// log before it is issued), then drops it; returns its size.
fn check_log_so_far(tc: &TwoClusters) -> usize {
    let log = tc.logs.take();
    let issued: Vec<String> = [&tc.dc1, &tc.dc2]
        .iter()
        .flat_map(|dc| dc.consul.issued_tokens())
        .map(|t| t.token)
        .collect();
    TokenSearch::new(&issued).assert_absent(&log, "the operators' trace log");
    log.len()
}

/// How long every resource may take to be Ready again once the faults end: the operator's
/// longest retry backoff (a minute) and 30 s more. A dialer whose peer's Consul was down
/// learns that it is back only by trying again, so one whose failures ran up its backoff
/// waits it out; the figure printed says how long recovery took.
const RECOVERY: Duration = Duration::from_secs(90);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// xorshift64*: enough randomness to vary a soak, and a seed to replay it.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
    }
}

fn target(dc: &Dc) -> Target {
    Target {
        kube: dc.kube.clone(),
        consul: Some(dc.consul.fault_switch()),
    }
}

/// The acceptor names in `from` (peers of the other datacenter) and the dialer names in the
/// other datacenter, pair by pair.
fn names(from: &str, to: &str, i: u64) -> (String, String, String) {
    (
        format!("to-{to}-{i}"),
        format!("from-{from}-{i}"),
        format!("token-{from}-{to}-{i}"),
    )
}

/// `pairs` acceptors in `from`, delivering to `to`, and their dialers in `to`.
async fn create_pairs(from: &Dc, to: &Dc, pairs: u64) {
    let kubeconfig = format!("{}-kubeconfig", to.name);
    create_kubeconfig_secret(&from.client(), &kubeconfig, &to.kube.kubeconfig())
        .await
        .expect("kubeconfig Secret");
    for i in 0..pairs {
        let (acceptor_name, dialer_name, secret) = names(from.name, to.name, i);
        apply(
            &from.acceptors(),
            &acceptor(&acceptor_name, &secret, Some(delivery_to(&kubeconfig))),
        )
        .await;
        apply(&to.dialers(), &dialer(&dialer_name, &secret)).await;
    }
}

/// Raises an acceptor's rotation annotation, again until the write lands (faults may refuse
/// it); returns whether it landed.
async fn rotate_through_faults(dc: &Dc, name: &str, version: u64) -> bool {
    let patch = json!({"metadata": {"annotations": {
        "consulpeering.io/peering-version": version.to_string()}}});
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let sent = dc
            .acceptors()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
        if sent.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

fn acceptor_done(a: &PeeringAcceptor) -> bool {
    acceptor_state(a) == Some("ACTIVE")
        && is(acceptor_ready(a), ConditionStatus::True, reason::ACTIVE)
        && a.status.as_ref().is_some_and(|s| {
            !s.delivery.is_empty()
                && s.delivery.iter().all(|d| {
                    consul_peering_operator::crd::find_condition(
                        &d.conditions,
                        consul_peering_operator::crd::CONDITION_DELIVERED,
                    )
                    .is_some_and(|c| c.status == ConditionStatus::True)
                })
        })
}

fn dialer_done(d: &PeeringDialer) -> bool {
    dialer_state(d) == Some("ACTIVE") && is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE)
}

/// How many resources are not yet Ready and ACTIVE, and one of them to name.
async fn not_done(tc: &TwoClusters) -> (usize, Option<String>) {
    let mut left = Vec::new();
    for dc in [&tc.dc1, &tc.dc2] {
        let acceptors: Api<PeeringAcceptor> = dc.acceptors();
        for a in acceptors.list(&ListParams::default()).await.expect("list") {
            if !acceptor_done(&a) {
                left.push(format!(
                    "{} acceptor {}: {:?}",
                    dc.name,
                    a.name_any(),
                    a.status
                ));
            }
        }
        for d in dc
            .dialers()
            .list(&ListParams::default())
            .await
            .expect("list")
        {
            if !dialer_done(&d) {
                left.push(format!(
                    "{} dialer {}: {:?}",
                    dc.name,
                    d.name_any(),
                    d.status
                ));
            }
        }
    }
    (left.len(), left.into_iter().next())
}

/// Waits until every resource is Ready and ACTIVE; returns how long it took.
async fn wait_all_done(tc: &TwoClusters) -> Duration {
    let started = Instant::now();
    loop {
        let (left, example) = not_done(tc).await;
        if left == 0 {
            return started.elapsed();
        }
        if started.elapsed() > RECOVERY {
            let mut consuls = Vec::new();
            for dc in [&tc.dc1, &tc.dc2] {
                let url = format!("{}/v1/peerings", dc.consul.url());
                let answer = reqwest::get(&url).await.map(|r| r.status());
                consuls.push(format!("{} Consul answers {answer:?}", dc.name));
            }
            let ended: Vec<_> = [&tc.dc1, &tc.dc2]
                .iter()
                .map(|dc| (dc.name, tc.operator_ended(dc.name)))
                .collect();
            let log = tc.logs.text();
            let saved = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak-failure.log");
            let _ = std::fs::write(&saved, &log);
            let watcher: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("peerings") && !l.contains("TRACE"))
                .collect();
            let watcher = watcher[watcher.len().saturating_sub(20)..].join("\n");
            panic!(
                "{left} resources not Ready and ACTIVE {RECOVERY:?} after the faults ended \
                 ({consuls:?}; operators ended: {ended:?}), e.g. {example:?}; the log since the \
                 last check is in {}; its last lines about the peering lists:\n{watcher}",
                saved.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The sum over both operators of the samples that start with `series` (a family, or a
/// family with its labels) in their metrics.
async fn metric_sum_of(tc: &TwoClusters, series: &str) -> u64 {
    let mut sum = 0.0;
    for dc in [&tc.dc1, &tc.dc2] {
        let text = reqwest::get(format!("http://{}/metrics", dc.metrics))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        sum += text
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    sum as u64
}

/// How many establishes either Consul answered with an error.
fn refused_establishes(tc: &TwoClusters) -> u64 {
    [&tc.dc1, &tc.dc2]
        .iter()
        .flat_map(|dc| dc.consul.counters())
        .filter(|c| c.endpoint == "/v1/peering/establish" && c.status >= 400)
        .map(|c| c.count)
        .sum()
}

/// On the current-thread runtime, as every two-cluster test, so that the operators log into
/// the test's capture.
#[tokio::test]
async fn soak_under_random_faults() {
    let seconds = env_number("SOAK_SECONDS", 60);
    let pairs = env_number("SOAK_PAIRS", 75);
    let seed = env_number(
        "SOAK_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1,
    );
    println!("soak: {seconds} s, {pairs} pairs each way, SOAK_SEED={seed}");
    let mut random = Random(seed);
    let tc = TwoClusters::start().await;
    create_pairs(&tc.dc1, &tc.dc2, pairs).await;
    create_pairs(&tc.dc2, &tc.dc1, pairs).await;

    let mut caused = 2 * pairs as usize;
    let mut faults_set = 0;
    let mut rotations: std::collections::BTreeMap<(usize, u64), u64> = Default::default();
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut log_checked = Instant::now();
    let mut log_bytes = 0;
    while Instant::now() < end {
        if log_checked.elapsed() > LOG_CHECK_EVERY {
            log_bytes += check_log_so_far(&tc);
            log_checked = Instant::now();
        }
        let dc = [&tc.dc1, &tc.dc2][random.next(2) as usize];
        let kind = FAULTS[random.next(FAULTS.len() as u64) as usize];
        let lasting = Duration::from_millis(1000 + random.next(5000));
        kind.apply(&target(dc), Some(lasting)).expect("fault set");
        faults_set += 1;
        // A rotation of a random acceptor now and then: one more token caused.
        if random.next(3) == 0 {
            let side = random.next(2) as usize;
            let (from, to) = [(&tc.dc1, &tc.dc2), (&tc.dc2, &tc.dc1)][side];
            let i = random.next(pairs);
            let version = rotations.entry((side, i)).or_default();
            *version += 1;
            let (name, _, _) = names(from.name, to.name, i);
            if rotate_through_faults(from, &name, *version).await {
                caused += 1;
            } else {
                *version -= 1;
            }
        }
        tokio::time::sleep(lasting + Duration::from_millis(random.next(1500))).await;
    }
    for dc in [&tc.dc1, &tc.dc2] {
        FaultKind::Clear.apply(&target(dc), None).expect("cleared");
    }
    let recovery = wait_all_done(&tc).await;
    let refused = refused_establishes(&tc);
    let reissued = metric_sum_of(
        &tc,
        "consul_peering_operator_tokens_generated_total{cause=\"peer-refused\"}",
    )
    .await;
    assert!(
        reissued <= refused,
        "{reissued} tokens replaced as refused, but Consul refused only {refused} establishes"
    );
    caused += reissued as usize;
    let checked = Instant::now();
    check(&tc, caused, &[]).await;
    let issued: usize = [&tc.dc1, &tc.dc2]
        .iter()
        .map(|dc| dc.consul.issued_tokens().len())
        .sum();
    let failures = metric_sum_of(&tc, "consul_peering_operator_reconcile_failures_total").await;
    println!(
        "soak figures: {faults_set} faults over {seconds} s; tokens issued {issued}, caused {caused} \
         ({} acceptors, {} rotations, {reissued} replacing spent tokens of {refused} establishes \
         Consul refused); failed reconciles {failures}; every resource Ready {:.1} s \
         after the faults ended; at rest and checked in {:.1} s; trace log {} MB",
        2 * pairs,
        caused - 2 * pairs as usize - reissued as usize,
        recovery.as_secs_f64(),
        checked.elapsed().as_secs_f64(),
        (log_bytes + tc.logs.text().len()) / 1_000_000
    );
}
