//! Bringing each target's copy of the token Secret up to date, and the `Delivered` condition
//! that says how it went.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::remote_dialer;
use super::withdraw::withdraw_removed;
use super::{ANNOTATION_DELIVERED_AT, Failure, RemoteClusters, Targets};
use crate::controller::status::{now, parse_time};
use crate::controller::token_secret::{self, TokenRecord};
use crate::crd::{
    CONDITION_DELIVERED, Condition, ConditionStatus, DeliveryStatus, DeliveryTarget, FIELD_MANAGER,
    PeeringAcceptor, SECRET_ANNOTATION_OWNER, SECRET_ANNOTATION_REFUSED_FINGERPRINT,
    SECRET_ANNOTATION_TOKEN_FINGERPRINT, reason, set_condition, token_fingerprint,
};
use crate::telemetry::Metrics;

/// The token to deliver, as the acceptor's Secret holds it.
struct Token<'a> {
    value: &'a str,
    record: &'a TokenRecord,
}

/// A copy that is in place: when it was delivered (from its annotation), whether this pass
/// wrote it, and whether the dialing side marked this very token refused by its Consul.
struct Delivered {
    at: Option<Time>,
    wrote: bool,
    refused: bool,
}

/// What a delivery pass did.
pub struct Outcome {
    /// The new `status.delivery`.
    pub statuses: Vec<DeliveryStatus>,
    /// Whether any target failed (to be retried with backoff).
    pub any_failed: bool,
    /// Whether a target's copy says the dialing side's Consul refused the token delivered.
    pub refused: bool,
}

/// Brings every target up to date with the token.
pub async fn deliver(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
    token: &str,
    record: &TokenRecord,
    metrics: &Metrics,
) -> Outcome {
    let targets = Targets::of(acceptor, local, remotes);
    let token = Token {
        value: token,
        record,
    };
    let current = acceptor
        .status
        .as_ref()
        .map(|s| s.delivery.clone())
        .unwrap_or_default();
    let mut statuses = Vec::new();
    let mut any_failed = false;
    let mut refused = false;
    for target in targets.listed() {
        let mut status = status_entry(acceptor, &current, target);
        let result = deliver_one(&targets, target, &token).await;
        match &result {
            Ok(delivered) => {
                if delivered.wrote {
                    metrics.token_delivered(true);
                }
                refused |= delivered.refused;
                status.last_delivered_time = delivered.at.clone().or(status.last_delivered_time);
                status.token_fingerprint = Some(record.fingerprint.clone());
            }
            Err(_) => {
                any_failed = true;
                metrics.token_delivered(false);
            }
        }
        let delivered = result.is_ok();
        let condition = delivered_condition(&status, result.map(|_| ()), acceptor);
        set_condition(&mut status.conditions, condition);
        if delivered && remote_dialer::sync(&targets, target, &mut status).await {
            any_failed = true;
        }
        statuses.push(status);
    }
    if withdraw_removed(&targets, &current, &mut statuses).await {
        any_failed = true;
    }
    Outcome {
        statuses,
        any_failed,
        refused,
    }
}

/// The target's entry in `status.delivery`: the current one, or a new one.
fn status_entry(
    acceptor: &PeeringAcceptor,
    current: &[DeliveryStatus],
    target: &DeliveryTarget,
) -> DeliveryStatus {
    let id = target.id(&acceptor.spec);
    let mut status = current
        .iter()
        .find(|s| s.id() == id)
        .cloned()
        .unwrap_or(DeliveryStatus {
            kubeconfig_secret_name: id.kubeconfig_secret_name.clone(),
            kubeconfig_secret_key: None,
            namespace: id.namespace.clone(),
            secret_name: id.secret_name.clone(),
            conditions: Vec::new(),
            last_delivered_time: None,
            token_fingerprint: None,
            dialer: None,
        });
    status.kubeconfig_secret_key = Some(target.kubeconfig_secret_ref.key.clone());
    status
}

/// `Delivered` for one target after this pass.
fn delivered_condition(
    status: &DeliveryStatus,
    result: Result<(), Failure>,
    acceptor: &PeeringAcceptor,
) -> Condition {
    let generation = acceptor.metadata.generation;
    match result {
        Ok(()) => Condition::new(
            CONDITION_DELIVERED,
            ConditionStatus::True,
            reason::DELIVERED,
            format!(
                "Secret {}/{} in the cluster of kubeconfig Secret {} holds the current token",
                status.namespace, status.secret_name, status.kubeconfig_secret_name
            ),
            generation,
            now(),
        ),
        Err(failure) => Condition::new(
            CONDITION_DELIVERED,
            ConditionStatus::False,
            failure.reason,
            failure.message,
            generation,
            now(),
        ),
    }
}

/// Puts the token into one target, unless its copy is current already.
async fn deliver_one(
    targets: &Targets<'_>,
    target: &DeliveryTarget,
    token: &Token<'_>,
) -> Result<Delivered, Failure> {
    let (version, remote) = targets.client(target).await?;
    targets
        .remotes
        .watches
        .watch_copies(targets.watched(target, &version, &remote));
    let spec = &targets.acceptor.spec;
    let (name, key) = (target.secret_name(spec), target.secret_key(spec));
    let api: Api<Secret> = Api::namespaced(remote, &target.namespace);
    let unreachable = |e: kube::Error| {
        Failure::new(
            reason::DELIVERY_FAILED,
            format!(
                "target cluster of kubeconfig Secret {}: {e}",
                target.kubeconfig_secret_ref.name
            ),
        )
    };
    let existing = api.get_opt(name).await.map_err(unreachable)?;
    if let Some(existing) = &existing {
        if !token_secret::is_owned_by(&existing.metadata, targets.acceptor) {
            return Err(Failure::new(
                reason::SECRET_CONFLICT,
                format!(
                    "Secret {}/{name} in the target cluster was not written for this \
                     PeeringAcceptor; the operator does not overwrite it",
                    target.namespace
                ),
            ));
        }
        if is_current(existing, key, token.record) {
            let at = delivered_at(existing);
            let refused = existing
                .annotations()
                .get(SECRET_ANNOTATION_REFUSED_FINGERPRINT)
                == Some(&token.record.fingerprint);
            return Ok(Delivered {
                at,
                wrote: false,
                refused,
            });
        }
    }
    let secret = remote_secret(name, &target.namespace, key, token.value, token.record);
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(unreachable)?;
    let at = delivered_at(&secret);
    Ok(Delivered {
        at,
        wrote: true,
        refused: false,
    })
}

fn delivered_at(secret: &Secret) -> Option<Time> {
    secret
        .annotations()
        .get(ANNOTATION_DELIVERED_AT)
        .and_then(|t| parse_time(t))
}

/// The Secret to apply in a target: the token under the target's key, the watch label, and
/// the record (so the copy is recognisable and its freshness checkable).
fn remote_secret(
    name: &str,
    namespace: &str,
    key: &str,
    token: &str,
    record: &TokenRecord,
) -> Secret {
    let mut secret = token_secret::desired(name, namespace, key, token, record);
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_DELIVERED_AT.to_owned(), now().0.to_string());
    secret
}

/// Whether the remote copy already holds `record`'s token under `key`, written for this
/// acceptor.
fn is_current(remote: &Secret, key: &str, record: &TokenRecord) -> bool {
    let annotations = remote.metadata.annotations.as_ref();
    let annotated = |k: &str| annotations.and_then(|a| a.get(k)).map(String::as_str);
    let holds_token = remote
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| std::str::from_utf8(&v.0).ok())
        .is_some_and(|t| token_fingerprint(t) == record.fingerprint);
    holds_token
        && annotated(SECRET_ANNOTATION_TOKEN_FINGERPRINT) == Some(&record.fingerprint)
        && annotated(SECRET_ANNOTATION_OWNER) == Some(&record.owner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::plan::IssuedToken;
    use crate::crd::SecretOwner;
    use k8s_openapi::ByteString;

    fn record(token: &str) -> TokenRecord {
        TokenRecord {
            issued: IssuedToken {
                peer_name: "dc2".into(),
                peering_id: "id".into(),
                key: "data".into(),
                ..IssuedToken::default()
            },
            fingerprint: token_fingerprint(token),
            generated_at: "2026-11-28T08:00:00Z".into(),
            owner: SecretOwner {
                namespace: "default".into(),
                name: "dc2".into(),
                uid: "u1".into(),
            },
        }
    }

    #[test]
    fn a_copy_is_current_only_with_the_same_token_and_owner() {
        let r = record("t1");
        let copy = remote_secret("s", "ns", "data", "t1", &r);
        assert!(is_current(&copy, "data", &r));
        assert!(!is_current(&copy, "other-key", &r));
        assert!(!is_current(&copy, "data", &record("t2")));
        let mut edited = copy.clone();
        edited
            .data
            .as_mut()
            .unwrap()
            .insert("data".into(), ByteString(b"t2".to_vec()));
        assert!(!is_current(&edited, "data", &r));
        assert!(copy.annotations().contains_key(ANNOTATION_DELIVERED_AT));
    }
}
