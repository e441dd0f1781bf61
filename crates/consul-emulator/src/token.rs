//! The peering token: standard base64 of the JSON of Consul's `structs.PeeringToken`, field
//! order as Go serialises it.

use serde::Serialize;

use crate::gobase64;
use crate::gojson::{self, FieldsExt, StructTy, Ty};

/// `structs.PeeringToken`. `Debug` hides the establishment secret.
#[derive(Clone, Serialize)]
pub struct PeeringToken {
    #[serde(rename = "CA")]
    pub ca: Option<Vec<String>>,
    #[serde(rename = "ManualServerAddresses")]
    pub manual_server_addresses: Option<Vec<String>>,
    #[serde(rename = "ServerAddresses")]
    pub server_addresses: Option<Vec<String>>,
    #[serde(rename = "ServerName")]
    pub server_name: String,
    #[serde(rename = "PeerID")]
    pub peer_id: String,
    #[serde(rename = "EstablishmentSecret")]
    pub establishment_secret: String,
    #[serde(rename = "Remote")]
    pub remote: TokenRemote,
}

/// `structs.PeeringTokenRemote`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenRemote {
    #[serde(rename = "Partition")]
    pub partition: String,
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    #[serde(rename = "Locality")]
    pub locality: Option<TokenLocality>,
}

/// `structs.Locality` (both fields `omitempty`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenLocality {
    #[serde(rename = "Region", skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(rename = "Zone", skip_serializing_if = "String::is_empty")]
    pub zone: String,
}

impl std::fmt::Debug for PeeringToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeeringToken")
            .field("server_addresses", &self.server_addresses)
            .field("manual_server_addresses", &self.manual_server_addresses)
            .field("server_name", &self.server_name)
            .field("peer_id", &self.peer_id)
            .field("establishment_secret", &"<redacted>")
            .field("remote", &self.remote)
            .finish()
    }
}

static LOCALITY: StructTy = StructTy {
    qualified: "structs.Locality",
    name: "Locality",
    fields: &[("Region", Ty::Str), ("Zone", Ty::Str)],
};
static REMOTE: StructTy = StructTy {
    qualified: "structs.PeeringTokenRemote",
    name: "PeeringTokenRemote",
    fields: &[
        ("Partition", Ty::Str),
        ("Datacenter", Ty::Str),
        ("Locality", Ty::PtrStruct(&LOCALITY)),
    ],
};
static TOKEN: StructTy = StructTy {
    qualified: "structs.PeeringToken",
    name: "PeeringToken",
    fields: &[
        ("CA", Ty::StrSlice),
        ("ManualServerAddresses", Ty::StrSlice),
        ("ServerAddresses", Ty::StrSlice),
        ("ServerName", Ty::Str),
        ("PeerID", Ty::Str),
        ("EstablishmentSecret", Ty::Str),
        ("Remote", Ty::Struct(&REMOTE)),
    ],
};

impl PeeringToken {
    /// Base64 (standard, padded) of the JSON.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = emulator_common::gojson::marshal(self, false);
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// Consul's `DecodeToken`: Go base64 then `json.Unmarshal`, with Go's error texts.
    pub fn decode(raw: &str) -> Result<PeeringToken, String> {
        let json = gobase64::decode(raw.as_bytes()).map_err(|at| {
            format!("failed to decode token: illegal base64 data at input byte {at}")
        })?;
        let fields = gojson::unmarshal(&json, &TOKEN)?;
        let remote = fields.nested("Remote");
        let text = |name: &str| remote.map(|r| r.string(name)).unwrap_or_default();
        Ok(PeeringToken {
            ca: fields.list("CA"),
            manual_server_addresses: fields.list("ManualServerAddresses"),
            server_addresses: fields.list("ServerAddresses"),
            server_name: fields.string("ServerName"),
            peer_id: fields.string("PeerID"),
            establishment_secret: fields.string("EstablishmentSecret"),
            remote: TokenRemote {
                partition: text("Partition"),
                datacenter: text("Datacenter"),
                locality: remote
                    .and_then(|r| r.nested("Locality"))
                    .map(|l| TokenLocality {
                        region: l.string("Region"),
                        zone: l.string("Zone"),
                    }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_serialises_in_go_field_order() {
        let token = PeeringToken {
            ca: Some(vec!["pem\n".into()]),
            manual_server_addresses: None,
            server_addresses: Some(vec!["127.0.0.1:8503".into()]),
            server_name: "server.dc1.peering.x.consul".into(),
            peer_id: "id".into(),
            establishment_secret: "secret".into(),
            remote: TokenRemote {
                partition: "default".into(),
                datacenter: "dc1".into(),
                locality: None,
            },
        };
        let json = String::from_utf8(emulator_common::gojson::marshal(&token, false)).unwrap();
        assert_eq!(
            json,
            r#"{"CA":["pem\n"],"ManualServerAddresses":null,"ServerAddresses":["127.0.0.1:8503"],"ServerName":"server.dc1.peering.x.consul","PeerID":"id","EstablishmentSecret":"secret","Remote":{"Partition":"default","Datacenter":"dc1","Locality":null}}"#
        );
        let back = PeeringToken::decode(&token.encode()).unwrap();
        assert_eq!(back.peer_id, "id");
        assert_eq!(back.remote.datacenter, "dc1");
        assert!(back.manual_server_addresses.is_none());
        assert!(!format!("{back:?}").contains("secret\""));
    }

    #[test]
    fn decode_errors_are_consuls() {
        assert_eq!(
            PeeringToken::decode("not base64!").unwrap_err(),
            "failed to decode token: illegal base64 data at input byte 3"
        );
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            PeeringToken::decode(&b64("hello")).unwrap_err(),
            "invalid character 'h' looking for beginning of value"
        );
        assert_eq!(
            PeeringToken::decode(&b64(r#"{"CA":"x"}"#)).unwrap_err(),
            "json: cannot unmarshal string into Go struct field PeeringToken.CA of type []string"
        );
        assert_eq!(
            PeeringToken::decode(&b64(r#"{"Extra":1}"#))
                .unwrap()
                .peer_id,
            ""
        );
    }
}
