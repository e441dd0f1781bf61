//! Status writes shared by both kinds: applied with the operator's one field manager through
//! the status subresource, and only when the computed status differs from the current one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use kube::runtime::events::{Event, EventType};

use super::Context;
use super::reconcile::Conditioned;
use crate::crd::{
    CONDITION_DELIVERED, CONDITION_READY, Condition, ConditionStatus, DeliveryStatus,
    FIELD_MANAGER, PeeringAcceptorStatus, PeeringDialerStatus, find_condition, reason,
    set_condition,
};
use crate::telemetry::metrics::ResourceReport;

/// The `Ready` condition to put in a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub standing: Standing,
    pub reason: &'static str,
    pub message: String,
}

/// Where a resource stands, as `Ready` and its Events tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Ready,
    /// Not ready yet, on the normal way there (an Event of type Normal says so).
    Progressing,
    /// Not ready: something is wrong (a Warning says so).
    Failing,
}

impl Readiness {
    pub fn ready(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness::new(Standing::Ready, reason, message)
    }

    pub fn progressing(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness::new(Standing::Progressing, reason, message)
    }

    pub fn not_ready(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness::new(Standing::Failing, reason, message)
    }

    fn new(standing: Standing, reason: &'static str, message: impl Into<String>) -> Self {
        Readiness {
            standing,
            reason,
            message: message.into(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.standing == Standing::Ready
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
            ConditionStatus::from(readiness.is_ready()),
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

/// What the metrics and the Events read from a kind's status.
pub trait ReportedStatus {
    /// The Consul peering's state, as `status.state` shows it.
    fn peering_state(&self) -> Option<&str>;
    /// The delivery targets (acceptors only).
    fn delivery(&self) -> &[DeliveryStatus] {
        &[]
    }
}

impl ReportedStatus for PeeringAcceptorStatus {
    fn peering_state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    fn delivery(&self) -> &[DeliveryStatus] {
        &self.delivery
    }
}

impl ReportedStatus for PeeringDialerStatus {
    fn peering_state(&self) -> Option<&str> {
        self.state.as_deref()
    }
}

/// What the Events of a pass are told against: the `Ready` condition and the delivery targets
/// of the status the last pass reported, kept per resource instead of a copy of the whole
/// status.
#[derive(Clone, Debug, Default)]
pub(super) struct LastReport {
    ready: Option<Condition>,
    delivery: Vec<DeliveryStatus>,
}

impl LastReport {
    fn of<S: ReportedStatus + Conditioned>(status: &S) -> LastReport {
        LastReport {
            ready: find_condition(status.conditions(), CONDITION_READY).cloned(),
            delivery: status.delivery().to_vec(),
        }
    }
}

/// Writes the status computed by one pass, updates the resource's metrics, and tells what
/// changed through Events: a Warning when it newly becomes not ready (or not ready for a new
/// reason), a Normal Event when it becomes ready again, and one per delivery target that
/// received the token or started failing. New is against what the last pass reported: the
/// cached `current` may not hold that write yet, and would tell it twice.
pub async fn report<K, S>(
    ctx: &Context,
    obj: &K,
    current: Option<&S>,
    desired: &S,
    readiness: &Readiness,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize + DeserializeOwned + PartialEq + ReportedStatus + Conditioned,
{
    let api: Api<K> = ctx.api(&obj.namespace().unwrap_or_default());
    write_if_changed(&api, obj, current, desired).await?;
    let before = ctx.reported(obj).or_else(|| current.map(LastReport::of));
    ctx.set_reported(obj, LastReport::of(desired));
    let told = ready_event(before.as_ref().and_then(|b| b.ready.as_ref()), readiness);
    let newly_not_ready = told.is_some() && !readiness.is_ready();
    observe(ctx, obj, desired, readiness, newly_not_ready);
    if let Some((type_, note)) = told {
        publish(ctx, obj, type_, readiness.reason, note).await;
    }
    let delivered_before = before.as_ref().map(|b| b.delivery.as_slice());
    for (type_, reason, note) in
        delivery_changes(delivered_before.unwrap_or_default(), desired.delivery())
    {
        publish(ctx, obj, type_, reason, note).await;
    }
    Ok(())
}

/// The Event a change of `Ready` from `previous` tells, if any: a Warning when it newly fails
/// (or fails for a new reason), a Normal Event when it is newly on its way (established,
/// waiting for the stream), and a Normal Event when it is ready again, so that
/// `kubectl describe` ends with the recovery rather than the last failure.
fn ready_event(previous: Option<&Condition>, readiness: &Readiness) -> Option<(EventType, String)> {
    let changed = |c: &Condition| {
        c.status != ConditionStatus::from(readiness.is_ready()) || c.reason != readiness.reason
    };
    let message = readiness.message.clone();
    match readiness.standing {
        Standing::Ready => previous
            .filter(|c| changed(c))
            .map(|c| (EventType::Normal, format!("{message} (was {})", c.reason))),
        _ if previous.is_some_and(|c| !changed(c)) => None,
        Standing::Progressing => Some((EventType::Normal, message)),
        Standing::Failing => Some((EventType::Warning, message)),
    }
}

/// The resource's series: its state, readiness and delivery targets; a dialer's newly refused
/// token is counted once.
fn observe<K: Resource<DynamicType = ()>, S: ReportedStatus>(
    ctx: &Context,
    obj: &K,
    desired: &S,
    readiness: &Readiness,
    newly_not_ready: bool,
) {
    let kind = K::kind(&()).into_owned();
    let namespace = obj.meta().namespace.clone().unwrap_or_default();
    let name = obj.meta().name.clone().unwrap_or_default();
    if newly_not_ready && readiness.reason == reason::TOKEN_REJECTED {
        ctx.metrics.dialer_token_rejected(&namespace, &name);
    }
    let delivery = desired
        .delivery()
        .iter()
        .map(|d| (delivery_target(d), !delivered(d)))
        .collect();
    ctx.metrics.resource_observed(ResourceReport {
        kind,
        namespace,
        name,
        state: desired.peering_state().map(str::to_owned),
        ready: readiness.is_ready(),
        reason: readiness.reason,
        delivery,
    });
}

fn delivery_target(d: &DeliveryStatus) -> String {
    format!(
        "{}/{}/{}",
        d.kubeconfig_secret_name, d.namespace, d.secret_name
    )
}

fn delivered(d: &DeliveryStatus) -> bool {
    find_condition(&d.conditions, CONDITION_DELIVERED)
        .is_some_and(|c| c.status == ConditionStatus::True)
}

/// Events for delivery targets whose `Delivered` condition changed: the token reached a target
/// (a new one, or a new token), or delivering to it newly failed (or failed for a new reason).
fn delivery_changes(
    before: &[DeliveryStatus],
    after: &[DeliveryStatus],
) -> Vec<(EventType, &'static str, String)> {
    let mut events = Vec::new();
    for target in after {
        let Some(now) = find_condition(&target.conditions, CONDITION_DELIVERED) else {
            continue;
        };
        let was = before.iter().find(|b| b.id() == target.id());
        let was_condition = was.and_then(|b| find_condition(&b.conditions, CONDITION_DELIVERED));
        let where_to = format!(
            "Secret {} in namespace {} of the cluster in kubeconfig Secret {}",
            target.secret_name, target.namespace, target.kubeconfig_secret_name
        );
        if now.status == ConditionStatus::True {
            let new_token = was.is_none_or(|b| b.token_fingerprint != target.token_fingerprint);
            if new_token || was_condition.is_none_or(|c| c.status != ConditionStatus::True) {
                let fingerprint = target.token_fingerprint.as_deref().unwrap_or("unknown");
                let note = format!("Delivered the token to {where_to} (fingerprint {fingerprint})");
                events.push((EventType::Normal, "TokenDelivered", note));
            }
        } else if was_condition
            .is_none_or(|c| c.status == ConditionStatus::True || c.reason != now.reason)
        {
            let note = format!("Delivering the token to {where_to} failed: {}", now.message);
            events.push((EventType::Warning, reason::DELIVERY_FAILED, note));
        }
    }
    events
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(namespace: &str, status: ConditionStatus, reason: &str, fp: &str) -> DeliveryStatus {
        DeliveryStatus {
            kubeconfig_secret_name: "dc2-kubeconfig".into(),
            kubeconfig_secret_key: None,
            namespace: namespace.into(),
            secret_name: "peering-token-dc2".into(),
            conditions: vec![Condition::new(
                CONDITION_DELIVERED,
                status,
                reason,
                "the target cluster does not answer",
                None,
                now(),
            )],
            last_delivered_time: None,
            token_fingerprint: Some(fp.into()),
            dialer: None,
        }
    }

    fn ready_condition(status: ConditionStatus, reason: &str) -> Condition {
        Condition::new(CONDITION_READY, status, reason, "before", None, now())
    }

    #[test]
    fn ready_events_warn_of_failures_only() {
        let establishing = Readiness::progressing(reason::ESTABLISHING, "waiting for its stream");
        let rejected = Readiness::not_ready(reason::TOKEN_REJECTED, "refused");
        let active = Readiness::ready(reason::ACTIVE, "active");
        // The normal way to ready is told as Normal, a failure as a Warning, each once.
        assert_eq!(
            ready_event(None, &establishing),
            Some((EventType::Normal, "waiting for its stream".into()))
        );
        let was_establishing = ready_condition(ConditionStatus::False, reason::ESTABLISHING);
        assert_eq!(ready_event(Some(&was_establishing), &establishing), None);
        assert_eq!(
            ready_event(Some(&was_establishing), &rejected),
            Some((EventType::Warning, "refused".into()))
        );
        let was_rejected = ready_condition(ConditionStatus::False, reason::TOKEN_REJECTED);
        assert_eq!(ready_event(Some(&was_rejected), &rejected), None);
        // Ready again: a Normal Event naming what it was.
        assert_eq!(
            ready_event(Some(&was_rejected), &active),
            Some((EventType::Normal, "active (was TokenRejected)".into()))
        );
        let was_active = ready_condition(ConditionStatus::True, reason::ACTIVE);
        assert_eq!(ready_event(Some(&was_active), &active), None);
        assert_eq!(ready_event(None, &active), None);
    }

    fn reasons(events: &[(EventType, &'static str, String)]) -> Vec<&'static str> {
        events.iter().map(|(_, reason, _)| *reason).collect()
    }

    #[test]
    fn delivery_events_name_each_target_that_changed() {
        let ok = |ns: &str, fp: &str| target(ns, ConditionStatus::True, reason::DELIVERED, fp);
        let failing = |ns: &str| target(ns, ConditionStatus::False, reason::DELIVERY_FAILED, "a");
        // First delivery to two targets: one Event each, naming where the token went.
        let events = delivery_changes(&[], &[ok("a", "fp1"), ok("b", "fp1")]);
        assert_eq!(reasons(&events), ["TokenDelivered", "TokenDelivered"]);
        assert!(events[0].2.contains("namespace a") && events[0].2.contains("dc2-kubeconfig"));
        assert!(events[0].2.contains("fp1"));
        // Nothing changed: nothing to tell.
        assert!(delivery_changes(&[ok("a", "fp1")], &[ok("a", "fp1")]).is_empty());
        // A new token reached the target.
        assert_eq!(
            reasons(&delivery_changes(&[ok("a", "fp1")], &[ok("a", "fp2")])),
            ["TokenDelivered"]
        );
        // Failing: a Warning with the condition's message, once.
        let events = delivery_changes(&[ok("a", "fp1")], &[failing("a")]);
        assert_eq!(reasons(&events), [reason::DELIVERY_FAILED]);
        assert_eq!(events[0].0, EventType::Warning);
        assert!(
            events[0]
                .2
                .ends_with("failed: the target cluster does not answer")
        );
        assert!(delivery_changes(&[failing("a")], &[failing("a")]).is_empty());
    }
}
