//! Status conditions: the `Condition` type shared by both kinds and their delivery targets, the
//! condition types and reasons the operator uses, and the helper that updates a condition list
//! without moving `lastTransitionTime` when nothing transitioned.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type on both kinds: the peering is in the state the spec asks for.
pub const CONDITION_READY: &str = "Ready";
/// Condition type on each `status.delivery[]` entry of a PeeringAcceptor.
pub const CONDITION_DELIVERED: &str = "Delivered";
/// Condition type on a PeeringDialer: its Secret holds a peering token (apart from `Ready`,
/// which follows the peering: an established peering stands without it).
pub const CONDITION_SECRET_USABLE: &str = "SecretUsable";
/// Condition type on a `status.delivery[]` entry whose target has a `dialer` template.
pub const CONDITION_DIALER_APPLIED: &str = "DialerApplied";

/// Condition reasons. They double as metric labels, so the set is small and fixed.
pub mod reason {
    /// Ready=True: the token Secret is written / the peering is established.
    pub const READY: &str = "Ready";
    /// Ready=True on a dialer whose peering Consul reports ACTIVE.
    pub const ACTIVE: &str = "Active";
    /// The spec (or a rotation annotation) is invalid; the message says which field and why.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Consul could not be reached (connection refused, timeout, TLS failure) or answered 5xx
    /// for a reason that may pass.
    pub const CONSUL_UNAVAILABLE: &str = "ConsulUnavailable";
    /// Consul refused the request (4xx, or a 500 carrying a validation message).
    pub const CONSUL_REJECTED: &str = "ConsulRejected";
    /// Consul's ACL system refused the operator's token (403).
    pub const CONSUL_PERMISSION_DENIED: &str = "ConsulPermissionDenied";
    /// The peering token was consumed, superseded or otherwise refused: a new token is needed.
    pub const TOKEN_REJECTED: &str = "TokenRejected";
    /// The dialer's Secret, or its key, does not exist (yet).
    pub const SECRET_MISSING: &str = "SecretMissing";
    /// SecretUsable=True: the dialer's Secret holds a peering token under its key.
    pub const SECRET_FOUND: &str = "SecretFound";
    /// A Secret that this acceptor does not own is in the way.
    pub const SECRET_CONFLICT: &str = "SecretConflict";
    /// A Kubernetes API call failed.
    pub const KUBERNETES_ERROR: &str = "KubernetesError";
    /// The peering is gone or terminated on the other side.
    pub const PEERING_TERMINATED: &str = "PeeringTerminated";
    /// Consul is deleting the peering; a new token or establish waits until it is gone.
    pub const PEERING_DELETING: &str = "PeeringDeleting";
    /// The peering's stream to the peer is failing (Consul state FAILING).
    pub const PEERING_FAILING: &str = "PeeringFailing";
    /// Dialer: established, waiting for the stream to the peer to come up.
    pub const ESTABLISHING: &str = "Establishing";
    /// Delivered=True: the remote copy of the token Secret is current.
    pub const DELIVERED: &str = "Delivered";
    /// Delivered=False: the remote cluster could not be reached or refused the write.
    pub const DELIVERY_FAILED: &str = "DeliveryFailed";
    /// Delivered=False: the kubeconfig Secret, its key, or its content is unusable.
    pub const INVALID_KUBECONFIG: &str = "InvalidKubeconfig";
    /// DialerApplied=True: the target's PeeringDialer matches the template.
    pub const DIALER_APPLIED: &str = "DialerApplied";
    /// DialerApplied=False: a PeeringDialer the operator did not create is in the way.
    pub const DIALER_CONFLICT: &str = "DialerConflict";
    /// PeeringMesh pair: the member's API server could not be reached (or refused).
    pub const MEMBER_UNREACHABLE: &str = "MemberUnreachable";
    /// PeeringMesh pair: an object the mesh did not create is where its acceptor or kubeconfig
    /// Secret should go.
    pub const MESH_CONFLICT: &str = "MeshConflict";
    /// PeeringMesh pair: left the spec; its resources are being deleted.
    pub const REMOVING: &str = "Removing";
}

/// The status of a condition, as in Kubernetes' `metav1.Condition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// One aspect of the resource's state (shaped like Kubernetes' `metav1.Condition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The aspect this condition describes: `Ready` (on the resource) or `Delivered` (on a
    /// delivery target).
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Whether the condition holds: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A CamelCase word for why the condition has this status, e.g. `ConsulUnavailable`,
    /// `TokenRejected`, `InvalidSpec`.
    #[schemars(length(max = 1024))]
    pub reason: String,
    /// A human-readable explanation, including Consul's own error text where it explains the
    /// cause. Never contains a token.
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// The `metadata.generation` the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: Time,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.into(),
            last_transition_time: now,
            observed_generation,
        }
    }
}

/// The condition of the given type, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Puts `new` into `conditions`, replacing the condition of the same type. When the status did
/// not change, the existing `lastTransitionTime` is kept, so that writing the same state again
/// yields an identical list (no status write, no hot loop). Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            if *existing == new {
                return false;
            }
            *existing = new;
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn ready(status: ConditionStatus, reason_: &str, message: &str, now: Time) -> Condition {
        Condition::new(CONDITION_READY, status, reason_, message, Some(1), now)
    }

    #[test]
    fn same_status_keeps_transition_time() {
        let mut list = vec![];
        assert!(set_condition(
            &mut list,
            ready(
                ConditionStatus::False,
                reason::CONSUL_UNAVAILABLE,
                "down",
                at(10)
            )
        ));
        // Same state later: nothing changes.
        assert!(!set_condition(
            &mut list,
            ready(
                ConditionStatus::False,
                reason::CONSUL_UNAVAILABLE,
                "down",
                at(20)
            )
        ));
        assert_eq!(list[0].last_transition_time, at(10));
        // New message, same status: updated, transition time kept.
        assert!(set_condition(
            &mut list,
            ready(
                ConditionStatus::False,
                reason::CONSUL_REJECTED,
                "403",
                at(30)
            )
        ));
        assert_eq!(list[0].reason, reason::CONSUL_REJECTED);
        assert_eq!(list[0].last_transition_time, at(10));
        // Status flips: transition time moves.
        assert!(set_condition(
            &mut list,
            ready(ConditionStatus::True, reason::READY, "ok", at(40))
        ));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].last_transition_time, at(40));
        assert_eq!(
            find_condition(&list, CONDITION_READY).map(|c| c.status),
            Some(ConditionStatus::True)
        );
        assert!(find_condition(&list, CONDITION_DELIVERED).is_none());
    }

    #[test]
    fn serialises_like_metav1_condition() {
        let c = ready(ConditionStatus::True, reason::READY, "ok", at(0));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "Ready", "status": "True", "reason": "Ready", "message": "ok",
                "lastTransitionTime": "1970-01-01T00:00:00Z", "observedGeneration": 1
            })
        );
    }
}
