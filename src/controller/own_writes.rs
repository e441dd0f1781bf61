//! The acceptor's own writes of its token Secrets, by resourceVersion. The watch event each one
//! causes wakes no one: the pass that wrote the Secret has already acted on it, and a pass
//! woken by it would find the acceptor's cached status older than the write (and write it
//! again). A later change by anyone else has another resourceVersion and wakes as usual.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

/// (namespace, name) → the resourceVersion the operator's own write left.
#[derive(Debug, Default)]
pub struct OwnSecretWrites(Mutex<HashMap<(String, String), String>>);

impl OwnSecretWrites {
    pub fn wrote(&self, namespace: &str, name: &str, resource_version: Option<&str>) {
        let mut written = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match resource_version {
            Some(rv) => written.insert((namespace.to_owned(), name.to_owned()), rv.to_owned()),
            None => written.remove(&(namespace.to_owned(), name.to_owned())),
        };
    }

    /// Whether `secret` is as the operator's own last write left it. Forgets that write: its
    /// event comes once (a re-list after a watch restart may show it again, and then wakes).
    pub fn is_own(&self, secret: &PartialObjectMeta<Secret>) -> bool {
        let key = (secret.namespace().unwrap_or_default(), secret.name_any());
        let mut written = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let own = written
            .get(&key)
            .is_some_and(|rv| secret.resource_version().as_ref() == Some(rv));
        if own {
            written.remove(&key);
        }
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(rv: &str) -> PartialObjectMeta<Secret> {
        let mut secret = PartialObjectMeta::<Secret>::default();
        secret.metadata.namespace = Some("ns".into());
        secret.metadata.name = Some("token".into());
        secret.metadata.resource_version = Some(rv.into());
        secret
    }

    #[test]
    fn only_the_version_written_is_own_and_only_once() {
        let writes = OwnSecretWrites::default();
        writes.wrote("ns", "token", Some("7"));
        assert!(
            !writes.is_own(&meta("6")),
            "an older version is someone else's"
        );
        assert!(writes.is_own(&meta("7")));
        assert!(!writes.is_own(&meta("7")), "its event comes once");
        writes.wrote("ns", "token", Some("9"));
        assert!(
            !writes.is_own(&meta("10")),
            "a later change by anyone wakes"
        );
    }
}
