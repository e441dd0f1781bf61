//! The acceptor's token Secret: how it is written (server-side apply, one field manager, the
//! label the watches select on, annotations that record what was issued) and how what was
//! issued is read back from it. The annotations are what make status rebuildable after any
//! partial failure: they say which token the Secret holds without the token leaving it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use super::plan::IssuedToken;
use crate::crd::{
    LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, PeeringAcceptor, PeeringAcceptorSpec,
    SECRET_ANNOTATION_GENERATED_AT, SECRET_ANNOTATION_OWNER, SECRET_ANNOTATION_PEER_NAME,
    SECRET_ANNOTATION_PEERING_ID, SECRET_ANNOTATION_ROTATION_VERSION,
    SECRET_ANNOTATION_TOKEN_FINGERPRINT, SecretOwner, token_fingerprint,
};

/// Everything recorded beside a token, in the Secret's annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub issued: IssuedToken,
    pub fingerprint: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub owner: SecretOwner,
}

/// The token and its record, read from a Secret this operator wrote. `None` when the Secret
/// does not hold a complete record or a token (someone edited it): the caller then treats the
/// token as missing.
pub fn read(secret: &Secret) -> Option<(String, TokenRecord)> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let get = |key: &str| annotations.get(key).cloned();
    let owner = owner_of(&secret.metadata)?;
    let fingerprint = get(SECRET_ANNOTATION_TOKEN_FINGERPRINT)?;
    // The token is under whichever key the record's fingerprint matches, so a changed
    // `spec.peer.secret.key` can move it without a new token.
    let (key, token) = secret.data.as_ref()?.iter().find_map(|(key, value)| {
        let token = std::str::from_utf8(&value.0).ok()?;
        (token_fingerprint(token) == fingerprint).then(|| (key.clone(), token.to_owned()))
    })?;
    let issued = IssuedToken {
        peer_name: get(SECRET_ANNOTATION_PEER_NAME)?,
        partition: get(SECRET_ANNOTATION_PARTITION).unwrap_or_default(),
        peering_id: get(SECRET_ANNOTATION_PEERING_ID)?,
        version: get(SECRET_ANNOTATION_ROTATION_VERSION)?.parse().ok()?,
        spec_hash: get(SECRET_ANNOTATION_SPEC_HASH).unwrap_or_default(),
        key,
    };
    Some((
        token,
        TokenRecord {
            issued,
            fingerprint,
            generated_at: get(SECRET_ANNOTATION_GENERATED_AT).unwrap_or_default(),
            owner,
        },
    ))
}

/// Token Secret annotation: the Consul partition the token was generated in (absent for the
/// default partition).
pub const SECRET_ANNOTATION_PARTITION: &str = "consulpeering.io/partition";
/// Token Secret annotation: [`spec_hash`] of the spec the token was generated for.
pub const SECRET_ANNOTATION_SPEC_HASH: &str = "consulpeering.io/spec-hash";

/// The acceptor recorded as the writer of a token Secret.
pub fn owner_of(metadata: &ObjectMeta) -> Option<SecretOwner> {
    SecretOwner::parse(
        metadata
            .annotations
            .as_ref()?
            .get(SECRET_ANNOTATION_OWNER)?,
    )
}

/// Whether a token Secret (here or delivered to another cluster) was written for `acceptor`
/// (by any incarnation of it): only such a Secret may be overwritten or deleted.
pub fn is_owned_by(metadata: &ObjectMeta, acceptor: &PeeringAcceptor) -> bool {
    owner_of(metadata).is_some_and(|owner| {
        Some(&owner.namespace) == acceptor.metadata.namespace.as_ref()
            && Some(&owner.name) == acceptor.metadata.name.as_ref()
    })
}

/// The Secret to apply: the token under `key`, the watch label and the record. Only these
/// fields are applied, so labels and annotations that others put on the Secret stay.
pub fn desired(
    name: &str,
    namespace: &str,
    key: &str,
    token: &str,
    record: &TokenRecord,
) -> Secret {
    let mut annotations = BTreeMap::from([
        (
            SECRET_ANNOTATION_PEER_NAME.to_owned(),
            record.issued.peer_name.clone(),
        ),
        (
            SECRET_ANNOTATION_PEERING_ID.to_owned(),
            record.issued.peering_id.clone(),
        ),
        (
            SECRET_ANNOTATION_ROTATION_VERSION.to_owned(),
            record.issued.version.to_string(),
        ),
        (
            SECRET_ANNOTATION_SPEC_HASH.to_owned(),
            record.issued.spec_hash.clone(),
        ),
        (
            SECRET_ANNOTATION_TOKEN_FINGERPRINT.to_owned(),
            record.fingerprint.clone(),
        ),
        (
            SECRET_ANNOTATION_GENERATED_AT.to_owned(),
            record.generated_at.clone(),
        ),
        (SECRET_ANNOTATION_OWNER.to_owned(), record.owner.to_string()),
    ]);
    if !record.issued.partition.is_empty() {
        annotations.insert(
            SECRET_ANNOTATION_PARTITION.to_owned(),
            record.issued.partition.clone(),
        );
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                LABEL_PEERING_TOKEN.to_owned(),
                LABEL_PEERING_TOKEN_VALUE.to_owned(),
            )])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            key.to_owned(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

/// A short hash of the spec fields that go into a token besides the peer name and partition
/// (Meta and ServerExternalAddresses): when it changes, the token must be generated again.
pub fn spec_hash(spec: &PeeringAcceptorSpec) -> String {
    let material = serde_json::json!({
        "meta": spec.meta.clone().unwrap_or_default(),
        "serverExternalAddresses": spec.server_external_addresses.clone().unwrap_or_default(),
    });
    let digest = Sha256::digest(material.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptor(namespace: &str, name: &str) -> PeeringAcceptor {
        let mut acceptor = PeeringAcceptor::new(
            name,
            serde_json::from_value(serde_json::json!({"peer": {"secret": {"name": "s"}}})).unwrap(),
        );
        acceptor.metadata.namespace = Some(namespace.into());
        acceptor
    }

    fn record() -> TokenRecord {
        TokenRecord {
            issued: IssuedToken {
                peer_name: "dc2".into(),
                partition: String::new(),
                peering_id: "5d2e9f0a-0000-4000-8000-000000000001".into(),
                version: 3,
                spec_hash: "0011223344556677".into(),
                key: "data".into(),
            },
            fingerprint: token_fingerprint("the-token"),
            generated_at: "2026-11-28T08:00:00Z".into(),
            owner: SecretOwner {
                namespace: "default".into(),
                name: "dc2".into(),
                uid: "uid-1".into(),
            },
        }
    }

    #[test]
    fn a_written_secret_reads_back_the_same_record() {
        let secret = desired("peering-token", "default", "data", "the-token", &record());
        assert_eq!(
            secret.metadata.labels.as_ref().unwrap()[LABEL_PEERING_TOKEN],
            "true"
        );
        let (token, read_back) = read(&secret).expect("complete record");
        assert_eq!(token, "the-token");
        assert_eq!(read_back, record());
        assert!(is_owned_by(&secret.metadata, &acceptor("default", "dc2")));
        assert!(!is_owned_by(
            &secret.metadata,
            &acceptor("default", "other")
        ));
        assert!(!is_owned_by(&secret.metadata, &acceptor("other", "dc2")));
        // The token is never in an annotation.
        assert!(
            secret
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .values()
                .all(|v| !v.contains("the-token"))
        );
    }

    #[test]
    fn the_token_is_found_under_a_changed_key() {
        let mut secret = desired("peering-token", "default", "old", "the-token", &record());
        secret
            .data
            .as_mut()
            .unwrap()
            .insert("unrelated".into(), ByteString(b"something else".to_vec()));
        let (_, read_back) = read(&secret).unwrap();
        assert_eq!(read_back.issued.key, "old");
    }

    #[test]
    fn an_edited_secret_has_no_record() {
        let mut tampered = desired("s", "default", "data", "the-token", &record());
        tampered
            .data
            .as_mut()
            .unwrap()
            .insert("data".into(), ByteString(b"another token".to_vec()));
        assert_eq!(
            read(&tampered),
            None,
            "token does not match its fingerprint"
        );

        let mut stripped = desired("s", "default", "data", "the-token", &record());
        stripped
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(SECRET_ANNOTATION_PEERING_ID);
        assert_eq!(read(&stripped), None);
        assert!(!is_owned_by(
            &ObjectMeta::default(),
            &acceptor("default", "dc2")
        ));
    }

    #[test]
    fn spec_hash_follows_token_relevant_fields_only() {
        let mut spec: PeeringAcceptorSpec = serde_json::from_value(serde_json::json!({
            "peer": {"secret": {"name": "s"}}
        }))
        .unwrap();
        let base = spec_hash(&spec);
        spec.peer.secret.key = "other".into();
        assert_eq!(spec_hash(&spec), base);
        spec.meta = Some(BTreeMap::from([("env".into(), "prod".into())]));
        let with_meta = spec_hash(&spec);
        assert_ne!(with_meta, base);
        spec.server_external_addresses = Some(vec!["10.0.0.1:8503".into()]);
        assert_ne!(spec_hash(&spec), with_meta);
    }
}
