//! `spec.delivery[].dialer`, end to end (issue #11, item 1): the acceptor in dc1 delivers its
//! token Secret to dc2 and applies a PeeringDialer there from a template; dc2's own operator
//! establishes, and the acceptor's status shows the remote dialer's Ready and State. The
//! template's changes reach the dialer; removing the target or the acceptor removes it, and a
//! dialer the operator did not create is never touched.

use consul_peering_operator::crd::{
    CONDITION_DIALER_APPLIED, ConditionStatus, DeliveryStatus, LABEL_DELIVERED_DIALER,
    PeeringAcceptor, PeeringDialer, find_condition, reason,
};
use kube::ResourceExt;
use serde_json::{Value, json};
use support::delivery::{apply_delivering_acceptor, delivery_credentials, wait_no_delivery_status};
use support::two_clusters::*;

/// The dialer's name in dc2 (and its Consul peer name there).
const REMOTE_DIALER: &str = "dc1";

/// Delivery to dc2 with a dialer template (`meta` on the dialer when given).
fn delivery_with_dialer(meta: Option<Value>) -> Value {
    let mut dialer = json!({"name": REMOTE_DIALER});
    if let Some(meta) = meta {
        dialer["meta"] = meta;
    }
    json!([{"kubeconfigSecretRef": {"name": KUBECONFIG_SECRET, "key": "kubeconfig"},
            "namespace": NS, "dialer": dialer}])
}

fn target(a: &PeeringAcceptor) -> Option<&DeliveryStatus> {
    a.status.as_ref()?.delivery.first()
}

fn dialer_applied(a: &PeeringAcceptor) -> Option<&consul_peering_operator::crd::Condition> {
    find_condition(&target(a)?.conditions, CONDITION_DIALER_APPLIED)
}

/// Whether the acceptor's status shows the remote dialer Ready and ACTIVE.
fn remote_active(a: &PeeringAcceptor) -> bool {
    target(a).and_then(|t| t.dialer.as_ref()).is_some_and(|d| {
        d.name == REMOTE_DIALER
            && d.ready == Some(ConditionStatus::True)
            && d.state.as_deref() == Some("ACTIVE")
    }) && is(
        dialer_applied(a),
        ConditionStatus::True,
        reason::DIALER_APPLIED,
    )
}

/// dc2's kubeconfig in dc1 and an acceptor with a dialer template: ACTIVE on both sides, as
/// the acceptor's status shows, without anything applied in dc2.
async fn peer_with_template(c: &TwoClusters) -> PeeringAcceptor {
    apply_delivering_acceptor(c, None, delivery_with_dialer(None)).await;
    let peered = wait_for(
        &c.dc1.acceptors(),
        ACCEPTOR,
        "remote dialer Ready and ACTIVE",
        |a| remote_active(a) && acceptor_state(a) == Some("ACTIVE"),
    )
    .await;
    assert_eq!(c.dc2.state(REMOTE_DIALER), Some("ACTIVE"));
    peered
}

/// One resource in dc1 peers both clusters; a changed template reaches the remote dialer; a
/// removed target takes the dialer, its peering in dc2 and the copy with it.
#[tokio::test]
async fn a_dialer_template_peers_from_one_resource_follows_changes_and_goes_with_its_target() {
    let c = TwoClusters::start().await;
    peer_with_template(&c).await;
    let remote = c.dc2.dialers().get(REMOTE_DIALER).await.unwrap();
    assert_eq!(
        remote
            .labels()
            .get(LABEL_DELIVERED_DIALER)
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(remote.spec.peer.secret.name, TOKEN_SECRET);
    assert_eq!(c.dc2.establish_calls(), 1);

    let changed = acceptor(
        ACCEPTOR,
        TOKEN_SECRET,
        Some(delivery_with_dialer(Some(json!({"team": "payments"})))),
    );
    apply(&c.dc1.acceptors(), &changed).await;
    wait_for(
        &c.dc2.dialers(),
        REMOTE_DIALER,
        "the template's meta",
        |d| {
            d.spec
                .meta
                .as_ref()
                .is_some_and(|m| m.get("team").map(String::as_str) == Some("payments"))
        },
    )
    .await;

    apply(&c.dc1.acceptors(), &acceptor(ACCEPTOR, TOKEN_SECRET, None)).await;
    wait_gone(&c.dc2.dialers(), REMOTE_DIALER).await;
    wait_gone(&c.dc2.secrets(), TOKEN_SECRET).await;
    c.dc2.wait_peering(REMOTE_DIALER, None).await;
    wait_no_delivery_status(&c).await;
    c.stop().await;
}

/// Deleting the acceptor deletes the remote dialer (whose operator deletes its peering), the
/// copy, and the acceptor's own peering and Secret: nothing is left in either cluster.
#[tokio::test]
async fn deleting_the_acceptor_deletes_the_remote_dialer_and_the_copy() {
    let c = TwoClusters::start().await;
    let token_in_dc1 = {
        peer_with_template(&c).await;
        secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data")
            .await
            .expect("the token")
    };
    delete_and_wait_gone(&c.dc1.acceptors(), ACCEPTOR).await;
    wait_gone(&c.dc2.dialers(), REMOTE_DIALER).await;
    wait_gone(&c.dc2.secrets(), TOKEN_SECRET).await;
    wait_gone(&c.dc1.secrets(), TOKEN_SECRET).await;
    c.dc1.wait_peering(ACCEPTOR, None).await;
    c.dc2.wait_peering(REMOTE_DIALER, None).await;
    c.assert_no_leak(&delivery_credentials(&c, &[&token_in_dc1]), &[])
        .await;
    c.stop().await;
}

/// A PeeringDialer of the same name that someone else created in dc2 is never overwritten
/// nor deleted (`DialerConflict`, while the copy is still delivered); once it is gone the
/// template's dialer takes its place, and removing the template deletes that one only.
#[tokio::test]
async fn a_dialer_the_operator_did_not_create_is_never_overwritten() {
    let c = TwoClusters::start().await;
    let foreign = dialer(REMOTE_DIALER, "someone-elses-secret");
    apply(&c.dc2.dialers(), &foreign).await;
    apply_delivering_acceptor(&c, None, delivery_with_dialer(None)).await;
    let refused = wait_condition(
        &c.dc1.acceptors(),
        ACCEPTOR,
        dialer_applied,
        ConditionStatus::False,
        reason::DIALER_CONFLICT,
    )
    .await;
    assert!(is(
        delivered(&refused),
        ConditionStatus::True,
        reason::DELIVERED
    ));
    assert!(target(&refused).is_some_and(|t| t.dialer.is_none()));
    let untouched = c.dc2.dialers().get(REMOTE_DIALER).await.unwrap();
    assert_eq!(untouched.spec.peer.secret.name, "someone-elses-secret");
    assert!(!untouched.labels().contains_key(LABEL_DELIVERED_DIALER));

    // Removing the template while the conflict lasts leaves the foreign dialer alone.
    apply(
        &c.dc1.acceptors(),
        &acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery_to(KUBECONFIG_SECRET))),
    )
    .await;
    wait_for(&c.dc1.acceptors(), ACCEPTOR, "no DialerApplied", |a| {
        target(a).is_some() && dialer_applied(a).is_none()
    })
    .await;
    assert!(
        c.dc2
            .dialers()
            .get_opt(REMOTE_DIALER)
            .await
            .unwrap()
            .is_some()
    );

    // The foreign dialer gone and the template back: the operator's own takes its place.
    delete_and_wait_gone(&c.dc2.dialers(), REMOTE_DIALER).await;
    let with_template = acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery_with_dialer(None)));
    apply(&c.dc1.acceptors(), &with_template).await;
    wait_for(&c.dc1.acceptors(), ACCEPTOR, "remote dialer ACTIVE", |a| {
        remote_active(a)
    })
    .await;
    let ours: PeeringDialer = c.dc2.dialers().get(REMOTE_DIALER).await.unwrap();
    assert_eq!(ours.spec.peer.secret.name, TOKEN_SECRET);
    c.stop().await;
}
