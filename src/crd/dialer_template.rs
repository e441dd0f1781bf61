//! `spec.delivery[].dialer`: a PeeringDialer the operator applies in a delivery target next to
//! the token Secret it delivers there, and what the acceptor's status shows of it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::ConditionStatus;
use super::meta::dialer_meta_schema;
use super::validation::{
    OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN, PARTITION_MAX_LENGTH, PARTITION_PATTERN,
    PEER_NAME_MAX_LENGTH, PEER_NAME_PATTERN, validate_dialer_meta, validate_object_name,
    validate_partition, validate_peer_name,
};

/// Label (value `true`) on every PeeringDialer applied from a template; the watches on the
/// target namespaces select on it. Its owner is in the `consulpeering.io/owner` annotation, as
/// on the token Secrets.
pub const LABEL_DELIVERED_DIALER: &str = "consulpeering.io/delivered-dialer";

/// The PeeringDialer to apply in the target cluster and namespace; it reads the delivered
/// Secret, and the target cluster's own operator establishes the peering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DialerTemplate {
    /// Name of the PeeringDialer in the target namespace (also the Consul peer name there,
    /// unless `peerName` is set): usually the name of this cluster.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(min = 1, max = OBJECT_NAME_MAX_LENGTH))]
    pub name: String,
    /// The dialer's `spec.peerName`: the name of this cluster's peering in the target's Consul.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PEER_NAME_PATTERN), length(min = 1, max = PEER_NAME_MAX_LENGTH))]
    pub peer_name: Option<String>,
    /// The dialer's `spec.meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "dialer_meta_schema")]
    pub meta: Option<BTreeMap<String, String>>,
    /// The dialer's `spec.partition` (the target Consul's admin partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PARTITION_PATTERN), length(min = 1, max = PARTITION_MAX_LENGTH))]
    pub partition: Option<String>,
}

impl DialerTemplate {
    /// The checks of the schema, for an apiserver without validation; `field` is the
    /// template's path, e.g. `spec.delivery[0].dialer`.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        validate_object_name(&format!("{field}.name"), &self.name)?;
        match &self.peer_name {
            Some(peer) => validate_peer_name(&format!("{field}.peerName"), peer)?,
            None => {
                validate_peer_name(&format!("{field}.name (the default peer name)"), &self.name)?
            }
        }
        if let Some(meta) = &self.meta {
            validate_dialer_meta(&format!("{field}.meta"), meta)?;
        }
        if let Some(partition) = &self.partition {
            validate_partition(&format!("{field}.partition"), partition)?;
        }
        Ok(())
    }
}

/// The remote PeeringDialer of a delivery target, as its cluster's operator reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteDialerStatus {
    /// Name of the PeeringDialer in the target namespace.
    pub name: String,
    /// Its `Ready` condition's status (absent until its operator reported one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ConditionStatus>,
    /// Its `Ready` condition's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its Consul peering's state in the target cluster (PENDING, ACTIVE, FAILING, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str) -> DialerTemplate {
        DialerTemplate {
            name: name.into(),
            peer_name: None,
            meta: None,
            partition: None,
        }
    }

    #[test]
    fn the_name_is_the_peer_name_unless_one_is_given() {
        assert_eq!(template("dc1").validate("d"), Ok(()));
        let dotted = template("dc1.example");
        assert!(dotted.validate("d").unwrap_err().starts_with("d.name"));
        let named = DialerTemplate {
            peer_name: Some("dc1".into()),
            ..dotted
        };
        assert_eq!(named.validate("d"), Ok(()));
        let reserved = DialerTemplate {
            meta: Some([("consulpeering-x".to_string(), "1".to_string())].into()),
            ..template("dc1")
        };
        assert!(reserved.validate("d").unwrap_err().starts_with("d.meta"));
    }
}
