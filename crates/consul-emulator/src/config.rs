//! How an emulated datacenter is set up.

use std::time::Duration;

/// Community Edition or Enterprise (admin partitions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Community,
    Enterprise,
}

/// The HTTP API listener's transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiTransport {
    Http,
    /// HTTPS with the emulator's own CA; with `verify_client`, clients must present a
    /// certificate from that CA (the handle hands one out).
    Https {
        verify_client: bool,
    },
}

/// Configuration of one emulated datacenter.
#[derive(Clone, Debug)]
pub struct Config {
    /// The datacenter name (`dc1`).
    pub datacenter: String,
    pub flavor: Flavor,
    /// ACLs with default policy deny and a management token.
    pub acl_enabled: bool,
    pub transport: ApiTransport,
    /// Port of the HTTP API (0: any free port).
    pub http_port: u16,
    /// Port of the peering ("gRPC TLS") listener that tokens point at (0: any free port).
    pub peering_port: u16,
    /// How long a deleted peering stays in `DELETING` before it disappears.
    pub deletion_delay: Duration,
    /// How often stream peers send heartbeats (Consul: 15 s). A stream with nothing received
    /// for eight intervals is dropped as failed.
    pub heartbeat_interval: Duration,
    /// First wait before a dialer reconnects a failed stream; doubles up to 8x.
    pub reconnect_backoff: Duration,
    /// `peering.enabled` of the servers.
    pub peering_enabled: bool,
    /// `connect.enabled` of the servers (required to generate tokens).
    pub connect_enabled: bool,
    /// Whether gRPC TLS is configured (required to generate tokens).
    pub grpc_tls_enabled: bool,
    /// Index of the first raft write (real servers have written a few entries by the time the
    /// first peering is created).
    pub first_index: u64,
    /// Off (as in Consul): a stream connecting or failing changes the state reads show but not
    /// the blocking-query index, so a long-poll learns of ACTIVE/FAILING only when its wait
    /// runs out. On: such changes move the peering's `ModifyIndex` and wake watchers at once.
    pub stream_changes_move_index: bool,
}

impl Config {
    /// A Community Edition datacenter over plain HTTP without ACLs, on free ports.
    pub fn new(datacenter: &str) -> Config {
        Config {
            datacenter: datacenter.to_string(),
            flavor: Flavor::Community,
            acl_enabled: false,
            transport: ApiTransport::Http,
            http_port: 0,
            peering_port: 0,
            deletion_delay: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(15),
            reconnect_backoff: Duration::from_millis(200),
            peering_enabled: true,
            connect_enabled: true,
            grpc_tls_enabled: true,
            first_index: 15,
            stream_changes_move_index: false,
        }
    }

    pub fn enterprise(mut self) -> Config {
        self.flavor = Flavor::Enterprise;
        self
    }

    pub fn with_acls(mut self) -> Config {
        self.acl_enabled = true;
        self
    }

    pub fn https(mut self, verify_client: bool) -> Config {
        self.transport = ApiTransport::Https { verify_client };
        self
    }

    pub fn deletion_delay(mut self, delay: Duration) -> Config {
        self.deletion_delay = delay;
        self
    }

    pub fn heartbeat_interval(mut self, interval: Duration) -> Config {
        self.heartbeat_interval = interval;
        self
    }

    pub fn ports(mut self, http: u16, peering: u16) -> Config {
        self.http_port = http;
        self.peering_port = peering;
        self
    }
}
