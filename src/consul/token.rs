//! The peering token: an opaque string whose `Debug` and `Display` never show it, and its
//! decoded form (standard base64 of the token JSON, section B of the reference) for inspection,
//! whose establishment secret is never shown either.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::error::ConsulError;
use crate::crd::token_fingerprint;

/// A peering token as Consul issues it. Serialises as the plain string (it has to travel in
/// request bodies and Secrets); formatting it shows only its fingerprint.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeeringToken(String);

impl PeeringToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the Secret or the establish request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// See [`token_fingerprint`]: safe to log and to store.
    pub fn fingerprint(&self) -> String {
        token_fingerprint(&self.0)
    }

    /// Decodes the token for inspection (server addresses, peer ID, remote datacenter).
    pub fn decode(&self) -> Result<DecodedToken, ConsulError> {
        DecodedToken::decode(&self.0)
    }
}

impl fmt::Debug for PeeringToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PeeringToken(<redacted, fingerprint {}>)",
            self.fingerprint()
        )
    }
}

impl fmt::Display for PeeringToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<peering token {}>", self.fingerprint())
    }
}

/// The one-time secret inside a token; formatting never shows it.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct EstablishmentSecret(String);

impl EstablishmentSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EstablishmentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The JSON inside a peering token (Consul's `structs.PeeringToken`, field names as serialised).
/// Nil slices are `null` in Consul's JSON, hence the `Option`s.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DecodedToken {
    /// PEM roots of the generating cluster's Connect CA.
    #[serde(rename = "CA", default)]
    pub ca: Option<Vec<String>>,
    /// The request's `ServerExternalAddresses`; when set, dialed instead of `ServerAddresses`.
    #[serde(rename = "ManualServerAddresses", default)]
    pub manual_server_addresses: Option<Vec<String>>,
    /// `host:port` of the generating cluster's servers (or mesh gateways).
    #[serde(rename = "ServerAddresses", default)]
    pub server_addresses: Option<Vec<String>>,
    /// TLS name of the generating servers: `server.<dc>.peering.<trust domain>`.
    #[serde(rename = "ServerName", default)]
    pub server_name: String,
    /// The generating side's peering ID.
    #[serde(rename = "PeerID", default)]
    pub peer_id: String,
    #[serde(rename = "EstablishmentSecret", default)]
    pub establishment_secret: EstablishmentSecret,
    #[serde(rename = "Remote", default)]
    pub remote: TokenRemote,
}

/// Where the generating cluster is.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TokenRemote {
    #[serde(rename = "Partition", default)]
    pub partition: String,
    #[serde(rename = "Datacenter", default)]
    pub datacenter: String,
    #[serde(rename = "Locality", default)]
    pub locality: Option<super::types::Locality>,
}

impl DecodedToken {
    /// Standard base64 (padding required; line breaks ignored, as Go's decoder does) of JSON.
    pub fn decode(token: &str) -> Result<Self, ConsulError> {
        let compact: String = token.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        let json = STANDARD
            .decode(compact.as_bytes())
            .map_err(|err| ConsulError::InvalidToken(format!("not base64: {err}")))?;
        // serde_json's messages can quote values (e.g. "invalid type: string ..."), which could be
        // the secret: keep only the category and the position.
        serde_json::from_slice(&json).map_err(|err| {
            ConsulError::InvalidToken(format!(
                "not a peering token ({:?} error at line {} column {})",
                err.classify(),
                err.line(),
                err.column()
            ))
        })
    }

    /// The checks Consul makes at establish time (except parsing the CA certificates), with its
    /// messages.
    pub fn validate(&self) -> Result<(), String> {
        let manual = self.manual_server_addresses.as_deref().unwrap_or_default();
        let addresses = self.server_addresses.as_deref().unwrap_or_default();
        if addresses.is_empty() && manual.is_empty() {
            return Err("peering token server addresses value is empty".into());
        }
        for address in manual.iter().chain(addresses) {
            if !valid_server_address(address) {
                return Err(format!("{address} is not a valid peering server address"));
            }
        }
        if self.ca.as_ref().is_some_and(|ca| !ca.is_empty()) && self.server_name.is_empty() {
            return Err("peering token server name value is empty".into());
        }
        if self.peer_id.is_empty() {
            return Err("peering token peer ID value is empty".into());
        }
        Ok(())
    }

    /// The addresses a dialer dials: the manual ones when present, else the server addresses.
    pub fn dial_addresses(&self) -> &[String] {
        match self.manual_server_addresses.as_deref() {
            Some(manual) if !manual.is_empty() => manual,
            _ => self.server_addresses.as_deref().unwrap_or_default(),
        }
    }
}

/// Go's `net.SplitHostPort` (which accepts an empty host) followed by a port in 1..=65535.
fn valid_server_address(address: &str) -> bool {
    let port = if let Some(rest) = address.strip_prefix('[') {
        match rest.split_once("]:") {
            Some((host, port)) if !host.contains(['[', ']']) => port,
            _ => return false,
        }
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) if !host.contains([':', '[', ']']) => port,
            _ => return false,
        }
    };
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "b1f7c0de-0000-4000-8000-00000000beef";

    fn encode(json: &str) -> String {
        STANDARD.encode(json)
    }

    fn sample_json() -> String {
        format!(
            r#"{{"CA":["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],"ManualServerAddresses":null,"ServerAddresses":["10.0.0.10:8503"],"ServerName":"server.dc1.peering.11111111-2222-3333-4444-555555555555.consul","PeerID":"5d2e9f0a-1111-4222-8333-444455556666","EstablishmentSecret":"{SECRET}","Remote":{{"Partition":"default","Datacenter":"dc1","Locality":null}}}}"#
        )
    }

    #[test]
    fn decodes_the_b2_layout() {
        let token = PeeringToken::new(encode(&sample_json()));
        let decoded = token.decode().unwrap();
        assert_eq!(
            decoded.server_addresses.as_deref().unwrap(),
            ["10.0.0.10:8503"]
        );
        assert_eq!(decoded.manual_server_addresses, None);
        assert_eq!(decoded.peer_id, "5d2e9f0a-1111-4222-8333-444455556666");
        assert_eq!(decoded.remote.datacenter, "dc1");
        assert_eq!(decoded.remote.partition, "default");
        assert_eq!(decoded.establishment_secret.expose(), SECRET);
        assert_eq!(decoded.dial_addresses(), ["10.0.0.10:8503"]);
        assert_eq!(decoded.validate(), Ok(()));
        // Go's decoder skips line breaks.
        let wrapped = format!("{}\n", token.expose());
        assert_eq!(DecodedToken::decode(&wrapped).unwrap(), decoded);
    }

    #[test]
    fn nothing_secret_in_debug_or_display() {
        let token = PeeringToken::new(encode(&sample_json()));
        let decoded = token.decode().unwrap();
        for text in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{decoded:?}"),
            format!("{decoded:#?}"),
        ] {
            assert!(!text.contains(token.expose()), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
        assert!(format!("{token:?}").contains(&token.fingerprint()));
    }

    #[test]
    fn refuses_what_is_not_a_token() {
        for bad in ["not base64!", "e30", &encode("[1,2]"), &encode("not json")] {
            let err = DecodedToken::decode(bad).unwrap_err();
            assert!(matches!(err, ConsulError::InvalidToken(_)), "{err:?}");
            assert!(err.is_token_rejected());
        }
    }

    #[test]
    fn validates_like_consul() {
        let mut token = DecodedToken::decode(&encode(&sample_json())).unwrap();
        token.manual_server_addresses = Some(vec!["lb.example.com:8502".into()]);
        assert_eq!(token.dial_addresses(), ["lb.example.com:8502"]);
        assert_eq!(token.validate(), Ok(()));
        token.manual_server_addresses = Some(vec!["lb.example.com".into()]);
        assert_eq!(
            token.validate(),
            Err("lb.example.com is not a valid peering server address".into())
        );
        token.manual_server_addresses = None;
        token.server_addresses = Some(vec![]);
        assert_eq!(
            token.validate(),
            Err("peering token server addresses value is empty".into())
        );
        token.server_addresses = Some(vec!["[::1]:8503".into(), "h:65535".into()]);
        assert_eq!(token.validate(), Ok(()));
        token.server_addresses = Some(vec!["h:0".into()]);
        assert!(token.validate().is_err());
        token.server_addresses = Some(vec!["h:1".into()]);
        token.server_name.clear();
        assert_eq!(
            token.validate(),
            Err("peering token server name value is empty".into())
        );
        token.ca = None;
        token.peer_id.clear();
        assert_eq!(
            token.validate(),
            Err("peering token peer ID value is empty".into())
        );
    }
}
