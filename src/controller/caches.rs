//! The controllers' caches as readiness sees them (pending until their first list, the watch's
//! last error), and the end of a controller whose cache never synced.

use std::future::Future;

use futures::FutureExt;
use kube::Resource;
use kube::runtime::controller::{Action, Error as ControllerError};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::telemetry::Health;

/// Marks `cache` pending, then synced once `store` has its first list. Ends without syncing
/// when the controller owning the store ends first.
pub async fn track_sync<K>(health: Health, cache: &'static str, store: Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    health.cache_pending(cache);
    let synced = store.wait_until_ready().await.is_ok();
    if synced {
        health.cache_synced(cache);
    }
    synced
}

/// One item of a controller's stream: a reconcile's result, or a failure of its watch.
pub type ControllerResult<K, E> =
    Result<(ObjectRef<K>, Action), ControllerError<E, watcher::Error>>;

/// What to do with each result of a controller's stream: a watch failure (the API server does
/// not answer, or refuses) is what readiness reports while the cache waits. Reconcile failures
/// are logged where they happen.
pub fn note_watch_errors<K, E>(
    health: Health,
) -> impl FnMut(ControllerResult<K, E>) -> futures::future::Ready<()>
where
    K: Resource,
{
    move |result| {
        if let Err(ControllerError::QueueError(error)) = &result {
            tracing::debug!(error = %crate::telemetry::health::with_causes(error), "watch failed");
            health.api_failed(error);
        }
        futures::future::ready(())
    }
}

/// `controller` until it ends, or at `shutdown` if its cache has not synced by then.
///
/// A graceful shutdown ends kube-runtime's watch, but its runner holds its own end until the
/// store is ready, which a stopped watch never makes it: without this, a stop before the first
/// list would wait forever. A controller whose cache never synced cannot have a reconcile in
/// flight, so ending it at once loses nothing.
pub async fn ends_unsynced_at_shutdown<K>(
    controller: impl Future<Output = ()>,
    store: Store<K>,
    shutdown: impl Future<Output = ()>,
) where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let unsynced_at_shutdown = async {
        shutdown.await;
        if store.wait_until_ready().now_or_never().is_some() {
            // Synced (or already ended): the controller drains its reconciles and ends.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = controller => {}
        () = unsynced_at_shutdown => {}
    }
}
