//! The PeeringAcceptor reconciler: keeps, in the Secret the spec names, the newest token Consul
//! issued for the peer, and shows the peering's state in status.
//!
//! A token is generated only for a cause (see `plan::plan_acceptor`). What was issued is read
//! back from the Secret's annotations on every pass, so a lost status write or a restart costs
//! nothing and never leads to a second token.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, Resource, ResourceExt};

use super::error::Error;
use super::peerings::{KnownPeering, Lookup};
use super::plan::{AcceptorDesired, AcceptorPlan, Cause, plan_acceptor};
use super::status::{Readiness, parse_time, publish, report, with_ready, write_if_changed};
use super::token_secret::{self, TokenRecord};
use super::{Context, delivery, status};
use crate::consul::{self, PeeringState};
use crate::crd::{
    DeliveryStatus, FIELD_MANAGER, FINALIZER, Peered, PeeringAcceptor, PeeringAcceptorStatus,
    SecretOwner, StatusSecretRef, reason, token_fingerprint,
};

/// Entry point for the controller runtime.
pub async fn reconcile(acceptor: Arc<PeeringAcceptor>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = acceptor.namespace().unwrap_or_default();
    let api: Api<PeeringAcceptor> = ctx.api(&namespace);
    finalizer(&api, FINALIZER, acceptor, |event| async {
        match event {
            finalizer::Event::Apply(acceptor) => apply(&acceptor, &ctx).await,
            finalizer::Event::Cleanup(acceptor) => cleanup(&acceptor, &ctx).await,
        }
    })
    .await
    .map_err(Error::from)
}

/// What one pass learnt, for the status.
#[derive(Default)]
struct Observed {
    record: Option<TokenRecord>,
    peering: Option<KnownPeering>,
    waiting_for_deletion: bool,
    /// `metadata.resourceVersion` of the token Secret as last read or written.
    secret_resource_version: Option<String>,
    /// The delivery targets' states, when delivery ran in this pass.
    delivery: Option<Vec<DeliveryStatus>>,
}

async fn apply(acceptor: &PeeringAcceptor, ctx: &Context) -> Result<Action, Error> {
    let mut observed = Observed::default();
    let result = sync(acceptor, ctx, &mut observed).await;
    let readiness = match &result {
        Ok(_) => readiness(acceptor, &observed),
        Err(e) => Readiness::not_ready(e.reason(), e.to_string()),
    };
    let desired = status_of(acceptor, &observed, &readiness);
    let previous = acceptor
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    report(
        ctx,
        acceptor,
        acceptor.status.as_ref(),
        &desired,
        previous,
        &readiness,
    )
    .await?;
    result
}

fn desired_of(acceptor: &PeeringAcceptor) -> Result<AcceptorDesired, Error> {
    acceptor.validate().map_err(Error::InvalidSpec)?;
    Ok(AcceptorDesired {
        peer_name: acceptor.peer_name().to_owned(),
        partition: acceptor.partition().to_owned(),
        version: acceptor
            .rotation_version()
            .map_err(Error::InvalidSpec)?
            .unwrap_or(0),
        spec_hash: token_secret::spec_hash(&acceptor.spec),
        key: acceptor.spec.peer.secret.key.clone(),
    })
}

async fn sync(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    observed: &mut Observed,
) -> Result<Action, Error> {
    let desired = desired_of(acceptor)?;
    let namespace = acceptor.namespace().unwrap_or_default();
    let secrets: Api<Secret> = ctx.api(&namespace);
    let secret_name = &acceptor.spec.peer.secret.name;

    let secret = secrets.get_opt(secret_name).await?;
    if let Some(secret) = &secret
        && !token_secret::is_owned_by(&secret.metadata, acceptor)
    {
        return Err(Error::SecretConflict(format!(
            "Secret {namespace}/{secret_name} exists and was not written by this PeeringAcceptor; \
             the operator does not overwrite it: delete it or set another spec.peer.secret.name"
        )));
    }
    let held = secret.as_ref().and_then(token_secret::read);
    observed.secret_resource_version = secret.as_ref().and_then(|s| s.resource_version());
    observed.record = held.as_ref().map(|(_, record)| record.clone());

    let peering = match look_up(ctx, &desired.partition, &desired.peer_name).await {
        Ok(peering) => Some(peering),
        // Without Consul's view a held token is left alone; a missing one is still tried.
        Err(e) if held.is_some() => return Err(e),
        Err(_) => None,
    };
    observed.peering = peering.clone().flatten();
    let view = peering.as_ref().map(|p| Lookup::view(p.as_ref()));
    let issued_before = acceptor
        .status
        .as_ref()
        .is_some_and(|s| s.peering_id.is_some());

    let plan = plan_acceptor(
        &desired,
        observed.record.as_ref().map(|r| &r.issued),
        view.as_ref(),
        issued_before,
    );
    let (action, token) = match plan {
        AcceptorPlan::UpToDate => (Action::await_change(), held.map(|(token, _)| token)),
        AcceptorPlan::Generate(cause) => {
            let token = generate(acceptor, ctx, &desired, cause, observed).await?;
            (Action::await_change(), Some(token))
        }
        // Planned only for a held token.
        AcceptorPlan::MoveToken => match held {
            Some((token, mut record)) => {
                record.issued.key = desired.key.clone();
                observed.secret_resource_version =
                    write_secret(&secrets, acceptor, &token, &record).await?;
                observed.record = Some(record);
                (Action::await_change(), Some(token))
            }
            None => (Action::await_change(), None),
        },
        AcceptorPlan::WaitForDeletion => {
            observed.waiting_for_deletion = true;
            // The watcher wakes us when the peering is gone; the timer covers a watcher that is
            // not synced yet.
            (Action::requeue(Duration::from_secs(5)), None)
        }
        AcceptorPlan::DeleteTerminated => {
            ctx.consul
                .get(&desired.partition)?
                .delete(&desired.peer_name)
                .await?;
            observed.waiting_for_deletion = true;
            (Action::requeue(Duration::from_secs(5)), None)
        }
    };
    // Delivery follows the token; its failures are reported per target and retried with
    // backoff, without touching the acceptor's own Ready.
    let delivered_before = acceptor
        .status
        .as_ref()
        .is_some_and(|s| !s.delivery.is_empty());
    let delivering = acceptor
        .spec
        .delivery
        .as_ref()
        .is_some_and(|d| !d.is_empty());
    if let (Some(token), Some(record)) = (token, observed.record.clone())
        && (delivering || delivered_before)
    {
        let (statuses, failed) = delivery::deliver(
            acceptor,
            &ctx.kube,
            &ctx.remotes,
            &token,
            &record,
            &ctx.metrics,
        )
        .await;
        observed.delivery = Some(statuses);
        let key = delivery_key(acceptor);
        if failed {
            // Capped lower than other retries: a fixed kubeconfig Secret is not watched, so
            // the retry is what picks the fix up.
            let retry = super::error::backoff(ctx.failed(&key)).min(Duration::from_secs(60));
            return Ok(Action::requeue(retry));
        }
        ctx.succeeded(&key);
    }
    Ok(action)
}

/// The peering from the shared snapshot, or from Consul directly while the snapshot is not
/// synced yet. `Ok(None)`: Consul has no such peering.
pub(super) async fn look_up(
    ctx: &Context,
    partition: &str,
    name: &str,
) -> Result<Option<KnownPeering>, Error> {
    match ctx.peerings.lookup(partition, name) {
        Lookup::Known(peering) => Ok(peering),
        Lookup::Unavailable { reason, message } => {
            Err(Error::ConsulUnreachable { reason, message })
        }
        Lookup::NotSynced => read_fresh(ctx, partition, name).await,
    }
}

/// Reads the peering from Consul and records the answer in the snapshot.
pub(super) async fn read_fresh(
    ctx: &Context,
    partition: &str,
    name: &str,
) -> Result<Option<KnownPeering>, Error> {
    let peering = ctx.consul.get(partition)?.read(name).await?;
    let known = peering.as_ref().map(KnownPeering::from);
    ctx.peerings.record(partition, known.clone());
    Ok(known)
}

async fn generate(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    desired: &AcceptorDesired,
    cause: Cause,
    observed: &mut Observed,
) -> Result<String, Error> {
    // A new peer name or partition is a new Consul peering: the old one goes first, so a
    // failure in between is retried from the top without leaving it behind.
    if let Some(old) = &observed.record
        && (old.issued.peer_name != desired.peer_name || old.issued.partition != desired.partition)
    {
        ctx.consul
            .get(&old.issued.partition)?
            .delete(&old.issued.peer_name)
            .await?;
    }
    let request = consul::GenerateTokenRequest {
        peer_name: desired.peer_name.clone(),
        partition: desired.partition.clone(),
        meta: acceptor.spec.meta.clone().unwrap_or_default(),
        server_external_addresses: acceptor
            .spec
            .server_external_addresses
            .clone()
            .unwrap_or_default(),
    };
    let token = ctx
        .consul
        .get(&desired.partition)?
        .generate_token(&request)
        .await?;
    let decoded = token.decode()?;
    ctx.metrics.token_generated(cause.label());
    let record = TokenRecord {
        issued: super::plan::IssuedToken {
            peer_name: desired.peer_name.clone(),
            partition: desired.partition.clone(),
            peering_id: decoded.peer_id.clone(),
            version: desired.version,
            spec_hash: desired.spec_hash.clone(),
            key: desired.key.clone(),
        },
        fingerprint: token_fingerprint(token.expose()),
        generated_at: status::now().0.to_string(),
        owner: SecretOwner {
            namespace: acceptor.namespace().unwrap_or_default(),
            name: acceptor.name_any(),
            uid: acceptor.uid().unwrap_or_default(),
        },
    };
    let secrets: Api<Secret> = ctx.api(&acceptor.namespace().unwrap_or_default());
    observed.secret_resource_version =
        write_secret(&secrets, acceptor, token.expose(), &record).await?;
    observed.record = Some(record.clone());
    publish(
        ctx,
        acceptor,
        EventType::Normal,
        if cause == Cause::Rotation {
            "TokenRotated"
        } else {
            "TokenGenerated"
        },
        format!(
            "Generated a peering token for peer {:?} ({}); Secret {} holds it (fingerprint {})",
            desired.peer_name,
            cause.label(),
            acceptor.spec.peer.secret.name,
            record.fingerprint
        ),
    )
    .await;
    // The snapshot learns of the new peering from this read, before the next pass looks.
    observed.peering = read_fresh(ctx, &desired.partition, &desired.peer_name).await?;
    Ok(token.into_inner())
}

async fn write_secret(
    secrets: &Api<Secret>,
    acceptor: &PeeringAcceptor,
    token: &str,
    record: &TokenRecord,
) -> Result<Option<String>, Error> {
    let name = &acceptor.spec.peer.secret.name;
    let secret = token_secret::desired(
        name,
        &acceptor.namespace().unwrap_or_default(),
        &record.issued.key,
        token,
        record,
    );
    let written = secrets
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(written.resource_version())
}

fn readiness(acceptor: &PeeringAcceptor, observed: &Observed) -> Readiness {
    let peer = acceptor.peer_name();
    if observed.waiting_for_deletion {
        return Readiness::not_ready(
            reason::PEERING_DELETING,
            format!(
                "Consul is deleting the peering {peer:?}; a new token is generated once it is gone"
            ),
        );
    }
    let Some(record) = &observed.record else {
        return Readiness::not_ready(reason::CONSUL_UNAVAILABLE, "no token has been issued yet");
    };
    let secret = &acceptor.spec.peer.secret.name;
    match observed.peering.as_ref().map(|p| &p.state) {
        Some(PeeringState::Active) => {
            Readiness::ready(reason::ACTIVE, format!("the peering {peer:?} is active"))
        }
        Some(PeeringState::Failing) => Readiness::not_ready(
            reason::PEERING_FAILING,
            format!(
                "Consul reports the peering {peer:?} as failing: its stream to the peer is down"
            ),
        ),
        Some(PeeringState::Terminated) => Readiness::not_ready(
            reason::PEERING_TERMINATED,
            format!(
                "the peer deleted its side of the peering {peer:?}; raise the consulpeering.io/peering-version \
                 annotation to issue a new token"
            ),
        ),
        _ => Readiness::ready(
            reason::READY,
            format!(
                "the token for peer {peer:?} is in Secret {secret} (key {}); waiting for the peer to establish",
                record.issued.key
            ),
        ),
    }
}

fn status_of(
    acceptor: &PeeringAcceptor,
    observed: &Observed,
    readiness: &Readiness,
) -> PeeringAcceptorStatus {
    let current = acceptor.status.clone().unwrap_or_default();
    let generation = acceptor.meta().generation;
    let record = observed.record.as_ref();
    PeeringAcceptorStatus {
        conditions: with_ready(current.conditions.clone(), readiness, generation),
        observed_generation: generation,
        secret: record.map(|r| StatusSecretRef {
            name: Some(acceptor.spec.peer.secret.name.clone()),
            key: Some(r.issued.key.clone()),
            backend: Some(acceptor.spec.peer.secret.backend.as_str().to_owned()),
            resource_version: observed.secret_resource_version.clone(),
        }),
        peering_id: record
            .map(|r| r.issued.peering_id.clone())
            .or(current.peering_id),
        state: observed
            .peering
            .as_ref()
            .map(|p| p.state.to_string())
            .or(if record.is_some() {
                None
            } else {
                current.state
            }),
        latest_peering_version: record
            .map(|r| r.issued.version)
            .or(current.latest_peering_version),
        last_synced_time: record
            .and_then(|r| parse_time(&r.generated_at))
            .or(current.last_synced_time),
        delivery: match &observed.delivery {
            Some(delivery) => delivery.clone(),
            None if acceptor.spec.delivery.as_ref().is_none_or(|d| d.is_empty()) => Vec::new(),
            None => current.delivery,
        },
    }
}

/// Deletion: the Consul peering this acceptor created, then its Secret. A failed Consul delete
/// keeps the finalizer and is retried (unlike consul-k8s, which drops it).
async fn cleanup(acceptor: &PeeringAcceptor, ctx: &Context) -> Result<Action, Error> {
    let namespace = acceptor.namespace().unwrap_or_default();
    let secrets: Api<Secret> = ctx.api(&namespace);
    let secret_name = &acceptor.spec.peer.secret.name;
    let secret = secrets
        .get_opt(secret_name)
        .await?
        .filter(|s| token_secret::is_owned_by(&s.metadata, acceptor));
    let record = secret.as_ref().and_then(token_secret::read).map(|(_, r)| r);
    // Only a peering this acceptor created is deleted: the one its Secret records or, with the
    // Secret gone, the one whose ID its status recorded.
    let target = match &record {
        Some(r) => Some((r.issued.partition.clone(), r.issued.peer_name.clone())),
        None => {
            let partition = acceptor.partition().to_owned();
            let status_id = acceptor.status.as_ref().and_then(|s| s.peering_id.clone());
            match status_id {
                Some(id) => read_fresh(ctx, &partition, acceptor.peer_name())
                    .await?
                    .filter(|p| p.id == id)
                    .map(|p| (partition, p.name)),
                None => None,
            }
        }
    };
    if let Some((partition, name)) = target {
        if let Err(e) = ctx.consul.get(&partition)?.delete(&name).await {
            let e = Error::from(e);
            let readiness = Readiness::not_ready(
                e.reason(),
                format!("deleting the Consul peering failed, will retry: {e}"),
            );
            let observed = Observed {
                record,
                ..Observed::default()
            };
            let desired = status_of(acceptor, &observed, &readiness);
            let api: Api<PeeringAcceptor> = ctx.api(&namespace);
            // The status is best effort here: the error below is what retries.
            let _ = write_if_changed(&api, acceptor, acceptor.status.as_ref(), &desired).await;
            return Err(e);
        }
        publish(
            ctx,
            acceptor,
            EventType::Normal,
            "PeeringDeleted",
            format!("Deleted the Consul peering {name:?}"),
        )
        .await;
    }
    delivery::withdraw(acceptor, &ctx.kube, &ctx.remotes)
        .await
        .map_err(Error::Delivery)?;
    if secret.is_some() {
        match secrets.delete(secret_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Forget the delivery backoff of the resource that is going away.
    ctx.succeeded(&delivery_key(acceptor));
    Ok(Action::await_change())
}

/// The key of an acceptor's delivery retries in the context's failure counts.
fn delivery_key(acceptor: &PeeringAcceptor) -> String {
    format!(
        "delivery/{}/{}",
        acceptor.namespace().unwrap_or_default(),
        acceptor.name_any()
    )
}
