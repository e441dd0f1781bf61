//! Watches on what delivery puts into the target clusters (the token Secret copies and the
//! PeeringDialers of `dialer` templates): by label and metadata only, one per kind, kubeconfig
//! Secret and target namespace; a changed or deleted object wakes the acceptor that owns it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use tokio::sync::mpsc;

use crate::controller::token_secret;
use crate::crd::{
    LABEL_DELIVERED_DIALER, LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, PeeringAcceptor,
    PeeringDialer,
};

pub(super) struct RemoteWatches {
    /// (kind, kubeconfig Secret, target namespace) → (the kubeconfig's resourceVersion, its
    /// watch): one watch each, replaced when the kubeconfig changes so that old ones do not
    /// pile up.
    watched: Mutex<HashMap<(&'static str, String, String), (String, tokio::task::AbortHandle)>>,
    wake: mpsc::UnboundedSender<ObjectRef<PeeringAcceptor>>,
    woken: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<PeeringAcceptor>>>>,
}

impl Default for RemoteWatches {
    fn default() -> Self {
        let (wake, woken) = mpsc::unbounded_channel();
        RemoteWatches {
            watched: Mutex::new(HashMap::new()),
            wake,
            woken: Mutex::new(Some(woken)),
        }
    }
}

impl Drop for RemoteWatches {
    /// The remote watches end with the operator.
    fn drop(&mut self) {
        let watched = self.watched.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, task) in watched.values() {
            task.abort();
        }
    }
}

impl RemoteWatches {
    /// The acceptors whose delivered copies changed remotely; taken once, by the controller.
    pub(super) fn take_wakeups(
        &self,
    ) -> Option<impl futures::Stream<Item = ObjectRef<PeeringAcceptor>> + Send + 'static> {
        let receiver = self
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        Some(futures::stream::unfold(receiver, |mut rx| async move {
            rx.recv().await.map(|r| (r, rx))
        }))
    }

    /// Watches the labelled Secrets of a target namespace and wakes the acceptors that own
    /// the copies that change.
    pub(super) fn watch_copies(&self, at: Watched<'_>) {
        let selector = format!("{LABEL_PEERING_TOKEN}={LABEL_PEERING_TOKEN_VALUE}");
        self.watch_kind::<Secret>("secrets", at, &selector);
    }

    /// Watches the PeeringDialers that `dialer` templates put into a target namespace, so that
    /// their status reaches the acceptors' status (and a deleted or edited one is put back).
    pub(super) fn watch_dialers(&self, at: Watched<'_>) {
        let selector = format!("{LABEL_DELIVERED_DIALER}=true");
        self.watch_kind::<PeeringDialer>("peeringdialers", at, &selector);
    }

    fn watch_kind<K>(&self, kind: &'static str, at: Watched<'_>, selector: &str)
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let key = (kind, at.origin, at.namespace.to_owned());
        if let Some((version, previous)) = watched.get(&key) {
            if version == at.kubeconfig_version {
                return;
            }
            previous.abort();
        }
        let api: Api<PartialObjectMeta<K>> = Api::namespaced(at.remote.clone(), at.namespace);
        let config = watcher::Config::default().labels(selector);
        let wake = self.wake.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config)
                .default_backoff()
                .touched_objects()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(object) = event else { continue };
                if let Some(owner) = token_secret::owner_of(&object.metadata)
                    && wake
                        .send(ObjectRef::new(&owner.name).within(&owner.namespace))
                        .is_err()
                {
                    return;
                }
            }
        });
        watched.insert(key, (at.kubeconfig_version.to_owned(), task.abort_handle()));
    }
}

/// Where a watch goes: a namespace of the cluster of one kubeconfig Secret (`origin`,
/// `namespace/name`), at one version of that Secret.
pub(super) struct Watched<'a> {
    pub kubeconfig_version: &'a str,
    pub namespace: &'a str,
    pub remote: &'a kube::Client,
    pub origin: String,
}
