//! The PeeringDialer reconciler: establishes the peering with the token in the Secret the spec
//! names, once per token, and shows the peering's state in status.
//!
//! Which token the peering was established with is recorded in the dialer-side peering's Meta
//! (a fingerprint, never the token), written by Consul atomically with the establish: so a lost
//! status write or a restart never makes the dialer spend a used token again.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::delivery::ANNOTATION_DELIVERED_AT;
use super::error::Error;
use super::peerings::{
    self, KnownPeering, META_ESTABLISHED_AT, META_PEERING_VERSION, META_TOKEN_FINGERPRINT,
};
use super::plan::{Cause, DialerDesired, DialerPlan, WaitReason, plan_dialer};
use super::reconcile::{Reconciled, stream_readiness};
use super::status::{Readiness, now, parse_time, publish, with_ready};
use super::{Context, RejectedToken, resource_key};
use crate::consul::{self, PeeringState, PeeringToken};
use crate::crd::{
    CONDITION_SECRET_USABLE, Condition, ConditionStatus, FIELD_MANAGER, Peered, PeeringDialer,
    PeeringDialerStatus, RemoteStatus, SECRET_ANNOTATION_REFUSED_FINGERPRINT, SecretRefSpec,
    StatusSecretRef, reason, set_condition, token_fingerprint,
};

/// What one pass learnt, for the status.
#[derive(Default)]
pub(super) struct Observed {
    secret_resource_version: Option<String>,
    /// Whether the Secret held a usable token, when this pass read it.
    secret: Option<SecretRead>,
    peering: Option<KnownPeering>,
    waiting: Option<Waiting>,
    /// Set when the Secret is a copy the accepting cluster's operator delivered: the token
    /// fingerprint its refusal annotation names, if any.
    delivered_copy: Option<Option<String>>,
}

/// What reading the dialer's Secret found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SecretRead {
    /// A token, decodable (whether Consul takes it is another matter).
    Usable,
    /// The Secret or its key is missing (`SecretMissing`), or what it holds is no peering
    /// token (`TokenRejected`): the message says which.
    Unusable {
        reason: &'static str,
        message: String,
    },
}

/// Why a pass left the peering alone (one reason at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// Consul is deleting the peering; establish again once it is gone.
    ForDeletion,
    /// The accepting side deleted the peering; only a new token brings it back.
    PeerTerminated,
}

/// A token about to be sent to Consul, and why.
struct Attempt {
    token: PeeringToken,
    fingerprint: String,
    version: i64,
    cause: Cause,
}

impl Reconciled for PeeringDialer {
    type Observed = Observed;
    type Status = PeeringDialerStatus;

    fn current_status(&self) -> Option<&PeeringDialerStatus> {
        self.status.as_ref()
    }

    async fn sync(&self, ctx: &Context, observed: &mut Observed) -> Result<Action, Error> {
        sync(self, ctx, observed).await
    }

    fn readiness(&self, observed: &Observed) -> Readiness {
        let peer = self.peer_name();
        match observed.waiting {
            Some(Waiting::ForDeletion) => {
                return Readiness::not_ready(
                    reason::PEERING_DELETING,
                    format!(
                        "Consul is deleting the peering {peer:?}; the dialer establishes again once it is gone"
                    ),
                );
            }
            Some(Waiting::PeerTerminated) => {
                return Readiness::not_ready(
                    reason::PEERING_TERMINATED,
                    format!(
                        "the accepting cluster deleted the peering {peer:?}; a new token from it is needed \
                         to establish again"
                    ),
                );
            }
            None => {}
        }
        let state = observed.peering.as_ref().map(|p| &p.state);
        if let Some(readiness) = stream_readiness(peer, state) {
            return readiness;
        }
        if state == Some(&PeeringState::Terminated) {
            return Readiness::not_ready(
                reason::PEERING_TERMINATED,
                format!("the accepting cluster deleted the peering {peer:?}"),
            );
        }
        Readiness::progressing(
            reason::ESTABLISHING,
            format!("the peering {peer:?} is established; waiting for its stream to the peer"),
        )
    }

    fn status_of(&self, observed: &Observed, readiness: &Readiness) -> PeeringDialerStatus {
        let current = self.status.clone().unwrap_or_default();
        let generation = self.meta().generation;
        let peering = observed.peering.as_ref();
        let ours = peering.filter(|p| p.meta.contains_key(META_TOKEN_FINGERPRINT));
        let spec = &self.spec.peer.secret;
        let mut conditions = with_ready(current.conditions.clone(), readiness, generation);
        if let Some(secret) = &observed.secret {
            set_condition(&mut conditions, secret_condition(spec, secret, generation));
        }
        PeeringDialerStatus {
            conditions,
            observed_generation: generation,
            secret: Some(StatusSecretRef {
                name: Some(spec.name.clone()),
                key: Some(spec.key.clone()),
                backend: Some(spec.backend.as_str().to_owned()),
                resource_version: observed
                    .secret_resource_version
                    .clone()
                    .or(current.secret.and_then(|s| s.resource_version)),
            }),
            peering_id: peering.map(|p| p.id.clone()),
            state: peering.map(|p| p.state.to_string()),
            latest_peering_version: ours
                .and_then(|p| p.meta.get(META_PEERING_VERSION)?.parse().ok()),
            last_synced_time: ours.and_then(|p| parse_time(p.meta.get(META_ESTABLISHED_AT)?)),
            remote: peering
                .filter(|p| !p.remote_datacenter.is_empty() || !p.remote_partition.is_empty())
                .map(|p| RemoteStatus {
                    datacenter: Some(p.remote_datacenter.clone()).filter(|s| !s.is_empty()),
                    partition: Some(p.remote_partition.clone()).filter(|s| !s.is_empty()),
                }),
            token_fingerprint: ours.and_then(|p| p.meta.get(META_TOKEN_FINGERPRINT).cloned()),
        }
    }

    async fn cleanup(&self, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, ctx).await
    }
}

/// One pass: the token in the Secret and what Consul says decide the plan; each step is a
/// function.
async fn sync(
    dialer: &PeeringDialer,
    ctx: &Context,
    observed: &mut Observed,
) -> Result<Action, Error> {
    // Also refuses the operator's own Meta keys in spec.meta (for objects written before the
    // CRD's rule, or to an apiserver that does not enforce it).
    dialer.validate().map_err(Error::InvalidSpec)?;
    let version = dialer
        .rotation_version()
        .map_err(Error::InvalidSpec)?
        .unwrap_or(0);
    // Consul's view first: the status shows the peering even when the Secret is in trouble.
    let peering = ctx
        .peerings
        .look_up(dialer.partition(), dialer.peer_name())
        .await;
    if let Ok(peering) = &peering {
        observed.peering = peering.clone();
    }
    let Some(token) = read_token_unless_terminated(dialer, ctx, observed).await? else {
        return Ok(Action::await_change());
    };
    let peering = peering?;
    let fingerprint = token_fingerprint(token.expose());
    let desired = DialerDesired {
        token_fingerprint: fingerprint.clone(),
        version,
    };
    let rejected = ctx.rejected_token(&resource_key(dialer));
    let view = peerings::view(peering.as_ref());
    let rejected_fingerprint = rejected.as_ref().map(|r| r.fingerprint.as_str());
    match plan_dialer(&desired, &view, rejected_fingerprint) {
        DialerPlan::UpToDate => Ok(Action::await_change()),
        DialerPlan::WaitForDeletion => {
            observed.waiting = Some(Waiting::ForDeletion);
            Ok(Action::requeue(Duration::from_secs(5)))
        }
        DialerPlan::AwaitNewToken(WaitReason::TokenRejected) => {
            if rejected.as_ref().is_some_and(|r| r.secret_refused) {
                report_refusal(dialer, ctx, observed, &fingerprint).await?;
            }
            Err(Error::TokenRejected(rejected.map_or_else(
                || refused(dialer, &fingerprint, None),
                |r| r.message,
            )))
        }
        DialerPlan::AwaitNewToken(WaitReason::PeeringTerminated) => {
            observed.waiting = Some(Waiting::PeerTerminated);
            Ok(Action::await_change())
        }
        DialerPlan::Establish(cause) => {
            let attempt = Attempt {
                token,
                fingerprint,
                version,
                cause,
            };
            establish(dialer, ctx, attempt, observed).await
        }
    }
}

/// The token in the Secret. `None` when it is missing because the acceptor withdrew it as it
/// deleted its side: what matters then is the termination, and a new token is what brings the
/// peering back.
async fn read_token_unless_terminated(
    dialer: &PeeringDialer,
    ctx: &Context,
    observed: &mut Observed,
) -> Result<Option<PeeringToken>, Error> {
    let peering = observed.peering.as_ref();
    let terminated = peering.is_some_and(|p| p.state == PeeringState::Terminated);
    // A peering this operator established stands without a usable token in the Secret:
    // `Ready` follows the peering and only the SecretUsable condition says what is wrong.
    let established = peering.is_some_and(|p| {
        p.meta.contains_key(META_TOKEN_FINGERPRINT) && p.state != PeeringState::Deleting
    });
    let read = read_token(dialer, ctx, observed)
        .await
        .and_then(|token| decodable(dialer, token));
    let unusable = |e: &Error, message: String| SecretRead::Unusable {
        reason: e.reason(),
        message,
    };
    match read {
        Ok(read) => {
            observed.secret = Some(SecretRead::Usable);
            Ok(Some(read))
        }
        Err(e @ (Error::SecretMissing(_) | Error::TokenRejected(_)))
            if established && !terminated =>
        {
            let secret = &dialer.spec.peer.secret;
            let what = match &e {
                Error::SecretMissing(_) => {
                    format!(
                        "Secret {} or its key {:?} is missing",
                        secret.name, secret.key
                    )
                }
                _ => e.to_string(),
            };
            let message = format!(
                "{what}; the peering established with an earlier token stands, and a new token \
                 put there is established"
            );
            observed.secret = Some(unusable(&e, message));
            Ok(None)
        }
        Err(e @ (Error::SecretMissing(_) | Error::TokenRejected(_))) => {
            observed.secret = Some(unusable(&e, e.to_string()));
            if terminated && matches!(e, Error::SecretMissing(_)) {
                observed.waiting = Some(Waiting::PeerTerminated);
                return Ok(None);
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The SecretUsable condition for what the pass found in the Secret.
fn secret_condition(spec: &SecretRefSpec, read: &SecretRead, generation: Option<i64>) -> Condition {
    let (status, reason, message) = match read {
        SecretRead::Usable => (
            ConditionStatus::True,
            reason::SECRET_FOUND,
            format!(
                "Secret {} holds a peering token under key {:?}",
                spec.name, spec.key
            ),
        ),
        SecretRead::Unusable { reason, message } => {
            (ConditionStatus::False, *reason, message.clone())
        }
    };
    Condition::new(
        CONDITION_SECRET_USABLE,
        status,
        reason,
        message,
        generation,
        now(),
    )
}

/// The token in the dialer's Secret, trimmed (a token pasted from a terminal often carries a
/// newline); the Secret's resourceVersion and whether it is a delivered copy go to `observed`.
async fn read_token(
    dialer: &PeeringDialer,
    ctx: &Context,
    observed: &mut Observed,
) -> Result<String, Error> {
    let namespace = dialer.namespace().unwrap_or_default();
    let secrets: Api<Secret> = ctx.api(&namespace);
    let spec = &dialer.spec.peer.secret;
    let Some(secret) = secrets.get_opt(&spec.name).await? else {
        return Err(Error::SecretMissing(format!(
            "Secret {namespace}/{} (spec.peer.secret.name) does not exist yet; the dialer \
             establishes the peering as soon as it appears",
            spec.name
        )));
    };
    observed.secret_resource_version = secret.metadata.resource_version.clone();
    let annotations = secret.annotations();
    observed.delivered_copy = annotations.contains_key(ANNOTATION_DELIVERED_AT).then(|| {
        annotations
            .get(SECRET_ANNOTATION_REFUSED_FINGERPRINT)
            .cloned()
    });
    let value = secret.data.as_ref().and_then(|d| d.get(&spec.key));
    let Some(value) = value else {
        return Err(Error::SecretMissing(format!(
            "Secret {namespace}/{} has no key {:?} (spec.peer.secret.key)",
            spec.name, spec.key
        )));
    };
    let token = std::str::from_utf8(&value.0)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(Error::TokenRejected(format!(
            "key {:?} of Secret {namespace}/{} holds no peering token",
            spec.key, spec.name
        )));
    }
    Ok(token)
}

/// Tells the accepting cluster's operator, on the delivered copy the token came in, that Consul
/// refused it: it issues a new token when the refusal means this one was spent (see
/// `plan::reissue_refused`). Written once per token; a Secret the user wrote is left alone.
async fn report_refusal(
    dialer: &PeeringDialer,
    ctx: &Context,
    observed: &Observed,
    fingerprint: &str,
) -> Result<(), Error> {
    let Some(reported) = &observed.delivered_copy else {
        return Ok(());
    };
    if reported.as_deref() == Some(fingerprint) {
        return Ok(());
    }
    let secrets: Api<Secret> = ctx.api(&dialer.namespace().unwrap_or_default());
    let patch = serde_json::json!({"metadata": {"annotations": {
        SECRET_ANNOTATION_REFUSED_FINGERPRINT: fingerprint}}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    secrets
        .patch_metadata(
            &dialer.spec.peer.secret.name,
            &params,
            &Patch::Merge(&patch),
        )
        .await?;
    tracing::info!(%fingerprint, "told the accepting side that Consul refused the token");
    Ok(())
}

/// The token, refused before Consul sees it when it does not even decode.
fn decodable(dialer: &PeeringDialer, token: String) -> Result<PeeringToken, Error> {
    let token = PeeringToken::new(token);
    if let Err(e) = token.decode() {
        let secret = &dialer.spec.peer.secret;
        return Err(Error::TokenRejected(format!(
            "key {:?} of Secret {} does not hold a Consul peering token ({e}); put the token the \
             accepting cluster generated there",
            secret.key, secret.name
        )));
    }
    Ok(token)
}

/// The message of a token Consul refused (with Consul's own words when known): the same on the
/// pass that was refused and on every later pass that waits for a new token in the Secret.
fn refused(dialer: &PeeringDialer, fingerprint: &str, consul_says: Option<&str>) -> String {
    let secret = &dialer.spec.peer.secret.name;
    let why = consul_says
        .map(|text| format!(" ({text})"))
        .unwrap_or_default();
    format!(
        "Consul refused the token in Secret {secret} (fingerprint {fingerprint}){why}: it was \
         used already or a newer one was generated; waiting for a new token in the Secret"
    )
}

/// Plan step: establish the peering with the token, recording in its Meta which token (by
/// fingerprint) and which rotation version it was for.
async fn establish(
    dialer: &PeeringDialer,
    ctx: &Context,
    attempt: Attempt,
    observed: &mut Observed,
) -> Result<Action, Error> {
    let (partition, peer_name) = (dialer.partition(), dialer.peer_name());
    let mut meta = dialer.spec.meta.clone().unwrap_or_default();
    meta.extend(BTreeMap::from([
        (
            META_TOKEN_FINGERPRINT.to_owned(),
            attempt.fingerprint.clone(),
        ),
        (META_PEERING_VERSION.to_owned(), attempt.version.to_string()),
        (META_ESTABLISHED_AT.to_owned(), now().0.to_string()),
    ]));
    let request = consul::EstablishRequest {
        peer_name: peer_name.to_owned(),
        peering_token: attempt.token,
        partition: partition.to_owned(),
        meta,
    };
    let key = resource_key(dialer);
    if let Err(e) = ctx.consul.get(partition)?.establish(&request).await {
        ctx.metrics.establish_attempted(false);
        return Err(refusal(dialer, ctx, &attempt.fingerprint, e, observed).await);
    }
    ctx.set_rejected_token(&key, None);
    ctx.metrics.establish_attempted(true);
    let note = format!(
        "Established the peering {peer_name:?} ({}) with the token in Secret {} (fingerprint {})",
        attempt.cause.label(),
        dialer.spec.peer.secret.name,
        attempt.fingerprint
    );
    publish(ctx, dialer, EventType::Normal, "Established", note).await;
    // Events expire; the log keeps it. The fingerprint identifies the token, never the token.
    tracing::info!(
        cause = attempt.cause.label(),
        fingerprint = %attempt.fingerprint,
        "peering established"
    );
    observed.peering = ctx.peerings.read_fresh(partition, peer_name).await?;
    let active = observed
        .peering
        .as_ref()
        .is_some_and(|p| p.state == PeeringState::Active);
    if !active {
        ctx.peerings.follow_stream(partition, peer_name);
    }
    Ok(Action::await_change())
}

/// The error of a failed establish. A refused token is remembered so that it is not sent
/// again (the Warning Event comes with the status change), and a spent one is reported to the
/// accepting side.
async fn refusal(
    dialer: &PeeringDialer,
    ctx: &Context,
    fingerprint: &str,
    failure: consul::ConsulError,
    observed: &Observed,
) -> Error {
    let secret_refused = failure.is_secret_refused();
    let error = Error::from(failure);
    if error.reason() != reason::TOKEN_REJECTED {
        return error;
    }
    let message = refused(dialer, fingerprint, Some(&error.to_string()));
    let rejected = RejectedToken {
        fingerprint: fingerprint.to_owned(),
        message: message.clone(),
        secret_refused,
    };
    ctx.set_rejected_token(&resource_key(dialer), Some(rejected));
    if secret_refused && let Err(e) = report_refusal(dialer, ctx, observed, fingerprint).await {
        return e;
    }
    Error::TokenRejected(message)
}

/// Deletion: the dialer-side peering in Consul (only one this operator established). The
/// Secret is the user's (or the delivery's) and stays.
async fn cleanup(dialer: &PeeringDialer, ctx: &Context) -> Result<Action, Error> {
    let partition = dialer.partition().to_owned();
    let peer_name = dialer.peer_name();
    let peering = ctx.peerings.read_fresh(&partition, peer_name).await?;
    let established_with = peering
        .as_ref()
        .and_then(|p| p.meta.get(META_TOKEN_FINGERPRINT));
    if let Some(fingerprint) = established_with {
        ctx.consul.get(&partition)?.delete(peer_name).await?;
        publish(
            ctx,
            dialer,
            EventType::Normal,
            "PeeringDeleted",
            format!("Deleted the Consul peering {peer_name:?}"),
        )
        .await;
        tracing::info!(partition, %fingerprint, "peering deleted");
    }
    ctx.set_rejected_token(&resource_key(dialer), None);
    Ok(Action::await_change())
}
