//! The peerings of one partition as the operator knows them: merged from Consul's lists and
//! from the operator's own reads, so that an older answer never overwrites a newer one.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::KnownPeering;

/// The peerings of one partition.
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::consul::PeeringState;

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
}
