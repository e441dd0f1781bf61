//! The PeeringAcceptor end to end (issue #4, "Done when"): the real operator (`run_with`)
//! against the Kubernetes API emulator and emulated Consul datacenters. dc1 is the operator's
//! Consul; dc2 plays the dialing cluster and establishes with the tokens the operator stores.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consul_peering_operator::crd::{FINALIZER, PeeringAcceptor, reason, token_fingerprint};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use support::operator::*;

const SECRET: &str = "peering-token-dc2";
const KEY: &str = "data";

/// The decoded JSON of a token and its raw text (for the field order).
fn decode(token: &str) -> (Value, String) {
    let raw = String::from_utf8(
        STANDARD
            .decode(token)
            .expect("standard base64 with padding"),
    )
    .expect("UTF-8 JSON");
    (serde_json::from_str(&raw).expect("JSON"), raw)
}

/// Asserts the layout of reference section B.2, field order included, for a token dc1 issued.
fn assert_token_layout(h: &Harness, token: &str, peer_name: &str, manual: Value) {
    let (json, raw) = decode(token);
    let fields = [
        "\"CA\":",
        "\"ManualServerAddresses\":",
        "\"ServerAddresses\":",
        "\"ServerName\":",
        "\"PeerID\":",
        "\"EstablishmentSecret\":",
        "\"Remote\":",
        "\"Partition\":",
        "\"Datacenter\":",
        "\"Locality\":",
    ];
    let positions: Vec<usize> = fields
        .iter()
        .map(|f| raw.find(f).unwrap_or_else(|| panic!("{f} missing")))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "fields out of order"
    );
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), 7, "exactly the fields of B.2");
    assert_eq!(json["CA"], json!([h.dc1.connect_ca_pem()]));
    assert!(json["CA"][0].as_str().unwrap().ends_with('\n'));
    assert_eq!(json["ManualServerAddresses"], manual);
    assert_eq!(
        json["ServerAddresses"],
        json!([h.dc1.peering_addr().to_string()])
    );
    assert_eq!(json["ServerName"], json!(h.dc1.server_name()));
    assert!(h.dc1.server_name().starts_with("server.dc1.peering."));
    let peering = h
        .dc1
        .peering("", peer_name)
        .expect("the peering exists in dc1");
    assert_eq!(json["PeerID"], json!(peering.id));
    let secret = json["EstablishmentSecret"].as_str().unwrap();
    assert_eq!(secret.len(), 36, "a UUID");
    assert_eq!(
        json["Remote"],
        json!({"Partition": "default", "Datacenter": "dc1", "Locality": null})
    );
}

#[tokio::test]
async fn a_new_acceptor_gets_ready_and_a_token_dc2_accepts() {
    let h = Harness::start().await;
    h.create_acceptor(json!({
        "metadata": {"name": "dc2", "namespace": NAMESPACE},
        "spec": {
            "peer": {"secret": {"name": SECRET, "key": KEY, "backend": "kubernetes"}},
            "meta": {"env": "e2e"},
        },
    }))
    .await;
    let acceptor = h.wait_ready("dc2").await;

    let status = acceptor.status.clone().unwrap();
    let peering = h.dc1.peering("", "dc2").expect("dc1 has the peering");
    assert_eq!(reason(&acceptor), reason::READY);
    assert_eq!(status.peering_id.as_deref(), Some(peering.id.as_str()));
    assert_eq!(status.state.as_deref(), Some("PENDING"));
    assert_eq!(status.latest_peering_version, Some(0));
    assert_eq!(status.observed_generation, acceptor.metadata.generation);
    assert!(status.last_synced_time.is_some());
    let secret_ref = status.secret.unwrap();
    assert_eq!(
        (
            secret_ref.name.as_deref(),
            secret_ref.key.as_deref(),
            secret_ref.backend.as_deref()
        ),
        (Some(SECRET), Some(KEY), Some("kubernetes"))
    );
    assert_eq!(peering.meta.get("env").map(String::as_str), Some("e2e"));
    assert!(
        acceptor
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"consulpeering.io/finalizer".to_string())
    );

    let secret = h.secrets().get(SECRET).await.unwrap();
    assert_eq!(
        secret.metadata.labels.as_ref().unwrap()["consulpeering.io/peering-token"],
        "true"
    );
    let annotations = secret.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["consulpeering.io/peer-name"], "dc2");
    assert_eq!(annotations["consulpeering.io/peering-id"], peering.id);
    let token = h
        .token(SECRET, KEY)
        .await
        .expect("the Secret holds the token");
    assert!(annotations.values().all(|v| !v.contains(&token)));
    assert_token_layout(&h, &token, "dc2", Value::Null);
    assert_eq!(h.tokens_issued(), 1);

    h.establish_on_dc2("dc1", &token)
        .await
        .expect("dc2 accepts the token for establish");
    h.wait_for("both sides ACTIVE", || async {
        let dc1 = h.dc1.peering("", "dc2")?;
        let dc2 = h.dc2.peering("", "dc1")?;
        (dc1.state.as_str() == "ACTIVE" && dc2.state.as_str() == "ACTIVE").then_some(())
    })
    .await;
    assert_eq!(h.dc2.peering("", "dc1").unwrap().peer_id, peering.id);
    assert_eq!(h.tokens_issued(), 1, "establishing generates nothing");
}

/// The status's latest acted-on rotation version.
fn latest_version(acceptor: &PeeringAcceptor) -> Option<i64> {
    acceptor
        .status
        .as_ref()
        .and_then(|s| s.latest_peering_version)
}

fn peering_id(acceptor: &PeeringAcceptor) -> Option<String> {
    acceptor.status.as_ref().and_then(|s| s.peering_id.clone())
}

fn is_ready(acceptor: &PeeringAcceptor) -> bool {
    ready(acceptor).is_some_and(|c| c.status.as_str() == "True")
}

fn message(acceptor: &PeeringAcceptor) -> String {
    ready(acceptor)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// Consul's refusal of a used, superseded or deleted token.
fn assert_refused(result: Result<(), consul_peering_operator::consul::ConsulError>, what: &str) {
    let error = result.expect_err(what);
    assert!(
        error
            .to_string()
            .contains("a new peering token must be generated"),
        "{what}: {error}"
    );
}

/// Establishes dc2's side with `token` and waits until the acceptor shows the peering ACTIVE.
async fn establish_and_wait_active(h: &Harness, token: &str) -> PeeringAcceptor {
    h.establish_on_dc2("dc1", token)
        .await
        .expect("dc2 establishes with the token");
    h.wait_acceptor("dc2", "state ACTIVE", |a| state(a) == Some("ACTIVE"))
        .await
}

/// A Ready acceptor `dc2` with its first token.
async fn ready_acceptor(h: &Harness) -> (PeeringAcceptor, String) {
    h.create_simple_acceptor("dc2", SECRET).await;
    let acceptor = h.wait_ready("dc2").await;
    let token = h
        .token(SECRET, KEY)
        .await
        .expect("the Secret holds a token");
    (acceptor, token)
}

#[tokio::test]
async fn a_ready_acceptor_is_quiet_at_steady_state() {
    let h = Harness::start().await;
    ready_acceptor(&h).await;
    h.assert_quiet(Duration::from_secs(3), "after Ready").await;
    assert_eq!(h.tokens_issued(), 1);
}

#[tokio::test]
async fn a_rotation_bump_gives_a_new_token_and_the_old_one_is_refused() {
    let h = Harness::start().await;
    let (first, t1) = ready_acceptor(&h).await;
    let id = peering_id(&first).unwrap();

    h.annotate("dc2", "consulpeering.io/peering-version", Some("1"))
        .await;
    let t2 = h.wait_new_token(SECRET, KEY, Some(&t1)).await;
    let rotated = h
        .wait_acceptor("dc2", "latestPeeringVersion 1 and Ready", |a| {
            latest_version(a) == Some(1) && is_ready(a)
        })
        .await;
    assert_eq!(h.tokens_issued(), 2);
    // The same Consul peering gets a new establishment secret.
    assert_eq!(peering_id(&rotated).as_deref(), Some(id.as_str()));
    assert_eq!(decode(&t2).0["PeerID"], json!(id));

    // consul-k8s's annotation is honoured too: the higher of the two counts.
    h.annotate("dc2", "consul.hashicorp.com/peering-version", Some("2"))
        .await;
    let t3 = h.wait_new_token(SECRET, KEY, Some(&t2)).await;
    h.wait_acceptor("dc2", "latestPeeringVersion 2 and Ready", |a| {
        latest_version(a) == Some(2) && is_ready(a)
    })
    .await;
    assert_eq!(h.tokens_issued(), 3);

    // Raising ours to the same version asks for nothing new.
    h.annotate("dc2", "consulpeering.io/peering-version", Some("2"))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.tokens_issued(), 3);
    assert_eq!(h.token(SECRET, KEY).await.as_deref(), Some(t3.as_str()));

    assert_refused(h.establish_on_dc2("from-t1", &t1).await, "the first token");
    assert_refused(h.establish_on_dc2("from-t2", &t2).await, "the second token");
    establish_and_wait_active(&h, &t3).await;
    let events = h.events_json().await;
    assert!(events.contains("TokenRotated"), "{events}");
    h.assert_quiet(Duration::from_secs(2), "after rotations")
        .await;
}

#[tokio::test]
async fn deleting_the_secret_restores_it_with_a_fresh_token() {
    let h = Harness::start().await;
    let (first, t1) = ready_acceptor(&h).await;
    h.secrets()
        .delete(SECRET, &Default::default())
        .await
        .expect("delete the Secret");
    let t2 = h.wait_new_token(SECRET, KEY, Some(&t1)).await;
    let acceptor = h.wait_ready("dc2").await;
    assert_eq!(h.tokens_issued(), 2);
    assert_eq!(peering_id(&acceptor), peering_id(&first));
    let secret = h.secrets().get(SECRET).await.unwrap();
    assert_eq!(
        secret.metadata.labels.unwrap()["consulpeering.io/peering-token"],
        "true"
    );
    assert_refused(h.establish_on_dc2("from-t1", &t1).await, "the lost token");
    establish_and_wait_active(&h, &t2).await;
    h.assert_quiet(Duration::from_secs(2), "after restoring")
        .await;
}

#[tokio::test]
async fn a_peering_deleted_in_consul_out_of_band_is_regenerated() {
    let h = Harness::start().await;
    let (first, t1) = ready_acceptor(&h).await;
    let old_id = peering_id(&first).unwrap();

    assert!(h.dc1.delete_peering("", "dc2"), "dc1 had the peering");
    let t2 = h.wait_new_token(SECRET, KEY, Some(&t1)).await;
    let acceptor = h
        .wait_acceptor("dc2", "Ready with a new peering ID", |a| {
            is_ready(a) && peering_id(a).is_some_and(|id| id != old_id)
        })
        .await;
    let new_id = h.dc1.peering("", "dc2").expect("a new peering").id;
    assert_ne!(new_id, old_id);
    assert_eq!(peering_id(&acceptor), Some(new_id.clone()));
    assert_eq!(decode(&t2).0["PeerID"], json!(new_id));
    assert_eq!(h.tokens_issued(), 2);
    establish_and_wait_active(&h, &t2).await;
    h.assert_quiet(Duration::from_secs(2), "after regenerating")
        .await;
}

#[tokio::test]
async fn a_failed_status_write_after_the_secret_is_recovered_without_a_new_token() {
    let h = Harness::start().await;
    // The first status writes of the acceptor come after its token was generated and stored.
    h.status_fault.arm(2);
    h.create_simple_acceptor("dc2", SECRET).await;
    let acceptor = h.wait_ready("dc2").await;
    assert_eq!(h.status_fault.failed(), 2, "both status writes were failed");
    assert_eq!(
        h.tokens_issued(),
        1,
        "the status was rebuilt from the Secret"
    );
    let token = h.token(SECRET, KEY).await.unwrap();
    assert_eq!(
        peering_id(&acceptor).map(Value::String),
        Some(decode(&token).0["PeerID"].clone())
    );
    establish_and_wait_active(&h, &token).await;
    h.assert_quiet(Duration::from_secs(2), "after recovering")
        .await;
}

/// A token whose Secret write fails is stored by a later pass, not replaced by a new one:
/// Consul supersedes a peer's token with each new one, so generating again spent one token per
/// failed write, for as long as the API server refused them.
#[tokio::test]
async fn a_failed_secret_write_is_retried_with_the_same_token() {
    let h = Harness::start().await;
    h.secret_fault.arm(2);
    h.create_simple_acceptor("dc2", SECRET).await;
    let acceptor = h.wait_ready("dc2").await;
    assert_eq!(h.secret_fault.failed(), 2, "two Secret writes were failed");
    assert_eq!(h.tokens_issued(), 1, "one token for one cause");
    let token = h.token(SECRET, KEY).await.unwrap();
    assert_eq!(
        peering_id(&acceptor).map(Value::String),
        Some(decode(&token).0["PeerID"].clone())
    );

    // A rotation whose write fails twice: one more token, and it is Consul's newest.
    h.secret_fault.arm(2);
    h.annotate("dc2", "consulpeering.io/peering-version", Some("1"))
        .await;
    let rotated = h.wait_new_token(SECRET, KEY, Some(&token)).await;
    assert_eq!(h.secret_fault.failed(), 4);
    assert_eq!(h.tokens_issued(), 2, "one token for the rotation");
    let newest = h.dc1.issued_tokens().pop().expect("tokens were issued");
    assert_eq!(newest.token, rotated);
    establish_and_wait_active(&h, &rotated).await;
    h.assert_quiet(Duration::from_secs(2), "after the owed writes")
        .await;
}

#[tokio::test]
async fn restarting_the_operator_generates_nothing() {
    let mut h = Harness::start().await;
    let (_, token) = ready_acceptor(&h).await;
    let before = establish_and_wait_active(&h, &token).await;

    // A plain restart: the new operator looks at everything once and changes nothing.
    h.stop_operator().await;
    let counted = h.activity();
    h.start_operator().await;
    h.wait_for("the restarted operator to reconcile", || async {
        (h.activity().kube_reads > counted.kube_reads).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = h.acceptors().get("dc2").await.unwrap();
    let done = h.activity().minus(&counted);
    assert_eq!(
        (done.token_calls, done.establish_calls, done.kube_writes),
        (0, 0, 0),
        "{done:?}; Kubernetes requests so far: {}\nstatus before: {}\nstatus after: {}",
        h.operator_requests(),
        serde_json::to_string(&before.status).unwrap(),
        serde_json::to_string(&after.status).unwrap(),
    );
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(h.token(SECRET, KEY).await.as_deref(), Some(token.as_str()));

    // A restart that finds the status lost (restored from a backup without it): it is rebuilt
    // from the Secret's record, still without a token.
    h.stop_operator().await;
    h.acceptors()
        .patch_status(
            "dc2",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"status": null})),
        )
        .await
        .expect("clear the status");
    h.start_operator().await;
    let rebuilt = h
        .wait_acceptor("dc2", "a rebuilt ACTIVE status", |a| {
            state(a) == Some("ACTIVE") && is_ready(a)
        })
        .await;
    assert_eq!(peering_id(&rebuilt), peering_id(&before));
    assert_eq!(latest_version(&rebuilt), Some(0));
    assert_eq!(h.tokens_issued(), 1);
    assert_eq!(h.token(SECRET, KEY).await.as_deref(), Some(token.as_str()));
}

/// Waits until the acceptor, its Secret and the Consul peering are all gone.
/// A finalizer removed by hand is put back at once, so a later delete still removes the
/// peering from Consul instead of leaving it behind.
#[tokio::test]
async fn a_finalizer_removed_by_hand_is_put_back_and_the_delete_cleans_up() {
    let h = Harness::start().await;
    ready_acceptor(&h).await;
    let without_finalizer = json!({"metadata": {"finalizers": null}});
    h.acceptors()
        .patch(
            "dc2",
            &PatchParams::default(),
            &Patch::Merge(&without_finalizer),
        )
        .await
        .expect("the finalizer is removed");
    h.wait_for("the operator to put its finalizer back", || async {
        let acceptor = h.acceptors().get("dc2").await.unwrap();
        acceptor
            .finalizers()
            .iter()
            .any(|f| f == FINALIZER)
            .then_some(())
    })
    .await;
    h.delete_acceptor("dc2").await;
    wait_all_gone(&h).await;
    assert_eq!(h.tokens_issued(), 1);
}

async fn wait_all_gone(h: &Harness) {
    h.wait_for("the acceptor, its Secret and its peering to go", || async {
        let acceptor = h.acceptors().get_opt("dc2").await.unwrap();
        let secret = h.secrets().get_opt(SECRET).await.unwrap();
        let peering = h.dc1.peering("", "dc2");
        (acceptor.is_none() && secret.is_none() && peering.is_none()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn deleting_the_acceptor_removes_the_peering_and_the_secret() {
    let h = Harness::start().await;
    ready_acceptor(&h).await;
    h.delete_acceptor("dc2").await;
    wait_all_gone(&h).await;
    assert_eq!(h.tokens_issued(), 1);
    assert!(h.activity().delete_calls >= 1);
}

/// Deletion cleans up once, also when the operator's cache of acceptors lags behind its own
/// writes: the Secret and Consul changes the cleanup makes wake the acceptor again before its
/// watch says it is gone, and that stale copy must not be cleaned up a second time (a second
/// Consul DELETE, a PeeringDeleted Event counted twice, a failed reconcile on the gone object).
#[tokio::test]
async fn each_deletion_cleans_up_once_even_when_the_cache_lags() {
    let h = Harness::with(Options {
        watch_lag: Some(Duration::from_millis(300)),
        ..Options::default()
    })
    .await;
    let deletions = 10;
    for _ in 0..deletions {
        ready_acceptor(&h).await;
        h.delete_acceptor("dc2").await;
        wait_all_gone(&h).await;
    }
    assert_eq!(
        h.activity().delete_calls,
        deletions,
        "one Consul DELETE each"
    );
    let stories = event_stories(&h).await;
    let deleted: Vec<_> = stories
        .iter()
        .filter(|(reason, _, _)| reason == "PeeringDeleted")
        .collect();
    assert_eq!(deleted.len() as u64, deletions, "{stories:?}");
    assert!(
        deleted.iter().all(|(_, _, count)| *count == 1),
        "{stories:?}"
    );
    let logs = h.logs.text();
    assert!(!logs.contains("reconcile failed"), "{logs}");
    let metrics = operator_metrics(&h).await;
    assert!(
        metrics.contains("consul_peering_operator_reconciles_total{")
            && !metrics.contains("consul_peering_operator_reconcile_failures_total{"),
        "a failed reconcile was counted:\n{metrics}"
    );
}

/// The operator's /metrics, at the address its log line names.
async fn operator_metrics(h: &Harness) -> String {
    let logs = h.logs.text();
    let line = logs
        .lines()
        .find(|l| l.contains("serving /metrics"))
        .expect("the operator logs where it serves /metrics");
    let address = line
        .split_once("address=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .expect("an address in the line");
    reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the /metrics body")
}

#[tokio::test]
async fn deleting_while_consul_fails_keeps_the_finalizer_until_the_delete_succeeds() {
    let h = Harness::start().await;
    ready_acceptor(&h).await;
    h.dc1
        .fail_next(1_000_000, consul_emulator::Failure::consul_like(500));
    h.delete_acceptor("dc2").await;
    let failing = h.wait_reason("dc2", reason::CONSUL_UNAVAILABLE).await;
    assert!(!is_ready(&failing));
    let text = message(&failing);
    assert!(
        text.contains("No cluster leader") && text.contains("deleting the Consul peering"),
        "{text}"
    );

    // Bounded retries while it fails, and nothing is let go.
    let done = h.activity_over(Duration::from_secs(3)).await;
    assert!(done.consul_failures <= 30, "{done:?}");
    let still = h.acceptors().get("dc2").await.expect("the acceptor stays");
    assert!(still.metadata.deletion_timestamp.is_some());
    assert!(
        still
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"consulpeering.io/finalizer".to_string())
    );
    assert!(h.secrets().get_opt(SECRET).await.unwrap().is_some());
    assert_eq!(
        h.dc1
            .peering("", "dc2")
            .map(|p| p.state.as_str().to_owned()),
        Some("PENDING".to_owned())
    );

    h.dc1.clear_faults();
    wait_all_gone(&h).await;
    assert_eq!(h.tokens_issued(), 1);
}

#[tokio::test]
async fn deleting_during_a_consul_outage_finishes_when_consul_is_back() {
    let h = Harness::start().await;
    ready_acceptor(&h).await;
    h.consul_down().await;
    h.delete_acceptor("dc2").await;
    let failing = h.wait_reason("dc2", reason::CONSUL_UNAVAILABLE).await;
    assert!(
        message(&failing).contains("deleting the Consul peering"),
        "{}",
        message(&failing)
    );
    assert!(h.acceptors().get_opt("dc2").await.unwrap().is_some());
    assert!(h.dc1.peering("", "dc2").is_some());
    h.consul_back();
    wait_all_gone(&h).await;
}

#[tokio::test]
async fn an_invalid_rotation_annotation_is_reported_and_changes_nothing() {
    let h = Harness::start().await;
    h.create_acceptor(json!({
        "metadata": {"name": "dc2", "namespace": NAMESPACE,
                     "annotations": {"consulpeering.io/peering-version": "two"}},
        "spec": {"peer": {"secret": {"name": SECRET}}},
    }))
    .await;
    let invalid = h.wait_reason("dc2", reason::INVALID_SPEC).await;
    assert!(!is_ready(&invalid));
    let text = message(&invalid);
    assert!(
        text.contains("consulpeering.io/peering-version") && text.contains("\"two\""),
        "{text}"
    );
    assert_eq!(h.activity().token_calls, 0);
    assert!(h.secrets().get_opt(SECRET).await.unwrap().is_none());
    h.assert_quiet(Duration::from_secs(2), "with an invalid annotation")
        .await;

    h.annotate("dc2", "consulpeering.io/peering-version", Some("1"))
        .await;
    let fixed = h.wait_ready("dc2").await;
    assert_eq!(latest_version(&fixed), Some(1));
    assert_eq!(h.tokens_issued(), 1);
    let token = h.token(SECRET, KEY).await.unwrap();

    // On a Ready acceptor a bad consul-k8s annotation keeps the token where it is.
    h.annotate("dc2", "consul.hashicorp.com/peering-version", Some("-1"))
        .await;
    let invalid = h.wait_reason("dc2", reason::INVALID_SPEC).await;
    assert!(
        message(&invalid).contains("consul.hashicorp.com/peering-version"),
        "{}",
        message(&invalid)
    );
    assert_eq!(h.token(SECRET, KEY).await.as_deref(), Some(token.as_str()));
    h.annotate("dc2", "consul.hashicorp.com/peering-version", None)
        .await;
    h.wait_ready("dc2").await;
    assert_eq!(h.tokens_issued(), 1);
    assert_eq!(h.token(SECRET, KEY).await.as_deref(), Some(token.as_str()));
}

#[tokio::test]
async fn a_peer_name_consul_would_refuse_is_refused_by_the_api_server() {
    let h = Harness::start().await;
    let error = h
        .try_create_acceptor(json!({
            "metadata": {"name": "dc2", "namespace": NAMESPACE},
            "spec": {"peer": {"secret": {"name": SECRET}}, "peerName": "Not_Valid"},
        }))
        .await
        .expect_err("the schema refuses the peer name");
    let kube::Error::Api(status) = error else {
        panic!("not an API error: {error}");
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "PeeringAcceptor.consulpeering.io \"dc2\" is invalid: spec.peerName: Invalid value: \
         \"Not_Valid\": spec.peerName in body should match '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'"
    );
    assert!(h.acceptors().get_opt("dc2").await.unwrap().is_none());
    assert_eq!(h.activity().token_calls, 0);
}

#[tokio::test]
async fn consul_permission_denied_is_reported_with_backoff_and_recovers() {
    let h = Harness::with(Options {
        acl_rules: Some(read_only_rules()),
        ..Options::default()
    })
    .await;
    h.create_simple_acceptor("dc2", SECRET).await;
    let denied = h.wait_reason("dc2", reason::CONSUL_PERMISSION_DENIED).await;
    assert!(!is_ready(&denied));
    let text = message(&denied);
    assert!(
        text.contains("403")
            && text.contains("Permission denied")
            && text.contains("peering:write"),
        "{text}"
    );
    // A 4xx is not retried by the client and the reconcile backs off: a few calls, not a loop.
    let done = h.activity_over(Duration::from_secs(3)).await;
    assert!(done.token_calls <= 3, "{done:?}");
    assert_eq!(done.kube_writes, 0, "{done:?}");
    assert_eq!(h.tokens_issued(), 0);
    assert!(h.secrets().get_opt(SECRET).await.unwrap().is_none());

    // A token with peering:write in the token file is picked up without a restart.
    h.set_consul_rules(write_rules());
    h.wait_ready("dc2").await;
    assert_eq!(h.tokens_issued(), 1);
}

#[tokio::test]
async fn consul_500_is_reported_with_backoff_and_recovers() {
    let h = Harness::start().await;
    h.dc1
        .fail_next(1_000_000, consul_emulator::Failure::consul_like(500));
    h.create_simple_acceptor("dc2", SECRET).await;
    let failing = h.wait_reason("dc2", reason::CONSUL_UNAVAILABLE).await;
    assert!(!is_ready(&failing));
    let text = message(&failing);
    assert!(
        text.contains("500") && text.contains("No cluster leader"),
        "{text}"
    );
    let done = h.activity_over(Duration::from_secs(3)).await;
    assert!(done.consul_calls() <= 30, "{done:?}");
    assert!(done.kube_writes <= 2, "{done:?}");
    assert_eq!(h.tokens_issued(), 0);

    h.dc1.clear_faults();
    h.wait_ready("dc2").await;
    assert_eq!(h.tokens_issued(), 1);
}

#[tokio::test]
async fn consul_refusing_the_request_is_reported() {
    // A partition on Consul CE: the schema cannot know, Consul answers 400.
    let h = Harness::start().await;
    h.create_acceptor(json!({
        "metadata": {"name": "dc2", "namespace": NAMESPACE},
        "spec": {"peer": {"secret": {"name": SECRET}}, "partition": "team-a"},
    }))
    .await;
    let refused = h.wait_reason("dc2", reason::CONSUL_REJECTED).await;
    assert!(
        message(&refused).contains("Partitions are a Consul Enterprise feature"),
        "{}",
        message(&refused)
    );
    let done = h.activity_over(Duration::from_secs(3)).await;
    assert!(done.consul_calls() <= 8, "{done:?}");
    assert_eq!(done.kube_writes, 0, "{done:?}");
    assert_eq!(h.tokens_issued(), 0);
}

#[tokio::test]
async fn a_consul_outage_is_reported_and_a_held_token_survives_it() {
    let h = Harness::start().await;
    let (_, token) = ready_acceptor(&h).await;
    let mark = h.logs.mark();
    h.consul_down().await;
    let down = h.wait_reason("dc2", reason::CONSUL_UNAVAILABLE).await;
    assert!(!is_ready(&down));
    // The operator's attempts while Consul refuses connections (the emulator cannot count them).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = h.logs.since(mark).matches("Consul request failed").count();
    assert!((1..=20).contains(&attempts), "{attempts} failed requests");

    h.consul_back();
    h.wait_ready("dc2").await;
    assert_eq!(
        h.tokens_issued(),
        1,
        "an outage is no reason for a new token"
    );
    assert_eq!(h.token(SECRET, KEY).await.as_deref(), Some(token.as_str()));
    h.establish_on_dc2("dc1", &token)
        .await
        .expect("the token held through the outage works");
}

#[tokio::test]
async fn a_new_acceptor_during_a_consul_outage_gets_ready_when_consul_is_back() {
    let h = Harness::start().await;
    h.consul_down().await;
    h.create_simple_acceptor("dc2", SECRET).await;
    let down = h.wait_reason("dc2", reason::CONSUL_UNAVAILABLE).await;
    assert!(!is_ready(&down));
    assert!(h.secrets().get_opt(SECRET).await.unwrap().is_none());
    h.consul_back();
    h.wait_ready("dc2").await;
    assert_eq!(h.tokens_issued(), 1);
}

#[tokio::test]
async fn a_foreign_secret_in_the_way_is_not_overwritten() {
    let h = Harness::start().await;
    let foreign: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "stringData": {"data": "somebody else's"},
    }))
    .unwrap();
    h.secrets()
        .create(&Default::default(), &foreign)
        .await
        .expect("create the foreign Secret");
    h.create_simple_acceptor("dc2", SECRET).await;
    let conflict = h.wait_reason("dc2", reason::SECRET_CONFLICT).await;
    assert!(!is_ready(&conflict));
    assert!(
        message(&conflict).contains(SECRET),
        "{}",
        message(&conflict)
    );

    let done = h.activity_over(Duration::from_secs(3)).await;
    assert!(done.kube_reads <= 4, "{done:?}");
    assert_eq!(done.kube_writes, 0, "{done:?}");
    assert_eq!(
        h.activity().token_calls,
        0,
        "no token for a Secret it cannot write"
    );
    let untouched = h.secrets().get(SECRET).await.unwrap();
    assert_eq!(
        untouched.data.unwrap()["data"].0,
        b"somebody else's".to_vec()
    );
    assert!(untouched.metadata.labels.unwrap_or_default().is_empty());

    h.secrets()
        .delete(SECRET, &Default::default())
        .await
        .unwrap();
    h.wait_ready("dc2").await;
    assert_eq!(h.tokens_issued(), 1);
}

#[tokio::test]
async fn consul_side_state_changes_reach_the_status_without_any_kubernetes_change() {
    let h = Harness::start().await;
    let (pending, token) = ready_acceptor(&h).await;
    assert_eq!(state(&pending), Some("PENDING"));
    let secret_version = h
        .secrets()
        .get(SECRET)
        .await
        .unwrap()
        .metadata
        .resource_version;
    let counted = h.activity();

    // ACTIVE once a dialer establishes.
    let started = std::time::Instant::now();
    h.establish_on_dc2("dc1", &token).await.unwrap();
    let active = h
        .wait_acceptor("dc2", "state ACTIVE", |a| state(a) == Some("ACTIVE"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(is_ready(&active));
    assert_eq!(reason(&active), reason::ACTIVE);

    // FAILING when the stream breaks.
    let started = std::time::Instant::now();
    assert!(h.dc1.drop_stream("", "dc2", None));
    let failing = h
        .wait_acceptor("dc2", "state FAILING", |a| state(a) == Some("FAILING"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!is_ready(&failing));
    assert_eq!(reason(&failing), reason::PEERING_FAILING);
    h.dc1.clear_faults();
    h.wait_acceptor("dc2", "state ACTIVE again", |a| state(a) == Some("ACTIVE"))
        .await;

    // TERMINATED when dc2 deletes its side.
    let started = std::time::Instant::now();
    consul_client(&h.dc2.url())
        .delete("dc1")
        .await
        .expect("dc2 deletes its side");
    let terminated = h
        .wait_acceptor("dc2", "state TERMINATED", |a| {
            state(a) == Some("TERMINATED")
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!is_ready(&terminated));
    assert_eq!(reason(&terminated), reason::PEERING_TERMINATED);

    // All of it came from the shared list of peerings: nothing changed in Kubernetes but the
    // status, no token was generated and no peering read one by one.
    let done = h.activity().minus(&counted);
    assert_eq!((done.token_calls, done.read_calls), (0, 0), "{done:?}");
    let now = h.acceptors().get("dc2").await.unwrap();
    assert_eq!(now.metadata.generation, pending.metadata.generation);
    assert_eq!(now.metadata.annotations, pending.metadata.annotations);
    assert_eq!(
        h.secrets()
            .get(SECRET)
            .await
            .unwrap()
            .metadata
            .resource_version,
        secret_version
    );

    // A rotation after a termination deletes the dead peering and starts a new one.
    h.annotate("dc2", "consulpeering.io/peering-version", Some("1"))
        .await;
    let fresh = h.wait_new_token(SECRET, KEY, Some(&token)).await;
    let renewed = h
        .wait_acceptor("dc2", "Ready with a new peering", |a| {
            is_ready(a) && latest_version(a) == Some(1) && state(a) == Some("PENDING")
        })
        .await;
    assert_ne!(peering_id(&renewed), peering_id(&pending));
    assert_eq!(h.tokens_issued(), 2);
    h.establish_on_dc2("dc1", &fresh)
        .await
        .expect("dc2 establishes again with the new token");
}

#[tokio::test]
async fn the_token_never_appears_in_logs_events_or_status() {
    let h = Harness::with(Options {
        acl_rules: Some(write_rules()),
        log_level: tracing_subscriber::filter::LevelFilter::TRACE,
        ..Options::default()
    })
    .await;
    // A full cycle: generate, rotate, restore a deleted Secret, delete.
    let (_, t1) = ready_acceptor(&h).await;
    h.annotate("dc2", "consulpeering.io/peering-version", Some("1"))
        .await;
    let t2 = h.wait_new_token(SECRET, KEY, Some(&t1)).await;
    h.wait_acceptor("dc2", "rotated", |a| {
        latest_version(a) == Some(1) && is_ready(a)
    })
    .await;
    h.secrets()
        .delete(SECRET, &Default::default())
        .await
        .unwrap();
    let t3 = h.wait_new_token(SECRET, KEY, Some(&t2)).await;
    let last = h.wait_ready("dc2").await;
    let status = serde_json::to_string(&last.status).unwrap();
    let events = h.events_json().await;
    h.delete_acceptor("dc2").await;
    wait_all_gone(&h).await;
    let logs = h.logs.text();

    // The capture saw the operator at trace level.
    assert!(logs.contains("TRACE"), "no trace output captured");
    assert!(logs.contains("/v1/peering/token"), "no Consul call logged");
    assert!(events.contains("TokenGenerated") && events.contains("TokenRotated"));

    let acl_token =
        std::fs::read_to_string(h.operator_consul_config().token_file.unwrap()).unwrap();
    let mut secrets = vec![("the Consul ACL token".to_string(), acl_token)];
    for (n, token) in [&t1, &t2, &t3].into_iter().enumerate() {
        let (json, _) = decode(token);
        secrets.push((format!("token {n}"), token.clone()));
        secrets.push((format!("token {n} as Secret data"), STANDARD.encode(token)));
        secrets.push((
            format!("establishment secret {n}"),
            json["EstablishmentSecret"].as_str().unwrap().to_owned(),
        ));
    }
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "{what} is in the log");
        assert!(!events.contains(secret.as_str()), "{what} is in an Event");
        assert!(!status.contains(secret.as_str()), "{what} is in the status");
    }
}

/// (reason, note, series count) of every events.k8s.io Event in the namespace.
async fn event_stories(h: &Harness) -> Vec<(String, String, i32)> {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(h.client.clone(), NAMESPACE);
    let list = events.list(&Default::default()).await.expect("list Events");
    list.items
        .into_iter()
        .map(|e| {
            let count = e.series.map_or(1, |s| s.count);
            (
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
                count,
            )
        })
        .collect()
}

/// Each new token has an Event of its own naming it: a second rotation, and a token generated
/// again after its Secret was deleted, are not folded into the first Event of their reason (which
/// would show that one's cause and fingerprint under a fresh time).
#[tokio::test]
async fn every_new_token_has_an_event_of_its_own_that_names_it() {
    let h = Harness::start().await;
    let (_, first) = ready_acceptor(&h).await;
    let mut expected = vec![("TokenGenerated", "(created)", first.clone())];
    let mut last = first;
    for version in ["1", "2"] {
        h.annotate("dc2", "consulpeering.io/peering-version", Some(version))
            .await;
        last = h.wait_new_token(SECRET, KEY, Some(&last)).await;
        expected.push(("TokenRotated", "(rotation)", last.clone()));
    }
    h.secrets()
        .delete(SECRET, &Default::default())
        .await
        .expect("delete the Secret");
    last = h.wait_new_token(SECRET, KEY, Some(&last)).await;
    expected.push(("TokenGenerated", "(secret-missing)", last));

    let stories = h
        .wait_for("an Event naming each token", || async {
            let stories = event_stories(&h).await;
            expected
                .iter()
                .all(|(reason, cause, token)| {
                    let fingerprint = token_fingerprint(token);
                    stories.iter().any(|(r, note, _)| {
                        r == reason && note.contains(cause) && note.contains(&fingerprint)
                    })
                })
                .then_some(stories)
        })
        .await;
    for (reason, _, token) in &expected {
        let fingerprint = token_fingerprint(token);
        let naming: Vec<_> = stories
            .iter()
            .filter(|(r, note, _)| r == reason && note.contains(&fingerprint))
            .collect();
        assert_eq!(
            naming.len(),
            1,
            "one {reason} Event for {fingerprint}: {stories:?}"
        );
        assert_eq!(naming[0].2, 1, "told once: {stories:?}");
    }
}
