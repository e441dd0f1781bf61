//! One emulated datacenter: its state, ACLs, faults and counters, and the peering service
//! operations (Consul's `agent/rpc/peering/service.go`) behind the HTTP endpoints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::acl::{Access, Acl};
use crate::config::{Config, Flavor};
use crate::counters::Counters;
use crate::counters::IssuedToken;
use crate::errors::ApiError;
use crate::faults::Faults;
use crate::model::{Peering, PeeringState};
use crate::peerstream::{self, Control, Links};
use crate::store::{Record, SecretsWrite, Store, StreamTrack, partition_key};
use crate::token::{PeeringToken, TokenRemote};
use crate::validate;

/// Shared state of one emulated datacenter.
pub struct Datacenter {
    pub cfg: Config,
    store: Mutex<Store>,
    /// Bumped on every state change; blocking queries wait on it.
    pub changes: watch::Sender<u64>,
    pub acl: Acl,
    pub faults: Faults,
    pub counters: Counters,
    /// PEM of the datacenter's Connect CA (put into tokens).
    pub connect_ca_pem: String,
    pub trust_domain: String,
    /// `server.<dc>.peering.<trust domain>`.
    pub server_name: String,
    pub peering_addr: SocketAddr,
    pub links: Links,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// Arguments of `POST /v1/peering/token` after decoding.
pub struct GenerateArgs {
    pub peer_name: String,
    pub partition: String,
    pub meta: BTreeMap<String, String>,
    pub server_external_addresses: Vec<String>,
}

/// Arguments of `POST /v1/peering/establish` after decoding.
pub struct EstablishArgs {
    pub peer_name: String,
    pub partition: String,
    pub peering_token: String,
    pub meta: BTreeMap<String, String>,
}

impl Datacenter {
    pub fn new(
        cfg: Config,
        connect_ca_pem: String,
        trust_domain: String,
        peering_addr: SocketAddr,
    ) -> Datacenter {
        let server_name = format!("server.{}.peering.{}", cfg.datacenter, trust_domain);
        Datacenter {
            store: Mutex::new(Store::new(cfg.first_index)),
            changes: watch::channel(0).0,
            acl: Acl::new(cfg.acl_enabled),
            faults: Faults::default(),
            counters: Counters::default(),
            connect_ca_pem,
            trust_domain,
            server_name,
            peering_addr,
            links: Links::default(),
            tasks: Mutex::new(Vec::new()),
            cfg,
        }
    }

    /// Read access to the store.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("store lock")
    }

    /// Changes the store and wakes blocking queries.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let out = f(&mut self.store());
        self.changes.send_modify(|v| *v += 1);
        out
    }

    /// Updates a stream's tracker; wakes blocking queries only when the index moved (see
    /// `Config::stream_changes_move_index`).
    pub fn track(&self, id: &str, update: impl FnOnce(&mut StreamTrack)) {
        let move_index = self.cfg.stream_changes_move_index;
        if self.store().track_stream(id, update, move_index) {
            self.changes.send_modify(|v| *v += 1);
        }
    }

    /// Keeps a long-running task so that stopping the datacenter can end it.
    pub fn keep_task(&self, task: AbortHandle) {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Ends every task of the datacenter (listeners, streams, timers).
    pub fn abort_tasks(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
    }

    pub fn enterprise(&self) -> bool {
        self.cfg.flavor == Flavor::Enterprise
    }

    /// The partition as records store it: `""` in Community Edition.
    pub fn record_partition(&self, partition: &str) -> String {
        match self.cfg.flavor {
            Flavor::Community => String::new(),
            Flavor::Enterprise => partition_key(partition),
        }
    }

    fn check_enabled(&self) -> Result<(), ApiError> {
        if self.cfg.peering_enabled {
            Ok(())
        } else {
            Err(ApiError::rpc(
                "FailedPrecondition",
                "peering must be enabled to use this endpoint",
            ))
        }
    }

    /// `EnterpriseCheckPartitions`: Community Edition accepts only `""` and `default`.
    fn check_partition(&self, partition: &str) -> Result<(), ApiError> {
        if self.enterprise() || partition.is_empty() || partition.eq_ignore_ascii_case("default") {
            Ok(())
        } else {
            Err(ApiError::rpc(
                "InvalidArgument",
                "Partitions are a Consul Enterprise feature",
            ))
        }
    }

    fn authorize(&self, token: &str, need: Access) -> Result<(), ApiError> {
        let auth = self.acl.resolve(token).map_err(ApiError::unknown)?;
        auth.check_peering(need).map_err(ApiError::unknown)
    }

    fn new_peering_id(&self) -> String {
        loop {
            let id = uuid::Uuid::new_v4().to_string();
            if !self.store().id_in_use(&id) {
                return id;
            }
        }
    }

    /// The peering service's `GenerateToken`.
    pub fn generate_token(&self, args: GenerateArgs, token: &str) -> Result<String, ApiError> {
        self.check_enabled()?;
        self.check_partition(&args.partition)?;
        validate::peer_name(&args.peer_name).map_err(ApiError::unknown)?;
        validate::meta(&args.meta).map_err(ApiError::unknown)?;
        self.authorize(token, Access::Write)?;
        if !self.cfg.connect_enabled {
            return Err(ApiError::unknown(
                "connect.enabled must be set to true in the server's configuration when generating peering tokens",
            ));
        }
        if !self.cfg.grpc_tls_enabled {
            return Err(ApiError::unknown(
                "TLS for gRPC must be enabled when generating peering tokens",
            ));
        }
        let partition = self.record_partition(&args.partition);
        let secret = uuid::Uuid::new_v4().to_string();
        // Two requests creating the same name race; the loser retries once with the winner's
        // record, as Consul does.
        let mut attempts = 0;
        let id = loop {
            attempts += 1;
            let existing = self.store().get(&partition, &args.peer_name).cloned();
            let record = match existing {
                Some(existing) => {
                    if existing.should_dial() {
                        return Err(ApiError::unknown(format!(
                            "cannot create peering with name: {:?}; there is already an established peering",
                            existing.name
                        )));
                    }
                    if existing.state == PeeringState::Deleting {
                        return Err(ApiError::unknown(
                            "failed to write peering: cannot write to peering that is marked for deletion",
                        ));
                    }
                    // The existing record is rewritten as it is (its Meta is kept).
                    existing
                }
                None => {
                    let mut rec = Record::new(&self.new_peering_id(), &args.peer_name, &partition);
                    rec.meta = args.meta.clone();
                    rec
                }
            };
            let id = record.id.clone();
            let written = self.mutate(|s| {
                s.write(
                    record,
                    Some(SecretsWrite::GenerateToken {
                        establishment: secret.clone(),
                    }),
                )
            });
            match written {
                Ok(()) => break id,
                Err(e) if attempts < 2 && e.contains("A peering already exists with the name") => {
                    continue;
                }
                Err(e) => return Err(ApiError::unknown(format!("failed to write peering: {e}"))),
            }
        };
        let manual =
            (!args.server_external_addresses.is_empty()).then_some(args.server_external_addresses);
        let token = PeeringToken {
            ca: Some(vec![self.connect_ca_pem.clone()]),
            manual_server_addresses: manual,
            server_addresses: Some(vec![self.peering_addr.to_string()]),
            server_name: self.server_name.clone(),
            peer_id: id,
            establishment_secret: secret,
            remote: TokenRemote {
                partition: partition_key(&args.partition),
                datacenter: self.cfg.datacenter.clone(),
                locality: None,
            },
        };
        tracing::debug!(dc = %self.cfg.datacenter, peer = %args.peer_name, "generated a peering token");
        let token = token.encode();
        self.counters.record_token(IssuedToken {
            partition: args.partition,
            peer_name: args.peer_name,
            token: token.clone(),
        });
        Ok(token)
    }

    /// The peering service's `Establish`: write the dialer record, exchange the establishment
    /// secret with the acceptor, then start the stream.
    pub async fn establish(
        self: &Arc<Self>,
        args: EstablishArgs,
        token: &str,
    ) -> Result<(), ApiError> {
        self.check_enabled()?;
        validate::peer_name(&args.peer_name).map_err(ApiError::unknown)?;
        let tok = PeeringToken::decode(&args.peering_token).map_err(ApiError::unknown)?;
        validate::token(&tok).map_err(ApiError::unknown)?;
        validate::meta(&args.meta).map_err(ApiError::unknown)?;
        self.authorize(token, Access::Write)?;
        let partition = self.record_partition(&args.partition);
        let existing = self.store().get(&partition, &args.peer_name).cloned();
        if tok.server_name == self.server_name {
            return Err(ApiError::unknown(format!(
                "cannot create a peering within the same cluster {:?}. Refer to the `exported-services` documentation if you want to export between partitions without peering",
                self.server_name
            )));
        }
        let mut server_addresses = tok.server_addresses.clone().unwrap_or_default();
        let id = match &existing {
            None => self.new_peering_id(),
            Some(existing) => {
                // A connected stream keeps the addresses it learnt.
                if self
                    .store()
                    .stream(&existing.id)
                    .is_some_and(|t| t.connected)
                {
                    server_addresses = existing.peer_server_addresses.clone();
                }
                existing.id.clone()
            }
        };
        if let Some(existing) = &existing
            && !existing.should_dial()
        {
            return Err(ApiError::unknown(format!(
                "cannot create peering with name: {:?}; there is an existing peering expecting to be dialed",
                existing.name
            )));
        }
        let mut record = Record::new(&id, &args.peer_name, &partition);
        record.peer_ca_pems = tok.ca.clone().unwrap_or_default();
        record.manual_server_addresses = tok.manual_server_addresses.clone().unwrap_or_default();
        record.peer_server_addresses = server_addresses;
        record.peer_server_name = tok.server_name.clone();
        record.peer_id = tok.peer_id.clone();
        record.meta = args.meta;
        record.remote.partition = tok.remote.partition.clone();
        record.remote.datacenter = tok.remote.datacenter.clone();
        self.mutate(|s| s.write(record.clone(), None))
            .map_err(|e| ApiError::unknown(format!("failed to write peering: {e}")))?;

        let stream_secret = peerstream::exchange_secret(&record, &tok.establishment_secret).await?;
        if self.faults.take_establish_cut() {
            // The exchange spent the token; the record stays as the first write left it.
            return Err(ApiError::unknown(
                "failed to write peering: leadership lost while committing log",
            ));
        }

        record.state = PeeringState::Establishing;
        self.mutate(|s| {
            s.write(
                record,
                Some(SecretsWrite::Establish {
                    active_stream: stream_secret,
                }),
            )
        })
        .map_err(|e| ApiError::unknown(format!("failed to write peering: {e}")))?;
        peerstream::ensure_dialer(self, &id);
        tracing::debug!(dc = %self.cfg.datacenter, peer = %args.peer_name, "established a peering");
        Ok(())
    }

    /// The checks `PeeringRead` and `PeeringList` make before reading.
    pub fn authorize_read(&self, partition: &str, token: &str) -> Result<(), ApiError> {
        self.check_enabled()?;
        self.check_partition(partition)?;
        self.authorize(token, Access::Read)
    }

    /// The peering service's `PeeringDelete`: mark for deletion, tell the peer, remove later.
    pub fn delete(
        self: &Arc<Self>,
        name: &str,
        partition: &str,
        token: &str,
    ) -> Result<(), ApiError> {
        self.check_enabled()?;
        self.check_partition(partition)?;
        self.authorize(token, Access::Write)?;
        self.mark_for_deletion(name, partition)
            .map_err(ApiError::unknown)?;
        Ok(())
    }

    /// Marks a peering for deletion; `Ok(false)` when there was nothing to delete.
    pub fn mark_for_deletion(
        self: &Arc<Self>,
        name: &str,
        partition: &str,
    ) -> Result<bool, String> {
        let partition = self.record_partition(partition);
        let Some(existing) = self.store().get(&partition, name).cloned() else {
            return Ok(false);
        };
        if existing.state == PeeringState::Deleting {
            return Ok(false);
        }
        // Only identity, addresses and the deletion time survive (Consul writes nothing else).
        let mut record = Record::new(&existing.id, name, &partition);
        record.state = PeeringState::Deleting;
        record.deleted_at = Some(SystemTime::now());
        record.peer_server_addresses = existing.peer_server_addresses.clone();
        record.manual_server_addresses = existing.manual_server_addresses.clone();
        self.mutate(|s| s.write(record, None))?;
        // The peer learns of it over the stream; reads here show DELETING.
        self.links.send(&existing.id, Control::Terminate);
        self.mutate(|s| s.forget_stream(&existing.id));
        let dc = Arc::clone(self);
        let id = existing.id.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(dc.cfg.deletion_delay).await;
            dc.mutate(|s| s.remove_deleted(&id));
        });
        self.keep_task(task.abort_handle());
        Ok(true)
    }

    /// Cuts a peering's stream as a network failure would. With `reconnect_after`, the stream
    /// stays down at least that long; `None` keeps it down until faults are cleared.
    pub fn drop_stream(
        &self,
        name: &str,
        partition: &str,
        reconnect_after: Option<std::time::Duration>,
    ) -> bool {
        let partition = self.record_partition(partition);
        let Some(id) = self.store().get(&partition, name).map(|r| r.id.clone()) else {
            return false;
        };
        let until = match reconnect_after {
            Some(d) => Instant::now() + d,
            None => Instant::now() + std::time::Duration::from_secs(100 * 365 * 24 * 3600),
        };
        self.faults.hold_stream(&id, until);
        self.links.send(&id, Control::Drop);
        true
    }

    /// API views of one partition's peerings.
    pub fn views(&self, partition: &str) -> Vec<Peering> {
        let s = self.store();
        let partition = self.record_partition(partition);
        s.list(&partition).into_iter().map(|r| s.view(r)).collect()
    }
}
