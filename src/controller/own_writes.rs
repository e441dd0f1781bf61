//! The acceptor's own writes of its token Secrets. The watch event each one causes wakes no
//! one: the pass that wrote the Secret has already acted on it, and a pass woken by it would
//! find the acceptor's cached status older than its write (and write it again). The event can
//! arrive before the write's answer, so a write is expected by the token fingerprint it records
//! before it is sent, then by the resourceVersion it left once answered. A later change by
//! anyone else is another event and wakes as usual.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

use crate::crd::SECRET_ANNOTATION_TOKEN_FINGERPRINT;

/// One write whose event has not come yet.
#[derive(Debug)]
struct Expected {
    fingerprint: String,
    /// Known once the write was answered.
    resource_version: Option<String>,
}

/// (namespace, name) → the write expected there.
#[derive(Debug, Default)]
pub struct OwnSecretWrites(Mutex<HashMap<(String, String), Expected>>);

impl OwnSecretWrites {
    /// Before a write that records `fingerprint`.
    pub fn expect(&self, namespace: &str, name: &str, fingerprint: &str) {
        self.lock().insert(
            key(namespace, name),
            Expected {
                fingerprint: fingerprint.to_owned(),
                resource_version: None,
            },
        );
    }

    /// The write was answered: `resource_version` is what it left (`None`: it failed).
    pub fn answered(&self, namespace: &str, name: &str, resource_version: Option<&str>) {
        let mut expected = self.lock();
        let key = key(namespace, name);
        match resource_version {
            Some(rv) => {
                if let Some(write) = expected.get_mut(&key) {
                    write.resource_version = Some(rv.to_owned());
                }
            }
            None => {
                expected.remove(&key);
            }
        }
    }

    /// Whether `secret` is the event of the operator's own write, which it then forgets.
    pub fn is_own(&self, secret: &PartialObjectMeta<Secret>) -> bool {
        let mut expected = self.lock();
        let key = key(&secret.namespace().unwrap_or_default(), &secret.name_any());
        let own = expected
            .get(&key)
            .is_some_and(|write| match &write.resource_version {
                Some(rv) => secret.resource_version().as_ref() == Some(rv),
                None => {
                    secret
                        .annotations()
                        .get(SECRET_ANNOTATION_TOKEN_FINGERPRINT)
                        == Some(&write.fingerprint)
                }
            });
        if own {
            expected.remove(&key);
        }
        own
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Expected>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(rv: &str, fingerprint: &str) -> PartialObjectMeta<Secret> {
        let mut secret = PartialObjectMeta::<Secret>::default();
        secret.metadata.namespace = Some("ns".into());
        secret.metadata.name = Some("token".into());
        secret.metadata.resource_version = Some(rv.into());
        secret.metadata.annotations = Some(
            [(
                SECRET_ANNOTATION_TOKEN_FINGERPRINT.to_owned(),
                fingerprint.to_owned(),
            )]
            .into(),
        );
        secret
    }

    #[test]
    fn once_answered_only_the_version_written_is_own_and_only_once() {
        let writes = OwnSecretWrites::default();
        writes.expect("ns", "token", "fp");
        writes.answered("ns", "token", Some("7"));
        assert!(
            !writes.is_own(&event("6", "fp")),
            "an older version is someone else's"
        );
        assert!(writes.is_own(&event("7", "fp")));
        assert!(!writes.is_own(&event("7", "fp")), "its event comes once");
    }

    #[test]
    fn an_event_ahead_of_the_answer_is_known_by_its_fingerprint() {
        let writes = OwnSecretWrites::default();
        writes.expect("ns", "token", "fp");
        assert!(!writes.is_own(&event("6", "older")));
        assert!(writes.is_own(&event("7", "fp")));
        writes.answered("ns", "token", Some("7"));
        assert!(
            !writes.is_own(&event("8", "fp")),
            "a later change by anyone wakes"
        );
    }

    #[test]
    fn a_failed_write_expects_nothing() {
        let writes = OwnSecretWrites::default();
        writes.expect("ns", "token", "fp");
        writes.answered("ns", "token", None);
        assert!(!writes.is_own(&event("7", "fp")));
    }
}
