//! Status writes shared by both kinds: applied with the operator's one field manager through
//! the status subresource, and only when the computed status differs from the current one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::{CONDITION_READY, Condition, ConditionStatus, FIELD_MANAGER, set_condition};

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
    if current == Some(desired) {
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
