//! When each object first reached a state, as a watcher sees it (never by polling lists).

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// First time, per object name, that an object satisfied a predicate.
pub struct Arrivals {
    seen: watch::Receiver<HashMap<String, Instant>>,
    task: tokio::task::AbortHandle,
}

impl Arrivals {
    /// Watches `api` and records when each object first satisfies `done`; returns once the
    /// watch has listed what exists (so what follows is seen as it happens).
    pub async fn watch<K>(
        api: Api<K>,
        done: impl Fn(&K) -> bool + Send + Sync + 'static,
    ) -> anyhow::Result<Arrivals>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        let (tx, seen) = watch::channel(HashMap::new());
        let (synced_tx, mut synced) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))
                        if done(&obj) =>
                    {
                        let at = Instant::now();
                        tx.send_if_modified(|seen| {
                            let fresh = !seen.contains_key(&obj.name_any());
                            if fresh {
                                seen.insert(obj.name_any(), at);
                            }
                            fresh
                        });
                    }
                    Ok(watcher::Event::InitDone) => {
                        let _ = synced_tx.send(true);
                    }
                    _ => {}
                }
            }
        });
        let arrivals = Arrivals {
            seen,
            task: task.abort_handle(),
        };
        tokio::time::timeout(Duration::from_secs(30), synced.wait_for(|s| *s))
            .await
            .map_err(|_| anyhow::anyhow!("the watch did not list in 30 s"))??;
        Ok(arrivals)
    }

    /// When `name` arrived, waiting up to `timeout`.
    pub async fn of(&self, name: &str, timeout: Duration) -> anyhow::Result<Instant> {
        let mut seen = self.seen.clone();
        let found = tokio::time::timeout(timeout, seen.wait_for(|s| s.contains_key(name)))
            .await
            .map_err(|_| anyhow::anyhow!("{name} did not arrive in {timeout:?}"))??;
        Ok(found[name])
    }

    /// Waits until `count` objects have arrived (up to `timeout`); the latest arrival.
    pub async fn all(&self, count: usize, timeout: Duration) -> anyhow::Result<Instant> {
        let mut seen = self.seen.clone();
        let found = tokio::time::timeout(timeout, seen.wait_for(|s| s.len() >= count))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "{} of {count} arrived in {timeout:?}",
                    self.seen.borrow().len()
                )
            })??;
        found
            .values()
            .max()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("nothing arrived"))
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        self.task.abort();
    }
}
