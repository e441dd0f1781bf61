//! What wakes a resource besides a change of the resource itself: a token Secret it uses
//! (watched by label and metadata only, so unrelated Secrets cost nothing) and a change of its
//! peering in Consul. Every resource that matches is woken, not just the first.

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tokio::sync::broadcast;

use super::peerings::{ConsulPeerings, PeeringChange};
use super::scoped_api;
use crate::crd::{
    LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, Peered, PeeringAcceptor, PeeringDialer,
};

/// consul-k8s's token Secret label: dialers migrated from consul-k8s read Secrets that were
/// copied with it, so they are woken by those too.
const CONSUL_K8S_TOKEN_LABEL: &str = "consul.hashicorp.com/peering-token";

/// Whether the acceptor writes (or wrote) the Secret: its spec names it, or the Secret's owner
/// annotation names the acceptor (after a rename of `spec.peer.secret.name`).
pub fn acceptor_uses_secret(
    acceptor: &PeeringAcceptor,
    secret: &PartialObjectMeta<Secret>,
) -> bool {
    acceptor.namespace() == secret.namespace()
        && (acceptor.spec.peer.secret.name == secret.name_any()
            || super::token_secret::owner_of(&secret.metadata).is_some_and(|owner| {
                owner.namespace == acceptor.namespace().unwrap_or_default()
                    && owner.name == acceptor.name_any()
            }))
}

pub fn dialer_uses_secret(dialer: &PeeringDialer, secret: &PartialObjectMeta<Secret>) -> bool {
    dialer.namespace() == secret.namespace() && dialer.spec.peer.secret.name == secret.name_any()
}

/// The Consul partition ("" for the default) and peer name of a resource.
pub fn peer_of<K: Peered>(resource: &K) -> (String, String) {
    (
        resource.partition().to_owned(),
        resource.peer_name().to_owned(),
    )
}

/// Resources of `store` that use a token Secret, each time such a Secret is added, changed or
/// deleted.
pub fn secret_events<K>(
    client: &kube::Client,
    namespace: Option<&str>,
    store: Store<K>,
    uses: fn(&K, &PartialObjectMeta<Secret>) -> bool,
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    // `PartialObjectMeta` makes the watch metadata-only: token values never reach this process
    // through it, and memory does not grow with the Secrets' data.
    let api: Api<PartialObjectMeta<Secret>> = scoped_api(client, namespace);
    let watch = |label: &str| {
        watcher(
            api.clone(),
            watcher::Config::default().labels(&format!("{label}={LABEL_PEERING_TOKEN_VALUE}")),
        )
        .default_backoff()
        .touched_objects()
        .filter_map(|r| futures::future::ready(r.ok()))
    };
    stream::select(watch(LABEL_PEERING_TOKEN), watch(CONSUL_K8S_TOKEN_LABEL)).flat_map(
        move |secret| {
            let refs: Vec<ObjectRef<K>> = store
                .state()
                .iter()
                .filter(|obj| uses(obj, &secret))
                .map(|obj| ObjectRef::from_obj(&**obj))
                .collect();
            stream::iter(refs)
        },
    )
}

/// Resources of `store` whose Consul peering changed.
pub fn peering_events<K>(
    peerings: &std::sync::Arc<ConsulPeerings>,
    store: Store<K>,
    peer_of: fn(&K) -> (String, String),
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let changes = peerings.subscribe();
    stream::unfold(changes, |mut changes| async move {
        match changes.recv().await {
            Ok(change) => Some((Some(change), changes)),
            // Missed some: wake everything rather than miss a change.
            Err(broadcast::error::RecvError::Lagged(_)) => Some((None, changes)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
    .flat_map(move |change| {
        let refs: Vec<ObjectRef<K>> = store
            .state()
            .iter()
            .filter(|obj| {
                let (partition, name) = peer_of(obj);
                match &change {
                    None => true,
                    Some(PeeringChange::Peer {
                        partition: p,
                        name: n,
                    }) => *p == partition && *n == name,
                    Some(PeeringChange::Partition { partition: p }) => *p == partition,
                }
            })
            .map(|obj| ObjectRef::from_obj(&**obj))
            .collect();
        stream::iter(refs)
    })
}
