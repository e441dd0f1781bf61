//! The PeeringMesh controller: for each pair of members it applies, in the accepting member, a
//! PeeringAcceptor that delivers its token with a dialer template to the dialing member (see
//! `pair`); the members' own operators do the Consul work. Status has one entry per pair,
//! learnt from watches on those acceptors; pairs that leave the spec, and all of them when the
//! mesh is deleted (finalizer), have what the mesh created removed.

mod members;
mod names;
mod pair;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use super::delivery::{RemoteClients, RemoteWatches};
use super::status::{now, write_if_changed};
use super::{Context, Error, caches, resource_key, scoped_api};
use crate::crd::{
    ANNOTATION_MESH, CONDITION_READY, Condition, ConditionStatus, FINALIZER, MeshPairStatus,
    PeeringMesh, PeeringMeshStatus, SecretOwner, reason, set_condition,
};
use crate::telemetry::Health;

/// What the mesh reconciles share: the operator's context, and the members' clients and
/// watches.
pub(super) struct MeshContext {
    ctx: Arc<Context>,
    clients: RemoteClients,
    watches: RemoteWatches<PeeringMesh>,
}

/// The mesh an object names in its [`ANNOTATION_MESH`].
fn mesh_of(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<ObjectRef<PeeringMesh>> {
    let owner = SecretOwner::parse(metadata.annotations.as_ref()?.get(ANNOTATION_MESH)?)?;
    Some(ObjectRef::new(&owner.name).within(&owner.namespace))
}

/// The PeeringMesh controller, woken by its meshes and by the acceptors they applied. It ends
/// at `shutdown`; its store tells when its cache has synced.
pub(super) fn controller<S>(
    ctx: &Arc<Context>,
    namespace: Option<&str>,
    health: &Health,
    shutdown: S,
) -> (impl Future<Output = ()> + use<S>, Store<PeeringMesh>)
where
    S: Future<Output = ()> + Clone + Send + Sync + 'static,
{
    let mesh_ctx = Arc::new(MeshContext {
        ctx: ctx.clone(),
        clients: RemoteClients::default(),
        watches: RemoteWatches::new(mesh_of),
    });
    let wakeups = futures::stream::iter(mesh_ctx.watches.take_wakeups()).flatten();
    let controller = Controller::new(
        scoped_api::<PeeringMesh>(&ctx.kube, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    let run = controller
        .reconcile_on(wakeups)
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, mesh_ctx)
        .for_each(caches::note_watch_errors(health.clone()));
    let run = caches::ends_unsynced_at_shutdown(run, store.clone(), shutdown);
    (run, store)
}

async fn reconcile(mesh: Arc<PeeringMesh>, ctx: Arc<MeshContext>) -> Result<Action, Error> {
    let operator = ctx.ctx.clone();
    super::instrumented("mesh", mesh, operator, |mesh, _| async move {
        let api: Api<PeeringMesh> = ctx.ctx.api(&mesh.namespace().unwrap_or_default());
        finalizer(&api, FINALIZER, mesh, |event| async {
            match event {
                finalizer::Event::Apply(mesh) => apply(&mesh, &ctx).await,
                finalizer::Event::Cleanup(mesh) => cleanup(&mesh, &ctx).await,
            }
        })
        .await
        .map_err(Error::from)
    })
    .await
}

/// Failed passes are retried with capped backoff (an unreachable member is not watched, so
/// the retry is what notices it back); invalid specs wait for a change.
fn error_policy(mesh: Arc<PeeringMesh>, error: &Error, ctx: Arc<MeshContext>) -> Action {
    let failures = ctx.ctx.failed(&resource_key(&*mesh));
    if error.is_transient() {
        Action::requeue(super::error::backoff(failures).min(Duration::from_secs(60)))
    } else {
        Action::await_change()
    }
}

/// One pass: every pair applied and read, the pairs that left the spec removed, the status
/// written when it changed.
async fn apply(mesh: &PeeringMesh, ctx: &MeshContext) -> Result<Action, Error> {
    let current = mesh.status.clone().unwrap_or_default();
    let pairs = match mesh.spec.validate().and_then(|_| mesh.spec.pairs()) {
        Ok(pairs) => pairs,
        Err(message) => {
            let status = with_ready(
                mesh,
                current.clone(),
                current.pairs.clone(),
                0,
                Some((reason::INVALID_SPEC, message.clone())),
            );
            write_status(ctx, mesh, status).await?;
            return Err(Error::InvalidSpec(message));
        }
    };
    let mut entries = Vec::new();
    let mut failed = false;
    for pair in &pairs {
        let previous = current
            .pairs
            .iter()
            .find(|p| is_pair(p, &pair::skeleton(pair)));
        let (entry, pair_failed) = pair::sync(ctx, mesh, pair, previous).await;
        failed |= pair_failed;
        entries.push(entry);
    }
    for old in &current.pairs {
        if entries.iter().any(|e| is_pair(e, old)) {
            continue;
        }
        if let Some(kept) = pair::remove(ctx, mesh, old).await {
            failed |= kept.reason != reason::REMOVING;
            entries.push(kept);
        }
    }
    let status = with_ready(mesh, current, entries, pairs.len(), None);
    write_status(ctx, mesh, status).await?;
    if failed {
        return Err(Error::Mesh {
            reason: reason::MEMBER_UNREACHABLE,
            message: "a pair could not be brought up to date; retrying".into(),
        });
    }
    Ok(Action::await_change())
}

/// Deletion: every pair's resources, the mesh's finalizer once all are gone.
async fn cleanup(mesh: &PeeringMesh, ctx: &MeshContext) -> Result<Action, Error> {
    let current = mesh.status.clone().unwrap_or_default();
    let mut entries: Vec<MeshPairStatus> = current.pairs.clone();
    for pair in mesh.spec.pairs().unwrap_or_default() {
        let skeleton = pair::skeleton(&pair);
        if !entries.iter().any(|e| is_pair(e, &skeleton)) {
            entries.push(skeleton);
        }
    }
    let mut kept = Vec::new();
    for old in &entries {
        kept.extend(pair::remove(ctx, mesh, old).await);
    }
    if kept.is_empty() {
        return Ok(Action::await_change());
    }
    let waiting = kept[0].message.clone();
    let status = with_ready(
        mesh,
        current,
        kept,
        0,
        Some((reason::REMOVING, waiting.clone())),
    );
    write_status(ctx, mesh, status).await?;
    Err(Error::Mesh {
        reason: reason::REMOVING,
        message: waiting,
    })
}

fn is_pair(a: &MeshPairStatus, b: &MeshPairStatus) -> bool {
    a.acceptor == b.acceptor && a.dialer == b.dialer
}

/// The status after a pass: the pairs, the counts, and `Ready` (the first pair not peered says
/// why not, unless `problem` does).
fn with_ready(
    mesh: &PeeringMesh,
    current: PeeringMeshStatus,
    pairs: Vec<MeshPairStatus>,
    wanted: usize,
    problem: Option<(&str, String)>,
) -> PeeringMeshStatus {
    let peered = pairs
        .iter()
        .filter(|p| p.ready == ConditionStatus::True)
        .count();
    let not_peered = pairs.iter().find(|p| p.ready != ConditionStatus::True);
    let (status, why, message) = match (problem, not_peered) {
        (Some((why, message)), _) => (ConditionStatus::False, why.to_owned(), message),
        (None, Some(p)) => (
            ConditionStatus::False,
            p.reason.clone(),
            format!("{} → {}: {}", p.acceptor, p.dialer, p.message),
        ),
        (None, None) => (
            ConditionStatus::True,
            reason::ACTIVE.to_owned(),
            format!("all {peered} pairs are peered"),
        ),
    };
    let generation = mesh.meta().generation;
    let mut conditions = current.conditions;
    set_condition(
        &mut conditions,
        Condition::new(CONDITION_READY, status, &why, message, generation, now()),
    );
    PeeringMeshStatus {
        conditions,
        observed_generation: generation,
        members: Some(mesh.spec.members.len() as i64),
        peered: Some(format!("{peered}/{wanted}")),
        pairs,
    }
}

async fn write_status(
    ctx: &MeshContext,
    mesh: &PeeringMesh,
    status: PeeringMeshStatus,
) -> Result<(), Error> {
    let api: Api<PeeringMesh> = ctx.ctx.api(&mesh.namespace().unwrap_or_default());
    write_if_changed(&api, mesh, mesh.status.as_ref(), &status).await?;
    Ok(())
}
