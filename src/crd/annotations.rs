//! The names the operator writes on Kubernetes objects (finalizer, labels, annotations), and the
//! helpers that read and write their values, so that every part of the operator spells them once.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// The one field manager for everything the operator applies (objects and status).
pub const FIELD_MANAGER: &str = "consul-peering-operator";

/// Finalizer on PeeringAcceptor and PeeringDialer: the Consul peering (and, for an acceptor, its
/// Secrets) are deleted before the resource goes away.
pub const FINALIZER: &str = "consulpeering.io/finalizer";

/// Rotation request on a PeeringAcceptor or PeeringDialer: an integer; raising it above
/// `status.latestPeeringVersion` generates a new token (acceptor) or establishes again (dialer).
pub const ANNOTATION_PEERING_VERSION: &str = "consulpeering.io/peering-version";

/// consul-k8s's rotation annotation, honoured the same way so that migrated resources keep working.
pub const ANNOTATION_CONSUL_K8S_PEERING_VERSION: &str = "consul.hashicorp.com/peering-version";

/// Label on every token Secret the operator writes (locally and in delivery targets); the Secret
/// watches select on it.
pub const LABEL_PEERING_TOKEN: &str = "consulpeering.io/peering-token";
/// The value of [`LABEL_PEERING_TOKEN`].
pub const LABEL_PEERING_TOKEN_VALUE: &str = "true";

/// Token Secret annotation: the Consul peer name the token was generated for.
pub const SECRET_ANNOTATION_PEER_NAME: &str = "consulpeering.io/peer-name";
/// Token Secret annotation: the acceptor-side Consul peering ID (`Peering.ID`).
pub const SECRET_ANNOTATION_PEERING_ID: &str = "consulpeering.io/peering-id";
/// Token Secret annotation: the rotation version (see [`rotation_version`]) the token was
/// generated for.
pub const SECRET_ANNOTATION_ROTATION_VERSION: &str = "consulpeering.io/rotation-version";
/// Token Secret annotation: [`token_fingerprint`] of the token in the Secret.
pub const SECRET_ANNOTATION_TOKEN_FINGERPRINT: &str = "consulpeering.io/token-fingerprint";
/// Token Secret annotation: when the token was generated (RFC 3339, UTC).
pub const SECRET_ANNOTATION_GENERATED_AT: &str = "consulpeering.io/generated-at";
/// Token Secret annotation: the PeeringAcceptor that owns the Secret, as `namespace/name/uid`
/// (see [`SecretOwner`]). A Secret without it, or with another owner, is never overwritten.
pub const SECRET_ANNOTATION_OWNER: &str = "consulpeering.io/owner";
/// Delivered copy annotation, written by the dialing cluster's operator: the fingerprint of a
/// token Consul refused to establish with. The accepting cluster's operator reads it on the copy
/// and issues a new token when the refused one is still current and its peering never got past
/// `PENDING` (the token was spent by an establish that did not finish).
pub const SECRET_ANNOTATION_REFUSED_FINGERPRINT: &str =
    "consulpeering.io/refused-token-fingerprint";

/// Fingerprint of a peering token: the first 16 hex characters of its SHA-256. Safe to log, to
/// put in status and in annotations; it identifies a token without revealing it.
pub fn token_fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(16);
    for byte in &digest[..8] {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The rotation version requested on a resource: the highest of [`ANNOTATION_PEERING_VERSION`]
/// and [`ANNOTATION_CONSUL_K8S_PEERING_VERSION`], `None` when neither is set.
///
/// A value that is not a non-negative integer is an error whose message is meant for an
/// `InvalidSpec` condition.
pub fn rotation_version(annotations: &BTreeMap<String, String>) -> Result<Option<i64>, String> {
    let mut highest = None;
    for key in [
        ANNOTATION_PEERING_VERSION,
        ANNOTATION_CONSUL_K8S_PEERING_VERSION,
    ] {
        let Some(raw) = annotations.get(key) else {
            continue;
        };
        let version = parse_version(raw).ok_or_else(|| {
            format!("annotation {key}: {raw:?} is not a non-negative integer (it requests a token rotation: raise it to a higher integer)")
        })?;
        highest = highest.max(Some(version));
    }
    Ok(highest)
}

fn parse_version(raw: &str) -> Option<i64> {
    // Digits only: i64's parser would also take a leading '+'.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// The PeeringAcceptor recorded in [`SECRET_ANNOTATION_OWNER`] on a token Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretOwner {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl SecretOwner {
    /// Parses the annotation value `namespace/name/uid`; `None` when it is not of that shape.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.splitn(3, '/');
        let (namespace, name, uid) = (parts.next()?, parts.next()?, parts.next()?);
        if namespace.is_empty() || name.is_empty() || uid.is_empty() || uid.contains('/') {
            return None;
        }
        Some(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
        })
    }
}

/// Formats as the annotation value `namespace/name/uid`.
impl fmt::Display for SecretOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.name, self.uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprint_is_sha256_prefix() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(token_fingerprint("abc"), "ba7816bf8f01cfea");
        assert_ne!(token_fingerprint("abc"), token_fingerprint("abd"));
    }

    #[test]
    fn rotation_version_takes_the_highest_annotation() {
        assert_eq!(rotation_version(&annotations(&[])), Ok(None));
        assert_eq!(
            rotation_version(&annotations(&[(ANNOTATION_PEERING_VERSION, "3")])),
            Ok(Some(3))
        );
        assert_eq!(
            rotation_version(&annotations(&[
                (ANNOTATION_PEERING_VERSION, "3"),
                (ANNOTATION_CONSUL_K8S_PEERING_VERSION, "7"),
            ])),
            Ok(Some(7))
        );
        assert_eq!(
            rotation_version(&annotations(&[
                (ANNOTATION_PEERING_VERSION, "12"),
                (ANNOTATION_CONSUL_K8S_PEERING_VERSION, "7"),
            ])),
            Ok(Some(12))
        );
    }

    #[test]
    fn rotation_version_rejects_non_integers() {
        for bad in ["foo", "", "-1", "+2", " 2", "1.5", "99999999999999999999"] {
            let err = rotation_version(&annotations(&[(
                ANNOTATION_CONSUL_K8S_PEERING_VERSION,
                bad,
            )]))
            .unwrap_err();
            assert!(
                err.contains(ANNOTATION_CONSUL_K8S_PEERING_VERSION) && err.contains("integer"),
                "{err}"
            );
        }
        // A bad value is an error even when the other annotation is fine.
        assert!(
            rotation_version(&annotations(&[
                (ANNOTATION_PEERING_VERSION, "2"),
                (ANNOTATION_CONSUL_K8S_PEERING_VERSION, "x"),
            ]))
            .is_err()
        );
    }

    #[test]
    fn secret_owner_round_trips() {
        let owner = SecretOwner {
            namespace: "default".into(),
            name: "dc2".into(),
            uid: "7f0c2f9e-0000-4000-8000-000000000001".into(),
        };
        let value = owner.to_string();
        assert_eq!(value, "default/dc2/7f0c2f9e-0000-4000-8000-000000000001");
        assert_eq!(SecretOwner::parse(&value), Some(owner));
        for bad in ["", "a/b", "a//c", "/b/c", "a/b/", "a/b/c/d"] {
            assert_eq!(SecretOwner::parse(bad), None, "{bad}");
        }
    }
}
