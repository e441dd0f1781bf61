//! Spec and status types shared by PeeringAcceptor and PeeringDialer. The spec part is
//! field-compatible with consul-k8s's `consul.hashicorp.com/v1alpha1` CRDs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::annotations::rotation_version;
use super::validation::validate_peer_name;

use super::validation::{
    OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN, SECRET_KEY_MAX_LENGTH, SECRET_KEY_PATTERN,
    validate_object_name, validate_secret_key,
};

/// The default key of the token in the Secret's `data` (consul-k8s's examples use `data`).
pub const DEFAULT_SECRET_KEY: &str = "data";

/// The peer this resource pairs with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PeerSpec {
    /// Where the peering token is kept: written by a PeeringAcceptor, read by a PeeringDialer.
    pub secret: SecretRefSpec,
}

/// A Secret in the resource's own namespace that holds the peering token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SecretRefSpec {
    /// Name of the Secret.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(min = 1, max = OBJECT_NAME_MAX_LENGTH))]
    pub name: String,
    /// Key in the Secret's `data` that holds the token.
    #[serde(default = "default_secret_key")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = SECRET_KEY_MAX_LENGTH))]
    pub key: String,
    /// Where the Secret is stored; only `kubernetes` is supported.
    #[serde(default)]
    pub backend: SecretBackend,
}

impl Default for SecretRefSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            key: default_secret_key(),
            backend: SecretBackend::Kubernetes,
        }
    }
}

impl SecretRefSpec {
    pub fn validate(&self, field: &str) -> Result<(), String> {
        validate_object_name(&format!("{field}.name"), &self.name)?;
        validate_secret_key(&format!("{field}.key"), &self.key)
    }
}

fn default_secret_key() -> String {
    DEFAULT_SECRET_KEY.to_owned()
}

/// Storage backend of the token Secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SecretBackend {
    /// A Kubernetes Secret.
    #[default]
    #[serde(rename = "kubernetes")]
    Kubernetes,
}

impl SecretBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kubernetes => "kubernetes",
        }
    }
}

/// The token Secret the operator last acted on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusSecretRef {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Key of the token in the Secret's `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Backend of the Secret (`kubernetes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// `metadata.resourceVersion` of the Secret when the operator last wrote (acceptor) or read
    /// (dialer) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// What PeeringAcceptor and PeeringDialer share: each names a Consul peer (in a partition) and
/// takes a rotation annotation.
pub trait Peered: kube::Resource {
    /// `spec.peerName`.
    fn spec_peer_name(&self) -> Option<&str>;
    /// `spec.partition`.
    fn spec_partition(&self) -> Option<&str>;
    /// The checks of the spec alone (see each spec's `validate`).
    fn validate_spec(&self) -> Result<(), String>;

    /// The Consul peer name: `spec.peerName`, else `metadata.name`.
    fn peer_name(&self) -> &str {
        self.spec_peer_name()
            .or(self.meta().name.as_deref())
            .unwrap_or_default()
    }

    /// The Consul partition; `""` for the default one.
    fn partition(&self) -> &str {
        self.spec_partition().unwrap_or_default()
    }

    /// The rotation version requested by annotation (see [`rotation_version`]).
    fn rotation_version(&self) -> Result<Option<i64>, String> {
        rotation_version(self.meta().annotations.as_ref().unwrap_or(&BTreeMap::new()))
    }

    /// The whole resource: spec, the effective peer name, the rotation annotations.
    fn validate(&self) -> Result<(), String> {
        self.validate_spec()?;
        if self.spec_peer_name().is_none() {
            validate_peer_name("metadata.name (the default peer name)", self.peer_name())?;
        }
        self.rotation_version().map(|_| ())
    }
}
