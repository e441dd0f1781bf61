//! The datacenter's state: stored peering records (Consul's `peering` table with its write
//! rules), their secrets, and the stream tracker whose state is overlaid on reads.
//!
//! Indexes follow Consul: one raft index per datacenter, bumped by every write; each record
//! keeps `CreateIndex`/`ModifyIndex`; each partition keeps the index of the last write to its
//! peerings (the `X-Consul-Index` of a list). Deviation (documented in the README): when the
//! state a read shows changes because a stream connects or fails, the record's `ModifyIndex` and
//! its partition's index move too, so that a blocking query wakes up.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::gotime;
use crate::model::{Peering, PeeringState, Remote, StreamStatus};

/// The partition key of Community Edition (and of Enterprise's default partition).
pub const DEFAULT_PARTITION: &str = "default";

/// A stored peering (`pbpeering.Peering`).
#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    /// The name as it was last written (Consul stores the request's spelling).
    pub name: String,
    /// `""` in Community Edition, the partition name in Enterprise.
    pub partition: String,
    pub meta: BTreeMap<String, String>,
    pub state: PeeringState,
    pub deleted_at: Option<SystemTime>,
    pub peer_id: String,
    pub peer_ca_pems: Vec<String>,
    pub peer_server_name: String,
    pub peer_server_addresses: Vec<String>,
    pub manual_server_addresses: Vec<String>,
    pub remote: Remote,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Record {
    /// A record to write: everything empty except identity, state `UNDEFINED` ("keep").
    pub fn new(id: &str, name: &str, partition: &str) -> Record {
        Record {
            id: id.to_string(),
            name: name.to_string(),
            partition: partition.to_string(),
            meta: BTreeMap::new(),
            state: PeeringState::Undefined,
            deleted_at: None,
            peer_id: String::new(),
            peer_ca_pems: Vec::new(),
            peer_server_name: String::new(),
            peer_server_addresses: Vec::new(),
            manual_server_addresses: Vec::new(),
            remote: Remote::default(),
            create_index: 0,
            modify_index: 0,
        }
    }

    /// Consul's `ShouldDial`: a peering with server addresses is the dialing side.
    pub fn should_dial(&self) -> bool {
        !self.peer_server_addresses.is_empty() || !self.manual_server_addresses.is_empty()
    }

    /// Consul's `IsActive`: not marked for deletion and not terminated.
    pub fn is_active(&self) -> bool {
        self.deleted_at.is_none()
            && !matches!(
                self.state,
                PeeringState::Deleting | PeeringState::Terminated
            )
    }

    /// The addresses a dialer cycles through: the manual ones when the token had any.
    pub fn addresses_to_dial(&self) -> Vec<String> {
        if self.manual_server_addresses.is_empty() {
            self.peer_server_addresses.clone()
        } else {
            self.manual_server_addresses.clone()
        }
    }

    fn partition_key(&self) -> String {
        partition_key(&self.partition)
    }
}

/// The table key of a partition (`""` means the default partition).
pub fn partition_key(partition: &str) -> String {
    if partition.is_empty() {
        DEFAULT_PARTITION.to_string()
    } else {
        partition.to_ascii_lowercase()
    }
}

/// Secrets kept per peering ID (`pbpeering.PeeringSecrets`).
#[derive(Clone, Default)]
pub struct Secrets {
    /// Acceptor: the secret of the newest unused token.
    pub establishment: Option<String>,
    /// Acceptor: issued by an exchange, promoted to active when a stream opens with it.
    pub pending_stream: Option<String>,
    /// Both sides: the secret the current stream authenticates with.
    pub active_stream: Option<String>,
}

/// A secrets change written together with a peering.
pub enum SecretsWrite {
    GenerateToken { establishment: String },
    Establish { active_stream: String },
}

/// What the stream tracker knows about one peering's stream.
#[derive(Clone, Debug, Default)]
pub struct StreamTrack {
    pub connected: bool,
    pub disconnect_error: Option<String>,
    pub last_heartbeat: Option<SystemTime>,
    pub last_receive: Option<SystemTime>,
    pub last_send: Option<SystemTime>,
}

/// The state store of one emulated datacenter.
pub struct Store {
    raft_index: u64,
    partition_index: BTreeMap<String, u64>,
    /// (partition key, lower-cased name) → record.
    peerings: BTreeMap<(String, String), Record>,
    secrets: HashMap<String, Secrets>,
    streams: HashMap<String, StreamTrack>,
}

impl Store {
    /// A store whose first write gets index `first_index`.
    pub fn new(first_index: u64) -> Store {
        Store {
            raft_index: first_index.saturating_sub(1),
            partition_index: BTreeMap::new(),
            peerings: BTreeMap::new(),
            secrets: HashMap::new(),
            streams: HashMap::new(),
        }
    }

    fn next_index(&mut self) -> u64 {
        self.raft_index += 1;
        self.raft_index
    }

    /// Advances the raft index for a write outside the peering table (ACL tokens).
    pub fn bump_raft_index(&mut self) {
        self.next_index();
    }

    /// The index of the last write to a partition's peerings (never below 1 when read).
    pub fn partition_index(&self, partition: &str) -> u64 {
        self.partition_index
            .get(&partition_key(partition))
            .copied()
            .unwrap_or(0)
    }

    pub fn get(&self, partition: &str, name: &str) -> Option<&Record> {
        self.peerings
            .get(&(partition_key(partition), name.to_lowercase()))
    }

    pub fn by_id(&self, id: &str) -> Option<&Record> {
        self.peerings.values().find(|r| r.id == id)
    }

    pub fn id_in_use(&self, id: &str) -> bool {
        self.by_id(id).is_some()
    }

    /// Records of one partition, ordered by name as Consul's index orders them.
    pub fn list(&self, partition: &str) -> Vec<&Record> {
        let key = partition_key(partition);
        self.peerings
            .iter()
            .filter(|((p, _), _)| *p == key)
            .map(|(_, r)| r)
            .collect()
    }

    pub fn secrets(&self, id: &str) -> Secrets {
        self.secrets.get(id).cloned().unwrap_or_default()
    }

    /// Consul's `PeeringWrite` state-store transaction.
    pub fn write(&mut self, mut rec: Record, secrets: Option<SecretsWrite>) -> Result<(), String> {
        if rec.id.is_empty() {
            return Err("Missing Peering ID".into());
        }
        if rec.name.is_empty() {
            return Err("Missing Peering Name".into());
        }
        let key = (rec.partition_key(), rec.name.to_lowercase());
        match self.peerings.get(&key) {
            Some(existing) => {
                if rec.should_dial() != existing.should_dial() {
                    return Err(format!(
                        "Cannot switch peering dialing mode from {} to {}",
                        existing.should_dial(),
                        rec.should_dial()
                    ));
                }
                if rec.id != existing.id {
                    return Err(format!(
                        "A peering already exists with the name {:?} and a different ID {:?}",
                        rec.name, existing.id
                    ));
                }
                use PeeringState::{Deleting, Terminated};
                match (existing.state, rec.state) {
                    (Deleting, Terminated) | (Deleting, Deleting) | (Terminated, Terminated) => {
                        return Ok(());
                    }
                    (Deleting, _) => {
                        return Err("cannot write to peering that is marked for deletion".into());
                    }
                    _ => {}
                }
                if rec.state == PeeringState::Undefined {
                    rec.state = existing.state;
                }
                if rec.remote.partition.is_empty()
                    && rec.remote.datacenter.is_empty()
                    && !(existing.remote.partition.is_empty()
                        && existing.remote.datacenter.is_empty())
                {
                    rec.remote = existing.remote.clone();
                }
                rec.create_index = existing.create_index;
                rec.modify_index = self.next_index();
            }
            None => {
                if self.id_in_use(&rec.id) {
                    return Err(format!(
                        "A peering already exists with the ID {:?} and a different name",
                        rec.id
                    ));
                }
                if !rec.is_active() {
                    return Err("cannot create a new peering marked for deletion".into());
                }
                if rec.state == PeeringState::Undefined {
                    rec.state = PeeringState::Pending;
                }
                rec.create_index = self.next_index();
                rec.modify_index = rec.create_index;
            }
        }
        let active = rec.is_active();
        if !active {
            // Secrets go when a peering is marked for deletion or terminated.
            self.secrets.remove(&rec.id);
        }
        if active && let Some(write) = secrets {
            let entry = self.secrets.entry(rec.id.clone()).or_default();
            match write {
                SecretsWrite::GenerateToken { establishment } => {
                    entry.establishment = Some(establishment)
                }
                SecretsWrite::Establish { active_stream } => {
                    entry.active_stream = Some(active_stream)
                }
            }
        }
        let index = rec.modify_index;
        self.partition_index.insert(key.0.clone(), index);
        self.peerings.insert(key, rec);
        Ok(())
    }

    /// Consul's `PeeringTerminateByID`: the peer ended the peering.
    pub fn terminate_by_id(&mut self, id: &str) -> bool {
        let Some(key) = self.key_of(id) else {
            return false;
        };
        let index = self.next_index();
        let rec = self.peerings.get_mut(&key).expect("key just found");
        if rec.state == PeeringState::Deleting {
            return false;
        }
        rec.state = PeeringState::Terminated;
        rec.modify_index = index;
        self.partition_index.insert(key.0, index);
        self.secrets.remove(id);
        if let Some(track) = self.streams.get_mut(id) {
            track.connected = false;
            track.disconnect_error = None;
        }
        true
    }

    /// Removes a record marked for deletion (the leader's deferred deletion).
    pub fn remove_deleted(&mut self, id: &str) -> bool {
        let Some(key) = self.key_of(id) else {
            return false;
        };
        if self.peerings[&key].is_active() {
            return false;
        }
        let index = self.next_index();
        self.peerings.remove(&key);
        self.partition_index.insert(key.0, index);
        self.secrets.remove(id);
        self.streams.remove(id);
        true
    }

    fn key_of(&self, id: &str) -> Option<(String, String)> {
        self.peerings
            .iter()
            .find(|(_, r)| r.id == id)
            .map(|(k, _)| k.clone())
    }

    /// Acceptor side of the secret exchange: consumes the establishment secret and issues a
    /// pending stream secret. `None` when the secret is not the current one.
    pub fn exchange_secret(
        &mut self,
        peer_id: &str,
        establishment: &str,
        stream_secret: String,
    ) -> bool {
        let active = self.by_id(peer_id).is_some_and(|r| r.is_active());
        let Some(secrets) = self.secrets.get_mut(peer_id) else {
            return false;
        };
        if !active || secrets.establishment.as_deref() != Some(establishment) {
            return false;
        }
        secrets.establishment = None;
        secrets.pending_stream = Some(stream_secret);
        true
    }

    /// Acceptor side of a stream open: the secret must be the active or the pending one; a
    /// pending secret becomes the active one.
    pub fn accept_stream_secret(&mut self, peer_id: &str, secret: &str) -> bool {
        let Some(secrets) = self.secrets.get_mut(peer_id) else {
            return false;
        };
        if secrets.active_stream.as_deref() == Some(secret) {
            return true;
        }
        if secrets.pending_stream.as_deref() == Some(secret) {
            secrets.active_stream = secrets.pending_stream.take();
            return true;
        }
        false
    }

    /// Updates the stream tracker of a peering. When the state a read shows changes and
    /// `move_index` is set (the optional deviation from Consul), the record's `ModifyIndex`
    /// moves and `true` is returned: watchers must be woken.
    pub fn track_stream(
        &mut self,
        id: &str,
        update: impl FnOnce(&mut StreamTrack),
        move_index: bool,
    ) -> bool {
        let before = self.by_id(id).map(|r| self.visible_state(r));
        update(self.streams.entry(id.to_string()).or_default());
        let Some(key) = self.key_of(id) else {
            return false;
        };
        let after = self.visible_state(&self.peerings[&key]);
        if before == Some(after) || !move_index {
            return false;
        }
        let index = self.next_index();
        let rec = self.peerings.get_mut(&key).expect("key just found");
        rec.modify_index = index;
        self.partition_index.insert(key.0, index);
        true
    }

    /// Forgets a peering's stream (it was marked for deletion): reads show the stored state.
    pub fn forget_stream(&mut self, id: &str) {
        self.streams.remove(id);
    }

    pub fn stream(&self, id: &str) -> Option<&StreamTrack> {
        self.streams.get(id)
    }

    /// The state a read shows: stream overlay on the stored state.
    pub fn visible_state(&self, rec: &Record) -> PeeringState {
        match self.streams.get(&rec.id) {
            Some(t) if t.connected => PeeringState::Active,
            Some(t) if t.disconnect_error.is_some() => PeeringState::Failing,
            _ => rec.state,
        }
    }

    /// The API view of a record (Consul's `reconcilePeering` + `ToAPI`).
    pub fn view(&self, rec: &Record) -> Peering {
        let stream_status = match self.streams.get(&rec.id) {
            None => StreamStatus::default(),
            Some(t) => {
                let latest = |times: &[Option<SystemTime>]| {
                    // Consul reports the zero time when nothing was received or sent yet.
                    Some(
                        times
                            .iter()
                            .flatten()
                            .max()
                            .map(|t| gotime::rfc3339_nano(*t))
                            .unwrap_or_else(|| gotime::ZERO.to_string()),
                    )
                };
                StreamStatus {
                    imported_services: None,
                    exported_services: None,
                    last_heartbeat: t.last_heartbeat.map(gotime::rfc3339_nano),
                    last_receive: latest(&[t.last_heartbeat, t.last_receive]),
                    last_send: latest(&[t.last_send]),
                }
            }
        };
        Peering {
            id: rec.id.clone(),
            name: rec.name.clone(),
            partition: rec.partition.clone(),
            deleted_at: rec.deleted_at.map(gotime::rfc3339_nano),
            meta: rec.meta.clone(),
            state: self.visible_state(rec),
            peer_id: rec.peer_id.clone(),
            peer_ca_pems: rec.peer_ca_pems.clone(),
            peer_server_name: rec.peer_server_name.clone(),
            peer_server_addresses: rec.peer_server_addresses.clone(),
            stream_status,
            create_index: rec.create_index,
            modify_index: rec.modify_index,
            remote: rec.remote.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptor(id: &str, name: &str) -> Record {
        Record::new(id, name, "")
    }

    #[test]
    fn writes_keep_create_index_and_move_modify_index() {
        let mut s = Store::new(10);
        s.write(acceptor("a", "peer"), None).unwrap();
        let first = s.get("", "peer").unwrap().clone();
        assert_eq!(
            (first.create_index, first.modify_index, first.state),
            (10, 10, PeeringState::Pending)
        );
        s.write(acceptor("a", "peer"), None).unwrap();
        let second = s.get("", "PEER").unwrap();
        assert_eq!((second.create_index, second.modify_index), (10, 11));
        assert_eq!(s.partition_index(""), 11);
    }

    #[test]
    fn roles_cannot_switch_and_deleting_records_refuse_writes() {
        let mut s = Store::new(1);
        s.write(acceptor("a", "peer"), None).unwrap();
        let mut dialer = acceptor("a", "peer");
        dialer.peer_server_addresses = vec!["127.0.0.1:1".into()];
        assert_eq!(
            s.write(dialer, None).unwrap_err(),
            "Cannot switch peering dialing mode from false to true"
        );
        let mut deleting = acceptor("a", "peer");
        deleting.state = PeeringState::Deleting;
        deleting.deleted_at = Some(SystemTime::now());
        s.write(deleting, None).unwrap();
        assert_eq!(
            s.write(acceptor("a", "peer"), None).unwrap_err(),
            "cannot write to peering that is marked for deletion"
        );
        assert!(s.remove_deleted("a"));
        assert!(s.get("", "peer").is_none());
    }

    #[test]
    fn establishment_secret_is_single_use_and_superseded_by_a_newer_one() {
        let mut s = Store::new(1);
        let write = |s: &mut Store, secret: &str| {
            s.write(
                acceptor("a", "peer"),
                Some(SecretsWrite::GenerateToken {
                    establishment: secret.into(),
                }),
            )
            .unwrap()
        };
        write(&mut s, "one");
        write(&mut s, "two");
        assert!(!s.exchange_secret("a", "one", "stream-1".into()));
        assert!(s.exchange_secret("a", "two", "stream-2".into()));
        assert!(!s.exchange_secret("a", "two", "stream-3".into()));
        assert!(s.accept_stream_secret("a", "stream-2"));
        assert!(s.accept_stream_secret("a", "stream-2"));
        assert!(!s.accept_stream_secret("a", "stream-1"));
    }

    #[test]
    fn stream_overlay_changes_the_visible_state_but_not_the_index_as_in_consul() {
        let mut s = Store::new(1);
        s.write(acceptor("a", "peer"), None).unwrap();
        let before = s.get("", "peer").unwrap().modify_index;
        assert!(!s.track_stream("a", |t| t.connected = true, false));
        let rec = s.get("", "peer").unwrap();
        assert_eq!(s.visible_state(rec), PeeringState::Active);
        assert_eq!(rec.modify_index, before);
    }

    #[test]
    fn stream_overlay_moves_the_index_when_asked() {
        let mut s = Store::new(1);
        s.write(acceptor("a", "peer"), None).unwrap();
        assert!(s.track_stream("a", |t| t.connected = true, true));
        let rec = s.get("", "peer").unwrap();
        assert_eq!(s.visible_state(rec), PeeringState::Active);
        assert_eq!(rec.modify_index, 2);
        assert!(!s.track_stream("a", |t| t.last_heartbeat = Some(SystemTime::now()), true));
        assert!(s.track_stream(
            "a",
            |t| {
                t.connected = false;
                t.disconnect_error = Some("boom".into());
            },
            true
        ));
        assert_eq!(
            s.visible_state(s.get("", "peer").unwrap()),
            PeeringState::Failing
        );
    }
}
