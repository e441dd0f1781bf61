//! PeeringDialer: establishes the peering in this cluster's Consul with the token from a Secret.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::consul::PeeringState;

use super::common::{PeerSpec, Peered, StatusSecretRef};
use super::conditions::Condition;
use super::meta::dialer_meta_schema;
use super::validation::{
    PARTITION_MAX_LENGTH, PARTITION_PATTERN, PEER_NAME_MAX_LENGTH, PEER_NAME_PATTERN,
    validate_dialer_meta, validate_partition, validate_peer_name,
};

/// The desired state of a PeeringDialer: the Secret holding the token, and the local name and
/// metadata of the peering.
// Each printcolumn(...) repeats the same keys, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "consulpeering.io",
    version = "v1alpha1",
    kind = "PeeringDialer",
    namespaced,
    status = "PeeringDialerStatus",
    derive = "PartialEq",
    shortname = "pdial",
    shortname = "peering-dialer",
    category = "consul-peering",
    doc = "A PeeringDialer establishes a Consul cluster peering from this cluster, with the \
           peering token that the other cluster's PeeringAcceptor generated, read from a Secret.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the peering is established"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why the resource is (not) ready",
        priority = 1
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "State of the peering in Consul"
    ),
    printcolumn(
        name = "Secret",
        type_ = "string",
        json_path = ".status.secret.name",
        description = "Secret the peering token was read from"
    ),
    printcolumn(
        name = "Peer Name",
        type_ = "string",
        json_path = ".spec.peerName",
        description = "spec.peerName: the peer's name in Consul (the resource's name when empty)",
        priority = 1
    ),
    printcolumn(
        name = "Peering ID",
        type_ = "string",
        json_path = ".status.peeringId",
        description = "ID of the peering in this cluster's Consul",
        priority = 1
    ),
    printcolumn(
        name = "Last Sync",
        type_ = "date",
        json_path = ".status.lastSyncedTime",
        description = "When the peering was established",
        priority = 1
    ),
    printcolumn(
        name = "Remote DC",
        type_ = "string",
        json_path = ".status.remote.datacenter",
        description = "Datacenter of the peer cluster",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PeeringDialerSpec {
    /// The peer and the Secret the token is read from (as in consul-k8s).
    pub peer: PeerSpec,

    /// The local name of the peer in Consul (the `PeerName` passed to establish). Defaults to
    /// `metadata.name`. Lower case alphanumeric characters or '-', at most 63 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PEER_NAME_PATTERN), length(min = 1, max = PEER_NAME_MAX_LENGTH))]
    pub peer_name: Option<String>,

    /// Metadata stored on the Consul peering (Consul's `Meta`). At most 64 entries; keys of 1 to
    /// 128 letters, digits, '_' or '-', not starting with `consul-` (Consul's) nor
    /// `consulpeering-` (the operator's own keys on the peering); values of at most 512
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "dialer_meta_schema")]
    pub meta: Option<BTreeMap<String, String>>,

    /// The Consul admin partition (Consul Enterprise). Sent as `Partition` with the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PARTITION_PATTERN), length(min = 1, max = PARTITION_MAX_LENGTH))]
    pub partition: Option<String>,
}

impl PeeringDialerSpec {
    /// Checks what the schema cannot (or what an apiserver without validation let through);
    /// the message names the field and is meant for an `InvalidSpec` condition.
    pub fn validate(&self) -> Result<(), String> {
        self.peer.secret.validate("spec.peer.secret")?;
        if let Some(name) = &self.peer_name {
            validate_peer_name("spec.peerName", name)?;
        }
        if let Some(meta) = &self.meta {
            validate_dialer_meta("spec.meta", meta)?;
        }
        if let Some(partition) = &self.partition {
            validate_partition("spec.partition", partition)?;
        }
        Ok(())
    }
}

impl Peered for PeeringDialer {
    fn spec_peer_name(&self) -> Option<&str> {
        self.spec.peer_name.as_deref()
    }

    fn spec_partition(&self) -> Option<&str> {
        self.spec.partition.as_deref()
    }

    fn validate_spec(&self) -> Result<(), String> {
        self.spec.validate()
    }
}

/// The observed state of a PeeringDialer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeeringDialerStatus {
    /// `Ready`: the peering is established with the token in the Secret (reason and message say
    /// why not, e.g. `TokenRejected` when the token was already used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Secret the token was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<StatusSecretRef>,
    /// The Consul peering's `ID` (in this cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peering_id: Option<String>,
    /// The Consul peering's `State` (ESTABLISHING, ACTIVE, FAILING, TERMINATED, DELETING, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The highest rotation version (peering-version annotation) acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_peering_version: Option<i64>,
    /// When the operator last brought the peering and status in line with Consul.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_time: Option<Time>,
    /// The peer cluster, as Consul reports it (`Remote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteStatus>,
    /// Fingerprint (first 16 hex characters of SHA-256) of the token last used to establish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
}

impl PeeringDialerStatus {
    /// `state` as Consul's type (the status keeps Consul's spelling).
    pub fn consul_state(&self) -> Option<PeeringState> {
        self.state.clone().map(PeeringState::from)
    }
}

/// The peer cluster of a dialer's peering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteStatus {
    /// The peer's Consul datacenter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenter: Option<String>,
    /// The peer's Consul admin partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ANNOTATION_CONSUL_K8S_PEERING_VERSION;

    #[test]
    fn consul_k8s_manifest_is_accepted_with_an_api_version_change() {
        let d: PeeringDialer = serde_saphyr::from_str(
            r#"
apiVersion: consulpeering.io/v1alpha1
kind: PeeringDialer
metadata:
  name: cluster-01
  annotations:
    consul.hashicorp.com/peering-version: "2"
spec:
  peer:
    secret:
      name: "peering-token"
      key: "data"
      backend: "kubernetes"
"#,
        )
        .unwrap();
        assert_eq!(d.peer_name(), "cluster-01");
        assert_eq!(d.rotation_version(), Ok(Some(2)));
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn validate_reports_the_field() {
        let mut d: PeeringDialer =
            serde_saphyr::from_str("metadata: {name: dc1}\nspec: {peer: {secret: {name: t}}}")
                .unwrap();
        assert_eq!(d.validate(), Ok(()));
        d.spec.peer_name = Some("DC1".into());
        assert!(d.validate().unwrap_err().starts_with("spec.peerName"));
        d.spec.peer_name = None;
        d.spec.meta = Some([("consulpeering-peering-version".into(), "9".into())].into());
        assert!(
            d.validate()
                .unwrap_err()
                .starts_with("spec.meta: key \"consulpeering-peering-version\" must not start")
        );
        d.spec.meta = None;
        d.metadata.annotations = Some(
            [(
                ANNOTATION_CONSUL_K8S_PEERING_VERSION.to_string(),
                "-1".to_string(),
            )]
            .into(),
        );
        assert!(
            d.validate()
                .unwrap_err()
                .contains(ANNOTATION_CONSUL_K8S_PEERING_VERSION)
        );
    }

    #[test]
    fn status_round_trips() {
        let status = PeeringDialerStatus {
            state: Some(PeeringState::Active.to_string()),
            remote: Some(RemoteStatus {
                datacenter: Some("dc1".into()),
                partition: Some("default".into()),
            }),
            token_fingerprint: Some("0123456789abcdef".into()),
            latest_peering_version: Some(3),
            ..Default::default()
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "state": "ACTIVE",
                "remote": {"datacenter": "dc1", "partition": "default"},
                "tokenFingerprint": "0123456789abcdef",
                "latestPeeringVersion": 3
            })
        );
        assert_eq!(
            serde_json::from_value::<PeeringDialerStatus>(json).unwrap(),
            status
        );
        assert_eq!(status.consul_state(), Some(PeeringState::Active));
    }
}
