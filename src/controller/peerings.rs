//! What Consul says about its peerings, learnt through ONE blocking query of
//! `GET /v1/peerings` per Consul partition and shared by every resource. Reconcilers read the
//! snapshot instead of asking Consul per resource, and the watcher wakes only the resources
//! whose peering changed (or all of a partition when Consul becomes unreachable or comes back).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::plan::{PeeringFacts, PeeringView};
use crate::consul;
use crate::telemetry::Metrics;

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

/// The peerings of one partition, merged from list results and from the operator's own reads
/// so that an older answer never overwrites a newer one.
#[derive(Debug, Default)]
pub struct Snapshot {
    synced: bool,
    /// `X-Consul-Index` of the last list merged.
    index: u64,
    peerings: HashMap<String, KnownPeering>,
    /// When the operator's own reads recorded these peerings (see `merge_list`).
    read_at: HashMap<String, Instant>,
}

impl Snapshot {
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn get(&self, name: &str) -> Option<&KnownPeering> {
        self.peerings.get(name)
    }

    pub fn peerings(&self) -> impl Iterator<Item = &KnownPeering> {
        self.peerings.values()
    }

    /// Merges a full list taken at `index` and asked for at `asked_at`; returns the names whose
    /// peering changed. A peering that the operator itself read at a later index than the list,
    /// or at the same index after the list was asked for, stays as read: Consul answers a
    /// blocking query whose wait ran out with what it computed before waiting, so the states it
    /// derives from its streams (ACTIVE, FAILING) may be older than the operator's read.
    pub fn merge_list(
        &mut self,
        list: Vec<KnownPeering>,
        index: u64,
        asked_at: Instant,
    ) -> Vec<String> {
        let mut changed = Vec::new();
        let mut listed: HashMap<String, KnownPeering> =
            list.into_iter().map(|p| (p.name.clone(), p)).collect();
        self.peerings.retain(|name, known| {
            if listed.contains_key(name) || known.modify_index > index {
                return true;
            }
            changed.push(name.clone());
            false
        });
        for (name, fresh) in listed.drain() {
            let read_since = self.read_at.get(&name).is_some_and(|at| *at >= asked_at);
            match self.peerings.get_mut(&name) {
                Some(known) if known.modify_index > fresh.modify_index => {}
                Some(known) if known.modify_index == fresh.modify_index && read_since => {}
                Some(known) => {
                    if known.differs_for_resources(&fresh) {
                        changed.push(name);
                    }
                    *known = fresh;
                }
                None => {
                    changed.push(name.clone());
                    self.peerings.insert(name, fresh);
                }
            }
        }
        let peerings = &self.peerings;
        self.read_at
            .retain(|name, at| *at >= asked_at && peerings.contains_key(name));
        self.index = index;
        self.synced = true;
        changed.sort();
        changed
    }

    /// Records a peering the operator itself just read, unless the snapshot already knows a
    /// newer version of it. (An absence it read is left to the next list: a 404 carries no
    /// index to compare with.)
    pub fn record(&mut self, peering: KnownPeering) {
        let newer_known = self
            .peerings
            .get(&peering.name)
            .is_some_and(|known| known.modify_index > peering.modify_index);
        if !newer_known {
            self.read_at.insert(peering.name.clone(), Instant::now());
            self.peerings.insert(peering.name.clone(), peering);
        }
    }

    /// Counts per state, for the `peerings` metric.
    pub fn state_counts(&self) -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for p in self.peerings.values() {
            *counts.entry(p.state.to_string()).or_insert(0) += 1;
        }
        counts
    }
}

/// What a reconciler learns from the shared snapshot about one peering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
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

impl Lookup {
    pub fn view(peering: Option<&KnownPeering>) -> PeeringView {
        match peering {
            Some(p) => PeeringView::Present(p.facts()),
            None => PeeringView::Absent,
        }
    }
}

/// A change the resources must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeeringChange {
    /// The peering `name` in `partition` changed, appeared or disappeared.
    Peer { partition: String, name: String },
    /// Everything in `partition` must be looked at again (Consul went away or came back).
    Partition { partition: String },
}

struct PartitionWatch {
    snapshot: RwLock<Snapshot>,
    /// Set while the watcher cannot get a list: (reason, message).
    unavailable: RwLock<Option<(&'static str, String)>>,
}

/// The shared Consul view: one watcher task per partition in use, started on first use.
pub struct ConsulPeerings {
    clients: Arc<super::ConsulClients>,
    metrics: Arc<Metrics>,
    wait: Duration,
    partitions: Mutex<HashMap<String, Arc<PartitionWatch>>>,
    changes: broadcast::Sender<PeeringChange>,
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
    pub fn new(
        clients: Arc<super::ConsulClients>,
        metrics: Arc<Metrics>,
        wait: Duration,
    ) -> Arc<Self> {
        let (changes, _) = broadcast::channel(1024);
        Arc::new(ConsulPeerings {
            clients,
            metrics,
            wait,
            partitions: Mutex::new(HashMap::new()),
            changes,
            dropped: CancellationToken::new(),
        })
    }

    /// Changes as they are learnt. A lagging receiver has missed some: it should treat that
    /// as a change of everything.
    pub fn subscribe(&self) -> broadcast::Receiver<PeeringChange> {
        self.changes.subscribe()
    }

    /// The snapshot's answer for `name` in `partition` (`""` is the default partition). The
    /// first lookup in a partition starts its watcher.
    pub fn lookup(self: &Arc<Self>, partition: &str, name: &str) -> Lookup {
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
    pub fn record(self: &Arc<Self>, partition: &str, peering: Option<KnownPeering>) {
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
        let watch = Arc::new(PartitionWatch {
            snapshot: RwLock::new(Snapshot::default()),
            unavailable: RwLock::new(None),
        });
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

/// The long-poll loop of one partition. Ends when the operator drops its `ConsulPeerings`
/// (at once: its spawner cancels this future then).
async fn watch_partition(
    peerings: std::sync::Weak<ConsulPeerings>,
    partition: String,
    watch: Arc<PartitionWatch>,
) {
    let mut failures = 0u32;
    loop {
        let Some(this) = peerings.upgrade() else {
            return;
        };
        let index = read(&watch.snapshot).index();
        // After a failure the next list must not block: with nothing changed in Consul it
        // would hold the whole wait, and Consul's recovery would go unnoticed until then.
        let blocking = (index > 0 && failures == 0).then_some((index, this.wait));
        let client = this.clients.get(&partition);
        let wait = this.wait;
        let asked_at = Instant::now();
        drop(this);
        // The request outlives a blocking wait only by network time; bound it anyway so a
        // half-open connection cannot stall the watcher forever.
        let result = match client {
            Ok(client) => {
                tokio::time::timeout(wait + Duration::from_secs(60), client.list(blocking)).await
            }
            Err(e) => Ok(Err(e)),
        };
        let Some(this) = peerings.upgrade() else {
            return;
        };
        match result {
            Ok(Ok((list, new_index))) => {
                failures = 0;
                let list: Vec<KnownPeering> = list.iter().map(KnownPeering::from).collect();
                // Consul asks clients to reset when the index goes backwards (a restored or
                // rebuilt cluster): start over and let every resource look again.
                let reset = new_index < index;
                let changed = {
                    let mut snapshot = write(&watch.snapshot);
                    if reset {
                        *snapshot = Snapshot::default();
                    }
                    snapshot.merge_list(list, new_index, asked_at)
                };
                let recovered = write(&watch.unavailable).take().is_some() || reset;
                this.publish_metrics();
                if recovered {
                    tracing::info!(partition, "Consul peerings readable again");
                    let _ = this.changes.send(PeeringChange::Partition {
                        partition: partition.clone(),
                    });
                }
                for name in changed {
                    let _ = this.changes.send(PeeringChange::Peer {
                        partition: partition.clone(),
                        name,
                    });
                }
            }
            Ok(Err(error)) => {
                failures += 1;
                let (reason, message) = (error.reason(), error.to_string());
                tracing::warn!(partition, %message, "listing Consul peerings failed");
                this.metrics.watch_restarted("consul_peerings");
                mark_unavailable(&this, &watch, &partition, reason, message, failures);
                drop(this);
                tokio::time::sleep(super::error::backoff(failures).min(Duration::from_secs(30)))
                    .await;
            }
            Err(_elapsed) => {
                failures += 1;
                let message = "Consul did not answer the peering list in time".to_string();
                this.metrics.watch_restarted("consul_peerings");
                mark_unavailable(
                    &this,
                    &watch,
                    &partition,
                    crate::crd::reason::CONSUL_UNAVAILABLE,
                    message,
                    failures,
                );
            }
        }
    }
}

fn mark_unavailable(
    this: &ConsulPeerings,
    watch: &PartitionWatch,
    partition: &str,
    reason: &'static str,
    message: String,
    failures: u32,
) {
    // One failed request can be a blip (a leader election in Consul); report from the second.
    if failures < 2 {
        return;
    }
    let was_available = write(&watch.unavailable)
        .replace((reason, message))
        .is_none();
    if was_available {
        let _ = this.changes.send(PeeringChange::Partition {
            partition: partition.to_owned(),
        });
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

    /// A list asked for after any read the test made.
    fn later() -> Instant {
        Instant::now() + Duration::from_millis(1)
    }

    fn peering(name: &str, state: PeeringState, modify_index: u64) -> KnownPeering {
        KnownPeering {
            name: name.into(),
            id: format!("id-{name}"),
            state,
            modify_index,
            ..Default::default()
        }
    }

    #[test]
    fn first_list_syncs_and_reports_everything_listed() {
        let mut s = Snapshot::default();
        assert!(!s.is_synced());
        let changed = s.merge_list(
            vec![
                peering("a", PeeringState::Pending, 5),
                peering("b", PeeringState::Active, 6),
            ],
            6,
            later(),
        );
        assert!(s.is_synced());
        assert_eq!(changed, vec!["a", "b"]);
        assert_eq!(s.index(), 6);
    }

    #[test]
    fn later_lists_report_only_changes_that_matter() {
        let mut s = Snapshot::default();
        s.merge_list(
            vec![
                peering("a", PeeringState::Pending, 5),
                peering("b", PeeringState::Active, 6),
            ],
            6,
            later(),
        );
        // Index moved, nothing visible changed for b; a became ACTIVE; c appeared.
        let mut b = peering("b", PeeringState::Active, 9);
        b.modify_index = 9;
        let changed = s.merge_list(
            vec![
                peering("a", PeeringState::Active, 8),
                b,
                peering("c", PeeringState::Pending, 10),
            ],
            10,
            later(),
        );
        assert_eq!(changed, vec!["a", "c"]);
        // b disappeared.
        let changed = s.merge_list(
            vec![
                peering("a", PeeringState::Active, 8),
                peering("c", PeeringState::Pending, 10),
            ],
            11,
            later(),
        );
        assert_eq!(changed, vec!["b"]);
        assert_eq!(s.get("b"), None);
    }

    #[test]
    fn an_older_list_never_undoes_the_operators_own_newer_read() {
        let mut s = Snapshot::default();
        s.merge_list(vec![], 4, later());
        // The operator generated a token and read the new peering at index 7 ...
        s.record(peering("a", PeeringState::Pending, 7));
        // ... then a list taken at index 5 arrives: it must not make "a" absent.
        let changed = s.merge_list(vec![], 5, later());
        assert!(changed.is_empty());
        assert_eq!(s.get("a").map(|p| &p.state), Some(&PeeringState::Pending));
        // Nor may an older version of it replace the newer one, by list or by read.
        s.merge_list(vec![peering("a", PeeringState::Deleting, 6)], 6, later());
        assert_eq!(s.get("a").map(|p| p.modify_index), Some(7));
        s.record(peering("a", PeeringState::Deleting, 6));
        assert_eq!(s.get("a").map(|p| p.modify_index), Some(7));
        // A list at or after the read's index is believed.
        let changed = s.merge_list(vec![], 8, later());
        assert_eq!(changed, vec!["a"]);
        assert_eq!(s.get("a"), None);
    }

    #[test]
    fn a_list_asked_before_the_operators_read_does_not_undo_it_at_the_same_index() {
        let mut s = Snapshot::default();
        s.merge_list(
            vec![peering("a", PeeringState::Establishing, 7)],
            7,
            later(),
        );
        // A blocking list is asked for; then the operator reads the peering ACTIVE (a stream
        // state: the index stays), and the list's wait runs out with what Consul computed
        // before waiting.
        let asked = Instant::now();
        s.record(peering("a", PeeringState::Active, 7));
        let changed = s.merge_list(vec![peering("a", PeeringState::Establishing, 7)], 7, asked);
        assert!(changed.is_empty());
        assert_eq!(s.get("a").map(|p| &p.state), Some(&PeeringState::Active));
        // A list asked for after the read is believed.
        let changed = s.merge_list(vec![peering("a", PeeringState::Failing, 7)], 7, later());
        assert_eq!(changed, vec!["a"]);
        assert_eq!(s.get("a").map(|p| &p.state), Some(&PeeringState::Failing));
    }

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
        let mut p = peering("a", PeeringState::Active, 1);
        p.meta.insert(META_TOKEN_FINGERPRINT.into(), "fp".into());
        p.meta.insert(META_PEERING_VERSION.into(), "4".into());
        let facts = p.facts();
        assert_eq!(facts.token_fingerprint.as_deref(), Some("fp"));
        assert_eq!(facts.version, Some(4));
    }
}
