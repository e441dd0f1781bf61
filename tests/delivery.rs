//! Delivery of the token Secret to the dialing cluster, end to end (issue #5): two emulated
//! clusters and two emulated Consuls, the real operator in each. dc1 runs the acceptor, which
//! delivers its token Secret into dc2 through a kubeconfig held in a Secret; dc2 runs the dialer.

use std::time::Duration;

use consul_peering_operator::crd::{ConditionStatus, PeeringAcceptor, PeeringDialer, reason};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube_emulator::Rule;
use serde_json::json;
use support::delivery::{
    apply_delivering_acceptor, delivery_credentials, wait_delivered, wait_delivery_failed,
    wait_delivery_is, wait_no_delivery_status,
};
use support::operator::scratch_file;
use support::two_clusters::*;

/// From nothing to ACTIVE with the two example manifests; then a rotation bump on the acceptor
/// delivers a new token, the dialer establishes with it, and neither Consul ever shows the
/// peering other than ACTIVE meanwhile (the emulator, like Consul, keeps an established
/// peering's stream up while a new token is generated and used).
#[tokio::test]
async fn two_manifests_peer_the_clusters_and_a_rotation_keeps_the_peering_active() {
    let c = TwoClusters::start().await;
    let acceptor_history = History::<PeeringAcceptor>::record(c.dc1.client(), ACCEPTOR);
    let dialer_history = History::<PeeringDialer>::record(c.dc2.client(), DIALER);
    let first = c.peer_from_examples().await;
    assert_eq!(c.dc1.state(ACCEPTOR), Some("ACTIVE"));
    assert_eq!(c.dc2.state(DIALER), Some("ACTIVE"));
    // The copy in dc2 is the same token, labelled for the dialer's watch.
    let copy = c.dc2.secrets().get(TOKEN_SECRET).await.unwrap();
    assert_eq!(
        copy.labels().get("consulpeering.io/peering-token"),
        Some(&"true".to_owned())
    );
    assert_eq!(
        secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data").await,
        Some(first.clone())
    );
    let dialer = c.dc2.dialers().get(DIALER).await.unwrap();
    let remote = dialer.status.unwrap().remote.unwrap();
    assert_eq!(remote.datacenter.as_deref(), Some("dc1"));
    assert_eq!((c.dc1.token_calls(), c.dc2.establish_calls()), (1, 1));

    let mut not_active = Vec::new();
    let mut watch = |c: &TwoClusters| {
        for (dc, name) in [(&c.dc1, ACCEPTOR), (&c.dc2, DIALER)] {
            let state = dc.state(name);
            let seen = format!("{}: {state:?}", dc.name);
            if state != Some("ACTIVE") && !not_active.contains(&seen) {
                not_active.push(seen);
            }
        }
    };
    // Longer than two of the operators' Consul watch waits, so that the stale answer a
    // timed-out blocking query gives cannot make either resource read not-ready after Ready
    // (the readiness histories are checked below).
    for _ in 0..125 {
        watch(&c);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    rotate(&c.dc1.acceptors(), ACCEPTOR, 1).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let second = loop {
        watch(&c);
        let in_dc1 = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data").await;
        let in_dc2 = secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data").await;
        let dialer = c.dc2.dialers().get(DIALER).await.unwrap();
        let used = dialer.status.and_then(|s| s.token_fingerprint);
        if let Some(token) = in_dc1
            && token != first
            && in_dc2.as_ref() == Some(&token)
            && used == Some(fingerprint(&token))
        {
            break token;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated token was not delivered and used"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Keep looking a little after the switch: the old stream must not go down late.
    for _ in 0..50 {
        watch(&c);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        not_active.is_empty(),
        "the peering left ACTIVE during the rotation: {not_active:?}"
    );
    assert_eq!((c.dc1.token_calls(), c.dc2.establish_calls()), (2, 2));
    let peered = c.wait_peered().await;
    assert_eq!(peered, second);
    let acceptor = c.dc1.acceptors().get(ACCEPTOR).await.unwrap();
    assert_eq!(acceptor.status.unwrap().latest_peering_version, Some(1));
    // Neither resource ever read not-Ready after it first was Ready.
    for (kind, readiness) in [
        (
            "acceptor",
            readiness_after_ready(acceptor_history.versions().iter().map(acceptor_ready)),
        ),
        (
            "dialer",
            readiness_after_ready(dialer_history.versions().iter().map(dialer_ready)),
        ),
    ] {
        assert!(readiness.is_empty(), "{kind} went not ready: {readiness:?}");
    }

    c.assert_no_leak(
        &delivery_credentials(&c, &[&first, &second]),
        &[
            ("acceptor versions", acceptor_history.json()),
            ("dialer versions", dialer_history.json()),
        ],
    )
    .await;
    c.stop().await;
}

/// The reasons of every not-Ready condition after the first Ready one.
fn readiness_after_ready<'a>(
    conditions: impl Iterator<Item = Option<&'a consul_peering_operator::crd::Condition>>,
) -> Vec<String> {
    conditions
        .flatten()
        .skip_while(|c| c.status != ConditionStatus::True)
        .filter(|c| c.status != ConditionStatus::True)
        .map(|c| format!("{}: {}", c.reason, c.message))
        .collect()
}

/// dc2 behind a gate that is closed: delivery fails with the error, the acceptor stays Ready,
/// and when the gate opens the copy arrives without anyone touching anything.
#[tokio::test]
async fn an_unreachable_target_is_delivered_to_once_it_is_back_and_ready_never_drops() {
    let c = TwoClusters::start().await;
    let gate = Gate::to(c.dc2.kube.url()).await;
    gate.close();
    let history = History::<PeeringAcceptor>::record(c.dc1.client(), ACCEPTOR);
    apply_delivering_acceptor(&c, Some(&gate.url()), delivery_to(KUBECONFIG_SECRET)).await;
    let failed = wait_delivery_failed(&c).await;
    let message = &delivered(&failed).unwrap().message;
    assert!(message.contains(KUBECONFIG_SECRET), "{message}");
    assert!(
        is(
            acceptor_ready(&failed),
            ConditionStatus::True,
            reason::READY
        ),
        "the acceptor's own Ready does not wait for delivery: {:?}",
        acceptor_ready(&failed)
    );
    let token = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data")
        .await
        .expect("the token is in dc1");

    // Several retries while it stays down: still failing, nothing in dc2.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = c.dc1.acceptors().get(ACCEPTOR).await.unwrap();
    assert!(is(
        delivered(&still),
        ConditionStatus::False,
        reason::DELIVERY_FAILED
    ));
    assert!(!has_token_secret(&c.dc2).await);

    gate.open();
    let done = wait_delivered(&c).await;
    let status = done.status.unwrap();
    assert_eq!(
        status.delivery[0].token_fingerprint.as_deref(),
        Some(fingerprint(&token).as_str())
    );
    assert!(status.delivery[0].last_delivered_time.is_some());
    assert_eq!(
        secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data").await,
        Some(token.clone()),
        "the copy in dc2 holds the token"
    );
    // One token, however many delivery attempts.
    assert_eq!(c.dc1.token_calls(), 1);
    let not_ready: Vec<_> = history
        .versions()
        .iter()
        .filter_map(acceptor_ready)
        .filter(|r| r.status != ConditionStatus::True)
        .map(|r| r.reason.clone())
        .collect();
    assert!(not_ready.is_empty(), "Ready dropped: {not_ready:?}");

    c.assert_no_leak(
        &delivery_credentials(&c, &[&token]),
        &[("acceptor versions", history.json())],
    )
    .await;
    c.stop().await;
}

/// The target cluster refuses writes (500s): `Delivered=False` with its error, then `True` once
/// it accepts them again; and a kubeconfig Secret pointing at a closed port, once corrected,
/// is used without anything else changing.
#[tokio::test]
async fn refused_writes_and_a_wrong_address_end_in_delivery_once_they_are_over() {
    let c = TwoClusters::start().await;
    let closed = closed_port_url();
    apply_delivering_acceptor(&c, Some(&closed), delivery_to(KUBECONFIG_SECRET)).await;
    wait_for(&c.dc1.acceptors(), ACCEPTOR, "Delivered=False", |a| {
        is(
            delivered(a),
            ConditionStatus::False,
            reason::DELIVERY_FAILED,
        ) && is(acceptor_ready(a), ConditionStatus::True, reason::READY)
    })
    .await;
    // The corrected kubeconfig is picked up by the retries (the Secret is not watched).
    c.kubeconfig_secret(KUBECONFIG_SECRET, None).await;
    wait_delivered(&c).await;
    let first = secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data")
        .await
        .expect("delivered");

    // dc2 has no dialer, so its own operator writes nothing: every write fault is delivery's.
    c.dc2.kube.fail_next_writes(2, 500);
    rotate(&c.dc1.acceptors(), ACCEPTOR, 1).await;
    let failed = wait_delivery_failed(&c).await;
    let message = &delivered(&failed).unwrap().message;
    assert!(
        message.contains("500") || message.contains("nternal"),
        "{message}"
    );
    let done = wait_for(&c.dc1.acceptors(), ACCEPTOR, "Delivered=True again", |a| {
        is(delivered(a), ConditionStatus::True, reason::DELIVERED)
            && a.status.as_ref().and_then(|s| s.latest_peering_version) == Some(1)
    })
    .await;
    let second = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data")
        .await
        .unwrap();
    assert_ne!(second, first);
    assert_eq!(
        secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data").await,
        Some(second.clone())
    );
    assert_eq!(
        done.status.unwrap().delivery[0].token_fingerprint,
        Some(fingerprint(&second))
    );
    c.assert_no_leak(&delivery_credentials(&c, &[&first, &second]), &[])
        .await;
    c.stop().await;
}

/// The remote watch: a deleted copy comes back, an edited one is rewritten, and the dialer,
/// which compares tokens by fingerprint, never establishes again.
#[tokio::test]
async fn a_deleted_or_edited_copy_is_restored_and_the_dialer_does_not_establish_again() {
    let c = TwoClusters::start().await;
    let token = c.peer_from_examples().await;
    let secrets = c.dc2.secrets();
    let dialer_history = History::<PeeringDialer>::record(c.dc2.client(), DIALER);

    delete_the_copy_and_wait_until_restored(&c, &token).await;

    secrets
        .patch(
            TOKEN_SECRET,
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"data": "tampered-with-by-hand"}})),
        )
        .await
        .unwrap();
    wait_for(&secrets, TOKEN_SECRET, "the copy rewritten", |s| {
        holds_token(s, &token)
    })
    .await;

    // The same token again: the dialer is Ready with the peering it has, established once,
    // and its Ready followed the peering throughout (the copy's absence or damage is SecretUsable's).
    assert_eq!(c.wait_peered().await, token);
    assert_eq!((c.dc1.token_calls(), c.dc2.establish_calls()), (1, 1));
    let dropped = readiness_after_ready(dialer_history.versions().iter().map(dialer_ready));
    assert!(
        dropped.is_empty(),
        "the dialer's Ready dropped: {dropped:?}"
    );
    c.assert_no_leak(&delivery_credentials(&c, &[&token]), &[])
        .await;
    c.stop().await;
}

/// Every change of the kubeconfig Secret (here: an annotation) makes the next delivery build
/// a new client; the watch on the remote copies moves to it instead of piling up, and the new
/// one still brings a deleted copy back.
#[tokio::test]
async fn a_changed_kubeconfig_secret_replaces_the_remote_watch() {
    let c = TwoClusters::start().await;
    apply_delivering_acceptor(&c, None, delivery_to(KUBECONFIG_SECRET)).await;
    wait_delivered(&c).await;
    let watches = c.dc2.kube.open_watches();
    for version in 1..=3 {
        patch_metadata(
            &c.dc1.secrets(),
            KUBECONFIG_SECRET,
            json!({"annotations": {"edited": version.to_string()}}),
        )
        .await;
        rotate(&c.dc1.acceptors(), ACCEPTOR, version).await;
        wait_for(&c.dc1.acceptors(), ACCEPTOR, "delivered again", |a| {
            is(delivered(a), ConditionStatus::True, reason::DELIVERED)
                && a.status.as_ref().and_then(|s| s.latest_peering_version) == Some(version)
        })
        .await;
    }
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while c.dc2.kube.open_watches() != watches {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watches on dc2: {} before, {} after three kubeconfig changes",
            watches,
            c.dc2.kube.open_watches()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data")
        .await
        .unwrap();
    delete_the_copy_and_wait_until_restored(&c, &token).await;
    c.stop().await;
}

/// The kubeconfig may hold a least-privilege user of dc2: get, create, patch and delete on the
/// one Secret (a server-side apply that creates the copy is authorized as a create too), list
/// and watch on Secrets of the namespace. Without `patch` delivery reports the
/// refusal; with the right user (a fix of the kubeconfig Secret only) it delivers, restores,
/// and withdraws the copy.
#[tokio::test]
async fn a_least_privilege_kubeconfig_is_enough_and_a_missing_right_is_reported() {
    let c = TwoClusters::start().await;
    let reader = c.dc2.kube.add_user(
        "peering-reader",
        vec![Rule::new(
            &["get", "list", "watch"],
            &[""],
            &["secrets"],
            &[NS],
        )],
    );
    let deliverer = c.dc2.kube.add_user(
        "peering-delivery",
        vec![
            Rule::new(
                &["get", "create", "patch", "delete"],
                &[""],
                &["secrets"],
                &[NS],
            )
            .with_names(&[TOKEN_SECRET]),
            Rule::new(&["list", "watch"], &[""], &["secrets"], &[NS]),
        ],
    );
    let kubeconfig_secret = |user: &str, token: &str| {
        let kubeconfig = c.dc2.kube.kubeconfig_for(user, token);
        let client = c.dc1.client();
        async move {
            consul_peering_operator::playground::create_kubeconfig_secret(
                &client,
                KUBECONFIG_SECRET,
                &kubeconfig,
            )
            .await
            .unwrap()
        }
    };
    kubeconfig_secret("reader", &reader).await;
    apply(
        &c.dc1.acceptors(),
        &acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery_to(KUBECONFIG_SECRET))),
    )
    .await;
    let refused = wait_delivery_failed(&c).await;
    let message = &delivered(&refused).unwrap().message;
    assert!(
        message.contains("forbidden") && message.contains("peering-reader"),
        "{message}"
    );

    kubeconfig_secret("delivery", &deliverer).await;
    wait_delivered(&c).await;
    let token = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data")
        .await
        .unwrap();
    delete_the_copy_and_wait_until_restored(&c, &token).await;
    delete_and_wait_gone(&c.dc1.acceptors(), ACCEPTOR).await;
    wait_gone(&c.dc2.secrets(), TOKEN_SECRET).await;

    let mut credentials = token_credentials(&token);
    credentials.extend([reader, deliverer]);
    c.assert_no_leak(&credentials, &[]).await;
    c.stop().await;
}

/// A target removed from `spec.delivery` gets its copy deleted: while the target is
/// unreachable its status entry stays, `Delivered=False`; once it is back, the copy and the
/// entry go.
#[tokio::test]
async fn a_removed_target_gets_its_copy_withdrawn_once_reachable() {
    let c = TwoClusters::start().await;
    let gate = delivering_through_a_gate(&c).await;

    gate.close();
    apply(&c.dc1.acceptors(), &acceptor(ACCEPTOR, TOKEN_SECRET, None)).await;
    let pending = wait_delivery_failed(&c).await;
    assert!(is(
        acceptor_ready(&pending),
        ConditionStatus::True,
        reason::READY
    ));
    assert!(has_token_secret(&c.dc2).await);

    gate.open();
    wait_no_delivery_status(&c).await;
    assert!(!has_token_secret(&c.dc2).await);
    // The acceptor's own Secret and peering are untouched.
    assert!(has_token_secret(&c.dc1).await);
    assert_eq!(c.dc1.token_calls(), 1);
    c.stop().await;
}

/// A Secret in dc2 that the operator did not write is never overwritten: `SecretConflict`
/// until it is gone, then the copy is delivered.
#[tokio::test]
async fn a_foreign_secret_in_the_target_is_left_alone() {
    let c = TwoClusters::start().await;
    put_secret(
        &c.dc2.secrets(),
        TOKEN_SECRET,
        &[("data", "not-yours")],
        false,
    )
    .await;
    let foreign = c.dc2.secrets().get(TOKEN_SECRET).await.unwrap();
    apply_delivering_acceptor(&c, None, delivery_to(KUBECONFIG_SECRET)).await;
    let conflict = wait_delivery_is(&c, ConditionStatus::False, reason::SECRET_CONFLICT).await;
    assert!(is(
        acceptor_ready(&conflict),
        ConditionStatus::True,
        reason::READY
    ));
    let message = &delivered(&conflict).unwrap().message;
    assert!(message.contains(TOKEN_SECRET), "{message}");

    // Retried a few times (it is not watched): never written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = c.dc2.secrets().get(TOKEN_SECRET).await.unwrap();
    assert_eq!(after.resource_version(), foreign.resource_version());
    assert_eq!(
        secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data")
            .await
            .as_deref(),
        Some("not-yours")
    );
    for verb in ["update", "patch", "delete"] {
        let by_operator: u64 = c
            .dc2
            .kube
            .request_counts()
            .iter()
            .filter(|r| r.verb == verb && r.resource == "secrets")
            .map(|r| r.count)
            .sum();
        // The test's own apply is the one patch.
        assert_eq!(
            by_operator,
            u64::from(verb == "patch"),
            "{verb} on dc2's Secrets"
        );
    }

    c.dc2
        .secrets()
        .delete(TOKEN_SECRET, &DeleteParams::default())
        .await
        .unwrap();
    wait_delivered(&c).await;
    let token = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data")
        .await
        .unwrap();
    assert_eq!(
        secret_value(&c.dc2.secrets(), TOKEN_SECRET, "data").await,
        Some(token)
    );
    c.stop().await;
}

/// A kubeconfig whose user authenticates with an exec plugin is refused before anything runs.
#[tokio::test]
async fn a_kubeconfig_with_an_exec_plugin_is_refused_and_never_run() {
    let c = TwoClusters::start().await;
    let marker = scratch_file("exec-plugin-ran");
    let kubeconfig = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: dc2
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: ["-c", "touch {marker}"]
      interactiveMode: Never
contexts:
- name: dc2
  context: {{cluster: dc2, user: plugin}}
current-context: dc2
"#,
        server = c.dc2.kube.url(),
        ca = b64(c.dc2.kube.ca_pem()),
        marker = marker.display()
    );
    consul_peering_operator::playground::create_kubeconfig_secret(
        &c.dc1.client(),
        KUBECONFIG_SECRET,
        &kubeconfig,
    )
    .await
    .unwrap();
    apply(
        &c.dc1.acceptors(),
        &acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery_to(KUBECONFIG_SECRET))),
    )
    .await;
    let refused = wait_delivery_is(&c, ConditionStatus::False, reason::INVALID_KUBECONFIG).await;
    let message = &delivered(&refused).unwrap().message;
    assert!(message.contains("exec plugin"), "{message}");
    assert!(is(
        acceptor_ready(&refused),
        ConditionStatus::True,
        reason::READY
    ));
    // Give a run (and a retry) every chance to happen.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!marker.exists(), "the exec plugin ran");
    assert!(!has_token_secret(&c.dc2).await);
    c.stop().await;
}

/// Deleting the acceptor while its target is unreachable keeps the finalizer until the copy
/// can be withdrawn; once the target is back, everything is gone without anyone stepping in.
#[tokio::test]
async fn deleting_the_acceptor_waits_for_an_unreachable_target_to_withdraw_the_copy() {
    let c = TwoClusters::start().await;
    let gate = delivering_through_a_gate(&c).await;

    gate.close();
    c.dc1
        .acceptors()
        .delete(ACCEPTOR, &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = c.dc1.acceptors().get(ACCEPTOR).await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.finalizers(), ["consulpeering.io/finalizer"]);
    assert!(has_token_secret(&c.dc2).await);

    gate.open();
    wait_gone(&c.dc1.acceptors(), ACCEPTOR).await;
    assert!(!has_token_secret(&c.dc2).await);
    assert!(!has_token_secret(&c.dc1).await);
    c.dc1.wait_peering(ACCEPTOR, None).await;
    c.stop().await;
}

/// Deleting the acceptor removes its Consul peering, its Secret and the delivered copy; the
/// dialer then reads TERMINATED; deleting the dialer removes dc2's peering. No credential shows
/// anywhere along the way.
#[tokio::test]
async fn deleting_both_sides_cleans_up_everything() {
    let c = TwoClusters::start().await;
    let acceptor_history = History::<PeeringAcceptor>::record(c.dc1.client(), ACCEPTOR);
    let dialer_history = History::<PeeringDialer>::record(c.dc2.client(), DIALER);
    let token = c.peer_from_examples().await;

    delete_and_wait_gone(&c.dc1.acceptors(), ACCEPTOR).await;
    c.dc1.wait_peering(ACCEPTOR, None).await;
    assert!(!has_token_secret(&c.dc1).await);
    wait_gone(&c.dc2.secrets(), TOKEN_SECRET).await;
    // The peer terminated and the Secret was withdrawn: the condition names the termination,
    // which is what a new token would cure.
    let terminated = wait_for(&c.dc2.dialers(), DIALER, "TERMINATED", |d| {
        dialer_state(d) == Some("TERMINATED")
            && is(
                dialer_ready(d),
                ConditionStatus::False,
                reason::PEERING_TERMINATED,
            )
    })
    .await;
    assert_eq!(c.dc2.state(DIALER), Some("TERMINATED"));
    // The dialer never deletes a Secret, and its own peering stays until it is deleted.
    assert_eq!(terminated.finalizers().len(), 1);

    delete_and_wait_gone(&c.dc2.dialers(), DIALER).await;
    c.dc2.wait_peering(DIALER, None).await;

    c.assert_no_leak(
        &delivery_credentials(&c, &[&token]),
        &[
            ("acceptor versions", acceptor_history.json()),
            ("dialer versions", dialer_history.json()),
        ],
    )
    .await;
    c.stop().await;
}

/// An acceptor in dc1 delivering to dc2 through a gate the test can close; returns once the
/// copy is delivered.
async fn delivering_through_a_gate(c: &TwoClusters) -> Gate {
    let gate = Gate::to(c.dc2.kube.url()).await;
    apply_delivering_acceptor(c, Some(&gate.url()), delivery_to(KUBECONFIG_SECRET)).await;
    wait_delivered(c).await;
    gate
}

/// Deletes dc2's copy of the token Secret, as a user might by mistake, and waits until the remote watch has
/// brought it back holding `token`.
async fn delete_the_copy_and_wait_until_restored(c: &TwoClusters, token: &str) {
    let secrets = c.dc2.secrets();
    secrets
        .delete(TOKEN_SECRET, &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&secrets, TOKEN_SECRET, "the copy restored", |s| {
        holds_token(s, token)
    })
    .await;
}

/// Whether the token Secret holds `token` under its key.
fn holds_token(secret: &Secret, token: &str) -> bool {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get("data"))
        .is_some_and(|v| v.0 == token.as_bytes())
}

/// Whether `dc` holds a token Secret (dc1 its own, dc2 the delivered copy).
async fn has_token_secret(dc: &Dc) -> bool {
    dc.secrets().get_opt(TOKEN_SECRET).await.unwrap().is_some()
}
