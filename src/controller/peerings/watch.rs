//! The long-poll of one partition's peerings: one blocking `GET /v1/peerings` after another,
//! merged into the partition's snapshot, with the changes announced to the resources.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use super::snapshot::Snapshot;
use super::{ConsulPeerings, KnownPeering, PeeringChange, read, write};
use crate::consul::{ConsulError, Peering};
use crate::controller::error::backoff;
use crate::crd::reason;

/// Time from one list request to the next, per peering the last list carried. Each answer
/// carries every peering, so while Consul changes without pause (a burst of tokens, each
/// moving its index) lists one after the other would cost O(peerings²); spaced this way a
/// burst costs a few lists a second (10,000 peerings: 4 a second), and a change reaches status
/// at most that much later. Under 40 peerings lists follow at once, as a blocking query does.
const LIST_SPACING_PER_PEERING: Duration = Duration::from_micros(25);

/// How long after `asked_at` the next list may go, for a list of `peerings`.
fn next_list_at(asked_at: Instant, peerings: usize) -> Option<Instant> {
    let spacing = LIST_SPACING_PER_PEERING * u32::try_from(peerings).unwrap_or(u32::MAX);
    (spacing >= Duration::from_millis(1)).then(|| asked_at + spacing)
}

/// What the operator knows of one partition.
#[derive(Default)]
pub(super) struct PartitionWatch {
    pub(super) snapshot: RwLock<Snapshot>,
    /// Set while the watcher cannot get a list: (reason, message).
    pub(super) unavailable: RwLock<Option<(&'static str, String)>>,
    /// Whether the first list has been answered, or has failed.
    pub(super) answered: tokio::sync::watch::Sender<bool>,
}

/// Why a list brought nothing.
enum ListFailure {
    Consul(ConsulError),
    TimedOut,
}

/// The long-poll loop of one partition. Ends when the operator drops its `ConsulPeerings`
/// (at once: its spawner cancels this future then).
pub(super) async fn watch_partition(
    peerings: Weak<ConsulPeerings>,
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
        let request = list(&this, &partition, blocking);
        let asked_at = Instant::now();
        drop(this);
        let result = request.await;
        let Some(this) = peerings.upgrade() else {
            return;
        };
        watch.answered.send_replace(true);
        match result {
            Ok((list, new_index)) => {
                failures = 0;
                let next = next_list_at(asked_at, list.len());
                let list = list.iter().map(KnownPeering::from).collect();
                this.merged(&partition, &watch, list, index, new_index, asked_at);
                drop(this);
                if let Some(next) = next {
                    tokio::time::sleep_until(next.into()).await;
                }
            }
            Err(ListFailure::Consul(error)) => {
                failures += 1;
                let (reason, message) = (error.reason(), error.to_string());
                tracing::warn!(partition, %message, "listing Consul peerings failed");
                this.list_failed(&watch, &partition, reason, message, failures);
                drop(this);
                tokio::time::sleep(backoff(failures).min(Duration::from_secs(30))).await;
            }
            Err(ListFailure::TimedOut) => {
                failures += 1;
                let message = "Consul did not answer the peering list in time".to_string();
                let reason = reason::CONSUL_UNAVAILABLE;
                this.list_failed(&watch, &partition, reason, message, failures);
            }
        }
    }
}

/// One list of the partition's peerings, blocking at `blocking` (index, wait) when given. The
/// future holds no reference to the `ConsulPeerings`, so dropping it is not delayed by a wait.
fn list(
    this: &ConsulPeerings,
    partition: &str,
    blocking: Option<(u64, Duration)>,
) -> impl Future<Output = Result<(Vec<Peering>, u64), ListFailure>> + use<> {
    let client = this.clients.get(partition);
    // The request outlives a blocking wait only by network time; bound it anyway so a
    // half-open connection cannot stall the watcher forever.
    let limit = this.wait + Duration::from_secs(60);
    async move {
        let client = client.map_err(ListFailure::Consul)?;
        match tokio::time::timeout(limit, client.list(blocking)).await {
            Ok(listed) => listed.map_err(ListFailure::Consul),
            Err(_elapsed) => Err(ListFailure::TimedOut),
        }
    }
}

impl ConsulPeerings {
    /// Merges a list taken at `new_index` (asked for at `asked_at`; the snapshot was at
    /// `index`) and tells the resources what changed.
    fn merged(
        &self,
        partition: &str,
        watch: &PartitionWatch,
        list: Vec<KnownPeering>,
        index: u64,
        new_index: u64,
        asked_at: Instant,
    ) {
        // Consul asks clients to reset when the index goes backwards (a restored or rebuilt
        // cluster): start over and let every resource look again.
        let reset = new_index < index;
        let changed = {
            let mut snapshot = write(&watch.snapshot);
            if reset {
                *snapshot = Snapshot::default();
            }
            snapshot.merge_list(list, new_index, asked_at)
        };
        let recovered = write(&watch.unavailable).take().is_some() || reset;
        self.publish_metrics();
        if recovered {
            tracing::info!(partition, "Consul peerings readable again");
            let _ = self.changes.send(PeeringChange::Partition {
                partition: partition.to_owned(),
            });
        }
        for name in changed {
            if self.is_being_created(partition, &name) {
                continue;
            }
            let _ = self.changes.send(PeeringChange::Peer {
                partition: partition.to_owned(),
                name,
            });
        }
    }

    /// Counts a failed list and, from the second in a row, marks the partition unavailable.
    fn list_failed(
        &self,
        watch: &PartitionWatch,
        partition: &str,
        reason: &'static str,
        message: String,
        failures: u32,
    ) {
        self.metrics.watch_restarted("consul_peerings");
        // One failed request can be a blip (a leader election in Consul); report from the second.
        if failures < 2 {
            return;
        }
        let was_available = write(&watch.unavailable)
            .replace((reason, message))
            .is_none();
        if was_available {
            let _ = self.changes.send(PeeringChange::Partition {
                partition: partition.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_lists_follow_at_once_and_large_ones_are_spaced_by_their_size() {
        let asked_at = Instant::now();
        assert_eq!(next_list_at(asked_at, 0), None);
        assert_eq!(next_list_at(asked_at, 39), None);
        assert_eq!(
            next_list_at(asked_at, 10_000),
            Some(asked_at + Duration::from_millis(250))
        );
    }
}
