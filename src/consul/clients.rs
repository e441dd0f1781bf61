//! The Consul clients of the operator: one per partition in use, built on first use from one
//! configuration and sharing one request observer (the metrics).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Client, ConsulConfig, ConsulError, RequestObserver};
use crate::telemetry::Metrics;

/// One Consul client per partition in use, all from the same configuration (the partition
/// goes into `?partition=` of every request).
pub struct ConsulClients {
    config: ConsulConfig,
    observer: Option<RequestObserver>,
    clients: Mutex<HashMap<String, Client>>,
}

impl ConsulClients {
    /// Checks the configuration by building the default partition's client.
    pub fn new(config: ConsulConfig) -> Result<Self, ConsulError> {
        let default = Client::new(&config)?;
        Ok(ConsulClients {
            config,
            observer: None,
            clients: Mutex::new(HashMap::from([(String::new(), default)])),
        })
    }

    /// Every client reports its requests to `metrics`.
    pub fn observed_by(self, metrics: Arc<Metrics>) -> Self {
        let observer = RequestObserver::new(move |endpoint, status, took| {
            metrics.consul_request(endpoint, status, took)
        });
        let clients = self
            .clients
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|(partition, client)| (partition, client.with_observer(observer.clone())))
            .collect();
        ConsulClients {
            config: self.config,
            observer: Some(observer),
            clients: Mutex::new(clients),
        }
    }

    /// The client for `partition` (`""`: the configured default).
    pub fn get(&self, partition: &str) -> Result<Client, ConsulError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(partition) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.partition = Some(partition.to_owned());
        let mut client = Client::new(&config)?;
        if let Some(observer) = &self.observer {
            client = client.with_observer(observer.clone());
        }
        clients.insert(partition.to_owned(), client.clone());
        Ok(client)
    }
}
