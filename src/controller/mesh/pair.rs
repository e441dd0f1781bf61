//! One pair of a mesh: in the accepting member, a copy of the dialing member's kubeconfig and
//! a PeeringAcceptor that delivers its token, with a dialer template, to the dialing member;
//! how the pair stands, from that acceptor and the dialer in the dialing member; and its
//! removal.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use super::MeshContext;
use super::members::{self, Reached};
use super::names::PairNames;
use crate::controller::delivery::Failure;
use crate::controller::status::now;
use crate::crd::{
    ANNOTATION_MESH, CONDITION_DELIVERED, CONDITION_DIALER_APPLIED, CONDITION_READY,
    ConditionStatus, DEFAULT_KUBECONFIG_KEY, DeliveryTarget, DialerTemplate, FIELD_MANAGER,
    KubeconfigSecretRef, LABEL_MESH_MANAGED, MeshPair, MeshPairStatus, PeerSpec, PeeringAcceptor,
    PeeringAcceptorSpec, PeeringDialer, PeeringMesh, SecretBackend, SecretOwner, SecretRefSpec,
    find_condition, reason,
};

/// How a pair stands after a pass.
struct Standing {
    ready: ConditionStatus,
    reason: String,
    message: String,
    state: Option<String>,
}

impl Standing {
    fn not_ready(reason: &str, message: String) -> Self {
        Standing {
            ready: ConditionStatus::False,
            reason: reason.to_owned(),
            message,
            state: None,
        }
    }
}

impl From<Failure> for Standing {
    fn from(failure: Failure) -> Self {
        Standing::not_ready(failure.reason, failure.message)
    }
}

/// Applies a pair's objects and reads how it stands; returns its status entry and whether it
/// failed (to be retried).
pub(super) async fn sync(
    ctx: &MeshContext,
    mesh: &PeeringMesh,
    pair: &MeshPair<'_>,
    previous: Option<&MeshPairStatus>,
) -> (MeshPairStatus, bool) {
    let (standing, failed) = match sync_reachable(ctx, mesh, pair).await {
        Ok(standing) => (standing, false),
        Err(failure) => (Standing::from(failure), true),
    };
    (entry(pair, standing, previous), failed)
}

async fn sync_reachable(
    ctx: &MeshContext,
    mesh: &PeeringMesh,
    pair: &MeshPair<'_>,
) -> Result<Standing, Failure> {
    let namespace = mesh.namespace().unwrap_or_default();
    let (accepting, dialing) = (pair.acceptor, pair.dialer);
    let names = PairNames::of(&mesh.name_any(), &accepting.name, &dialing.name);
    let Some(dialer_kubeconfig) = &dialing.kubeconfig_secret_ref else {
        return Err(Failure::new(
            reason::INVALID_SPEC,
            format!(
                "member {} dials but has no kubeconfigSecretRef",
                dialing.name
            ),
        ));
    };
    let kubeconfig = members::kubeconfig(ctx, &namespace, &dialing.name, dialer_kubeconfig).await?;
    let reached = members::reach(
        ctx,
        &namespace,
        &accepting.name,
        accepting.kubeconfig_secret_ref.as_ref(),
    )
    .await?;
    members::watch_acceptors(ctx, &reached, &accepting.namespace);
    let secret = kubeconfig_copy(mesh, &names, &accepting.namespace, kubeconfig);
    apply_owned(&reached, mesh, &accepting.name, secret, secret_is_current).await?;
    let acceptor = desired_acceptor(mesh, pair, &names);
    let acceptor = apply_owned(
        &reached,
        mesh,
        &accepting.name,
        acceptor,
        acceptor_is_current,
    )
    .await?;
    let dialing_cluster =
        members::reach(ctx, &namespace, &dialing.name, Some(dialer_kubeconfig)).await?;
    let dialers: Api<PeeringDialer> = Api::namespaced(dialing_cluster.client, &dialing.namespace);
    let dialer = dialers
        .get_opt(&names.dialer)
        .await
        .map_err(members::unreachable(&dialing.name))?;
    Ok(standing(pair, &acceptor, dialer.as_ref()))
}

/// The pair's status entry; `since` moves only when `ready` does.
fn entry(
    pair: &MeshPair<'_>,
    standing: Standing,
    previous: Option<&MeshPairStatus>,
) -> MeshPairStatus {
    let since = previous
        .filter(|p| p.ready == standing.ready)
        .and_then(|p| p.since.clone())
        .or_else(|| Some(now()));
    let mut entry = skeleton(pair);
    entry.ready = standing.ready;
    entry.reason = standing.reason;
    entry.message = standing.message;
    entry.state = standing
        .state
        .or_else(|| previous.and_then(|p| p.state.clone()));
    entry.since = since;
    entry
}

/// An entry that names the pair and where its resources are, standing unknown.
pub(super) fn skeleton(pair: &MeshPair<'_>) -> MeshPairStatus {
    MeshPairStatus {
        acceptor: pair.acceptor.name.clone(),
        dialer: pair.dialer.name.clone(),
        ready: ConditionStatus::Unknown,
        reason: String::new(),
        message: String::new(),
        state: None,
        since: None,
        acceptor_namespace: pair.acceptor.namespace.clone(),
        acceptor_kubeconfig_secret_ref: pair.acceptor.kubeconfig_secret_ref.clone(),
    }
}

/// How the pair stands: the first side that is not ready says why; ready when both sides
/// are and the peering is ACTIVE.
fn standing(
    pair: &MeshPair<'_>,
    acceptor: &PeeringAcceptor,
    dialer: Option<&PeeringDialer>,
) -> Standing {
    let (a, d) = (&pair.acceptor.name, &pair.dialer.name);
    let status = acceptor.status.clone().unwrap_or_default();
    let target = status.delivery.first();
    let target_condition = |type_| target.and_then(|t| find_condition(&t.conditions, type_));
    let dialer_status = dialer.and_then(|d| d.status.as_ref());
    let checks = [
        (
            find_condition(&status.conditions, CONDITION_READY),
            format!("acceptor in {a}"),
        ),
        (
            target_condition(CONDITION_DELIVERED),
            format!("delivery from {a} to {d}"),
        ),
        (
            target_condition(CONDITION_DIALER_APPLIED),
            format!("dialer template of {a} in {d}"),
        ),
        (
            dialer_status.and_then(|s| find_condition(&s.conditions, CONDITION_READY)),
            format!("dialer in {d}"),
        ),
    ];
    let mut result = 'checks: {
        for (condition, side) in checks {
            match condition {
                None => {
                    break 'checks Standing::not_ready(
                        reason::ESTABLISHING,
                        format!("{side}: not reported yet"),
                    );
                }
                Some(c) if c.status != ConditionStatus::True => {
                    break 'checks Standing::not_ready(&c.reason, format!("{side}: {}", c.message));
                }
                Some(_) => {}
            }
        }
        let active = |state: Option<&String>| state.map(String::as_str) == Some("ACTIVE");
        if active(status.state.as_ref()) && active(dialer_status.and_then(|s| s.state.as_ref())) {
            Standing {
                ready: ConditionStatus::True,
                reason: reason::ACTIVE.to_owned(),
                message: format!("{a} and {d} are peered"),
                state: None,
            }
        } else {
            Standing::not_ready(
                reason::ESTABLISHING,
                format!("the peering of {a} and {d} is not ACTIVE yet"),
            )
        }
    };
    result.state = status.state;
    result
}

/// The mesh recorded as the creator of an object.
fn mesh_owner(mesh: &PeeringMesh) -> SecretOwner {
    SecretOwner {
        namespace: mesh.namespace().unwrap_or_default(),
        name: mesh.name_any(),
        uid: mesh.uid().unwrap_or_default(),
    }
}

/// Whether `metadata` records `mesh` (any incarnation of it) as its creator.
fn is_owned_by(metadata: &ObjectMeta, mesh: &PeeringMesh) -> bool {
    metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_MESH))
        .and_then(|v| SecretOwner::parse(v))
        .is_some_and(|owner| {
            Some(&owner.namespace) == mesh.metadata.namespace.as_ref()
                && Some(&owner.name) == mesh.metadata.name.as_ref()
        })
}

/// Metadata of what a mesh applies: its owner annotation and, for the watches, its label.
fn owned_metadata(mesh: &PeeringMesh, name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([(
            LABEL_MESH_MANAGED.to_owned(),
            "true".to_owned(),
        )])),
        annotations: Some(BTreeMap::from([(
            ANNOTATION_MESH.to_owned(),
            mesh_owner(mesh).to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// The dialing member's kubeconfig, in the accepting member, for its acceptor's delivery.
fn kubeconfig_copy(
    mesh: &PeeringMesh,
    names: &PairNames,
    namespace: &str,
    kubeconfig: Vec<u8>,
) -> Secret {
    Secret {
        metadata: owned_metadata(mesh, &names.kubeconfig_secret, namespace),
        data: Some(BTreeMap::from([(
            DEFAULT_KUBECONFIG_KEY.to_owned(),
            ByteString(kubeconfig),
        )])),
        ..Secret::default()
    }
}

fn secret_is_current(existing: &Secret, desired: &Secret) -> bool {
    existing.data == desired.data
}

/// The pair's acceptor: peer name the dialing member, delivering to it with a dialer whose
/// peer name is the accepting member.
fn desired_acceptor(mesh: &PeeringMesh, pair: &MeshPair<'_>, names: &PairNames) -> PeeringAcceptor {
    let (accepting, dialing) = (pair.acceptor, pair.dialer);
    let target = DeliveryTarget {
        kubeconfig_secret_ref: KubeconfigSecretRef {
            name: names.kubeconfig_secret.clone(),
            key: DEFAULT_KUBECONFIG_KEY.to_owned(),
        },
        namespace: dialing.namespace.clone(),
        secret_name: Some(names.delivered_secret.clone()),
        secret_key: None,
        dialer: Some(DialerTemplate {
            name: names.dialer.clone(),
            peer_name: Some(accepting.name.clone()),
            meta: None,
            partition: dialing.partition.clone(),
        }),
    };
    let spec = PeeringAcceptorSpec {
        peer: PeerSpec {
            secret: SecretRefSpec {
                name: names.token_secret.clone(),
                key: crate::crd::DEFAULT_SECRET_KEY.to_owned(),
                backend: SecretBackend::Kubernetes,
            },
        },
        peer_name: Some(dialing.name.clone()),
        meta: None,
        partition: accepting.partition.clone(),
        server_external_addresses: None,
        delivery: Some(vec![target]),
    };
    let mut acceptor = PeeringAcceptor::new(&names.acceptor, spec);
    acceptor.metadata = owned_metadata(mesh, &names.acceptor, &accepting.namespace);
    acceptor
}

fn acceptor_is_current(existing: &PeeringAcceptor, desired: &PeeringAcceptor) -> bool {
    existing.spec == desired.spec
        && existing
            .labels()
            .get(LABEL_MESH_MANAGED)
            .map(String::as_str)
            == Some("true")
}

/// Applies `desired` in a member unless it is current; an object of that name the mesh did
/// not create is left alone (`MeshConflict`).
async fn apply_owned<K>(
    reached: &Reached,
    mesh: &PeeringMesh,
    member: &str,
    desired: K,
    is_current: fn(&K, &K) -> bool,
) -> Result<K, Failure>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = desired.name_any();
    let api: Api<K> = Api::namespaced(
        reached.client.clone(),
        &desired.namespace().unwrap_or_default(),
    );
    let unreachable = members::unreachable(member);
    if let Some(existing) = api.get_opt(&name).await.map_err(&unreachable)? {
        if !is_owned_by(existing.meta(), mesh) {
            return Err(Failure::new(
                reason::MESH_CONFLICT,
                format!(
                    "member {member}: {} {}/{name} was not created by this PeeringMesh; it is \
                     not overwritten",
                    K::kind(&()),
                    desired.namespace().unwrap_or_default()
                ),
            ));
        }
        if is_current(&existing, &desired) {
            return Ok(existing);
        }
    }
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map_err(unreachable)
}

/// Removes what the mesh created for a pair that left the spec: the acceptor first (its
/// finalizer takes the remote dialer, the copies and the peerings), then, once it is gone,
/// the kubeconfig copy. Returns the entry to keep while that is not done.
pub(super) async fn remove(
    ctx: &MeshContext,
    mesh: &PeeringMesh,
    old: &MeshPairStatus,
) -> Option<MeshPairStatus> {
    let namespace = mesh.namespace().unwrap_or_default();
    let kubeconfig = old.acceptor_kubeconfig_secret_ref.as_ref();
    let kept = |reason: &str, message: String| {
        let mut kept = old.clone();
        if kept.ready != ConditionStatus::False {
            kept.since = Some(now());
        }
        kept.ready = ConditionStatus::False;
        kept.reason = reason.to_owned();
        kept.message = message;
        Some(kept)
    };
    let reached = match members::reach(ctx, &namespace, &old.acceptor, kubeconfig).await {
        Ok(reached) => reached,
        Err(failure) if failure.reason == reason::INVALID_KUBECONFIG => {
            // Nothing can reach that member any more: what is there stays there.
            tracing::warn!(message = %failure.message, "not removing a mesh pair's acceptor");
            return None;
        }
        Err(failure) => return kept(failure.reason, failure.message),
    };
    members::watch_acceptors(ctx, &reached, &old.acceptor_namespace);
    let names = PairNames::of(&mesh.name_any(), &old.acceptor, &old.dialer);
    match remove_objects(&reached, mesh, old, &names).await {
        Ok(true) => None,
        Ok(false) => kept(
            reason::REMOVING,
            format!(
                "deleting PeeringAcceptor {}/{} in {}: waiting for its finalizer",
                old.acceptor_namespace, names.acceptor, old.acceptor
            ),
        ),
        Err(failure) => kept(failure.reason, failure.message),
    }
}

/// Deletes the pair's acceptor, and its kubeconfig copy once the acceptor is gone; returns
/// whether both are gone.
async fn remove_objects(
    reached: &Reached,
    mesh: &PeeringMesh,
    old: &MeshPairStatus,
    names: &PairNames,
) -> Result<bool, Failure> {
    let unreachable = members::unreachable(&old.acceptor);
    let acceptors: Api<PeeringAcceptor> =
        Api::namespaced(reached.client.clone(), &old.acceptor_namespace);
    if let Some(acceptor) = acceptors
        .get_opt(&names.acceptor)
        .await
        .map_err(&unreachable)?
        && is_owned_by(&acceptor.metadata, mesh)
    {
        if acceptor.metadata.deletion_timestamp.is_none() {
            delete(&acceptors, &names.acceptor)
                .await
                .map_err(&unreachable)?;
        }
        return Ok(false);
    }
    let secrets: Api<Secret> = Api::namespaced(reached.client.clone(), &old.acceptor_namespace);
    if let Some(secret) = secrets
        .get_opt(&names.kubeconfig_secret)
        .await
        .map_err(&unreachable)?
        && is_owned_by(&secret.metadata, mesh)
    {
        delete(&secrets, &names.kubeconfig_secret)
            .await
            .map_err(&unreachable)?;
    }
    Ok(true)
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
