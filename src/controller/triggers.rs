//! What wakes a resource besides a change of the resource itself: a token Secret it uses
//! (watched by label and metadata only, so unrelated Secrets cost nothing) and a change of its
//! peering in Consul. Every resource that matches is woken, not just the first.

use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::Resource;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::broadcast;

use super::peerings::{ConsulPeerings, PeeringChange};
use super::{Context, scoped_api};
use crate::crd::{
    LABEL_PEERING_TOKEN, LABEL_PEERING_TOKEN_VALUE, Peered, PeeringAcceptor, PeeringDialer,
    SecretOwner,
};

/// consul-k8s's token Secret label: dialers migrated from consul-k8s read Secrets that were
/// copied with it, so they are woken by those too.
const CONSUL_K8S_TOKEN_LABEL: &str = "consul.hashicorp.com/peering-token";

/// Whether the acceptor writes (or wrote) the Secret: its spec names it, or the Secret's owner
/// annotation (`owner`, parsed once per Secret) names the acceptor (after a rename of
/// `spec.peer.secret.name`). Compared in place: this runs over every acceptor for each event.
pub fn acceptor_uses_secret(
    acceptor: &PeeringAcceptor,
    secret: &PartialObjectMeta<Secret>,
    owner: Option<&SecretOwner>,
) -> bool {
    let namespace = acceptor.meta().namespace.as_deref();
    namespace == secret.metadata.namespace.as_deref()
        && (Some(acceptor.spec.peer.secret.name.as_str()) == secret.metadata.name.as_deref()
            || owner.is_some_and(|owner| {
                Some(owner.namespace.as_str()) == namespace
                    && Some(owner.name.as_str()) == acceptor.meta().name.as_deref()
            }))
}

pub fn dialer_uses_secret(
    dialer: &PeeringDialer,
    secret: &PartialObjectMeta<Secret>,
    _owner: Option<&SecretOwner>,
) -> bool {
    dialer.meta().namespace == secret.metadata.namespace
        && Some(dialer.spec.peer.secret.name.as_str()) == secret.metadata.name.as_deref()
}

/// Resources of `store` that use a token Secret, each time such a Secret is added, changed or
/// deleted; with `writer`, except for the writes it recorded as its own.
pub fn secret_events<K>(
    client: &kube::Client,
    namespace: Option<&str>,
    store: Store<K>,
    uses: fn(&K, &PartialObjectMeta<Secret>, Option<&SecretOwner>) -> bool,
    writer: Option<Arc<Context>>,
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
            if writer
                .as_ref()
                .is_some_and(|ctx| ctx.own_secret_writes.is_own(&secret))
            {
                return stream::iter(Vec::new());
            }
            let owner = super::token_secret::owner_of(&secret.metadata);
            let refs: Vec<ObjectRef<K>> = store
                .state()
                .iter()
                .filter(|obj| uses(obj, &secret, owner.as_ref()))
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
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Peered + Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
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
            // Compared in place: this runs over every resource for each change.
            .filter(|obj| match &change {
                None => true,
                Some(PeeringChange::Peer {
                    partition: p,
                    name: n,
                }) => p == obj.partition() && n == obj.peer_name(),
                Some(PeeringChange::Partition { partition: p }) => p == obj.partition(),
            })
            .map(|obj| ObjectRef::from_obj(&**obj))
            .collect();
        stream::iter(refs)
    })
}
