//! The PeeringDialer a target's `dialer` template asks for: applied in the target namespace
//! next to the delivered Secret (never over one the operator did not create), watched so that
//! its status reaches the acceptor's, and deleted with the template or the target. The target
//! cluster's own operator establishes the peering with it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::{Failure, Targets};
use crate::controller::status::now;
use crate::controller::token_secret;
use crate::crd::{
    CONDITION_DIALER_APPLIED, CONDITION_READY, Condition, ConditionStatus, DeliveryStatus,
    DeliveryTarget, DialerTemplate, FIELD_MANAGER, LABEL_DELIVERED_DIALER, PeerSpec,
    PeeringAcceptor, PeeringDialer, PeeringDialerSpec, RemoteDialerStatus, SECRET_ANNOTATION_OWNER,
    SecretBackend, SecretOwner, SecretRefSpec, find_condition, reason, set_condition,
};

/// Brings a target's dialer in line with its template, once its Secret is delivered: applied
/// when missing or different; the dialer of an earlier template (renamed or removed) deleted.
/// Sets `status.dialer` and `DialerApplied`; returns whether the target failed (to retry).
pub(super) async fn sync(
    targets: &Targets<'_>,
    target: &DeliveryTarget,
    status: &mut DeliveryStatus,
) -> bool {
    let template = target.dialer.as_ref();
    let previous = status.dialer.as_ref().map(|d| d.name.clone());
    if template.is_none() && previous.is_none() {
        status
            .conditions
            .retain(|c| c.type_ != CONDITION_DIALER_APPLIED);
        return false;
    }
    let result = sync_reachable(targets, target, template, previous, status).await;
    let generation = targets.acceptor.metadata.generation;
    let condition = match (template, result) {
        (None, Ok(())) => {
            status
                .conditions
                .retain(|c| c.type_ != CONDITION_DIALER_APPLIED);
            return false;
        }
        (Some(template), Ok(())) => Condition::new(
            CONDITION_DIALER_APPLIED,
            ConditionStatus::True,
            reason::DIALER_APPLIED,
            format!(
                "PeeringDialer {}/{} in the cluster of kubeconfig Secret {} matches the template",
                target.namespace, template.name, target.kubeconfig_secret_ref.name
            ),
            generation,
            now(),
        ),
        (_, Err(failure)) => Condition::new(
            CONDITION_DIALER_APPLIED,
            ConditionStatus::False,
            failure.reason,
            failure.message,
            generation,
            now(),
        ),
    };
    let failed = condition.status != ConditionStatus::True;
    set_condition(&mut status.conditions, condition);
    failed
}

async fn sync_reachable(
    targets: &Targets<'_>,
    target: &DeliveryTarget,
    template: Option<&DialerTemplate>,
    previous: Option<String>,
    status: &mut DeliveryStatus,
) -> Result<(), Failure> {
    let (version, remote) = targets.client(target).await?;
    let api: Api<PeeringDialer> = Api::namespaced(remote.clone(), &target.namespace);
    if let Some(old) = previous.filter(|old| template.is_none_or(|t| t.name != *old)) {
        delete_owned(&api, &old, targets.acceptor).await?;
        status.dialer = None;
    }
    let Some(template) = template else {
        return Ok(());
    };
    targets
        .remotes
        .watches
        .watch_dialers(targets.watched(target, &version, &remote));
    let dialer = apply(&api, targets.acceptor, target, template).await?;
    status.dialer = Some(observed(&dialer));
    Ok(())
}

/// Applies the template's dialer unless it is current; a dialer the operator did not create
/// is left alone.
async fn apply(
    api: &Api<PeeringDialer>,
    acceptor: &PeeringAcceptor,
    target: &DeliveryTarget,
    template: &DialerTemplate,
) -> Result<PeeringDialer, Failure> {
    let desired = desired(acceptor, target, template);
    let failed = |e: kube::Error| {
        Failure::new(
            reason::DELIVERY_FAILED,
            format!(
                "PeeringDialer {}/{} in the cluster of kubeconfig Secret {}: {e}",
                target.namespace, template.name, target.kubeconfig_secret_ref.name
            ),
        )
    };
    if let Some(existing) = api.get_opt(&template.name).await.map_err(failed)? {
        if !token_secret::is_owned_by(&existing.metadata, acceptor) {
            return Err(Failure::new(
                reason::DIALER_CONFLICT,
                format!(
                    "PeeringDialer {}/{} in the target cluster was not created for this \
                     PeeringAcceptor; the operator does not overwrite it",
                    target.namespace, template.name
                ),
            ));
        }
        if is_current(&existing, &desired) {
            return Ok(existing);
        }
    }
    api.patch(
        &template.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map_err(failed)
}

/// Deletes the dialer `name` if this acceptor created it (its own operator then deletes its
/// Consul peering).
pub(super) async fn delete_owned(
    api: &Api<PeeringDialer>,
    name: &str,
    acceptor: &PeeringAcceptor,
) -> Result<(), Failure> {
    let failed = |e: kube::Error| {
        Failure::new(
            reason::DELIVERY_FAILED,
            format!("deleting the PeeringDialer {name} in the target cluster: {e}"),
        )
    };
    let existing = api.get_opt(name).await.map_err(failed)?;
    if existing.is_some_and(|d| token_secret::is_owned_by(&d.metadata, acceptor)) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}

/// The dialer a template describes: reading the delivered Secret, labelled for the watches,
/// with its owner recorded as on the token Secrets.
fn desired(
    acceptor: &PeeringAcceptor,
    target: &DeliveryTarget,
    template: &DialerTemplate,
) -> PeeringDialer {
    let owner = SecretOwner {
        namespace: acceptor.namespace().unwrap_or_default(),
        name: acceptor.name_any(),
        uid: acceptor.uid().unwrap_or_default(),
    };
    let spec = PeeringDialerSpec {
        peer: PeerSpec {
            secret: SecretRefSpec {
                name: target.secret_name(&acceptor.spec).to_owned(),
                key: target.secret_key(&acceptor.spec).to_owned(),
                backend: SecretBackend::Kubernetes,
            },
        },
        peer_name: template.peer_name.clone(),
        meta: template.meta.clone(),
        partition: template.partition.clone(),
    };
    let mut dialer = PeeringDialer::new(&template.name, spec);
    dialer.metadata = ObjectMeta {
        name: Some(template.name.clone()),
        namespace: Some(target.namespace.clone()),
        labels: Some(BTreeMap::from([(
            LABEL_DELIVERED_DIALER.to_owned(),
            "true".to_owned(),
        )])),
        annotations: Some(BTreeMap::from([(
            SECRET_ANNOTATION_OWNER.to_owned(),
            owner.to_string(),
        )])),
        ..ObjectMeta::default()
    };
    dialer
}

/// Whether the remote dialer has the desired spec, label and owner already.
fn is_current(existing: &PeeringDialer, desired: &PeeringDialer) -> bool {
    let has = |ours: &Option<BTreeMap<String, String>>,
               theirs: &Option<BTreeMap<String, String>>| {
        ours.iter()
            .flatten()
            .all(|(k, v)| theirs.as_ref().and_then(|t| t.get(k)) == Some(v))
    };
    existing.spec == desired.spec
        && has(&desired.metadata.labels, &existing.metadata.labels)
        && has(
            &desired.metadata.annotations,
            &existing.metadata.annotations,
        )
}

/// What the acceptor's status shows of a remote dialer.
fn observed(dialer: &PeeringDialer) -> RemoteDialerStatus {
    let status = dialer.status.as_ref();
    let ready = status.and_then(|s| find_condition(&s.conditions, CONDITION_READY));
    RemoteDialerStatus {
        name: dialer.name_any(),
        ready: ready.map(|c| c.status),
        reason: ready.map(|c| c.reason.clone()),
        state: status.and_then(|s| s.state.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptor() -> PeeringAcceptor {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringAcceptor",
            "metadata": {"name": "dc2", "namespace": "default", "uid": "u1"},
            "spec": {"peer": {"secret": {"name": "token"}}, "delivery": [{
                "kubeconfigSecretRef": {"name": "kc"}, "namespace": "consul",
                "dialer": {"name": "dc1", "meta": {"env": "prod"}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn the_dialer_reads_the_delivered_secret_and_names_its_owner() {
        let a = acceptor();
        let target = &a.spec.delivery.as_ref().unwrap()[0];
        let dialer = desired(&a, target, target.dialer.as_ref().unwrap());
        assert_eq!(dialer.metadata.namespace.as_deref(), Some("consul"));
        assert_eq!(dialer.spec.peer.secret.name, "token");
        assert_eq!(dialer.spec.peer.secret.key, "data");
        assert!(token_secret::is_owned_by(&dialer.metadata, &a));
        assert!(is_current(&dialer, &dialer));
        let mut edited = dialer.clone();
        edited.spec.meta = None;
        assert!(!is_current(&edited, &dialer));
        let mut foreign = dialer.clone();
        foreign.metadata.annotations = None;
        assert!(!is_current(&foreign, &dialer));
        assert!(!token_secret::is_owned_by(&foreign.metadata, &a));
    }
}
