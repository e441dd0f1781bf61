//! What Consul says about its peerings, learnt through ONE blocking query of
//! `GET /v1/peerings` per Consul partition and shared by every resource. Reconcilers read the
//! snapshot instead of asking Consul per resource (`look_up`), and the watcher wakes only the
//! resources whose peering changed (or all of a partition when Consul becomes unreachable or
//! comes back).

mod snapshot;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::plan::{PeeringFacts, PeeringView};
use crate::consul::{self, ConsulClients};
use crate::telemetry::Metrics;
pub use snapshot::Snapshot;
use watch::{PartitionWatch, watch_partition};

// The operator's Meta keys on a dialer-side peering all start with
// `crd::validation::OPERATOR_META_PREFIX`, which a dialer's `spec.meta` may not use.

/// Meta key on a dialer-side peering: the fingerprint of the token it was established with.
/// Consul is where this is recorded because establish writes Meta atomically with the peering,
/// so no partial failure on our side can lose it.
pub const META_TOKEN_FINGERPRINT: &str = "consulpeering-token-fingerprint";
/// Meta key on a dialer-side peering: the rotation version it was established for.
pub const META_PEERING_VERSION: &str = "consulpeering-peering-version";
/// Meta key on a dialer-side peering: when it was established (RFC 3339).
pub const META_ESTABLISHED_AT: &str = "consulpeering-established-at";

/// How long a look-up waits for a partition's first list before asking Consul itself. A list
/// that fails ends the wait at once (after the client's retries, under 2 s); this bounds the
/// wait on a Consul that does not answer at all. The first list of 10,000 peerings can take
/// seconds on a loaded node.
const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(5);

/// When a dialer that just established reads its peering again to learn that the stream is up:
/// Consul derives ACTIVE (and FAILING) from its streams, which do not move the list's index, so
/// the list would bring the news only when its wait times out. A few reads, then the list.
const STREAM_FOLLOW_UP: [Duration; 6] = [
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
    Duration::from_millis(3200),
    Duration::from_millis(6400),
];

/// One peering as the operator needs to know it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownPeering {
    pub name: String,
    pub id: String,
    pub state: consul::PeeringState,
    pub peer_id: String,
    pub meta: BTreeMap<String, String>,
    pub remote_datacenter: String,
    pub remote_partition: String,
    pub modify_index: u64,
}

impl KnownPeering {
    /// What the decisions in `plan` look at.
    pub fn facts(&self) -> PeeringFacts {
        PeeringFacts {
            id: self.id.clone(),
            state: self.state.clone(),
            token_fingerprint: self.meta.get(META_TOKEN_FINGERPRINT).cloned(),
            version: self
                .meta
                .get(META_PEERING_VERSION)
                .and_then(|v| v.parse().ok()),
        }
    }

    /// Whether a change from `self` to `other` is one a resource must hear about (the index
    /// alone moving is not).
    fn differs_for_resources(&self, other: &KnownPeering) -> bool {
        self.id != other.id
            || self.state != other.state
            || self.peer_id != other.peer_id
            || self.meta != other.meta
            || self.remote_datacenter != other.remote_datacenter
            || self.remote_partition != other.remote_partition
    }
}

impl From<&consul::Peering> for KnownPeering {
    fn from(p: &consul::Peering) -> Self {
        KnownPeering {
            name: p.name.clone(),
            id: p.id.clone(),
            state: p.state.clone(),
            peer_id: p.peer_id.clone(),
            meta: p.meta.clone().unwrap_or_default(),
            remote_datacenter: p.remote.datacenter.clone(),
            remote_partition: p.remote.partition.clone(),
            modify_index: p.modify_index,
        }
    }
}

/// What the shared snapshot knows about one peering.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lookup {
    /// The snapshot is current: this is what Consul says.
    Known(Option<KnownPeering>),
    /// No list has arrived yet: ask Consul directly.
    NotSynced,
    /// The watcher cannot reach Consul (or is refused); reason and message of the last error.
    Unavailable {
        reason: &'static str,
        message: String,
    },
}

/// What the decisions in `plan` see of a peering Consul has or has not.
pub fn view(peering: Option<&KnownPeering>) -> PeeringView {
    match peering {
        Some(p) => PeeringView::Present(p.facts()),
        None => PeeringView::Absent,
    }
}

/// A pass creating a peering (see [`ConsulPeerings::being_created`]).
pub struct BeingCreated {
    peerings: Arc<ConsulPeerings>,
    key: (String, String),
}

impl Drop for BeingCreated {
    fn drop(&mut self) {
        let mut passes = lock(&self.peerings.being_created);
        if let Some(n) = passes.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                passes.remove(&self.key);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A change the resources must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeeringChange {
    /// The peering `name` in `partition` changed, appeared or disappeared.
    Peer { partition: String, name: String },
    /// Everything in `partition` must be looked at again (Consul went away or came back).
    Partition { partition: String },
}

/// The shared Consul view: one watcher task per partition in use, started on first use.
pub struct ConsulPeerings {
    clients: Arc<ConsulClients>,
    metrics: Arc<Metrics>,
    wait: Duration,
    partitions: Mutex<HashMap<String, Arc<PartitionWatch>>>,
    changes: broadcast::Sender<PeeringChange>,
    /// Peerings a pass is creating (partition, name → passes): see [`ConsulPeerings::being_created`].
    being_created: Mutex<HashMap<(String, String), usize>>,
    /// Cancelled on drop: ends the watchers at once, even in the middle of a long-poll or a
    /// backoff.
    dropped: CancellationToken,
}

impl Drop for ConsulPeerings {
    fn drop(&mut self) {
        self.dropped.cancel();
    }
}

impl ConsulPeerings {
    /// `wait` is the blocking query's wait time (Consul caps it at 10 minutes).
    pub fn new(clients: Arc<ConsulClients>, metrics: Arc<Metrics>, wait: Duration) -> Arc<Self> {
        let (changes, _) = broadcast::channel(1024);
        Arc::new(ConsulPeerings {
            clients,
            metrics,
            wait,
            partitions: Mutex::new(HashMap::new()),
            changes,
            being_created: Mutex::new(HashMap::new()),
            dropped: CancellationToken::new(),
        })
    }

    /// Changes as they are learnt. A lagging receiver has missed some: it should treat that
    /// as a change of everything.
    pub fn subscribe(&self) -> broadcast::Receiver<PeeringChange> {
        self.changes.subscribe()
    }

    /// The peering `name` in `partition` (`""` is the default partition) from the shared
    /// snapshot, or from Consul directly while the snapshot is not synced yet. `Ok(None)`:
    /// Consul has no such peering. The first look-up in a partition starts its watcher.
    pub async fn look_up(
        self: &Arc<Self>,
        partition: &str,
        name: &str,
    ) -> Result<Option<KnownPeering>, Error> {
        let mut lookup = self.lookup(partition, name);
        if lookup == Lookup::NotSynced && self.first_answer(partition).await {
            lookup = self.lookup(partition, name);
        }
        match lookup {
            Lookup::Known(peering) => Ok(peering),
            Lookup::Unavailable { reason, message } => {
                Err(Error::ConsulUnreachable { reason, message })
            }
            Lookup::NotSynced => self.read_fresh(partition, name).await,
        }
    }

    /// Waits (up to [`FIRST_ANSWER_WAIT`]) for the partition's first list to end: at start-up
    /// every resource looks its peering up at once, and one list answers them all where a
    /// read each would cost Consul as many requests. Whether it came.
    async fn first_answer(self: &Arc<Self>, partition: &str) -> bool {
        let mut answered = self.partition(partition).answered.subscribe();
        let first = answered.wait_for(|answered| *answered);
        matches!(
            tokio::time::timeout(FIRST_ANSWER_WAIT, first).await,
            Ok(Ok(_))
        )
    }

    /// Marks the peering `name` as one a pass is creating and then reads itself: until the
    /// guard drops, a list that shows it first announces no change for it. (Each token moves
    /// Consul's index, so the list often outruns the pass's own read, and its announcement would
    /// wake a second pass for nothing.)
    pub fn being_created(self: &Arc<Self>, partition: &str, name: &str) -> BeingCreated {
        let key = (partition.to_owned(), name.to_owned());
        *lock(&self.being_created).entry(key.clone()).or_insert(0) += 1;
        BeingCreated {
            peerings: self.clone(),
            key,
        }
    }

    fn is_being_created(&self, partition: &str, name: &str) -> bool {
        lock(&self.being_created).contains_key(&(partition.to_owned(), name.to_owned()))
    }

    /// Reads the peering from Consul and records the answer in the snapshot.
    pub async fn read_fresh(
        self: &Arc<Self>,
        partition: &str,
        name: &str,
    ) -> Result<Option<KnownPeering>, Error> {
        let peering = self.clients.get(partition)?.read(name).await?;
        let known = peering.as_ref().map(KnownPeering::from);
        self.record(partition, known.clone());
        Ok(known)
    }

    /// After an establish: reads the peering `name` again a few times (see
    /// [`STREAM_FOLLOW_UP`]) until its stream is up, announcing each state it finds, so the
    /// resources learn ACTIVE within a second or so instead of at the list's next timeout (a
    /// stream may fail a few times before the peer takes it). Ends with the operator; a failing
    /// read ends it too (the list carries on).
    pub fn follow_stream(self: &Arc<Self>, partition: &str, name: &str) {
        let this = Arc::downgrade(self);
        let dropped = self.dropped.clone();
        let (partition, name) = (partition.to_owned(), name.to_owned());
        tokio::spawn(async move {
            let mut last = None;
            for pause in STREAM_FOLLOW_UP {
                tokio::select! {
                    () = dropped.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                let Some(this) = this.upgrade() else { return };
                let Ok(peering) = this.read_fresh(&partition, &name).await else {
                    return;
                };
                let state = peering.map(|p| p.state);
                if state != last {
                    let change = PeeringChange::Peer {
                        partition: partition.clone(),
                        name: name.clone(),
                    };
                    let _ = this.changes.send(change);
                }
                if state
                    .as_ref()
                    .is_none_or(|s| *s == consul::PeeringState::Active)
                {
                    return;
                }
                last = state;
            }
        });
    }

    /// The snapshot's answer for `name` in `partition`.
    fn lookup(self: &Arc<Self>, partition: &str, name: &str) -> Lookup {
        let watch = self.partition(partition);
        if let Some((reason, message)) = read(&watch.unavailable).clone() {
            return Lookup::Unavailable { reason, message };
        }
        let snapshot = read(&watch.snapshot);
        if !snapshot.is_synced() {
            return Lookup::NotSynced;
        }
        Lookup::Known(snapshot.get(name).cloned())
    }

    /// Records the answer of one of the operator's own reads, so the next reconcile does not
    /// act on an older list (which could make it generate a second token).
    fn record(self: &Arc<Self>, partition: &str, peering: Option<KnownPeering>) {
        if let Some(peering) = peering {
            let watch = self.partition(partition);
            write(&watch.snapshot).record(peering);
        }
    }

    fn partition(self: &Arc<Self>, partition: &str) -> Arc<PartitionWatch> {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(watch) = partitions.get(partition) {
            return watch.clone();
        }
        let watch = Arc::new(PartitionWatch::default());
        partitions.insert(partition.to_owned(), watch.clone());
        let this = Arc::downgrade(self);
        let partition = partition.to_owned();
        let task_watch = watch.clone();
        let dropped = self.dropped.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = dropped.cancelled() => {}
                () = watch_partition(this, partition, task_watch) => {}
            }
        });
        watch
    }

    fn publish_metrics(&self) {
        let partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for watch in partitions.values() {
            for (state, n) in read(&watch.snapshot).state_counts() {
                *counts.entry(state).or_insert(0) += n;
            }
        }
        self.metrics
            .set_peerings(counts.iter().map(|(s, n)| (s.as_str(), *n)));
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul::PeeringState;
    use crate::crd::validation::OPERATOR_META_PREFIX;

    #[test]
    fn the_operators_meta_keys_are_the_ones_a_dialer_spec_may_not_use() {
        for key in [
            META_TOKEN_FINGERPRINT,
            META_PEERING_VERSION,
            META_ESTABLISHED_AT,
        ] {
            assert!(key.starts_with(OPERATOR_META_PREFIX), "{key}");
        }
    }

    #[test]
    fn dialer_meta_becomes_facts() {
        let mut p = KnownPeering {
            name: "a".into(),
            state: PeeringState::Active,
            ..Default::default()
        };
        p.meta.insert(META_TOKEN_FINGERPRINT.into(), "fp".into());
        p.meta.insert(META_PEERING_VERSION.into(), "4".into());
        let facts = p.facts();
        assert_eq!(facts.token_fingerprint.as_deref(), Some("fp"));
        assert_eq!(facts.version, Some(4));
    }
}
