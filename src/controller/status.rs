//! Status writes shared by both kinds: applied with the operator's one field manager through
//! the status subresource, and only when the computed status differs from the current one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use kube::runtime::events::{Event, EventType};

use super::Context;
use crate::crd::{
    CONDITION_READY, Condition, ConditionStatus, FIELD_MANAGER, find_condition, set_condition,
};

/// The `Ready` condition to put in a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Readiness {
    pub fn ready(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness {
            ready: true,
            reason,
            message: message.into(),
        }
    }

    pub fn not_ready(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness {
            ready: false,
            reason,
            message: message.into(),
        }
    }
}

/// `conditions` with `Ready` set as `readiness` says; `lastTransitionTime` moves only when the
/// status flips.
pub fn with_ready(
    mut conditions: Vec<Condition>,
    readiness: &Readiness,
    generation: Option<i64>,
) -> Vec<Condition> {
    set_condition(
        &mut conditions,
        Condition::new(
            CONDITION_READY,
            ConditionStatus::from(readiness.ready),
            readiness.reason,
            readiness.message.clone(),
            generation,
            now(),
        ),
    );
    conditions
}

pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Parses an RFC 3339 time recorded in an annotation or Consul's Meta.
pub fn parse_time(raw: &str) -> Option<Time> {
    raw.parse().ok().map(Time)
}

/// Writes the status computed by one pass and, when the resource newly becomes not ready (or
/// not ready for a new reason), publishes a Warning Event saying why.
pub async fn report<K, S>(
    ctx: &Context,
    obj: &K,
    current: Option<&S>,
    desired: &S,
    previous_conditions: &[Condition],
    readiness: &Readiness,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    let api: Api<K> = ctx.api(&obj.namespace().unwrap_or_default());
    write_if_changed(&api, obj, current, desired).await?;
    let previous = find_condition(previous_conditions, CONDITION_READY);
    let newly_failing = !readiness.ready
        && previous
            .is_none_or(|c| c.status == ConditionStatus::True || c.reason != readiness.reason);
    if newly_failing {
        publish(
            ctx,
            obj,
            EventType::Warning,
            readiness.reason,
            readiness.message.clone(),
        )
        .await;
    }
    Ok(())
}

/// Publishes a Kubernetes Event about `obj`; a failure to publish is only logged.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::debug!(error = %e, "publishing an event failed");
    }
}

/// Applies `desired` as the status of `obj` unless it already is. Returns whether it wrote.
pub async fn write_if_changed<K, S>(
    api: &Api<K>,
    obj: &K,
    current: Option<&S>,
    desired: &S,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    // Compared as written: `Time` serialises to whole seconds, so a time with a fraction in
    // memory would never equal what the API server stored, and every pass would write again.
    let written = |status: &S| serde_json::to_value(status).ok();
    let unchanged = current
        .and_then(written)
        .is_some_and(|c| Some(c) == written(desired));
    if unchanged {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": desired,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    Ok(true)
}
