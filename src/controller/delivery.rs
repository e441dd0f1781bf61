//! Delivery of the token Secret to the dialing clusters (`PeeringAcceptor.spec.delivery`):
//! each target is a kubeconfig held in a Secret of the acceptor's namespace; the operator
//! applies the token Secret there (same label, so the remote PeeringDialer's watch sees it),
//! watches the remote copies by label and metadata only, and writes again when a copy is
//! missing or stale. A failing target never blocks the acceptor's own `Ready`.
//!
//! Kubeconfigs come from Secrets that users write, so only inline credentials are accepted:
//! no exec plugins, auth providers or file paths, which would let a Secret run commands or read
//! files inside the operator's pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::mpsc;

use super::status::{now, parse_time};
use super::token_secret::{self, TokenRecord};
use crate::crd::{
    CONDITION_DELIVERED, Condition, ConditionStatus, DeliveryStatus, DeliveryTarget, FIELD_MANAGER,
    LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, PeeringAcceptor, SECRET_ANNOTATION_OWNER,
    SECRET_ANNOTATION_TOKEN_FINGERPRINT, reason, set_condition, token_fingerprint,
};

/// Annotation on a delivered Secret: when the operator wrote it (RFC 3339).
pub const ANNOTATION_DELIVERED_AT: &str = "consulpeering.io/delivered-at";

/// Why a target could not be served.
#[derive(Debug)]
struct Failure {
    reason: &'static str,
    message: String,
}

impl Failure {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
        }
    }
}

/// Remote clusters, their clients (rebuilt when the kubeconfig Secret changes) and the
/// watches on the copies delivered there.
pub struct RemoteClusters {
    /// (namespace, kubeconfig Secret name) → (its resourceVersion, client).
    clients: Mutex<HashMap<(String, String), (String, kube::Client)>>,
    /// (kubeconfig Secret, target namespace) → (the kubeconfig's resourceVersion, its watch):
    /// one watch each, replaced when the kubeconfig changes so that old ones do not pile up.
    watched: Mutex<HashMap<(String, String), (String, tokio::task::AbortHandle)>>,
    wake: mpsc::UnboundedSender<ObjectRef<PeeringAcceptor>>,
    woken: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<PeeringAcceptor>>>>,
}

impl Default for RemoteClusters {
    fn default() -> Self {
        let (wake, woken) = mpsc::unbounded_channel();
        RemoteClusters {
            clients: Mutex::new(HashMap::new()),
            watched: Mutex::new(HashMap::new()),
            wake,
            woken: Mutex::new(Some(woken)),
        }
    }
}

impl Drop for RemoteClusters {
    /// The remote watches end with the operator.
    fn drop(&mut self) {
        let watched = self.watched.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, task) in watched.values() {
            task.abort();
        }
    }
}

impl RemoteClusters {
    /// The acceptors whose delivered copies changed remotely; taken once, by the controller.
    pub fn take_wakeups(
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

    /// The client of a target cluster, from the kubeconfig Secret in `namespace`.
    async fn client(
        &self,
        local: &kube::Client,
        namespace: &str,
        target: &DeliveryTarget,
    ) -> Result<(String, kube::Client), Failure> {
        let secret_ref = &target.kubeconfig_secret_ref;
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

    /// Watches the labelled Secrets of `namespace` in a target cluster (one watch per
    /// kubeconfig Secret and namespace, with its latest version) and wakes the acceptors that
    /// own the copies that change.
    fn watch(
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

/// Builds a client from a kubeconfig's current context, refusing anything but inline
/// credentials.
async fn client_from_kubeconfig(raw: &[u8]) -> Result<kube::Client, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| format!("not a kubeconfig: {e}"))?;
    for auth in &kubeconfig.auth_infos {
        let Some(info) = &auth.auth_info else {
            continue;
        };
        if info.exec.is_some() || info.auth_provider.is_some() {
            return Err(format!(
                "user {:?} authenticates with an exec plugin or auth provider; only inline \
                 credentials (token, client certificate data) are accepted",
                auth.name
            ));
        }
        if info.token_file.is_some()
            || info.client_certificate.is_some()
            || info.client_key.is_some()
        {
            return Err(format!(
                "user {:?} refers to files; inline the credentials (token, \
                 client-certificate-data, client-key-data)",
                auth.name
            ));
        }
    }
    for cluster in &kubeconfig.clusters {
        if cluster
            .cluster
            .as_ref()
            .is_some_and(|c| c.certificate_authority.is_some())
        {
            return Err(format!(
                "cluster {:?} refers to a CA file; use certificate-authority-data",
                cluster.name
            ));
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

/// The Secret to apply in a target: the token under the target's key, the watch label, and
/// the record (so the copy is recognisable and its freshness checkable).
fn remote_secret(
    name: &str,
    namespace: &str,
    key: &str,
    token: &str,
    record: &TokenRecord,
) -> Secret {
    let mut secret = token_secret::desired(name, namespace, key, token, record);
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_DELIVERED_AT.to_owned(), now().0.to_string());
    secret
}

/// Whether the remote copy already holds `record`'s token under `key`, written for this
/// acceptor.
fn is_current(remote: &Secret, key: &str, record: &TokenRecord) -> bool {
    let annotations = remote.metadata.annotations.as_ref();
    let annotated = |k: &str| annotations.and_then(|a| a.get(k)).map(String::as_str);
    let holds_token = remote
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| std::str::from_utf8(&v.0).ok())
        .is_some_and(|t| token_fingerprint(t) == record.fingerprint);
    holds_token
        && annotated(SECRET_ANNOTATION_TOKEN_FINGERPRINT) == Some(&record.fingerprint)
        && annotated(SECRET_ANNOTATION_OWNER) == Some(&record.owner.to_string())
}

/// Brings every target up to date with the token; returns the new `status.delivery` and
/// whether any target failed (to be retried with backoff).
pub async fn deliver(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
    token: &str,
    record: &TokenRecord,
    metrics: &crate::telemetry::Metrics,
) -> (Vec<DeliveryStatus>, bool) {
    let namespace = acceptor.namespace().unwrap_or_default();
    let current = acceptor
        .status
        .as_ref()
        .map(|s| s.delivery.clone())
        .unwrap_or_default();
    let mut statuses = Vec::new();
    let mut any_failed = false;
    for target in acceptor.spec.delivery.iter().flatten() {
        let id = target.id(&acceptor.spec);
        let mut status = current
            .iter()
            .find(|s| s.id() == id)
            .cloned()
            .unwrap_or(DeliveryStatus {
                kubeconfig_secret_name: id.kubeconfig_secret_name.clone(),
                kubeconfig_secret_key: None,
                namespace: id.namespace.clone(),
                secret_name: id.secret_name.clone(),
                conditions: Vec::new(),
                last_delivered_time: None,
                token_fingerprint: None,
            });
        status.kubeconfig_secret_key = Some(target.kubeconfig_secret_ref.key.clone());
        let key = target.secret_key(&acceptor.spec);
        let result = deliver_one(
            acceptor, local, remotes, &namespace, target, key, token, record,
        )
        .await;
        let generation = acceptor.metadata.generation;
        let condition = match result {
            Ok((delivered_at, wrote)) => {
                if wrote {
                    metrics.token_delivered(true);
                }
                status.last_delivered_time = delivered_at.or(status.last_delivered_time);
                status.token_fingerprint = Some(record.fingerprint.clone());
                Condition::new(
                    CONDITION_DELIVERED,
                    ConditionStatus::True,
                    reason::DELIVERED,
                    format!(
                        "Secret {}/{} in the cluster of kubeconfig Secret {} holds the current token",
                        id.namespace, id.secret_name, id.kubeconfig_secret_name
                    ),
                    generation,
                    now(),
                )
            }
            Err(failure) => {
                any_failed = true;
                metrics.token_delivered(false);
                Condition::new(
                    CONDITION_DELIVERED,
                    ConditionStatus::False,
                    failure.reason,
                    failure.message,
                    generation,
                    now(),
                )
            }
        };
        set_condition(&mut status.conditions, condition);
        statuses.push(status);
    }
    if withdraw_removed(acceptor, local, remotes, &current, &mut statuses).await {
        any_failed = true;
    }
    (statuses, any_failed)
}

/// Returns when the copy was delivered (from its annotation) and whether this call wrote it.
#[allow(clippy::too_many_arguments)]
async fn deliver_one(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
    namespace: &str,
    target: &DeliveryTarget,
    key: &str,
    token: &str,
    record: &TokenRecord,
) -> Result<
    (
        Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
        bool,
    ),
    Failure,
> {
    let (version, remote) = remotes.client(local, namespace, target).await?;
    let origin = format!("{namespace}/{}", target.kubeconfig_secret_ref.name);
    remotes.watch(&version, &target.namespace, &remote, &origin);
    let name = target.secret_name(&acceptor.spec);
    let api: Api<Secret> = Api::namespaced(remote, &target.namespace);
    let unreachable = |e: kube::Error| {
        Failure::new(
            reason::DELIVERY_FAILED,
            format!(
                "target cluster of kubeconfig Secret {}: {e}",
                target.kubeconfig_secret_ref.name
            ),
        )
    };
    let existing = api.get_opt(name).await.map_err(unreachable)?;
    if let Some(existing) = &existing {
        if !token_secret::is_owned_by(&existing.metadata, acceptor) {
            return Err(Failure::new(
                reason::SECRET_CONFLICT,
                format!(
                    "Secret {}/{name} in the target cluster was not written for this \
                     PeeringAcceptor; the operator does not overwrite it",
                    target.namespace
                ),
            ));
        }
        if is_current(existing, key, record) {
            let delivered_at = existing
                .annotations()
                .get(ANNOTATION_DELIVERED_AT)
                .and_then(|t| parse_time(t));
            return Ok((delivered_at, false));
        }
    }
    let secret = remote_secret(name, &target.namespace, key, token, record);
    let delivered_at = secret
        .annotations()
        .get(ANNOTATION_DELIVERED_AT)
        .and_then(|t| parse_time(t));
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(unreachable)?;
    Ok((delivered_at, true))
}

/// Deletes the delivered copies (on deletion of the acceptor). A target whose kubeconfig is
/// missing or unusable is skipped: nothing could reach it; an unreachable one is an error, so
/// the finalizer stays and the delete is retried.
pub async fn withdraw(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
) -> Result<(), String> {
    let namespace = acceptor.namespace().unwrap_or_default();
    for target in acceptor.spec.delivery.iter().flatten() {
        let name = target.secret_name(&acceptor.spec);
        withdraw_one(acceptor, local, remotes, &namespace, target, name)
            .await
            .map_err(|f| f.message)?;
    }
    Ok(())
}

/// Deletes the copy this acceptor delivered to one target, if it is still there.
async fn withdraw_one(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
    namespace: &str,
    target: &DeliveryTarget,
    name: &str,
) -> Result<(), Failure> {
    let remote = match remotes.client(local, namespace, target).await {
        Ok((_, remote)) => remote,
        Err(failure) if failure.reason == reason::INVALID_KUBECONFIG => {
            tracing::warn!(message = %failure.message, "not withdrawing a delivered token Secret");
            return Ok(());
        }
        Err(failure) => return Err(failure),
    };
    let failed = |e: kube::Error| {
        Failure::new(
            reason::DELIVERY_FAILED,
            format!(
                "deleting the delivered Secret {}/{name}: {e}",
                target.namespace
            ),
        )
    };
    let api: Api<Secret> = Api::namespaced(remote, &target.namespace);
    let existing = api.get_opt(name).await.map_err(failed)?;
    if existing.is_some_and(|s| token_secret::is_owned_by(&s.metadata, acceptor)) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}

/// Withdraws the copies of targets that were removed from the spec (their status entries
/// remember them); an entry stays, Delivered=False, while its copy cannot be deleted yet.
async fn withdraw_removed(
    acceptor: &PeeringAcceptor,
    local: &kube::Client,
    remotes: &RemoteClusters,
    current: &[DeliveryStatus],
    statuses: &mut Vec<DeliveryStatus>,
) -> bool {
    let namespace = acceptor.namespace().unwrap_or_default();
    let mut any_failed = false;
    let removed: Vec<&DeliveryStatus> = current
        .iter()
        .filter(|s| !statuses.iter().any(|n| n.id() == s.id()))
        .collect();
    for old in removed {
        let target = DeliveryTarget {
            kubeconfig_secret_ref: crate::crd::KubeconfigSecretRef {
                name: old.kubeconfig_secret_name.clone(),
                key: old
                    .kubeconfig_secret_key
                    .clone()
                    .unwrap_or_else(|| crate::crd::DEFAULT_KUBECONFIG_KEY.to_owned()),
            },
            namespace: old.namespace.clone(),
            secret_name: Some(old.secret_name.clone()),
            secret_key: None,
        };
        if let Err(failure) = withdraw_one(
            acceptor,
            local,
            remotes,
            &namespace,
            &target,
            &old.secret_name,
        )
        .await
        {
            any_failed = true;
            let mut kept = old.clone();
            set_condition(
                &mut kept.conditions,
                Condition::new(
                    CONDITION_DELIVERED,
                    ConditionStatus::False,
                    failure.reason,
                    format!("target removed from spec.delivery; {}", failure.message),
                    acceptor.metadata.generation,
                    now(),
                ),
            );
            statuses.push(kept);
        }
    }
    any_failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::plan::IssuedToken;
    use crate::crd::SecretOwner;
    use k8s_openapi::ByteString;

    fn record(token: &str) -> TokenRecord {
        TokenRecord {
            issued: IssuedToken {
                peer_name: "dc2".into(),
                peering_id: "id".into(),
                key: "data".into(),
                ..IssuedToken::default()
            },
            fingerprint: token_fingerprint(token),
            generated_at: "2026-11-28T08:00:00Z".into(),
            owner: SecretOwner {
                namespace: "default".into(),
                name: "dc2".into(),
                uid: "u1".into(),
            },
        }
    }

    #[test]
    fn a_copy_is_current_only_with_the_same_token_and_owner() {
        let r = record("t1");
        let copy = remote_secret("s", "ns", "data", "t1", &r);
        assert!(is_current(&copy, "data", &r));
        assert!(!is_current(&copy, "other-key", &r));
        assert!(!is_current(&copy, "data", &record("t2")));
        let mut edited = copy.clone();
        edited
            .data
            .as_mut()
            .unwrap()
            .insert("data".into(), ByteString(b"t2".to_vec()));
        assert!(!is_current(&edited, "data", &r));
        assert!(copy.annotations().contains_key(ANNOTATION_DELIVERED_AT));
    }

    async fn refusal(kubeconfig: &str) -> String {
        match client_from_kubeconfig(kubeconfig.as_bytes()).await {
            Ok(_) => panic!("accepted: {kubeconfig}"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn kubeconfigs_with_exec_plugins_or_files_are_refused() {
        let exec = r#"
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#;
        let err = refusal(exec).await;
        assert!(err.contains("exec plugin"), "{err}");
        let token_file = exec.replace(
            r#"{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}}"#,
            "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}",
        );
        let err = refusal(&token_file).await;
        assert!(err.contains("refers to files"), "{err}");
        let ca_file = exec.replace(
            r#"{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}}"#,
            "{token: abc}",
        )
        .replace(
            r#"{server: "https://127.0.0.1:1"}"#,
            r#"{server: "https://127.0.0.1:1", certificate-authority: /etc/ssl/ca.pem}"#,
        );
        let err = refusal(&ca_file).await;
        assert!(err.contains("CA file"), "{err}");
        let inline = ca_file.replace(", certificate-authority: /etc/ssl/ca.pem", "");
        assert!(client_from_kubeconfig(inline.as_bytes()).await.is_ok());
        let err = refusal("not: [a kubeconfig").await;
        assert!(err.starts_with("not a kubeconfig"), "{err}");
    }
}
