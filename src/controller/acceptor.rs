//! The PeeringAcceptor reconciler: keeps, in the Secret the spec names, the newest token Consul
//! issued for the peer, and shows the peering's state in status.
//!
//! A token is generated only for a cause (see `plan::plan_acceptor`). What was issued is read
//! back from the Secret's annotations on every pass, so a lost status write or a restart costs
//! nothing and never leads to a second token.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::error::Error;
use super::peerings::{self, KnownPeering};
use super::plan::{
    AcceptorDesired, AcceptorPlan, Cause, IssuedToken, PeeringView, plan_acceptor, reissue_refused,
};
use super::reconcile::{Reconciled, stream_readiness};
use super::status::{Readiness, now, parse_time, publish, with_ready, write_if_changed};
use super::token_secret::{self, TokenRecord};
use super::unstored::Unstored;
use super::{Context, delivery};
use crate::consul::{self, PeeringState};
use crate::crd::{
    DeliveryStatus, FIELD_MANAGER, Peered, PeeringAcceptor, PeeringAcceptorStatus, SecretOwner,
    StatusSecretRef, reason, token_fingerprint,
};

/// What one pass learnt, for the status.
#[derive(Default)]
pub(super) struct Observed {
    record: Option<TokenRecord>,
    peering: Option<KnownPeering>,
    waiting_for_deletion: bool,
    /// `metadata.resourceVersion` of the token Secret as last read or written.
    secret_resource_version: Option<String>,
    /// The delivery targets' states, when delivery ran in this pass.
    delivery: Option<Vec<DeliveryStatus>>,
    /// Whether a delivered copy says the dialing side's Consul refused the token it holds.
    refused_by_peer: bool,
}

impl Reconciled for PeeringAcceptor {
    type Observed = Observed;
    type Status = PeeringAcceptorStatus;

    fn current_status(&self) -> Option<&PeeringAcceptorStatus> {
        self.status.as_ref()
    }

    async fn sync(&self, ctx: &Context, observed: &mut Observed) -> Result<Action, Error> {
        sync(self, ctx, observed).await
    }

    fn readiness(&self, observed: &Observed) -> Readiness {
        let peer = self.peer_name();
        if observed.waiting_for_deletion {
            return Readiness::not_ready(
                reason::PEERING_DELETING,
                format!(
                    "Consul is deleting the peering {peer:?}; a new token is generated once it is gone"
                ),
            );
        }
        let Some(record) = &observed.record else {
            return Readiness::not_ready(
                reason::CONSUL_UNAVAILABLE,
                "no token has been issued yet",
            );
        };
        let state = observed.peering.as_ref().map(|p| &p.state);
        if let Some(readiness) = stream_readiness(peer, state) {
            return readiness;
        }
        if state == Some(&PeeringState::Terminated) {
            return Readiness::not_ready(
                reason::PEERING_TERMINATED,
                format!(
                    "the peer deleted its side of the peering {peer:?}; raise the consulpeering.io/peering-version \
                     annotation to issue a new token"
                ),
            );
        }
        Readiness::ready(
            reason::READY,
            format!(
                "the token for peer {peer:?} is in Secret {} (key {}); waiting for the peer to establish",
                self.spec.peer.secret.name, record.issued.key
            ),
        )
    }

    fn status_of(&self, observed: &Observed, readiness: &Readiness) -> PeeringAcceptorStatus {
        let current = self.status.clone().unwrap_or_default();
        let generation = self.meta().generation;
        let record = observed.record.as_ref();
        PeeringAcceptorStatus {
            conditions: with_ready(current.conditions.clone(), readiness, generation),
            observed_generation: generation,
            secret: record.map(|r| StatusSecretRef {
                name: Some(self.spec.peer.secret.name.clone()),
                key: Some(r.issued.key.clone()),
                backend: Some(self.spec.peer.secret.backend.as_str().to_owned()),
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
                None if self.spec.delivery.as_ref().is_none_or(|d| d.is_empty()) => Vec::new(),
                None => current.delivery,
            },
        }
    }

    async fn cleanup(&self, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, ctx).await
    }
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

/// One pass: what is held and what Consul says decide the plan; each step is a function.
async fn sync(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    observed: &mut Observed,
) -> Result<Action, Error> {
    let desired = desired_of(acceptor)?;
    let held = read_held_token(acceptor, ctx, observed).await?;
    let view = consul_view(ctx, &desired, held.is_some(), observed).await?;
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
    let token = match plan {
        AcceptorPlan::UpToDate => held.map(|(token, _)| token),
        AcceptorPlan::Generate(cause) => {
            Some(generate(acceptor, ctx, &desired, cause, observed).await?)
        }
        AcceptorPlan::MoveToken => move_token(acceptor, ctx, &desired, held, observed).await?,
        AcceptorPlan::WaitForDeletion => return Ok(wait_for_deletion(observed)),
        AcceptorPlan::DeleteTerminated => {
            return delete_terminated(ctx, &desired, observed).await;
        }
    };
    let Some(token) = token else {
        return Ok(Action::await_change());
    };
    let delivered = deliver(acceptor, ctx, &token, observed).await?;
    if !std::mem::take(&mut observed.refused_by_peer) {
        return Ok(delivered);
    }
    replace_refused(acceptor, ctx, &desired, view.as_ref(), observed)
        .await
        .map(|replaced| replaced.unwrap_or(delivered))
}

/// Plan step after a delivery that found the token refused by the dialing side's Consul: a new
/// token, delivered in turn, when `plan::reissue_refused` says the refusal means it was spent
/// (`None`: it stands).
async fn replace_refused(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    desired: &AcceptorDesired,
    view: Option<&PeeringView>,
    observed: &mut Observed,
) -> Result<Option<Action>, Error> {
    let spent = observed
        .record
        .as_ref()
        .is_some_and(|r| reissue_refused(&r.issued, view));
    if !spent {
        return Ok(None);
    }
    let token = generate(acceptor, ctx, desired, Cause::PeerRefused, observed).await?;
    deliver(acceptor, ctx, &token, observed).await.map(Some)
}

/// The token the acceptor's Secret holds, with what it records; a Secret the acceptor did not
/// write is left alone.
async fn read_held_token(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    observed: &mut Observed,
) -> Result<Option<(String, TokenRecord)>, Error> {
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
    Ok(held)
}

/// Consul's view of the peering. Without it a held token is left alone (the error), while a
/// missing one is still tried (`None`: not known).
async fn consul_view(
    ctx: &Context,
    desired: &AcceptorDesired,
    holds_token: bool,
    observed: &mut Observed,
) -> Result<Option<PeeringView>, Error> {
    let peering = match ctx
        .peerings
        .look_up(&desired.partition, &desired.peer_name)
        .await
    {
        Ok(peering) => peering,
        Err(e) if holds_token => return Err(e),
        Err(_) => return Ok(None),
    };
    let view = peerings::view(peering.as_ref());
    observed.peering = peering;
    Ok(Some(view))
}

/// Plan step: the token is still good, only its key changed; the Secret is rewritten with the
/// same token. (Planned only for a held token.)
async fn move_token(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    desired: &AcceptorDesired,
    held: Option<(String, TokenRecord)>,
    observed: &mut Observed,
) -> Result<Option<String>, Error> {
    let Some((token, mut record)) = held else {
        return Ok(None);
    };
    record.issued.key = desired.key.clone();
    observed.secret_resource_version = write_secret(ctx, acceptor, &token, &record).await?;
    observed.record = Some(record);
    Ok(Some(token))
}

/// Plan step: Consul is deleting the peering. The watcher wakes us when it is gone; the timer
/// covers a watcher that is not synced yet.
fn wait_for_deletion(observed: &mut Observed) -> Action {
    observed.waiting_for_deletion = true;
    Action::requeue(Duration::from_secs(5))
}

/// Plan step: a new token is due but the peer terminated the peering, whose record Consul
/// keeps until it is deleted.
async fn delete_terminated(
    ctx: &Context,
    desired: &AcceptorDesired,
    observed: &mut Observed,
) -> Result<Action, Error> {
    ctx.consul
        .get(&desired.partition)?
        .delete(&desired.peer_name)
        .await?;
    Ok(wait_for_deletion(observed))
}

/// The step after any that leaves a token: delivery follows it. Its failures are reported per
/// target and retried with backoff, without touching the acceptor's own `Ready`.
async fn deliver(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    token: &str,
    observed: &mut Observed,
) -> Result<Action, Error> {
    let delivered_before = acceptor
        .status
        .as_ref()
        .is_some_and(|s| !s.delivery.is_empty());
    let delivering = acceptor
        .spec
        .delivery
        .as_ref()
        .is_some_and(|d| !d.is_empty());
    let Some(record) = observed.record.clone() else {
        return Ok(Action::await_change());
    };
    if !delivering && !delivered_before {
        return Ok(Action::await_change());
    }
    let outcome = delivery::deliver(
        acceptor,
        &ctx.kube,
        &ctx.remotes,
        token,
        &record,
        &ctx.metrics,
    )
    .await;
    observed.delivery = Some(outcome.statuses);
    observed.refused_by_peer = outcome.refused;
    let key = delivery_key(acceptor);
    if outcome.any_failed {
        // Capped lower than other retries: a fixed kubeconfig Secret is not watched, so the
        // retry is what picks the fix up.
        let retry = super::error::backoff(ctx.failed(&key)).min(Duration::from_secs(60));
        return Ok(Action::requeue(retry));
    }
    ctx.succeeded(&key);
    Ok(Action::await_change())
}

/// Plan step: a new token from Consul, kept in the Secret; or the token issued before whose
/// Secret write failed, while it is still the one wanted (see `unstored`).
async fn generate(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    desired: &AcceptorDesired,
    cause: Cause,
    observed: &mut Observed,
) -> Result<String, Error> {
    delete_renamed_peering(ctx, desired, observed).await?;
    // Until this pass has read the new peering itself (below), a list showing it wakes no one.
    let _creating = ctx
        .peerings
        .being_created(&desired.partition, &desired.peer_name);
    let owed = match owed_token(acceptor, ctx, desired).await? {
        Some(owed) => owed,
        None => issue(acceptor, ctx, desired, cause).await?,
    };
    let Unstored {
        token,
        mut record,
        cause,
    } = owed.clone();
    record.issued.key = desired.key.clone();
    ctx.unstored.owed(acceptor, owed);
    observed.secret_resource_version = write_secret(ctx, acceptor, token.expose(), &record).await?;
    ctx.unstored.stored(acceptor);
    observed.record = Some(record.clone());
    let event = if cause == Cause::Rotation {
        "TokenRotated"
    } else {
        "TokenGenerated"
    };
    let note = format!(
        "Generated a peering token for peer {:?} ({}); Secret {} holds it (fingerprint {})",
        desired.peer_name,
        cause.label(),
        acceptor.spec.peer.secret.name,
        record.fingerprint
    );
    publish(ctx, acceptor, EventType::Normal, event, note).await;
    // Events expire; the log keeps it. The fingerprint identifies the token, never the token.
    tracing::info!(
        cause = cause.label(),
        fingerprint = %record.fingerprint,
        secret = %acceptor.spec.peer.secret.name,
        "peering token generated"
    );
    // The snapshot learns of the new peering from this read, before the next pass looks.
    observed.peering = ctx
        .peerings
        .read_fresh(&desired.partition, &desired.peer_name)
        .await?;
    Ok(token.into_inner())
}

/// A new token from Consul for `desired`.
async fn issue(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    desired: &AcceptorDesired,
    cause: Cause,
) -> Result<Unstored, Error> {
    let token = ctx
        .consul
        .get(&desired.partition)?
        .generate_token(&token_request(acceptor, desired))
        .await?;
    let decoded = token.decode()?;
    ctx.metrics.token_generated(cause.label());
    let record = issued_record(acceptor, desired, &decoded.peer_id, token.expose());
    Ok(Unstored {
        token,
        record,
        cause,
    })
}

/// The token an earlier pass issued but could not store, if it is still the one wanted: its
/// peering is read from Consul (the snapshot may not know a peering that new yet).
async fn owed_token(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    desired: &AcceptorDesired,
) -> Result<Option<Unstored>, Error> {
    if !ctx.unstored.owes(acceptor) {
        return Ok(None);
    }
    let peering = ctx
        .peerings
        .read_fresh(&desired.partition, &desired.peer_name)
        .await?;
    Ok(ctx
        .unstored
        .still_wanted(acceptor, desired, peering.as_ref()))
}

/// A new peer name or partition is a new Consul peering: the old one goes first, so a failure
/// in between is retried from the top without leaving it behind.
async fn delete_renamed_peering(
    ctx: &Context,
    desired: &AcceptorDesired,
    observed: &Observed,
) -> Result<(), Error> {
    if let Some(old) = &observed.record
        && (old.issued.peer_name != desired.peer_name || old.issued.partition != desired.partition)
    {
        ctx.consul
            .get(&old.issued.partition)?
            .delete(&old.issued.peer_name)
            .await?;
    }
    Ok(())
}

fn token_request(
    acceptor: &PeeringAcceptor,
    desired: &AcceptorDesired,
) -> consul::GenerateTokenRequest {
    consul::GenerateTokenRequest {
        peer_name: desired.peer_name.clone(),
        partition: desired.partition.clone(),
        meta: acceptor.spec.meta.clone().unwrap_or_default(),
        server_external_addresses: acceptor
            .spec
            .server_external_addresses
            .clone()
            .unwrap_or_default(),
    }
}

/// What the Secret records about a token just generated for `desired`.
fn issued_record(
    acceptor: &PeeringAcceptor,
    desired: &AcceptorDesired,
    peering_id: &str,
    token: &str,
) -> TokenRecord {
    TokenRecord {
        issued: IssuedToken {
            peer_name: desired.peer_name.clone(),
            partition: desired.partition.clone(),
            peering_id: peering_id.to_owned(),
            version: desired.version,
            spec_hash: desired.spec_hash.clone(),
            key: desired.key.clone(),
        },
        fingerprint: token_fingerprint(token),
        generated_at: now().0.to_string(),
        owner: SecretOwner {
            namespace: acceptor.namespace().unwrap_or_default(),
            name: acceptor.name_any(),
            uid: acceptor.uid().unwrap_or_default(),
        },
    }
}

/// Applies the token Secret; returns its new resourceVersion.
async fn write_secret(
    ctx: &Context,
    acceptor: &PeeringAcceptor,
    token: &str,
    record: &TokenRecord,
) -> Result<Option<String>, Error> {
    let namespace = acceptor.namespace().unwrap_or_default();
    let name = &acceptor.spec.peer.secret.name;
    let secret = token_secret::desired(name, &namespace, &record.issued.key, token, record);
    let secrets: Api<Secret> = ctx.api(&namespace);
    let own = &ctx.own_secret_writes;
    own.expect(&namespace, name, &record.fingerprint);
    let written = secrets
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .inspect_err(|_| own.answered(&namespace, name, None))?;
    let version = written.resource_version();
    own.answered(&namespace, name, version.as_deref());
    Ok(version)
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
    if let Some((partition, name)) = created_peering(acceptor, ctx, record.as_ref()).await? {
        if let Err(e) = ctx.consul.get(&partition)?.delete(&name).await {
            let e = Error::from(e);
            report_failed_delete(acceptor, ctx, record, &e).await;
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
        let fingerprint = record.as_ref().map(|r| r.fingerprint.as_str());
        tracing::info!(
            partition,
            peering = %name,
            fingerprint = fingerprint.unwrap_or("unknown"),
            "peering deleted"
        );
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
    // Forget the delivery backoff and any token owed of the resource that is going away.
    ctx.succeeded(&delivery_key(acceptor));
    ctx.unstored.stored(acceptor);
    Ok(Action::await_change())
}

/// The peering this acceptor created, as (partition, name): the one its Secret records or,
/// with the Secret gone, the one whose ID its status (or a token owed to its Secret) recorded.
/// No other is ever deleted.
async fn created_peering(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    record: Option<&TokenRecord>,
) -> Result<Option<(String, String)>, Error> {
    if let Some(r) = record {
        return Ok(Some((
            r.issued.partition.clone(),
            r.issued.peer_name.clone(),
        )));
    }
    let partition = acceptor.partition().to_owned();
    let recorded = acceptor.status.as_ref().and_then(|s| s.peering_id.clone());
    let owed = ctx.unstored.record(acceptor).map(|r| r.issued.peering_id);
    let Some(id) = recorded.or(owed) else {
        return Ok(None);
    };
    let peering = ctx
        .peerings
        .read_fresh(&partition, acceptor.peer_name())
        .await?;
    Ok(peering.filter(|p| p.id == id).map(|p| (partition, p.name)))
}

/// The status says why the deletion waits; best effort, as the error is what retries.
async fn report_failed_delete(
    acceptor: &PeeringAcceptor,
    ctx: &Context,
    record: Option<TokenRecord>,
    error: &Error,
) {
    let readiness = Readiness::not_ready(
        error.reason(),
        format!("deleting the Consul peering failed, will retry: {error}"),
    );
    let observed = Observed {
        record,
        ..Observed::default()
    };
    let desired = acceptor.status_of(&observed, &readiness);
    let api: Api<PeeringAcceptor> = ctx.api(&acceptor.namespace().unwrap_or_default());
    let _ = write_if_changed(&api, acceptor, acceptor.status.as_ref(), &desired).await;
}

/// The key of an acceptor's delivery retries in the context's failure counts.
fn delivery_key(acceptor: &PeeringAcceptor) -> String {
    format!(
        "delivery/{}/{}",
        acceptor.namespace().unwrap_or_default(),
        acceptor.name_any()
    )
}
