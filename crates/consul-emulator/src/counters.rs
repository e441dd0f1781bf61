//! Request counters by method, endpoint and status code.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// How many requests one (method, endpoint, status) got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    pub method: String,
    /// The endpoint pattern: `/v1/peering/token`, `/v1/peering/establish`,
    /// `/v1/peering/:name`, `/v1/peerings`, or the raw path of anything else.
    pub endpoint: String,
    pub status: u16,
    pub count: u64,
}

/// One token `POST /v1/peering/token` issued, in the order issued (for tests to check that
/// a token was generated only for a cause, and which one is the newest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// `""` for the default partition.
    pub partition: String,
    pub peer_name: String,
    pub token: String,
}

#[derive(Default)]
pub struct Counters {
    counts: Mutex<BTreeMap<(String, String, u16), u64>>,
    issued: Mutex<Vec<IssuedToken>>,
}

impl Counters {
    pub fn record(&self, method: &str, endpoint: &str, status: u16) {
        *self
            .counts
            .lock()
            .expect("counters lock")
            .entry((method.to_string(), endpoint.to_string(), status))
            .or_default() += 1;
    }

    pub fn record_token(&self, issued: IssuedToken) {
        self.issued.lock().expect("counters lock").push(issued);
    }

    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.issued.lock().expect("counters lock").clone()
    }

    pub fn snapshot(&self) -> Vec<RequestCount> {
        self.counts
            .lock()
            .expect("counters lock")
            .iter()
            .map(|((method, endpoint, status), count)| RequestCount {
                method: method.clone(),
                endpoint: endpoint.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }

    pub fn reset(&self) {
        self.counts.lock().expect("counters lock").clear();
    }
}

/// The endpoint pattern of a request path, for counting.
pub fn endpoint_of(path: &str) -> String {
    match path {
        "/v1/peering/token" | "/v1/peering/establish" | "/v1/peerings" => path.to_string(),
        p if p.starts_with("/v1/peering/") => "/v1/peering/:name".to_string(),
        p => p.to_string(),
    }
}
