//! Crash scenarios (issue 10): an operator killed right after each step of a reconcile and
//! started again, then every invariant checked by [`support::invariants::check`].
//!
//! The kill is the in-process equivalent of SIGKILL: the operator's task is aborted where it
//! waits, so nothing of it runs afterwards (no drain, no status written on the way out). It
//! comes as soon as the emulator has counted the step's request, before the operator reads the
//! answer; the new operator must finish the job from what the clusters and Consul hold. Last,
//! two replicas with leader election, the leader killed mid-reconcile.

use std::net::SocketAddr;
use std::time::Instant;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::config::Kubeconfig;
use support::invariants::check;
use support::two_clusters::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A step of the main job after which an operator is killed.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// dc1's operator asked its Consul for the acceptor's token.
    TokenPost,
    /// dc1's operator applied the acceptor's token Secret.
    SecretApply,
    /// dc1's operator patched the acceptor's status.
    StatusPatch,
    /// dc1's operator applied the copy of the token Secret in dc2.
    Delivery,
    /// dc2's operator established the dialer's peering with the delivered token.
    Establish,
    /// dc1's operator removed its finalizer from the deleted acceptor.
    FinalizerRemoval,
}

impl Step {
    /// The datacenter whose operator takes the step.
    fn operator(self) -> &'static str {
        match self {
            Step::Establish => "dc2",
            _ => "dc1",
        }
    }

    /// How many of the step's requests the emulators have received so far.
    fn requests(self, tc: &TwoClusters) -> u64 {
        let acceptors = "peeringacceptors.consulpeering.io";
        match self {
            Step::TokenPost => tc.dc1.token_calls(),
            Step::SecretApply => tc.dc1.kube.count("patch", "secrets"),
            Step::StatusPatch => tc.dc1.kube.count("patch", &format!("{acceptors}/status")),
            Step::Delivery => tc.dc2.kube.count("patch", "secrets"),
            Step::Establish => tc.dc2.establish_calls(),
            Step::FinalizerRemoval => tc.dc1.kube.count("patch", acceptors),
        }
    }
}

/// Waits until the step's request count passes `before`. The count is looked at on every turn
/// of the runtime (the operators run on the test's thread), so that a kill right after comes
/// before the operator reads the answer: a 1 ms timer let it read Consul's token and send the
/// Secret first.
async fn wait_step(tc: &TwoClusters, step: Step, before: u64) {
    let deadline = Instant::now() + TIMEOUT;
    while step.requests(tc) == before {
        assert!(Instant::now() < deadline, "{step:?} never happened");
        tokio::task::yield_now().await;
    }
}

/// Kills the operator taking `step` right after it, and starts it again.
async fn kill_after(tc: &mut TwoClusters, step: Step, before: u64) {
    wait_step(tc, step, before).await;
    tc.restart_operator(step.operator()).await;
}

/// The two example manifests applied (dc2's kubeconfig already in dc1), with the operator
/// killed after `step` on the way; once both sides are peered the invariants hold.
async fn killed_while_peering(step: Step) {
    let mut tc = TwoClusters::start().await;
    tc.kubeconfig_secret(KUBECONFIG_SECRET, None).await;
    let secret_versions = History::<Secret>::record(tc.dc1.client(), TOKEN_SECRET);
    let before = step.requests(&tc);
    tc.apply_examples().await;
    kill_after(&mut tc, step, before).await;
    tc.wait_peered().await;
    check_after_kill(&tc, step, &secret_versions).await;
}

/// Every invariant, with the tokens a kill after `step` lost counted as causes: only a kill
/// between Consul's answer and the Secret's write can lose one, and the operator after it
/// needs one more.
async fn check_after_kill(tc: &TwoClusters, step: Step, secret_versions: &History<Secret>) {
    let lost = tokens_never_held(tc, secret_versions).await;
    let may_lose = usize::from(matches!(step, Step::TokenPost));
    assert!(
        lost <= may_lose,
        "{step:?}: {lost} token(s) issued that never reached the Secret"
    );
    check(tc, 1 + lost, &[]).await;
}

/// How many of the tokens dc1's Consul issued never showed in the acceptor's Secret (as
/// recorded, or as it holds now: the record may lag behind).
async fn tokens_never_held(tc: &TwoClusters, versions: &History<Secret>) -> usize {
    let mut held: Vec<String> = versions
        .versions()
        .into_iter()
        .filter_map(|s| s.data?.remove("data"))
        .filter_map(|v| String::from_utf8(v.0).ok())
        .collect();
    held.extend(secret_value(&tc.dc1.secrets(), TOKEN_SECRET, "data").await);
    tc.dc1
        .consul
        .issued_tokens()
        .iter()
        .filter(|t| !held.contains(&t.token))
        .count()
}

#[tokio::test]
async fn killed_after_the_token_post() {
    killed_while_peering(Step::TokenPost).await;
}

#[tokio::test]
async fn killed_after_the_secret_apply() {
    killed_while_peering(Step::SecretApply).await;
}

#[tokio::test]
async fn killed_after_the_status_patch() {
    killed_while_peering(Step::StatusPatch).await;
}

#[tokio::test]
async fn killed_after_the_delivery() {
    killed_while_peering(Step::Delivery).await;
}

#[tokio::test]
async fn killed_after_the_establish() {
    killed_while_peering(Step::Establish).await;
}

/// Peered, then the acceptor deleted and dc1's operator killed once it has removed its
/// finalizer: the acceptor is gone with its peering, its Secret and the delivered copy.
#[tokio::test]
async fn killed_after_the_finalizer_removal() {
    let mut tc = TwoClusters::start().await;
    tc.peer_from_examples().await;
    let before = Step::FinalizerRemoval.requests(&tc);
    tc.dc1
        .acceptors()
        .delete(ACCEPTOR, &Default::default())
        .await
        .expect("delete");
    kill_after(&mut tc, Step::FinalizerRemoval, before).await;
    wait_gone(&tc.dc1.acceptors(), ACCEPTOR).await;
    tc.dc1.wait_peering(ACCEPTOR, None).await;
    wait_gone(&tc.dc1.secrets(), TOKEN_SECRET).await;
    wait_gone(&tc.dc2.secrets(), TOKEN_SECRET).await;
    check(&tc, 1, &[]).await;
}

/// How long the leader-election Lease of the replicas below lasts without renewal.
const LEASE_SECONDS: u64 = 3;
const LEASE: &str = "consul-peering-operator";

/// A replica of dc1's operator with leader election, its Kubernetes traffic through a gate.
struct Replica {
    gate: Gate,
    task: JoinHandle<anyhow::Result<()>>,
    metrics: SocketAddr,
}

impl Replica {
    async fn start(tc: &TwoClusters, identity: &str, stop: &CancellationToken) -> Replica {
        let gate = Gate::to(tc.dc1.kube.url()).await;
        let kubeconfig = tc
            .dc1
            .kube
            .kubeconfig()
            .replace(tc.dc1.kube.url(), &gate.url());
        let kubeconfig = Kubeconfig::from_yaml(&kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("client configuration");
        let client = kube::Client::try_from(config).expect("client");
        let (metrics, task) = start_operator_with("dc1", client, &tc.dc1.consul, stop, |args| {
            args.leader_elect = true;
            args.lease_namespace = Some(NS.to_owned());
            args.lease_duration_seconds = LEASE_SECONDS;
            args.identity = Some(identity.to_owned());
        })
        .await;
        Replica {
            gate,
            task,
            metrics,
        }
    }

    /// Kills the replica as SIGKILL would: its task aborted and its connections cut, so that
    /// what it spawned (the lease manager) neither renews the Lease nor releases it.
    async fn kill(mut self) {
        self.gate.close();
        self.task.abort();
        let ended = (&mut self.task).await;
        assert!(
            ended.as_ref().is_err_and(|e| e.is_cancelled()),
            "the replica was running when killed: {ended:?}"
        );
    }
}

/// Waits until `identity` holds dc1's leader Lease.
async fn wait_leader(tc: &TwoClusters, identity: &str) {
    let leases: Api<Lease> = Api::namespaced(tc.dc1.client(), NS);
    wait_for(&leases, LEASE, &format!("held by {identity}"), |l| {
        l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(identity)
    })
    .await;
}

/// Two replicas with leader election in dc1; the leader killed right after it asked Consul for
/// the acceptor's token, before it stored it: the standby takes over once the Lease expires,
/// issues the token again and finishes the job.
#[tokio::test]
async fn the_leader_killed_mid_reconcile_and_the_standby_takes_over() {
    let mut tc = TwoClusters::start().await;
    tc.kill_operator("dc1").await;
    let stop = CancellationToken::new();
    let leader = Replica::start(&tc, "dc1-a", &stop).await;
    wait_leader(&tc, "dc1-a").await;
    let standby = Replica::start(&tc, "dc1-b", &stop).await;
    tc.dc1.metrics = standby.metrics;
    tc.kubeconfig_secret(KUBECONFIG_SECRET, None).await;
    let secret_versions = History::<Secret>::record(tc.dc1.client(), TOKEN_SECRET);
    let before = Step::TokenPost.requests(&tc);
    tc.apply_examples().await;
    wait_step(&tc, Step::TokenPost, before).await;
    leader.kill().await;
    wait_leader(&tc, "dc1-b").await;
    tc.wait_peered().await;
    check_after_kill(&tc, Step::TokenPost, &secret_versions).await;
    stop.cancel();
}
