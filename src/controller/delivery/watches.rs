//! Watches on what the operator puts into other clusters (the token Secret copies and the
//! PeeringDialers of `dialer` templates for acceptors; the acceptors of a PeeringMesh): by label
//! and metadata only, one per kind, kubeconfig Secret and namespace; a changed or deleted object
//! wakes the resource its annotation names as its owner.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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

/// (kind, kubeconfig Secret, namespace): what one watch covers.
type WatchKey = (&'static str, String, String);

/// The watches that wake resources of kind `W`.
pub(crate) struct RemoteWatches<W: Resource<DynamicType = ()>> {
    /// (kind, kubeconfig Secret, namespace) → (the kubeconfig's resourceVersion, its watch):
    /// one watch each, replaced when the kubeconfig changes so that old ones do not pile up.
    watched: Mutex<HashMap<WatchKey, (String, tokio::task::AbortHandle)>>,
    wake: mpsc::UnboundedSender<ObjectRef<W>>,
    woken: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<W>>>>,
    /// The resource an object found by a watch belongs to, from its metadata.
    owner: fn(&ObjectMeta) -> Option<ObjectRef<W>>,
}

/// Where a watch goes: a namespace of the cluster of one kubeconfig Secret (`origin`,
/// `namespace/name`), at one version of that Secret.
pub(crate) struct Watched<'a> {
    pub kubeconfig_version: &'a str,
    pub namespace: &'a str,
    pub remote: &'a kube::Client,
    pub origin: String,
}

impl Default for RemoteWatches<PeeringAcceptor> {
    fn default() -> Self {
        RemoteWatches::new(|metadata| {
            let owner = token_secret::owner_of(metadata)?;
            Some(ObjectRef::new(&owner.name).within(&owner.namespace))
        })
    }
}

impl<W: Resource<DynamicType = ()>> Drop for RemoteWatches<W> {
    /// The remote watches end with the operator.
    fn drop(&mut self) {
        let watched = self.watched.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, task) in watched.values() {
            task.abort();
        }
    }
}

impl RemoteWatches<PeeringAcceptor> {
    /// Watches the labelled Secrets of a target namespace and wakes the acceptors that own
    /// the copies that change.
    pub(super) fn watch_copies(&self, at: Watched<'_>) {
        let selector = format!("{LABEL_PEERING_TOKEN}={LABEL_PEERING_TOKEN_VALUE}");
        self.watch::<Secret>("secrets", at, &selector);
    }

    /// Watches the PeeringDialers that `dialer` templates put into a target namespace, so that
    /// their status reaches the acceptors' status (and a deleted or edited one is put back).
    pub(super) fn watch_dialers(&self, at: Watched<'_>) {
        let selector = format!("{LABEL_DELIVERED_DIALER}=true");
        self.watch::<PeeringDialer>("peeringdialers", at, &selector);
    }
}

impl<W: Resource<DynamicType = ()> + 'static> RemoteWatches<W> {
    pub(crate) fn new(owner: fn(&ObjectMeta) -> Option<ObjectRef<W>>) -> Self {
        let (wake, woken) = mpsc::unbounded_channel();
        RemoteWatches {
            watched: Mutex::new(HashMap::new()),
            wake,
            woken: Mutex::new(Some(woken)),
            owner,
        }
    }

    /// The resources whose objects changed remotely; taken once, by the controller.
    pub(crate) fn take_wakeups(
        &self,
    ) -> Option<impl futures::Stream<Item = ObjectRef<W>> + Send + 'static> {
        let receiver = self
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        Some(futures::stream::unfold(receiver, |mut rx| async move {
            rx.recv().await.map(|r| (r, rx))
        }))
    }

    /// Watches the objects of kind `K` (`kind` names it in the map) selected by `selector` in
    /// `at`, once per kubeconfig version, waking their owners.
    pub(crate) fn watch<K>(&self, kind: &'static str, at: Watched<'_>, selector: &str)
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
        let (wake, owner) = (self.wake.clone(), self.owner);
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config)
                .default_backoff()
                .touched_objects()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(object) = event else { continue };
                if let Some(owner) = owner(&object.metadata)
                    && wake.send(owner).is_err()
                {
                    return;
                }
            }
        });
        watched.insert(key, (at.kubeconfig_version.to_owned(), task.abort_handle()));
    }
}
