//! Consul's peering request and response bodies, with Consul's exact JSON field names
//! (`api/peering.go`). Empty optional fields are left out of requests, as Go's `omitempty` does:
//! Consul rejects unknown fields but not missing optional ones.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::token::PeeringToken;

/// Body of `POST /v1/peering/token`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GenerateTokenRequest {
    #[serde(rename = "PeerName")]
    pub peer_name: String,
    #[serde(rename = "Partition", skip_serializing_if = "String::is_empty")]
    pub partition: String,
    #[serde(rename = "Meta", skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    #[serde(
        rename = "ServerExternalAddresses",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub server_external_addresses: Vec<String>,
}

/// Response of `POST /v1/peering/token`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateTokenResponse {
    #[serde(rename = "PeeringToken")]
    pub peering_token: PeeringToken,
}

/// Body of `POST /v1/peering/establish`. `Debug` shows the token's fingerprint only.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EstablishRequest {
    #[serde(rename = "PeerName")]
    pub peer_name: String,
    #[serde(
        rename = "PeeringToken",
        skip_serializing_if = "PeeringToken::is_empty"
    )]
    pub peering_token: PeeringToken,
    #[serde(rename = "Partition", skip_serializing_if = "String::is_empty")]
    pub partition: String,
    #[serde(rename = "Meta", skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

/// A peering's state. Consul may add states; unknown ones are kept verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PeeringState {
    #[default]
    Undefined,
    Pending,
    Establishing,
    Active,
    Failing,
    Deleting,
    Terminated,
    Other(String),
}

impl PeeringState {
    /// Every state Consul defines (`Other` aside), e.g. for a metric that reports each one.
    pub const KNOWN: [PeeringState; 7] = [
        Self::Pending,
        Self::Establishing,
        Self::Active,
        Self::Failing,
        Self::Deleting,
        Self::Terminated,
        Self::Undefined,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Undefined => "UNDEFINED",
            Self::Pending => "PENDING",
            Self::Establishing => "ESTABLISHING",
            Self::Active => "ACTIVE",
            Self::Failing => "FAILING",
            Self::Deleting => "DELETING",
            Self::Terminated => "TERMINATED",
            Self::Other(other) => other,
        }
    }
}

impl From<String> for PeeringState {
    fn from(value: String) -> Self {
        match value.as_str() {
            "UNDEFINED" => Self::Undefined,
            "PENDING" => Self::Pending,
            "ESTABLISHING" => Self::Establishing,
            "ACTIVE" => Self::Active,
            "FAILING" => Self::Failing,
            "DELETING" => Self::Deleting,
            "TERMINATED" => Self::Terminated,
            _ => Self::Other(value),
        }
    }
}

impl From<PeeringState> for String {
    fn from(value: PeeringState) -> Self {
        match value {
            PeeringState::Other(other) => other,
            known => known.as_str().to_owned(),
        }
    }
}

impl fmt::Display for PeeringState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A peering as `GET /v1/peering/:name` and `GET /v1/peerings` return it (`api.Peering`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Peering {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(
        rename = "Partition",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub partition: String,
    /// When the peering was marked for deletion (RFC 3339).
    #[serde(rename = "DeletedAt", default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(rename = "Meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    #[serde(rename = "State", default)]
    pub state: PeeringState,
    /// The ID the other side assigned (dialer side only).
    #[serde(rename = "PeerID", default, skip_serializing_if = "String::is_empty")]
    pub peer_id: String,
    #[serde(
        rename = "PeerCAPems",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub peer_ca_pems: Option<Vec<String>>,
    #[serde(
        rename = "PeerServerName",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub peer_server_name: String,
    #[serde(
        rename = "PeerServerAddresses",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub peer_server_addresses: Option<Vec<String>>,
    #[serde(rename = "StreamStatus", default)]
    pub stream_status: StreamStatus,
    #[serde(rename = "CreateIndex", default)]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: u64,
    #[serde(rename = "Remote", default)]
    pub remote: PeeringRemote,
}

/// Stream information computed on read (`api.PeeringStreamStatus`); timestamps are RFC 3339.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamStatus {
    #[serde(rename = "ImportedServices", default)]
    pub imported_services: Option<Vec<String>>,
    #[serde(rename = "ExportedServices", default)]
    pub exported_services: Option<Vec<String>>,
    #[serde(rename = "LastHeartbeat", default)]
    pub last_heartbeat: Option<String>,
    #[serde(rename = "LastReceive", default)]
    pub last_receive: Option<String>,
    #[serde(rename = "LastSend", default)]
    pub last_send: Option<String>,
}

/// The remote peer (`api.PeeringRemoteInfo`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeeringRemote {
    #[serde(rename = "Partition", default)]
    pub partition: String,
    #[serde(rename = "Datacenter", default)]
    pub datacenter: String,
    #[serde(rename = "Locality", default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Locality {
    #[serde(rename = "Region", default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(rename = "Zone", default, skip_serializing_if = "String::is_empty")]
    pub zone: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_consuls_names_and_omit_empty_fields() {
        let minimal = GenerateTokenRequest {
            peer_name: "dc2".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&minimal).unwrap(),
            r#"{"PeerName":"dc2"}"#
        );
        let full = GenerateTokenRequest {
            peer_name: "dc2".into(),
            partition: "default".into(),
            meta: [("env".to_string(), "prod".to_string())].into(),
            server_external_addresses: vec!["lb:8502".into()],
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            serde_json::json!({"PeerName": "dc2", "Partition": "default", "Meta": {"env": "prod"},
                               "ServerExternalAddresses": ["lb:8502"]})
        );
        let establish = EstablishRequest {
            peer_name: "dc1".into(),
            peering_token: PeeringToken::new("dG9rZW4="),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&establish).unwrap(),
            r#"{"PeerName":"dc1","PeeringToken":"dG9rZW4="}"#
        );
        assert!(!format!("{establish:?}").contains("dG9rZW4="));
    }

    #[test]
    fn decodes_consuls_peering() {
        let json = r#"{
            "ID": "462c45e8-d2d9-4d0c-8a4e-9d6c4d4f3c7a", "Name": "dc1",
            "State": "ACTIVE", "PeerID": "e83a315c-027e-bcb1-7c0c-a46650904a05",
            "PeerServerName": "server.dc1.peering.11111111-2222-3333-4444-555555555555.consul",
            "PeerServerAddresses": ["10.0.0.10:8503"],
            "StreamStatus": {"ImportedServices": null, "ExportedServices": ["web"],
                             "LastHeartbeat": "2024-01-01T00:00:00Z", "LastReceive": null, "LastSend": null},
            "CreateIndex": 15, "ModifyIndex": 20,
            "Remote": {"Partition": "default", "Datacenter": "dc1"}
        }"#;
        let peering: Peering = serde_json::from_str(json).unwrap();
        assert_eq!(peering.state, PeeringState::Active);
        assert_eq!(peering.remote.datacenter, "dc1");
        assert_eq!(peering.modify_index, 20);
        assert_eq!(
            peering.stream_status.exported_services.as_deref(),
            Some(&["web".to_string()][..])
        );
        let odd: PeeringState = serde_json::from_str(r#""REBALANCING""#).unwrap();
        assert_eq!(odd, PeeringState::Other("REBALANCING".into()));
        assert_eq!(serde_json::to_string(&odd).unwrap(), r#""REBALANCING""#);
    }
}
