//! What the end-to-end tests of delivery share (`tests/delivery.rs`, `tests/remote_dialer.rs`):
//! dc1's acceptor delivering to dc2, the waits on its delivery status, and the credentials such
//! a test must never see shown.

use consul_peering_operator::crd::{ConditionStatus, PeeringAcceptor, reason};
use serde_json::Value;

use super::two_clusters::{
    ACCEPTOR, KUBECONFIG_SECRET, TOKEN_SECRET, TwoClusters, acceptor, apply, delivered,
    kubeconfig_credentials, token_credentials, wait_condition, wait_for,
};

/// dc2's kubeconfig in dc1 (its server address replaced by `server` when given), then dc1's
/// acceptor delivering its token with `delivery` (its `spec.delivery`).
pub async fn apply_delivering_acceptor(c: &TwoClusters, server: Option<&str>, delivery: Value) {
    c.kubeconfig_secret(KUBECONFIG_SECRET, server).await;
    let delivering = acceptor(ACCEPTOR, TOKEN_SECRET, Some(delivery));
    apply(&c.dc1.acceptors(), &delivering).await;
}

/// Waits until dc1's acceptor shows its delivery's `Delivered` condition with this status and
/// reason; returns it.
pub async fn wait_delivery_is(
    c: &TwoClusters,
    status: ConditionStatus,
    reason: &str,
) -> PeeringAcceptor {
    wait_condition(&c.dc1.acceptors(), ACCEPTOR, delivered, status, reason).await
}

/// Waits until dc1's acceptor reports its delivery done (`Delivered=True`); returns it.
pub async fn wait_delivered(c: &TwoClusters) -> PeeringAcceptor {
    wait_delivery_is(c, ConditionStatus::True, reason::DELIVERED).await
}

/// Waits until dc1's acceptor reports a delivery (or withdrawal) failing; returns it.
pub async fn wait_delivery_failed(c: &TwoClusters) -> PeeringAcceptor {
    wait_delivery_is(c, ConditionStatus::False, reason::DELIVERY_FAILED).await
}

/// Waits until dc1's acceptor shows no delivery target in its status (all withdrawn).
pub async fn wait_no_delivery_status(c: &TwoClusters) {
    wait_for(&c.dc1.acceptors(), ACCEPTOR, "no delivery status", |a| {
        a.status.as_ref().is_some_and(|s| s.delivery.is_empty())
    })
    .await;
}

/// What a test of delivery must never see shown: the credentials of `tokens` and those of dc2's
/// kubeconfig (which dc1 holds to deliver).
pub fn delivery_credentials(c: &TwoClusters, tokens: &[&str]) -> Vec<String> {
    let mut credentials: Vec<String> = tokens.iter().flat_map(|t| token_credentials(t)).collect();
    credentials.extend(kubeconfig_credentials(&c.dc2.kube.kubeconfig()));
    credentials
}
