//! PeeringMesh: peers clusters with each other from one resource. For each pair it applies a
//! PeeringAcceptor in the accepting cluster that delivers its token Secret, with a dialer
//! template, to the dialing one; the members' own operators do the Consul work.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::acceptor::KubeconfigSecretRef;
use super::conditions::{Condition, ConditionStatus};
use super::validation::{
    NAMESPACE_MAX_LENGTH, NAMESPACE_PATTERN, PARTITION_MAX_LENGTH, PARTITION_PATTERN,
    PEER_NAME_MAX_LENGTH, PEER_NAME_PATTERN, validate_namespace, validate_object_name,
    validate_partition, validate_peer_name, validate_secret_key,
};

/// Label (value `true`) on every PeeringAcceptor a mesh applies; the mesh's watches on its
/// members select on it.
pub const LABEL_MESH_MANAGED: &str = "consulpeering.io/mesh-managed";
/// Annotation on what a mesh applies (acceptors, kubeconfig Secrets): the PeeringMesh, as
/// `namespace/name/uid`. An object without it, or with another mesh, is never overwritten.
pub const ANNOTATION_MESH: &str = "consulpeering.io/mesh";

/// The most members a mesh takes (a full mesh of 16 is 120 peerings).
pub const MESH_MAX_MEMBERS: usize = 16;

/// The desired state of a PeeringMesh: its member clusters and which pairs of them peer.
// Each printcolumn(...) repeats the same keys, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "consulpeering.io",
    version = "v1alpha1",
    kind = "PeeringMesh",
    namespaced,
    status = "PeeringMeshStatus",
    derive = "PartialEq",
    shortname = "pmesh",
    category = "consul-peering",
    doc = "A PeeringMesh peers clusters with each other: for each pair it applies a \
           PeeringAcceptor in the accepting cluster that delivers its token, with a \
           PeeringDialer, to the dialing one, and shows the health of every link.",
    printcolumn(
        name = "Members",
        type_ = "integer",
        json_path = ".status.members",
        description = "Member clusters"
    ),
    printcolumn(
        name = "Peered",
        type_ = "string",
        json_path = ".status.peered",
        description = "Pairs peered (ready and ACTIVE) of all pairs"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether every pair is peered"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why the mesh is (not) ready",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PeeringMeshSpec {
    /// The clusters; their names are the Consul peer names the others know them by.
    #[schemars(length(min = 2, max = MESH_MAX_MEMBERS))]
    pub members: Vec<MeshMember>,
    /// `full` peers every pair (the default when `acceptors` and `dialers` are not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<MeshTopology>,
    /// Members that accept: each peers with each of `dialers` (instead of `topology`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MESH_MAX_MEMBERS))]
    pub acceptors: Option<Vec<String>>,
    /// Members that dial each of `acceptors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MESH_MAX_MEMBERS))]
    pub dialers: Option<Vec<String>>,
}

/// One member cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshMember {
    /// The member's name: the Consul peer name of its peerings in the other members.
    #[schemars(pattern(PEER_NAME_PATTERN), length(min = 1, max = PEER_NAME_MAX_LENGTH))]
    pub name: String,
    /// The member's kubeconfig, in a Secret of the mesh's namespace; none for this cluster.
    /// A member that dials needs one (the accepting member delivers into it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<KubeconfigSecretRef>,
    /// The namespace of the member's acceptors, dialers and token Secrets (where its operator
    /// watches).
    #[schemars(pattern(NAMESPACE_PATTERN), length(min = 1, max = NAMESPACE_MAX_LENGTH))]
    pub namespace: String,
    /// The member Consul's admin partition (Consul Enterprise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PARTITION_PATTERN), length(min = 1, max = PARTITION_MAX_LENGTH))]
    pub partition: Option<String>,
}

/// Which members peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MeshTopology {
    /// Every member with every other.
    #[serde(rename = "full")]
    Full,
}

/// One peering of the mesh: `acceptor` generates the token, `dialer` establishes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeshPair<'a> {
    pub acceptor: &'a MeshMember,
    pub dialer: &'a MeshMember,
}

impl PeeringMeshSpec {
    /// Checks what the schema cannot; the message names the field (for `InvalidSpec`).
    pub fn validate(&self) -> Result<(), String> {
        if self.members.len() < 2 || self.members.len() > MESH_MAX_MEMBERS {
            return Err(format!(
                "spec.members: {} members, a mesh has 2 to {MESH_MAX_MEMBERS}",
                self.members.len()
            ));
        }
        let mut names = BTreeSet::new();
        for (index, member) in self.members.iter().enumerate() {
            let field = format!("spec.members[{index}]");
            member.validate(&field)?;
            if !names.insert(member.name.as_str()) {
                return Err(format!("{field}.name: duplicate member {:?}", member.name));
            }
        }
        let local = self.members.iter().filter(|m| m.is_local()).count();
        if local > 1 {
            return Err(format!(
                "spec.members: {local} members without kubeconfigSecretRef; only one can be \
                 this cluster"
            ));
        }
        self.pairs().map(|_| ())
    }

    /// The pairs to peer, in a stable order. A full mesh lets the earlier member accept,
    /// unless only the earlier one has a kubeconfig (the dialer must have one).
    pub fn pairs(&self) -> Result<Vec<MeshPair<'_>>, String> {
        match (&self.acceptors, &self.dialers, self.topology) {
            (None, None, _) => Ok(self.full_mesh()),
            (Some(acceptors), Some(dialers), None) => self.listed_pairs(acceptors, dialers),
            (Some(_), Some(_), Some(_)) => {
                Err("spec.topology: give either topology or acceptors and dialers, not both".into())
            }
            _ => Err("spec.acceptors and spec.dialers: give both lists, or neither".into()),
        }
    }

    fn full_mesh(&self) -> Vec<MeshPair<'_>> {
        let mut pairs = Vec::new();
        for (i, first) in self.members.iter().enumerate() {
            for second in &self.members[i + 1..] {
                let (acceptor, dialer) = if second.is_local() {
                    (second, first)
                } else {
                    (first, second)
                };
                pairs.push(MeshPair { acceptor, dialer });
            }
        }
        pairs
    }

    fn listed_pairs<'a>(
        &'a self,
        acceptors: &[String],
        dialers: &[String],
    ) -> Result<Vec<MeshPair<'a>>, String> {
        let find = |field: &str, index: usize, name: &str| {
            self.members
                .iter()
                .find(|m| m.name == name)
                .ok_or_else(|| format!("spec.{field}[{index}]: no member named {name:?}"))
        };
        let mut pairs = Vec::new();
        for (i, acceptor) in acceptors.iter().enumerate() {
            let acceptor = find("acceptors", i, acceptor)?;
            for (j, dialer) in dialers.iter().enumerate() {
                let dialer = find("dialers", j, dialer)?;
                if dialer.is_local() {
                    return Err(format!(
                        "spec.dialers[{j}]: member {:?} has no kubeconfigSecretRef; a dialing \
                         member needs one (the accepting member delivers the token into it)",
                        dialer.name
                    ));
                }
                if acceptor.name == dialer.name {
                    return Err(format!(
                        "spec.dialers[{j}]: {:?} is also an acceptor; a member cannot peer with \
                         itself",
                        dialer.name
                    ));
                }
                if !pairs.contains(&MeshPair { acceptor, dialer }) {
                    pairs.push(MeshPair { acceptor, dialer });
                }
            }
        }
        Ok(pairs)
    }
}

impl MeshMember {
    /// Whether the member is the mesh's own cluster.
    pub fn is_local(&self) -> bool {
        self.kubeconfig_secret_ref.is_none()
    }

    fn validate(&self, field: &str) -> Result<(), String> {
        validate_peer_name(&format!("{field}.name"), &self.name)?;
        if let Some(secret) = &self.kubeconfig_secret_ref {
            validate_object_name(&format!("{field}.kubeconfigSecretRef.name"), &secret.name)?;
            validate_secret_key(&format!("{field}.kubeconfigSecretRef.key"), &secret.key)?;
        }
        validate_namespace(&format!("{field}.namespace"), &self.namespace)?;
        if let Some(partition) = &self.partition {
            validate_partition(&format!("{field}.partition"), partition)?;
        }
        Ok(())
    }
}

/// The observed state of a PeeringMesh.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeeringMeshStatus {
    /// `Ready`: every pair is peered (reason and message name the first that is not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// How many members the spec lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<i64>,
    /// Pairs peered of all pairs, e.g. `3/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peered: Option<String>,
    /// One entry per pair, also for pairs being removed until all they had is gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["acceptor", "dialer"]
    ))]
    pub pairs: Vec<MeshPairStatus>,
}

/// The state of one pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshPairStatus {
    /// The accepting member.
    pub acceptor: String,
    /// The dialing member.
    pub dialer: String,
    /// Whether both sides are ready and the peering ACTIVE.
    pub ready: ConditionStatus,
    /// Why (not): the first side's reason that is not ready, e.g. `Active`, `Establishing`,
    /// `DeliveryFailed`, `MemberUnreachable`, `Removing`.
    pub reason: String,
    /// What the reason means here.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The peering's state in the accepting member's Consul.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When `ready` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Where the pair's resources are: the accepting member's namespace and kubeconfig
    /// (remembered to remove them once the member or pair leaves the spec).
    pub acceptor_namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptor_kubeconfig_secret_ref: Option<KubeconfigSecretRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh(yaml: &str) -> PeeringMeshSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn names(pairs: &[MeshPair<'_>]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|p| (p.acceptor.name.clone(), p.dialer.name.clone()))
            .collect()
    }

    const MEMBERS: &str = "members:
- {name: dc1, namespace: default}
- {name: dc2, namespace: default, kubeconfigSecretRef: {name: dc2}}
- {name: dc3, namespace: consul, kubeconfigSecretRef: {name: dc3, key: config}}
";

    #[test]
    fn a_full_mesh_peers_every_pair_and_the_local_member_always_accepts() {
        let spec = mesh(MEMBERS);
        assert_eq!(spec.validate(), Ok(()));
        let pairs = names(&spec.pairs().unwrap());
        let expected = [("dc1", "dc2"), ("dc1", "dc3"), ("dc2", "dc3")];
        assert_eq!(pairs, expected.map(|(a, d)| (a.into(), d.into())));
        let local_last = mesh(
            "members:
- {name: dc2, namespace: default, kubeconfigSecretRef: {name: dc2}}
- {name: dc1, namespace: default}
",
        );
        assert_eq!(
            names(&local_last.pairs().unwrap()),
            [("dc1".into(), "dc2".into())]
        );
    }

    #[test]
    fn acceptors_and_dialers_peer_each_with_each() {
        let spec = mesh(&format!("{MEMBERS}acceptors: [dc1]\ndialers: [dc2, dc3]\n"));
        assert_eq!(
            names(&spec.pairs().unwrap()),
            [("dc1".into(), "dc2".into()), ("dc1".into(), "dc3".into())]
        );
        let local_dialer = mesh(&format!("{MEMBERS}acceptors: [dc2]\ndialers: [dc1]\n"));
        assert!(
            local_dialer
                .validate()
                .unwrap_err()
                .contains("spec.dialers[0]")
        );
        let unknown = mesh(&format!("{MEMBERS}acceptors: [dc9]\ndialers: [dc2]\n"));
        assert!(
            unknown
                .validate()
                .unwrap_err()
                .starts_with("spec.acceptors[0]")
        );
        let half = mesh(&format!("{MEMBERS}acceptors: [dc1]\n"));
        assert!(half.validate().is_err());
        let both = mesh(&format!(
            "{MEMBERS}topology: full\nacceptors: [dc1]\ndialers: [dc2]\n"
        ));
        assert!(both.validate().unwrap_err().starts_with("spec.topology"));
    }

    #[test]
    fn members_are_checked() {
        let twice = mesh(
            "members:
- {name: dc1, namespace: default}
- {name: dc1, namespace: default, kubeconfigSecretRef: {name: k}}
",
        );
        assert!(twice.validate().unwrap_err().contains("duplicate"));
        let two_local = mesh(
            "members:
- {name: dc1, namespace: default}
- {name: dc2, namespace: default}
",
        );
        assert!(
            two_local
                .validate()
                .unwrap_err()
                .contains("without kubeconfig")
        );
        let bad_name = mesh(
            "members:
- {name: DC1, namespace: default}
- {name: dc2, namespace: default, kubeconfigSecretRef: {name: k}}
",
        );
        assert!(
            bad_name
                .validate()
                .unwrap_err()
                .starts_with("spec.members[0].name")
        );
    }
}
