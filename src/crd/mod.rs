//! The operator's API, group `consulpeering.io`, version `v1alpha1`: PeeringAcceptor and
//! PeeringDialer, the names it writes on Kubernetes objects, and CRD generation.
//!
//! The specs are field-compatible with consul-k8s's `consul.hashicorp.com/v1alpha1` CRDs
//! (`spec.peer.secret.{name,key,backend}`), so moving from consul-k8s is an apiVersion change.

mod acceptor;
mod annotations;
mod common;
mod conditions;
mod dialer;
mod dialer_template;
mod mesh;
mod meta;
pub mod validation;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use acceptor::{
    DEFAULT_KUBECONFIG_KEY, DeliveryStatus, DeliveryTarget, DeliveryTargetId, KubeconfigSecretRef,
    PeeringAcceptor, PeeringAcceptorSpec, PeeringAcceptorStatus,
};
pub use annotations::{
    ANNOTATION_CONSUL_K8S_PEERING_VERSION, ANNOTATION_PEERING_VERSION, FIELD_MANAGER, FINALIZER,
    LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, SECRET_ANNOTATION_GENERATED_AT,
    SECRET_ANNOTATION_OWNER, SECRET_ANNOTATION_PEER_NAME, SECRET_ANNOTATION_PEERING_ID,
    SECRET_ANNOTATION_REFUSED_FINGERPRINT, SECRET_ANNOTATION_ROTATION_VERSION,
    SECRET_ANNOTATION_TOKEN_FINGERPRINT, SecretOwner, rotation_version, token_fingerprint,
};
pub use common::{
    DEFAULT_SECRET_KEY, PeerSpec, Peered, SecretBackend, SecretRefSpec, StatusSecretRef,
};
pub use conditions::{
    CONDITION_DELIVERED, CONDITION_DIALER_APPLIED, CONDITION_READY, CONDITION_SECRET_USABLE,
    Condition, ConditionStatus, find_condition, reason, set_condition,
};
pub use dialer::{PeeringDialer, PeeringDialerSpec, PeeringDialerStatus, RemoteStatus};
pub use dialer_template::{DialerTemplate, LABEL_DELIVERED_DIALER, RemoteDialerStatus};
pub use mesh::{
    ANNOTATION_MESH, LABEL_MESH_MANAGED, MESH_MAX_MEMBERS, MeshMember, MeshPair, MeshPairStatus,
    MeshTopology, PeeringMesh, PeeringMeshSpec, PeeringMeshStatus,
};

/// The API group.
pub const GROUP: &str = "consulpeering.io";
/// The API version.
pub const VERSION: &str = "v1alpha1";

/// The CustomResourceDefinitions, acceptor first.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        PeeringAcceptor::crd(),
        PeeringDialer::crd(),
        PeeringMesh::crd(),
    ]
}

/// One CRD as a YAML document (the content of its file in `crds/`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

/// Both CRDs as a multi-document YAML stream (what `consul-peering-operator crds` prints).
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string_multiple(&crds())
}
