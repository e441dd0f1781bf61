//! The clients of the target clusters, one per kubeconfig Secret, rebuilt when that Secret
//! changes.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::Failure;
use super::policy::client_from_kubeconfig;
use crate::crd::{KubeconfigSecretRef, reason};

/// (namespace, kubeconfig Secret name) → (its resourceVersion, client).
#[derive(Default)]
pub(crate) struct RemoteClients {
    clients: Mutex<HashMap<(String, String), (String, kube::Client)>>,
}

impl RemoteClients {
    /// The client of another cluster, from the kubeconfig Secret in `namespace`, with the
    /// Secret's resourceVersion.
    pub(crate) async fn client(
        &self,
        local: &kube::Client,
        namespace: &str,
        secret_ref: &KubeconfigSecretRef,
    ) -> Result<(String, kube::Client), Failure> {
        let secrets: Api<Secret> = Api::namespaced(local.clone(), namespace);
        let secret = secrets.get_opt(&secret_ref.name).await.map_err(|e| {
            Failure::new(
                reason::KUBERNETES_ERROR,
                format!(
                    "reading kubeconfig Secret {namespace}/{}: {e}",
                    secret_ref.name
                ),
            )
        })?;
        let Some(secret) = secret else {
            return Err(Failure::new(
                reason::INVALID_KUBECONFIG,
                format!(
                    "kubeconfig Secret {namespace}/{} does not exist",
                    secret_ref.name
                ),
            ));
        };
        let version = secret.resource_version().unwrap_or_default();
        let key = (namespace.to_owned(), secret_ref.name.clone());
        if let Some((cached_version, client)) = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && *cached_version == version
        {
            return Ok((version, client.clone()));
        }
        let raw = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&secret_ref.key))
            .ok_or_else(|| {
                Failure::new(
                    reason::INVALID_KUBECONFIG,
                    format!(
                        "kubeconfig Secret {namespace}/{} has no key {:?}",
                        secret_ref.name, secret_ref.key
                    ),
                )
            })?;
        let client = client_from_kubeconfig(&raw.0).await.map_err(|message| {
            Failure::new(
                reason::INVALID_KUBECONFIG,
                format!(
                    "kubeconfig in Secret {namespace}/{} (key {:?}): {message}",
                    secret_ref.name, secret_ref.key
                ),
            )
        })?;
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (version.clone(), client.clone()));
        Ok((version, client))
    }
}
