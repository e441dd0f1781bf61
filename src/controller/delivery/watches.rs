//! Watches on the copies delivered to the target clusters: by label and metadata only, one per
//! kubeconfig Secret and target namespace; a changed or deleted copy wakes the acceptor that
//! owns it.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

use crate::controller::token_secret;
use crate::crd::{LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, PeeringAcceptor};

pub(super) struct RemoteWatches {
    /// (kubeconfig Secret, target namespace) → (the kubeconfig's resourceVersion, its watch):
    /// one watch each, replaced when the kubeconfig changes so that old ones do not pile up.
    watched: Mutex<HashMap<(String, String), (String, tokio::task::AbortHandle)>>,
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

    /// Watches the labelled Secrets of `namespace` in a target cluster (one watch per
    /// kubeconfig Secret and namespace, with its latest version) and wakes the acceptors that
    /// own the copies that change.
    pub(super) fn watch(
        &self,
        kubeconfig_version: &str,
        namespace: &str,
        remote: &kube::Client,
        origin: &str,
    ) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let key = (origin.to_owned(), namespace.to_owned());
        if let Some((version, previous)) = watched.get(&key) {
            if version == kubeconfig_version {
                return;
            }
            previous.abort();
        }
        let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(remote.clone(), namespace);
        let config = watcher::Config::default().labels(&format!(
            "{LABEL_PEERING_TOKEN}={LABEL_PEERING_TOKEN_VALUE}"
        ));
        let wake = self.wake.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config)
                .default_backoff()
                .touched_objects()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(secret) = event else { continue };
                if let Some(owner) = token_secret::owner_of(&secret.metadata)
                    && wake
                        .send(ObjectRef::new(&owner.name).within(&owner.namespace))
                        .is_err()
                {
                    return;
                }
            }
        });
        watched.insert(key, (kubeconfig_version.to_owned(), task.abort_handle()));
    }
}
