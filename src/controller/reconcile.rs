//! The pass both kinds share: the finalizer; on apply, the kind's sync, whose outcome becomes
//! the `Ready` condition and the status (written only when it changed) with its Events; on
//! deletion, the kind's cleanup.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Context;
use super::error::Error;
use super::status::{Readiness, ReportedStatus, report};
use crate::consul::PeeringState;
use crate::crd::{
    Condition, FINALIZER, Peered, PeeringAcceptorStatus, PeeringDialerStatus, reason,
};

/// A kind the operator reconciles: what its passes learn and how that reads as a status.
pub(super) trait Reconciled:
    Peered
    + Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// What one pass learnt, for the status.
    type Observed: Default + Send;
    type Status: Serialize
        + DeserializeOwned
        + PartialEq
        + ReportedStatus
        + Conditioned
        + Send
        + Sync;

    /// The status as the API server has it.
    fn current_status(&self) -> Option<&Self::Status>;
    /// Brings Consul and the Secrets in line with the spec, noting what it saw in `observed`.
    fn sync(
        &self,
        ctx: &Context,
        observed: &mut Self::Observed,
    ) -> impl Future<Output = Result<Action, Error>> + Send;
    /// `Ready` after a pass that succeeded.
    fn readiness(&self, observed: &Self::Observed) -> Readiness;
    /// The status a pass leads to.
    fn status_of(&self, observed: &Self::Observed, readiness: &Readiness) -> Self::Status;
    /// Undoes what the operator did for this resource, before its finalizer goes.
    fn cleanup(&self, ctx: &Context) -> impl Future<Output = Result<Action, Error>> + Send;
}

/// A status with conditions.
pub(super) trait Conditioned {
    fn conditions(&self) -> &[Condition];
}

impl Conditioned for PeeringAcceptorStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl Conditioned for PeeringDialerStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// Entry point for the controller runtime. Its span names the resource and its Consul peer, so
/// every line logged during the pass says which one it is about.
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        kind = %K::kind(&()),
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        peer = %obj.peer_name(),
    )
)]
pub(super) async fn reconcile<K: Reconciled>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let api: Api<K> = ctx.api(&obj.namespace().unwrap_or_default());
    let Some(obj) = unless_gone(&api, obj).await? else {
        return Ok(Action::await_change());
    };
    let obj = with_finalizer(&api, obj).await?;
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            finalizer::Event::Apply(obj) => apply(&*obj, &ctx).await,
            finalizer::Event::Cleanup(obj) => obj.cleanup(&ctx).await,
        }
    })
    .await
    .map_err(Error::from)
}

/// The resource with the finalizer, added in this pass when it lacks one. (kube's helper adds
/// it and leaves the rest to the pass its write wakes: a reconcile and a watch round trip more
/// for every new resource.) The patch carries the resourceVersion it read, so it never drops a
/// finalizer someone added meanwhile; on a conflict the live object decides: a cache behind
/// an earlier pass that added it already goes on with the live object, anything else retries.
async fn with_finalizer<K: Reconciled>(api: &Api<K>, obj: Arc<K>) -> Result<Arc<K>, Error> {
    let has_it = |o: &K| o.finalizers().iter().any(|f| f == FINALIZER);
    if has_it(&obj) || obj.meta().deletion_timestamp.is_some() {
        return Ok(obj);
    }
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": obj.resource_version(),
    }});
    let name = obj.name_any();
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(patched) => Ok(Arc::new(patched)),
        Err(kube::Error::Api(status)) if status.is_conflict() => match api.get_opt(&name).await? {
            Some(live) if live.uid() == obj.uid() && has_it(&live) => Ok(Arc::new(live)),
            _ => Err(kube::Error::Api(status).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// A deleting resource as the API server has it now, `None` once it is gone. The cache can
/// still hold it after its finalizer went (its watch lags the Secret and Consul events that
/// wake it), and cleaning up again would delete in Consul twice and fail on the finalizer.
async fn unless_gone<K: Reconciled>(api: &Api<K>, obj: Arc<K>) -> Result<Option<Arc<K>>, Error> {
    if obj.meta().deletion_timestamp.is_none() {
        return Ok(Some(obj));
    }
    let live = api.get_opt(&obj.name_any()).await?;
    Ok(live
        .filter(|live| live.uid() == obj.uid() && live.finalizers().iter().any(|f| f == FINALIZER))
        .map(Arc::new))
}

/// One pass: sync, then the status says how it went (also when it failed).
async fn apply<K: Reconciled>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let mut observed = K::Observed::default();
    let result = obj.sync(ctx, &mut observed).await;
    let readiness = match &result {
        Ok(_) => obj.readiness(&observed),
        Err(e) => Readiness::not_ready(e.reason(), e.to_string()),
    };
    let desired = obj.status_of(&observed, &readiness);
    report(ctx, obj, obj.current_status(), &desired, &readiness).await?;
    result
}

/// `Ready` for the states both sides read alike: the peering's stream is up or down.
pub(super) fn stream_readiness(peer: &str, state: Option<&PeeringState>) -> Option<Readiness> {
    match state? {
        PeeringState::Active => Some(Readiness::ready(
            reason::ACTIVE,
            format!("the peering {peer:?} is active"),
        )),
        PeeringState::Failing => Some(Readiness::not_ready(
            reason::PEERING_FAILING,
            format!(
                "Consul reports the peering {peer:?} as failing: its stream to the peer is down"
            ),
        )),
        _ => None,
    }
}
