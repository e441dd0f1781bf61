//! The peering as Consul's HTTP API shows it (`api.Peering`), with Go's JSON field names,
//! order and `omitempty` rules. The same types are what [`crate::Handle::peerings`] returns
//! to tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A peering state as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PeeringState {
    Undefined,
    Pending,
    Establishing,
    Active,
    Failing,
    Deleting,
    Terminated,
}

impl PeeringState {
    /// The API spelling (`"ACTIVE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PeeringState::Undefined => "UNDEFINED",
            PeeringState::Pending => "PENDING",
            PeeringState::Establishing => "ESTABLISHING",
            PeeringState::Active => "ACTIVE",
            PeeringState::Failing => "FAILING",
            PeeringState::Deleting => "DELETING",
            PeeringState::Terminated => "TERMINATED",
        }
    }
}

/// `api.Peering`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// RFC 3339 (Go `RFC3339Nano`, UTC) time the peering was marked for deletion.
    #[serde(rename = "DeletedAt", default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "State")]
    pub state: PeeringState,
    #[serde(rename = "PeerID", default, skip_serializing_if = "String::is_empty")]
    pub peer_id: String,
    #[serde(rename = "PeerCAPems", default, skip_serializing_if = "Vec::is_empty")]
    pub peer_ca_pems: Vec<String>,
    #[serde(
        rename = "PeerServerName",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub peer_server_name: String,
    #[serde(
        rename = "PeerServerAddresses",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub peer_server_addresses: Vec<String>,
    #[serde(rename = "StreamStatus")]
    pub stream_status: StreamStatus,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
    #[serde(rename = "Remote")]
    pub remote: Remote,
}

/// `api.PeeringStreamStatus`: every key is always present, `null` when unknown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamStatus {
    #[serde(rename = "ImportedServices")]
    pub imported_services: Option<Vec<String>>,
    #[serde(rename = "ExportedServices")]
    pub exported_services: Option<Vec<String>>,
    #[serde(rename = "LastHeartbeat")]
    pub last_heartbeat: Option<String>,
    #[serde(rename = "LastReceive")]
    pub last_receive: Option<String>,
    #[serde(rename = "LastSend")]
    pub last_send: Option<String>,
}

/// `api.PeeringRemoteInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Remote {
    #[serde(rename = "Partition")]
    pub partition: String,
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    #[serde(rename = "Locality", default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
}

/// `api.Locality`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Locality {
    #[serde(rename = "Region")]
    pub region: String,
    #[serde(rename = "Zone")]
    pub zone: String,
}
