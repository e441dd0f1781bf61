//! The server's shared state: store, served kinds, users, faults and counters.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::auth::Auth;
use crate::faults::{Counters, Faults};
use crate::registry::{Registry, Served, builtins, crd_kinds};
use crate::store::Store;

pub struct State {
    pub store: Store,
    pub registry: Registry,
    builtins: Vec<Arc<Served>>,
}

impl State {
    pub fn new(history_limit: usize) -> State {
        let builtins: Vec<Arc<Served>> = builtins().into_iter().map(Arc::new).collect();
        State {
            store: Store::new(history_limit),
            registry: Registry {
                kinds: builtins.clone(),
            },
            builtins,
        }
    }

    /// Recomputes the served kinds from the stored CRDs (after any CRD write).
    pub fn rebuild_registry(&mut self) {
        let mut kinds = self.builtins.clone();
        for crd in self
            .store
            .list("apiextensions.k8s.io/customresourcedefinitions", None)
        {
            if !is_established(&crd) {
                continue;
            }
            if let Ok(served) = crd_kinds(&crd) {
                kinds.extend(served.into_iter().map(Arc::new));
            }
        }
        self.registry = Registry { kinds };
    }
}

fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

pub struct Shared {
    state: Mutex<State>,
    pub auth: RwLock<Auth>,
    pub faults: Faults,
    pub counters: Mutex<Counters>,
    /// Wakes the background controllers (garbage collector, namespace and CRD cleanup).
    pub controllers: Notify,
    pub bookmark_interval: Duration,
    pub anonymous_auth: bool,
}

impl Shared {
    pub fn new(state: State, bookmark_interval: Duration, anonymous_auth: bool) -> Shared {
        Shared {
            state: Mutex::new(state),
            auth: RwLock::new(Auth::default()),
            faults: Faults::default(),
            counters: Mutex::new(Counters::default()),
            controllers: Notify::new(),
            bookmark_interval,
            anonymous_auth,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Now as `Time` (`2026-11-28T07:09:18Z`).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
