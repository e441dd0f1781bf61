//! PeeringAcceptor: asks Consul for a peering token and keeps it in a Secret (and, optionally,
//! delivers that Secret to the dialing clusters).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::consul::PeeringState;

use super::common::{PeerSpec, Peered, StatusSecretRef};
use super::conditions::Condition;
use super::dialer_template::{DialerTemplate, RemoteDialerStatus};
use super::meta::meta_schema;
use super::validation::{
    DELIVERY_MAX_ITEMS, NAMESPACE_MAX_LENGTH, NAMESPACE_PATTERN, OBJECT_NAME_MAX_LENGTH,
    OBJECT_NAME_PATTERN, PARTITION_MAX_LENGTH, PARTITION_PATTERN, PEER_NAME_MAX_LENGTH,
    PEER_NAME_PATTERN, SECRET_KEY_MAX_LENGTH, SECRET_KEY_PATTERN, SERVER_ADDRESS_MAX_LENGTH,
    SERVER_ADDRESS_PATTERN, SERVER_ADDRESSES_MAX_ITEMS, validate_meta, validate_namespace,
    validate_object_name, validate_partition, validate_peer_name, validate_secret_key,
    validate_server_addresses,
};

/// The default key of the kubeconfig in a delivery target's Secret.
pub const DEFAULT_KUBECONFIG_KEY: &str = "kubeconfig";

/// The desired state of a PeeringAcceptor: the Secret that receives the token, what goes into
/// the token, and where the Secret is delivered.
// Each printcolumn(...) repeats the same keys, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "consulpeering.io",
    version = "v1alpha1",
    kind = "PeeringAcceptor",
    namespaced,
    status = "PeeringAcceptorStatus",
    derive = "PartialEq",
    shortname = "pacc",
    shortname = "peering-acceptor",
    category = "consul-peering",
    doc = "A PeeringAcceptor generates a Consul cluster peering token for this cluster and keeps \
           it in a Secret (optionally delivered to other clusters), for a PeeringDialer on the \
           other side to establish the peering.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the token Secret is current"
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
        description = "Secret holding the peering token"
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
        description = "ID of the peering in Consul",
        priority = 1
    ),
    printcolumn(
        name = "Last Sync",
        type_ = "date",
        json_path = ".status.lastSyncedTime",
        description = "When the token in the Secret was generated",
        priority = 1
    ),
    printcolumn(
        name = "Delivered To",
        type_ = "string",
        json_path = ".status.delivery[*].namespace",
        description = "Namespace of the first delivery target (kubectl shows the first of several)",
        priority = 1
    ),
    printcolumn(
        name = "Delivered",
        type_ = "string",
        json_path = ".status.delivery[*].conditions[?(@.type==\"Delivered\")].status",
        description = "Whether the first delivery target holds the current token",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PeeringAcceptorSpec {
    /// The peer and the Secret the token is written to (as in consul-k8s).
    pub peer: PeerSpec,

    /// The name of the peer in Consul (the `PeerName` the token is generated for). Defaults to
    /// `metadata.name`. Lower case alphanumeric characters or '-', at most 63 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PEER_NAME_PATTERN), length(min = 1, max = PEER_NAME_MAX_LENGTH))]
    pub peer_name: Option<String>,

    /// Metadata stored on the Consul peering (Consul's `Meta`). At most 64 entries; keys of 1 to
    /// 128 letters, digits, '_' or '-', not starting with `consul-`; values of at most 512
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "meta_schema")]
    pub meta: Option<BTreeMap<String, String>>,

    /// The Consul admin partition (Consul Enterprise). Sent as `Partition` with the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PARTITION_PATTERN), length(min = 1, max = PARTITION_MAX_LENGTH))]
    pub partition: Option<String>,

    /// Addresses (`host:port`) the dialing cluster should use to reach this cluster's Consul
    /// servers, e.g. a load balancer; they replace the server addresses Consul would put into the
    /// token (Consul's `ServerExternalAddresses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = SERVER_ADDRESSES_MAX_ITEMS),
        inner(pattern(SERVER_ADDRESS_PATTERN), length(max = SERVER_ADDRESS_MAX_LENGTH))
    )]
    pub server_external_addresses: Option<Vec<String>>,

    /// Clusters the token Secret is copied to, so that their PeeringDialers can use it without
    /// anyone copying Secrets by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = DELIVERY_MAX_ITEMS))]
    pub delivery: Option<Vec<DeliveryTarget>>,
}

/// A cluster (and namespace) the token Secret is delivered to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTarget {
    /// The kubeconfig of the target cluster, in a Secret of the acceptor's namespace. Its current
    /// context is used.
    pub kubeconfig_secret_ref: KubeconfigSecretRef,
    /// The namespace in the target cluster to write the Secret to.
    #[schemars(pattern(NAMESPACE_PATTERN), length(min = 1, max = NAMESPACE_MAX_LENGTH))]
    pub namespace: String,
    /// Name of the Secret in the target cluster. Defaults to `spec.peer.secret.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(min = 1, max = OBJECT_NAME_MAX_LENGTH))]
    pub secret_name: Option<String>,
    /// Key of the token in the target Secret. Defaults to `spec.peer.secret.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = SECRET_KEY_MAX_LENGTH))]
    pub secret_key: Option<String>,
    /// A PeeringDialer to apply in the target namespace, reading the delivered Secret; it is
    /// updated with the template and deleted with the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialer: Option<DialerTemplate>,
}

/// A Secret in the acceptor's namespace holding a kubeconfig.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KubeconfigSecretRef {
    /// Name of the Secret.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(min = 1, max = OBJECT_NAME_MAX_LENGTH))]
    pub name: String,
    /// Key of the kubeconfig in the Secret's `data`.
    #[serde(default = "default_kubeconfig_key")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = SECRET_KEY_MAX_LENGTH))]
    pub key: String,
}

fn default_kubeconfig_key() -> String {
    DEFAULT_KUBECONFIG_KEY.to_owned()
}

/// What identifies a delivery target: the same triple keys `status.delivery`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryTargetId {
    pub kubeconfig_secret_name: String,
    pub namespace: String,
    pub secret_name: String,
}

impl DeliveryTarget {
    /// The target Secret's name, defaulted from the acceptor's spec.
    pub fn secret_name<'a>(&'a self, spec: &'a PeeringAcceptorSpec) -> &'a str {
        self.secret_name
            .as_deref()
            .unwrap_or(&spec.peer.secret.name)
    }

    /// The target Secret's key, defaulted from the acceptor's spec.
    pub fn secret_key<'a>(&'a self, spec: &'a PeeringAcceptorSpec) -> &'a str {
        self.secret_key.as_deref().unwrap_or(&spec.peer.secret.key)
    }

    pub fn id(&self, spec: &PeeringAcceptorSpec) -> DeliveryTargetId {
        DeliveryTargetId {
            kubeconfig_secret_name: self.kubeconfig_secret_ref.name.clone(),
            namespace: self.namespace.clone(),
            secret_name: self.secret_name(spec).to_owned(),
        }
    }
}

impl PeeringAcceptorSpec {
    /// Checks what the schema cannot (or what an apiserver without validation let through);
    /// the message names the field and is meant for an `InvalidSpec` condition.
    pub fn validate(&self) -> Result<(), String> {
        self.peer.secret.validate("spec.peer.secret")?;
        if let Some(name) = &self.peer_name {
            validate_peer_name("spec.peerName", name)?;
        }
        if let Some(meta) = &self.meta {
            validate_meta("spec.meta", meta)?;
        }
        if let Some(partition) = &self.partition {
            validate_partition("spec.partition", partition)?;
        }
        if let Some(addresses) = &self.server_external_addresses {
            validate_server_addresses("spec.serverExternalAddresses", addresses)?;
        }
        self.validate_delivery()
    }

    fn validate_delivery(&self) -> Result<(), String> {
        let targets = self.delivery.as_deref().unwrap_or_default();
        if targets.len() > DELIVERY_MAX_ITEMS {
            return Err(format!(
                "spec.delivery: {} targets, at most {DELIVERY_MAX_ITEMS} are allowed",
                targets.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for (index, target) in targets.iter().enumerate() {
            let field = format!("spec.delivery[{index}]");
            let kubeconfig = &target.kubeconfig_secret_ref;
            validate_object_name(
                &format!("{field}.kubeconfigSecretRef.name"),
                &kubeconfig.name,
            )?;
            validate_secret_key(&format!("{field}.kubeconfigSecretRef.key"), &kubeconfig.key)?;
            validate_namespace(&format!("{field}.namespace"), &target.namespace)?;
            if let Some(name) = &target.secret_name {
                validate_object_name(&format!("{field}.secretName"), name)?;
            }
            if let Some(key) = &target.secret_key {
                validate_secret_key(&format!("{field}.secretKey"), key)?;
            }
            if let Some(dialer) = &target.dialer {
                dialer.validate(&format!("{field}.dialer"))?;
            }
            let id = target.id(self);
            if !seen.insert(id.clone()) {
                return Err(format!(
                    "{field}: duplicate target (kubeconfig Secret {:?}, namespace {:?}, Secret {:?})",
                    id.kubeconfig_secret_name, id.namespace, id.secret_name
                ));
            }
        }
        Ok(())
    }
}

impl Peered for PeeringAcceptor {
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

/// The observed state of a PeeringAcceptor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeeringAcceptorStatus {
    /// `Ready`: the Secret holds the newest token Consul issued for this peer (reason and message
    /// say why not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Secret holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<StatusSecretRef>,
    /// The Consul peering's `ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peering_id: Option<String>,
    /// The Consul peering's `State` (PENDING, ACTIVE, FAILING, TERMINATED, DELETING, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The highest rotation version (peering-version annotation) acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_peering_version: Option<i64>,
    /// When the operator last brought the token and status in line with Consul.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_time: Option<Time>,
    /// One entry per `spec.delivery` target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["kubeconfigSecretName", "namespace", "secretName"]
    ))]
    pub delivery: Vec<DeliveryStatus>,
}

impl PeeringAcceptorStatus {
    /// `state` as Consul's type (the status keeps Consul's spelling).
    pub fn consul_state(&self) -> Option<PeeringState> {
        self.state.clone().map(PeeringState::from)
    }
}

/// The state of one delivery target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// The kubeconfig Secret of the target (in the acceptor's namespace).
    pub kubeconfig_secret_name: String,
    /// The key of the kubeconfig in that Secret (remembered to withdraw the copy once the
    /// target is removed from the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_key: Option<String>,
    /// The namespace in the target cluster.
    pub namespace: String,
    /// The Secret's name in the target cluster.
    pub secret_name: String,
    /// `Delivered`: the target cluster holds the current token (reason and message say why not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// When the token was last written to the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_time: Option<Time>,
    /// Fingerprint (first 16 hex characters of SHA-256) of the token delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
    /// The PeeringDialer applied from the target's `dialer` template, as its cluster reports
    /// it (kept while it is being deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialer: Option<RemoteDialerStatus>,
}

impl DeliveryStatus {
    pub fn id(&self) -> DeliveryTargetId {
        DeliveryTargetId {
            kubeconfig_secret_name: self.kubeconfig_secret_name.clone(),
            namespace: self.namespace.clone(),
            secret_name: self.secret_name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ANNOTATION_PEERING_VERSION, SecretBackend};

    fn acceptor(yaml: &str) -> PeeringAcceptor {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn consul_k8s_manifest_is_accepted_with_an_api_version_change() {
        let a = acceptor(
            r#"
apiVersion: consulpeering.io/v1alpha1
kind: PeeringAcceptor
metadata:
  name: cluster-02
spec:
  peer:
    secret:
      name: "peering-token"
      key: "data"
      backend: "kubernetes"
"#,
        );
        assert_eq!(a.spec.peer.secret.name, "peering-token");
        assert_eq!(a.spec.peer.secret.backend, SecretBackend::Kubernetes);
        assert_eq!(a.peer_name(), "cluster-02");
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn defaults_and_delivery_identity() {
        let a = acceptor(
            r#"
metadata: {name: dc1-to-dc2}
spec:
  peer: {secret: {name: token}}
  peerName: dc2
  delivery:
  - kubeconfigSecretRef: {name: dc2-kubeconfig}
    namespace: consul
  - kubeconfigSecretRef: {name: dc2-kubeconfig, key: config}
    namespace: consul
    secretName: other
    secretKey: token
"#,
        );
        assert_eq!(a.spec.peer.secret.key, "data");
        assert_eq!(a.peer_name(), "dc2");
        let targets = a.spec.delivery.as_deref().unwrap();
        assert_eq!(targets[0].kubeconfig_secret_ref.key, "kubeconfig");
        assert_eq!(targets[0].secret_name(&a.spec), "token");
        assert_eq!(targets[0].secret_key(&a.spec), "data");
        assert_eq!(targets[1].secret_name(&a.spec), "other");
        assert_eq!(targets[1].secret_key(&a.spec), "token");
        assert_eq!(
            targets[1].id(&a.spec),
            DeliveryTargetId {
                kubeconfig_secret_name: "dc2-kubeconfig".into(),
                namespace: "consul".into(),
                secret_name: "other".into(),
            }
        );
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn validate_reports_the_field() {
        let base = acceptor("metadata: {name: dc2}\nspec: {peer: {secret: {name: token}}}");

        let mut a = base.clone();
        a.metadata.name = Some("dc2.example".into());
        assert!(a.validate().unwrap_err().starts_with("metadata.name"));
        a.spec.peer_name = Some("dc2".into());
        assert_eq!(a.validate(), Ok(()));

        let mut a = base.clone();
        a.spec.server_external_addresses = Some(vec!["lb:8502".into(), "lb".into()]);
        assert!(
            a.validate()
                .unwrap_err()
                .starts_with("spec.serverExternalAddresses[1]")
        );

        let mut a = base.clone();
        a.spec.meta = Some([("consul-version".to_string(), "1".to_string())].into());
        assert!(a.validate().unwrap_err().starts_with("spec.meta"));

        let mut a = base.clone();
        a.metadata.annotations =
            Some([(ANNOTATION_PEERING_VERSION.to_string(), "two".to_string())].into());
        assert!(
            a.validate()
                .unwrap_err()
                .contains(ANNOTATION_PEERING_VERSION)
        );

        let mut a = base.clone();
        let target = DeliveryTarget {
            kubeconfig_secret_ref: KubeconfigSecretRef {
                name: "kc".into(),
                key: "kubeconfig".into(),
            },
            namespace: "default".into(),
            secret_name: None,
            secret_key: None,
            dialer: None,
        };
        // The second target resolves to the same Secret name as the first.
        let mut explicit = target.clone();
        explicit.secret_name = Some("token".into());
        a.spec.delivery = Some(vec![target, explicit]);
        assert!(
            a.validate()
                .unwrap_err()
                .contains("spec.delivery[1]: duplicate")
        );

        let mut a = base;
        a.spec.peer.secret.key = "a/b".into();
        assert!(
            a.validate()
                .unwrap_err()
                .starts_with("spec.peer.secret.key")
        );
    }

    #[test]
    fn empty_status_serialises_to_nothing() {
        // Status is applied with server-side apply: unset fields must not be sent (they would
        // claim ownership of nulls).
        let status = PeeringAcceptorStatus::default();
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            serde_json::json!({})
        );
    }
}
