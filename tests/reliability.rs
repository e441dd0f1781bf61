//! Reliability scenarios (issue 10): two peered datacenters, one failure at a time, set with
//! the playground's fault switch; each scenario ends with every invariant checked by
//! [`support::invariants::check`] (newest token held, tokens counted against causes, no
//! orphan, no token shown anywhere, at rest no writes).
//!
//! A fault lasts a few seconds here rather than the 30 s of a user's trial: what matters is
//! that the operator meets it mid-work and recovers, and CI's time is shared.

use std::time::Duration;

use consul_peering_operator::crd::{ConditionStatus, PeeringAcceptor, PeeringDialer, reason};
use consul_peering_operator::playground::fault::{FaultKind, Target};
use kube::ResourceExt;
use support::invariants::check;
use support::two_clusters::*;

/// The fault switch of a datacenter, as `playground fault` uses it.
fn set(dc: &Dc, kind: FaultKind, duration: Option<Duration>) {
    let target = Target {
        kube: dc.kube.clone(),
        consul: Some(dc.consul.fault_switch()),
    };
    kind.apply(&target, duration).expect("the fault is set");
}

/// Raises the acceptor's rotation annotation: one more token is caused.
async fn rotate_acceptor(tc: &TwoClusters) {
    rotate(&tc.dc1.acceptors(), ACCEPTOR, 1).await;
}

/// Waits until the acceptor is Ready=False with `why` (what it tells while the fault lasts).
async fn wait_acceptor_not_ready(tc: &TwoClusters, why: &str) -> PeeringAcceptor {
    wait_for(&tc.dc1.acceptors(), ACCEPTOR, why, |a| {
        is(acceptor_ready(a), ConditionStatus::False, why)
    })
    .await
}

/// Waits until a token other than `old` is in the acceptor's Secret, delivered, and
/// established by the dialer, with both sides Ready and ACTIVE.
async fn wait_repeered(tc: &TwoClusters, old: &str) {
    let new = wait_token(&tc.dc1.secrets(), TOKEN_SECRET, Some(old)).await;
    let new_fingerprint = fingerprint(&new);
    let on_new = |fp: Option<&String>| fp == Some(&new_fingerprint);
    wait_for(
        &tc.dc2.dialers(),
        DIALER,
        "established on the new token",
        |d| on_new(d.status.as_ref().and_then(|s| s.token_fingerprint.as_ref())),
    )
    .await;
    wait_for(
        &tc.dc1.acceptors(),
        ACCEPTOR,
        "the new token delivered",
        |a| {
            a.status
                .iter()
                .flat_map(|s| &s.delivery)
                .all(|d| on_new(d.token_fingerprint.as_ref()))
        },
    )
    .await;
    assert!(tc.wait_peered().await == new, "peered on the new token");
}

/// Peered, then a rotation while dc1's Consul has `kind` until the acceptor says so with
/// `why`; cleared, both sides are peered again on the new token, and the invariants hold.
async fn rotation_while_consul_fails(kind: FaultKind, why: &str) {
    let tc = TwoClusters::start().await;
    let first = tc.peer_from_examples().await;
    set(&tc.dc1, kind, None);
    rotate_acceptor(&tc).await;
    let told = wait_acceptor_not_ready(&tc, why).await;
    assert!(!acceptor_ready(&told).unwrap().message.is_empty());
    set(&tc.dc1, FaultKind::Clear, None);
    wait_repeered(&tc, &first).await;
    check(&tc, 2, &[]).await;
}

#[tokio::test]
async fn consul_down_during_a_rotation() {
    rotation_while_consul_fails(FaultKind::ConsulDown, reason::CONSUL_UNAVAILABLE).await;
}

#[tokio::test]
async fn consul_500_during_a_rotation() {
    rotation_while_consul_fails(FaultKind::Consul500, reason::CONSUL_UNAVAILABLE).await;
}

#[tokio::test]
async fn consul_slow_on_both_sides_during_a_rotation() {
    let tc = TwoClusters::start().await;
    let first = tc.peer_from_examples().await;
    set(&tc.dc1, FaultKind::ConsulSlow, None);
    set(&tc.dc2, FaultKind::ConsulSlow, None);
    rotate_acceptor(&tc).await;
    wait_repeered(&tc, &first).await;
    set(&tc.dc1, FaultKind::Clear, None);
    set(&tc.dc2, FaultKind::Clear, None);
    check(&tc, 2, &[]).await;
}

/// Peered, then `kind` on both Kubernetes APIs for `lasting` while the peering is deleted in
/// dc1's Consul behind the operator's back (a cause that needs no Kubernetes write from the
/// test): a new token must reach dc2 and be established once the fault is over.
async fn repeering_while_kube_fails(kind: FaultKind, lasting: Duration) {
    let tc = TwoClusters::start().await;
    let first = tc.peer_from_examples().await;
    set(&tc.dc1, kind, Some(lasting));
    set(&tc.dc2, kind, Some(lasting));
    assert!(tc.dc1.consul.delete_peering("", ACCEPTOR));
    // The new token, once the fault lets the operator write it.
    wait_repeered(&tc, &first).await;
    check(&tc, 2, &[]).await;
}

#[tokio::test]
async fn kube_409_on_every_write_while_the_peering_is_recreated() {
    repeering_while_kube_fails(FaultKind::KubeConflict, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn kube_429_on_every_request_while_the_peering_is_recreated() {
    repeering_while_kube_fails(FaultKind::Kube429, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn every_watch_dropped_while_the_peering_is_recreated() {
    repeering_while_kube_fails(FaultKind::KubeWatchDrop, Duration::from_secs(6)).await;
}

#[tokio::test]
async fn every_rewatch_gets_410_while_the_peering_is_recreated() {
    repeering_while_kube_fails(FaultKind::KubeExpired, Duration::from_secs(6)).await;
}

#[tokio::test]
async fn an_acceptor_deleted_while_consul_is_down_is_cleaned_up_when_it_is_back() {
    let tc = TwoClusters::start().await;
    tc.peer_from_examples().await;
    set(&tc.dc1, FaultKind::ConsulDown, None);
    tc.dc1
        .acceptors()
        .delete(ACCEPTOR, &Default::default())
        .await
        .expect("delete");
    let waiting = wait_acceptor_not_ready(&tc, reason::CONSUL_UNAVAILABLE).await;
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(
        tc.dc1.peering(ACCEPTOR).is_some(),
        "nothing is deleted while Consul is down"
    );
    set(&tc.dc1, FaultKind::Clear, None);
    wait_gone(&tc.dc1.acceptors(), ACCEPTOR).await;
    tc.dc1.wait_peering(ACCEPTOR, None).await;
    wait_gone(&tc.dc1.secrets(), TOKEN_SECRET).await;
    wait_gone(&tc.dc2.secrets(), TOKEN_SECRET).await;
    tc.dc2.wait_peering(DIALER, Some("TERMINATED")).await;
    check(&tc, 1, &[]).await;
}

/// A dialer in dc2 whose Secret holds `token`: told `why` (naming the Secret when the
/// operator refuses it itself), no peering written, and the invariants hold with `issued`
/// tokens (those the test made to build its bad input).
async fn dialer_with_bad_token(tc: &TwoClusters, token: &str, why: &str, issued: usize) {
    let bad = "bad-token";
    put_secret(&tc.dc2.secrets(), bad, &[("data", token)], false).await;
    apply(&tc.dc2.dialers(), &dialer(DIALER, bad)).await;
    let told: PeeringDialer = wait_for(&tc.dc2.dialers(), DIALER, why, |d| {
        is(dialer_ready(d), ConditionStatus::False, why)
    })
    .await;
    let message = &dialer_ready(&told).unwrap().message;
    assert!(
        why != reason::TOKEN_REJECTED || message.contains(bad),
        "the message names the Secret: {message}"
    );
    let peering = tc.dc2.peering(DIALER);
    assert!(
        peering.is_none(),
        "no peering from a bad token: {peering:?}"
    );
    // The peering the test's own token made is the test's to delete.
    for dc in [&tc.dc1, &tc.dc2] {
        if dc.consul.delete_peering("", DIALER_PEER) {
            dc.wait_peering(DIALER_PEER, None).await;
        }
    }
    check(tc, issued, &[]).await;
}

/// A real token of `dc`'s Consul for peer `name`, made by the test.
async fn issue_token(dc: &Dc, name: &str) -> String {
    let url = format!("{}/v1/peering/token", dc.consul.url());
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"PeerName": name}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("a token")
        .json()
        .await
        .expect("JSON");
    answer["PeeringToken"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn a_dialer_secret_holding_garbage() {
    let tc = TwoClusters::start().await;
    let garbage = "}{ not base64, not JSON, not a token \u{1F600} ".repeat(8);
    dialer_with_bad_token(&tc, &garbage, reason::TOKEN_REJECTED, 0).await;
}

#[tokio::test]
async fn a_dialer_secret_holding_a_truncated_token() {
    let tc = TwoClusters::start().await;
    let token = issue_token(&tc.dc1, DIALER_PEER).await;
    let truncated = &token[..token.len() / 2];
    dialer_with_bad_token(&tc, truncated, reason::TOKEN_REJECTED, 1).await;
}

#[tokio::test]
async fn a_dialer_secret_holding_a_token_of_its_own_datacenter() {
    let tc = TwoClusters::start().await;
    let own = issue_token(&tc.dc2, DIALER_PEER).await;
    dialer_with_bad_token(&tc, &own, reason::CONSUL_REJECTED, 1).await;
}

#[tokio::test]
async fn a_dialer_secret_with_an_empty_key() {
    let tc = TwoClusters::start().await;
    dialer_with_bad_token(&tc, "", reason::TOKEN_REJECTED, 0).await;
}

/// The peer name a test token is issued for (never the dialer's own peering).
const DIALER_PEER: &str = "elsewhere";

/// dc2's Consul loses its leadership between the secret exchange and the final write of the
/// dialer's first establish (the soak's `consul-down` met this mid-establish): dc1 took the
/// establishment secret, so the token is spent while both peerings stay PENDING. The dialer's
/// retry is refused; it marks the delivered copy, and dc1's operator, seeing its current token
/// refused and its peering still PENDING, issues a new one (a second token, caused), which
/// completes the peering. Without the mark both sides would wait forever.
#[tokio::test]
async fn a_token_spent_by_an_establish_that_did_not_finish_is_replaced() {
    let tc = TwoClusters::start().await;
    tc.dc2.consul.cut_next_establishes(1);
    tc.kubeconfig_secret(KUBECONFIG_SECRET, None).await;
    apply(
        &tc.dc1.acceptors(),
        &acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery_to(KUBECONFIG_SECRET))),
    )
    .await;
    let first = wait_token(&tc.dc1.secrets(), TOKEN_SECRET, None).await;
    apply(&tc.dc2.dialers(), &dialer(DIALER, TOKEN_SECRET)).await;
    let second = tc.wait_peered().await;
    assert_ne!(second, first, "peered on a new token");
    let copy = tc
        .dc2
        .secrets()
        .get(TOKEN_SECRET)
        .await
        .expect("the delivered copy");
    assert_eq!(
        copy.annotations()
            .get("consulpeering.io/refused-token-fingerprint"),
        Some(&fingerprint(&first)),
        "the copy names the refused token"
    );
    let events = statuses_and_events(&tc.dc1).await;
    assert!(
        events.contains("peer-refused"),
        "dc1 tells why it issued the second token: {events}"
    );
    check(&tc, 2, &[]).await;
}
