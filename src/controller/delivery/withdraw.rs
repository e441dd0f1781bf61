//! Taking delivered copies (and the dialers applied next to them) back: all of them when the
//! acceptor is deleted, and those of targets removed from its spec on every pass.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::DeleteParams;

use super::{Failure, RemoteClusters, Targets, remote_dialer};
use crate::controller::status::now;
use crate::controller::token_secret;
use crate::crd::{
    CONDITION_DELIVERED, Condition, ConditionStatus, DEFAULT_KUBECONFIG_KEY, DeliveryStatus,
    DeliveryTarget, KubeconfigSecretRef, PeeringAcceptor, PeeringDialer, reason, set_condition,
};

/// Deletes the delivered copies (on deletion of the acceptor). A target whose kubeconfig is
/// missing or unusable is skipped: nothing could reach it; an unreachable one is an error, so
/// the finalizer stays and the delete is retried.
pub async fn withdraw(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
) -> Result<(), String> {
    let targets = Targets::of(acceptor, local, remotes);
    let reported = acceptor
        .status
        .as_ref()
        .map(|s| s.delivery.as_slice())
        .unwrap_or_default();
    for target in targets.listed() {
        let id = target.id(&acceptor.spec);
        let mut dialers: Vec<&str> = target.dialer.iter().map(|d| d.name.as_str()).collect();
        let entry = reported.iter().find(|s| s.id() == id);
        dialers.extend(
            entry
                .and_then(|s| s.dialer.as_ref())
                .map(|d| d.name.as_str()),
        );
        withdraw_one(&targets, target, &id.secret_name, &dialers)
            .await
            .map_err(|f| f.message)?;
    }
    Ok(())
}

/// Deletes what this acceptor put into one target, if it is still there: the `dialers` it
/// applied, then the copy.
async fn withdraw_one(
    targets: &Targets<'_>,
    target: &DeliveryTarget,
    name: &str,
    dialers: &[&str],
) -> Result<(), Failure> {
    let remote = match targets.client(target).await {
        Ok((_, remote)) => remote,
        Err(failure) if failure.reason == reason::INVALID_KUBECONFIG => {
            tracing::warn!(message = %failure.message, "not withdrawing a delivered token Secret");
            return Ok(());
        }
        Err(failure) => return Err(failure),
    };
    let dialer_api: Api<PeeringDialer> = Api::namespaced(remote.clone(), &target.namespace);
    for dialer in dialers {
        remote_dialer::delete_owned(&dialer_api, dialer, targets.acceptor).await?;
    }
    let failed = |e: kube::Error| {
        Failure::new(
            reason::DELIVERY_FAILED,
            format!(
                "deleting the delivered Secret {}/{name}: {e}",
                target.namespace
            ),
        )
    };
    let api: Api<Secret> = Api::namespaced(remote, &target.namespace);
    let existing = api.get_opt(name).await.map_err(failed)?;
    if existing.is_some_and(|s| token_secret::is_owned_by(&s.metadata, targets.acceptor)) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}

/// Withdraws the copies of targets that were removed from the spec (their status entries
/// remember them); an entry stays, Delivered=False, while its copy cannot be deleted yet.
pub(super) async fn withdraw_removed(
    targets: &Targets<'_>,
    current: &[DeliveryStatus],
    statuses: &mut Vec<DeliveryStatus>,
) -> bool {
    let mut any_failed = false;
    let removed: Vec<&DeliveryStatus> = current
        .iter()
        .filter(|s| !statuses.iter().any(|n| n.id() == s.id()))
        .collect();
    for old in removed {
        let target = removed_target(old);
        let dialers: Vec<&str> = old.dialer.iter().map(|d| d.name.as_str()).collect();
        if let Err(failure) = withdraw_one(targets, &target, &old.secret_name, &dialers).await {
            any_failed = true;
            let mut kept = old.clone();
            set_condition(
                &mut kept.conditions,
                Condition::new(
                    CONDITION_DELIVERED,
                    ConditionStatus::False,
                    failure.reason,
                    format!("target removed from spec.delivery; {}", failure.message),
                    targets.acceptor.metadata.generation,
                    now(),
                ),
            );
            statuses.push(kept);
        }
    }
    any_failed
}

/// A removed target as its status entry remembers it.
fn removed_target(old: &DeliveryStatus) -> DeliveryTarget {
    DeliveryTarget {
        kubeconfig_secret_ref: KubeconfigSecretRef {
            name: old.kubeconfig_secret_name.clone(),
            key: old
                .kubeconfig_secret_key
                .clone()
                .unwrap_or_else(|| DEFAULT_KUBECONFIG_KEY.to_owned()),
        },
        namespace: old.namespace.clone(),
        secret_name: Some(old.secret_name.clone()),
        secret_key: None,
        dialer: None,
    }
}
