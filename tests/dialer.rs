//! The PeeringDialer end to end (issue #5): the real operator in each of two emulated clusters,
//! each with its emulated Consul. dc1's acceptor issues the tokens; the tests put them (or
//! worse) into the Secret the dialer in dc2 reads; and real kubectl against the playground.

use std::time::Duration;

use consul_peering_operator::crd::{ConditionStatus, PeeringAcceptor, PeeringDialer, reason};
use consul_peering_operator::playground::{self, PlaygroundArgs};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use serde_json::json;
use support::columns::DIALER_WIDE;
use support::operator::scratch_file;
use support::two_clusters::*;
use test_support::kubectl::{Kubectl, binaries, table};

/// The Secret the dialers of these tests read.
const DIALER_SECRET: &str = "dialer-token";

/// Two tokens from dc1's acceptor: the first superseded by the second (a rotation), so Consul
/// refuses the first at establish.
async fn superseded_and_fresh(c: &TwoClusters) -> (String, String) {
    apply(&c.dc1.acceptors(), &acceptor(ACCEPTOR, TOKEN_SECRET, None)).await;
    let first = wait_token(&c.dc1.secrets(), TOKEN_SECRET, None).await;
    rotate(&c.dc1.acceptors(), ACCEPTOR, 1).await;
    let second = wait_token(&c.dc1.secrets(), TOKEN_SECRET, Some(&first)).await;
    assert_eq!(c.dc1.token_calls(), 2);
    (first, second)
}

/// The Ready message of the dialer, once it has this reason for the Secret's current version.
async fn wait_reason_for_current_secret(c: &TwoClusters, reason: &str) -> PeeringDialer {
    let secret = c.dc2.secrets().get(DIALER_SECRET).await.unwrap();
    let version = secret.metadata.resource_version;
    wait_for(&c.dc2.dialers(), DIALER, reason, |d| {
        dialer_ready(d).is_some_and(|r| r.reason == reason && r.status == ConditionStatus::False)
            && d.status
                .as_ref()
                .and_then(|s| s.secret.as_ref()?.resource_version.clone())
                == version
    })
    .await
}

/// Waits until dialer `name` is `Ready=False` for `reason`; returns it.
async fn wait_not_ready(dialers: &Api<PeeringDialer>, name: &str, reason: &str) -> PeeringDialer {
    wait_condition(dialers, name, dialer_ready, ConditionStatus::False, reason).await
}

#[tokio::test]
async fn a_used_token_is_tried_once_and_a_fresh_secret_recovers() {
    let c = TwoClusters::start().await;
    let (used, fresh) = superseded_and_fresh(&c).await;
    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("data", &used)], true).await;
    let history = History::<PeeringDialer>::record(c.dc2.client(), DIALER);
    apply(&c.dc2.dialers(), &dialer(DIALER, DIALER_SECRET)).await;

    let rejected = wait_reason_for_current_secret(&c, reason::TOKEN_REJECTED).await;
    let message = dialer_ready(&rejected).unwrap().message.clone();
    assert!(message.contains(DIALER_SECRET), "{message}");
    assert_eq!(c.dc2.establish_calls(), 1);
    let events: Api<Event> = Api::namespaced(c.dc2.client(), NS);
    let warned = events.list(&Default::default()).await.unwrap().items;
    assert!(
        warned
            .iter()
            .any(|e| e.reason.as_deref() == Some("TokenRejected")
                && e.type_.as_deref() == Some("Warning")),
        "a TokenRejected Warning Event: {warned:?}"
    );

    // While it waits, unrelated changes wake it: the dialer's labels, the Secret's metadata
    // (as a copying tool rewrites it), every watch restarted. None spends the dead token again.
    for round in 0..3 {
        patch_metadata(
            &c.dc2.dialers(),
            DIALER,
            json!({"labels": {"poked": round.to_string()}}),
        )
        .await;
        patch_metadata(
            &c.dc2.secrets(),
            DIALER_SECRET,
            json!({"annotations": {"copied-at": format!("round-{round}")}}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    c.dc2.kube.close_watches();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = c.dc2.dialers().get(DIALER).await.unwrap();
    assert!(
        is(
            dialer_ready(&waiting),
            ConditionStatus::False,
            reason::TOKEN_REJECTED
        ),
        "{:?}",
        dialer_ready(&waiting)
    );
    assert_eq!(
        waiting
            .metadata
            .labels
            .unwrap()
            .get("poked")
            .map(String::as_str),
        Some("2"),
        "the dialer saw the last label change"
    );
    assert_eq!(c.dc2.establish_calls(), 1, "the dead token was tried again");
    // The refusal is told once: every pass that finds the dead token reports the very message
    // of the pass that was refused (no second status write, no second story).
    let told: std::collections::BTreeSet<String> = history
        .versions()
        .iter()
        .filter_map(dialer_ready)
        .filter(|ready| ready.reason == reason::TOKEN_REJECTED)
        .map(|ready| ready.message.clone())
        .collect();
    assert_eq!(told.len(), 1, "TokenRejected told differently: {told:#?}");

    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("data", &fresh)], true).await;
    let active = wait_for(
        &c.dc2.dialers(),
        DIALER,
        "ACTIVE with the fresh token",
        |d| {
            dialer_state(d) == Some("ACTIVE")
                && is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE)
        },
    )
    .await;
    assert_eq!(
        active.status.unwrap().token_fingerprint,
        Some(fingerprint(&fresh))
    );
    assert_eq!(c.dc2.establish_calls(), 2);
    c.dc1.wait_peering(ACCEPTOR, Some("ACTIVE")).await;

    let mut credentials = token_credentials(&used);
    credentials.extend(token_credentials(&fresh));
    c.assert_no_leak(&credentials, &[("the TokenRejected message", message)])
        .await;
    c.stop().await;
}

#[tokio::test]
async fn a_missing_or_malformed_secret_is_reported_and_a_good_one_is_used_at_once() {
    let c = TwoClusters::start().await;
    apply(&c.dc2.dialers(), &dialer(DIALER, DIALER_SECRET)).await;
    let missing = wait_not_ready(&c.dc2.dialers(), DIALER, reason::SECRET_MISSING).await;
    let message = &dialer_ready(&missing).unwrap().message;
    assert!(message.contains(DIALER_SECRET), "{message}");

    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("token", "x")], true).await;
    wait_for(&c.dc2.dialers(), DIALER, "SecretMissing for the key", |d| {
        is(
            dialer_ready(d),
            ConditionStatus::False,
            reason::SECRET_MISSING,
        ) && dialer_ready(d).unwrap().message.contains("\"data\"")
    })
    .await;

    // Not base64; then base64 JSON of the wrong shape around an establishment secret.
    let garbage = "this-is-not-a-peering-token-at-all-0123456789".to_owned();
    let embedded_secret = "5f2c1b8e-7d4a-4c3e-9b1a-0e6f2d8c4a77".to_owned();
    let wrong_shape = b64(&json!({
        "CA": null, "ServerAddresses": "127.0.0.1:8503", "ServerName": "server.dc1.peering.x",
        "PeerID": "0a6d3a55-8a2b-4e50-a1f4-5d6f0b8e9c11", "EstablishmentSecret": embedded_secret,
        "Remote": {"Partition": "default", "Datacenter": "dc1"},
    })
    .to_string());
    let mut messages = Vec::new();
    for malformed in [&garbage, &wrong_shape] {
        put_secret(
            &c.dc2.secrets(),
            DIALER_SECRET,
            &[("data", malformed)],
            true,
        )
        .await;
        let rejected = wait_reason_for_current_secret(&c, reason::TOKEN_REJECTED).await;
        messages.push(dialer_ready(&rejected).unwrap().message.clone());
    }
    // Refused without asking Consul.
    assert_eq!(c.dc2.establish_calls(), 0);
    let credentials = vec![
        garbage.clone(),
        wrong_shape.clone(),
        embedded_secret.clone(),
    ];
    for message in &messages {
        assert_no_credentials(message, "the TokenRejected message", &credentials);
    }

    apply(&c.dc1.acceptors(), &acceptor(ACCEPTOR, TOKEN_SECRET, None)).await;
    let token = wait_token(&c.dc1.secrets(), TOKEN_SECRET, None).await;
    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("data", &token)], true).await;
    wait_for(&c.dc2.dialers(), DIALER, "ACTIVE", |d| {
        dialer_state(d) == Some("ACTIVE")
            && is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE)
    })
    .await;
    assert_eq!(c.dc2.establish_calls(), 1);

    let mut credentials = credentials;
    credentials.extend(token_credentials(&token));
    c.assert_no_leak(&credentials, &[]).await;
    c.stop().await;
}

/// A Secret that two dialers read wakes both when it appears (consul-k8s wakes only the first):
/// one establishes with the token, the other is refused by Consul since the token is used.
#[tokio::test]
async fn a_secret_wakes_every_dialer_that_reads_it() {
    let c = TwoClusters::start().await;
    let names = [DIALER, "dc1-again"];
    for name in names {
        apply(&c.dc2.dialers(), &dialer(name, DIALER_SECRET)).await;
        wait_not_ready(&c.dc2.dialers(), name, reason::SECRET_MISSING).await;
    }
    apply(&c.dc1.acceptors(), &acceptor(ACCEPTOR, TOKEN_SECRET, None)).await;
    let token = wait_token(&c.dc1.secrets(), TOKEN_SECRET, None).await;
    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("data", &token)], true).await;
    let mut reasons = Vec::new();
    for name in names {
        let done = wait_for(&c.dc2.dialers(), name, "Active or TokenRejected", |d| {
            is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE)
                || is(
                    dialer_ready(d),
                    ConditionStatus::False,
                    reason::TOKEN_REJECTED,
                )
        })
        .await;
        reasons.push(dialer_ready(&done).unwrap().reason.clone());
    }
    reasons.sort();
    assert_eq!(reasons, [reason::ACTIVE, reason::TOKEN_REJECTED]);
    assert_eq!(c.dc2.establish_calls(), 2);
    c.stop().await;
}

/// A broken stream shows as FAILING on both sides (Consul's stream-derived state, which does
/// not wake its blocking query: it arrives when the watch's wait runs out), and ACTIVE again
/// once the stream is back, with no new token and no new establish.
#[tokio::test]
async fn a_broken_stream_shows_failing_and_recovers_without_a_new_establish() {
    let c = TwoClusters::start().await;
    c.peer_from_examples().await;
    assert!(c.dc2.consul.drop_stream("", DIALER, None));
    wait_for(&c.dc2.dialers(), DIALER, "FAILING", |d| {
        dialer_state(d) == Some("FAILING")
            && is(
                dialer_ready(d),
                ConditionStatus::False,
                reason::PEERING_FAILING,
            )
    })
    .await;
    wait_for(&c.dc1.acceptors(), ACCEPTOR, "FAILING", |a| {
        acceptor_state(a) == Some("FAILING")
            && is(
                acceptor_ready(a),
                ConditionStatus::False,
                reason::PEERING_FAILING,
            )
    })
    .await;
    c.dc2.consul.clear_faults();
    c.wait_peered().await;
    assert_eq!((c.dc1.token_calls(), c.dc2.establish_calls()), (1, 1));
    c.stop().await;
}

#[tokio::test]
async fn kubectl_shows_the_dialer_ready_and_active_in_the_playground() {
    emulator_common::install_crypto_provider();
    let dir = scratch_file("playground");
    let args = PlaygroundArgs {
        state_dir: Some(dir.clone()),
        empty: false,
        no_operator: false,
        consul: Vec::new(),
    };
    let pg = playground::start(&args, &dir)
        .await
        .expect("playground starts");
    let dc1 = pg.cluster("dc1").kube.client();
    let dc2 = pg.cluster("dc2");
    playground::create_kubeconfig_secret(&dc1, KUBECONFIG_SECRET, &dc2.kube.kubeconfig())
        .await
        .unwrap();
    let _: PeeringAcceptor =
        playground::apply_example(&dc1, playground::EXAMPLE_ACCEPTOR_WITH_DELIVERY)
            .await
            .unwrap();
    let _: PeeringDialer =
        playground::apply_example(&dc2.kube.client(), playground::EXAMPLE_DIALER)
            .await
            .unwrap();

    let timeout = format!("--timeout={}s", TIMEOUT.as_secs());
    for binary in binaries() {
        let kubectl = Kubectl::new(binary).with_kubeconfig(pg.kubeconfig_path());
        check_with_kubectl(&kubectl, &timeout).await;
    }

    pg.shutdown().await.expect("the playground stops cleanly");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a user sees of the peered playground with this kubectl: the dialer Ready and ACTIVE, its columns, the
/// delivered token it used.
async fn check_with_kubectl(kubectl: &Kubectl, timeout: &str) {
    let waited = kubectl
        .ok(&[
            "--context",
            "dc2",
            "wait",
            "--for=condition=Ready",
            "peeringdialer/dc1",
            timeout,
        ])
        .await;
    assert_eq!(
        waited.trim(),
        "peeringdialer.consulpeering.io/dc1 condition met"
    );
    kubectl
        .ok(&[
            "--context",
            "dc1",
            "wait",
            "--for=jsonpath={.status.state}=ACTIVE",
            "peeringacceptor/dc2",
            timeout,
        ])
        .await;

    let rows = table(
        &kubectl
            .ok(&["--context", "dc2", "get", "peeringdialers"])
            .await,
    );
    assert_eq!(rows[0], ["NAME", "READY", "STATE", "SECRET", "AGE"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][..4], ["dc1", "True", "ACTIVE", TOKEN_SECRET]);
    assert!(!rows[1][4].is_empty(), "an age: {rows:?}");

    let wide = table(
        &kubectl
            .ok(&["--context", "dc2", "get", "pdial", "-o", "wide"])
            .await,
    );
    assert_eq!(wide[0], DIALER_WIDE);
    assert_eq!(
        wide[1][..5],
        ["dc1", "True", "Active", "ACTIVE", TOKEN_SECRET]
    );
    assert_eq!(wide[1][8], "dc1", "the remote datacenter: {wide:?}");

    // The dialer used the token the acceptor delivered into dc2.
    let used = kubectl
        .ok(&[
            "--context",
            "dc2",
            "get",
            "peeringdialer",
            "dc1",
            "-o",
            "jsonpath={.status.tokenFingerprint}",
        ])
        .await;
    let delivered = kubectl
        .ok(&[
            "--context",
            "dc1",
            "get",
            "peeringacceptor",
            "dc2",
            "-o",
            "jsonpath={.status.delivery[0].tokenFingerprint}",
        ])
        .await;
    assert_eq!(used, delivered);
    assert_eq!(used.len(), 16, "a fingerprint: {used:?}");
    let label = kubectl
        .ok(&[
            "--context",
            "dc2",
            "get",
            "secret",
            TOKEN_SECRET,
            "-o",
            "jsonpath={.metadata.labels.consulpeering\\.io/peering-token}",
        ])
        .await;
    assert_eq!(label, "true");
}

/// A refused token is warned about once, also when the operator's cache of dialers lags
/// behind its own status write: a pass woken (here by the Secret's metadata) before the cache
/// holds the TokenRejected status must not take the refusal for news (a second Warning, a
/// `TokenRejected` Event counted twice, the rejection metric counted again).
#[tokio::test]
async fn a_refusal_is_warned_about_once_when_the_cache_lags_behind_the_status() {
    use support::operator::{Harness, Options, consul_client};
    let h = Harness::with(Options {
        watch_lag: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    // Two tokens from dc2 for the peer name dc1: the first is superseded by the second.
    let dc2 = consul_client(&h.dc2.url());
    let request = consul_peering_operator::consul::GenerateTokenRequest {
        peer_name: "dc1".into(),
        ..Default::default()
    };
    let used = dc2.generate_token(&request).await.unwrap();
    dc2.generate_token(&request).await.unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(h.client.clone(), NS);
    put_secret(&secrets, DIALER_SECRET, &[("data", used.expose())], true).await;
    let dialers: Api<PeeringDialer> = Api::namespaced(h.client.clone(), NS);
    apply(&dialers, &dialer(DIALER, DIALER_SECRET)).await;
    wait_not_ready(&dialers, DIALER, reason::TOKEN_REJECTED).await;

    // At once, while the operator's cached dialer still predates that status.
    patch_metadata(
        &secrets,
        DIALER_SECRET,
        json!({"annotations": {"copied-at": "now"}}),
    )
    .await;
    h.wait_for("the operator to be quiet for 3 s", || async {
        let done = h.activity_over(Duration::from_secs(3)).await;
        (done.kube_writes == 0 && done.kube_reads == 0).then_some(())
    })
    .await;
    assert_eq!(
        h.activity().establish_calls,
        1,
        "the used token was tried once"
    );
    let warnings: Vec<_> = events_v1(h.client.clone())
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason::TOKEN_REJECTED))
        .map(|e| (e.note, e.series.map_or(1, |s| s.count)))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].1, 1, "warned more than once: {warnings:?}");
}

/// `Ready` follows the peering: the dialer's Secret deleted after it established leaves it
/// Ready and ACTIVE, with a condition of its own (SecretUsable=False) saying the Secret is
/// gone; the Secret back, that condition is True again and nothing is established twice. The
/// wait for the stream after establishing is the normal path: no Warning at any point.
#[tokio::test]
async fn a_secret_deleted_after_establishing_leaves_ready_to_the_peering() {
    let c = TwoClusters::start().await;
    apply(&c.dc1.acceptors(), &acceptor(ACCEPTOR, TOKEN_SECRET, None)).await;
    let token = wait_token(&c.dc1.secrets(), TOKEN_SECRET, None).await;
    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("data", &token)], true).await;
    let history = History::<PeeringDialer>::record(c.dc2.client(), DIALER);
    apply(&c.dc2.dialers(), &dialer(DIALER, DIALER_SECRET)).await;
    let active = |d: &PeeringDialer| {
        dialer_state(d) == Some("ACTIVE")
            && is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE)
    };
    let active_with_its_secret = |d: &PeeringDialer| {
        active(d)
            && is(
                secret_usable(d),
                ConditionStatus::True,
                reason::SECRET_FOUND,
            )
    };
    wait_for(&c.dc2.dialers(), DIALER, "ACTIVE", active_with_its_secret).await;

    c.dc2
        .secrets()
        .delete(DIALER_SECRET, &Default::default())
        .await
        .unwrap();
    let gone = wait_for(&c.dc2.dialers(), DIALER, "SecretUsable=False", |d| {
        is(
            secret_usable(d),
            ConditionStatus::False,
            reason::SECRET_MISSING,
        )
    })
    .await;
    assert!(active(&gone), "{:?}", gone.status);
    assert!(
        secret_usable(&gone)
            .unwrap()
            .message
            .contains(DIALER_SECRET),
        "{:?}",
        secret_usable(&gone)
    );

    put_secret(&c.dc2.secrets(), DIALER_SECRET, &[("data", &token)], true).await;
    let again = "SecretUsable=True again";
    wait_for(&c.dc2.dialers(), DIALER, again, active_with_its_secret).await;
    assert_eq!(c.dc2.establish_calls(), 1);
    let versions = history.versions();
    let first_ready = versions
        .iter()
        .position(|d| is(dialer_ready(d), ConditionStatus::True, reason::ACTIVE))
        .expect("a Ready version");
    assert!(
        versions[first_ready..].iter().all(|d| is(
            dialer_ready(d),
            ConditionStatus::True,
            reason::ACTIVE
        )),
        "Ready dropped: {}",
        history.json()
    );
    let warnings: Vec<_> = events_v1(c.dc2.client())
        .await
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| (e.reason, e.note))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    c.stop().await;
}

/// The events.k8s.io Events of the tests' namespace.
async fn events_v1(client: kube::Client) -> Vec<k8s_openapi::api::events::v1::Event> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, NS);
    events.list(&Default::default()).await.unwrap().items
}

fn secret_usable(d: &PeeringDialer) -> Option<&consul_peering_operator::crd::Condition> {
    let conditions = &d.status.as_ref()?.conditions;
    consul_peering_operator::crd::find_condition(
        conditions,
        consul_peering_operator::crd::CONDITION_SECRET_USABLE,
    )
}

/// A dialer whose Consul ACL token lacks `peering:write` says so, naming the permission, and
/// spends nothing: once the token file holds a token with it (no restart), the same peering
/// token establishes.
#[tokio::test]
async fn a_consul_token_without_peering_write_is_named_and_a_rotated_token_file_recovers() {
    use support::operator::{Harness, Options, consul_client, read_only_rules, write_rules};
    let h = Harness::with(Options {
        acl_rules: Some(read_only_rules()),
        ..Options::default()
    })
    .await;
    let request = consul_peering_operator::consul::GenerateTokenRequest {
        peer_name: "dc1".into(),
        ..Default::default()
    };
    let token = consul_client(&h.dc2.url())
        .generate_token(&request)
        .await
        .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(h.client.clone(), NS);
    put_secret(&secrets, DIALER_SECRET, &[("data", token.expose())], true).await;
    let dialers: Api<PeeringDialer> = Api::namespaced(h.client.clone(), NS);
    apply(&dialers, &dialer(DIALER, DIALER_SECRET)).await;
    let denied = wait_not_ready(&dialers, DIALER, reason::CONSUL_PERMISSION_DENIED).await;
    let message = &dialer_ready(&denied).unwrap().message;
    assert!(message.contains("peering:write"), "{message}");
    assert!(!message.contains(token.expose()), "{message}");

    h.set_consul_rules(write_rules());
    // Any change wakes the dialer at once instead of at its next backoff.
    patch_metadata(&dialers, DIALER, json!({"annotations": {"acl": "fixed"}})).await;
    let established = wait_for(&dialers, DIALER, "established", |d| {
        d.status
            .as_ref()
            .and_then(|s| s.token_fingerprint.as_deref())
            == Some(fingerprint(token.expose()).as_str())
    })
    .await;
    assert!(
        dialer_state(&established).is_some(),
        "{:?}",
        established.status
    );
}

/// Consul derives ACTIVE from its streams, which do not move the peering list's index: a
/// dialer whose operator long-polls the list for five minutes, and whose stream comes up two
/// seconds after the establish (well after the list woke for the establish's writes), still
/// shows ACTIVE soon after, because it reads its peering again until the stream is up.
#[tokio::test]
async fn a_dialer_learns_active_without_waiting_for_the_list() {
    let mut tc = TwoClusters::start().await;
    tc.kill_operator("dc2").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();
    let (_metrics, _operator) =
        start_operator_with("dc2", tc.dc2.client(), &tc.dc2.consul, &stop, |args| {
            args.consul_watch_wait_seconds = 300;
        })
        .await;
    tc.kubeconfig_secret(KUBECONFIG_SECRET, None).await;
    apply(
        &tc.dc1.acceptors(),
        &acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery_to(KUBECONFIG_SECRET))),
    )
    .await;
    tc.dc1.wait_peering(ACCEPTOR, Some("PENDING")).await;
    assert!(
        tc.dc1
            .consul
            .drop_stream("", ACCEPTOR, Some(Duration::from_secs(2)))
    );
    apply(&tc.dc2.dialers(), &dialer(DIALER, TOKEN_SECRET)).await;
    // Both sides ACTIVE and Ready in status, within the harness's 30 s.
    tc.wait_peered().await;
}
