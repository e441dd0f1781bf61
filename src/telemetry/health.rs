//! Liveness and readiness as seen by `/healthz` and `/readyz`, and what the operator is waiting
//! for while it is not ready (also logged at a steady rate).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the log says what the operator is still waiting for.
pub const WAITING_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Where this replica stands in leader election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderState {
    /// Leader election is off: this replica always reconciles.
    Disabled = 0,
    /// Waiting for the lease: ready to take over, reconciling nothing.
    Standby = 1,
    /// Holding the lease and reconciling.
    Leading = 2,
    /// Leader election cannot start (the API server does not answer): not ready to take over.
    Electing = 3,
}

/// Shared health state; cheap to clone.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    caches_synced: AtomicBool,
    leader: AtomicU8,
    shutting_down: AtomicBool,
    waiting: Mutex<Waiting>,
}

/// What keeps the operator from being ready, in words for `/readyz` and the log.
#[derive(Default)]
struct Waiting {
    /// Caches whose first list has not arrived yet.
    caches: BTreeSet<&'static str>,
    /// The last error of the watches or of leader election, with its causes.
    last_error: Option<String>,
}

impl Health {
    /// A cache the controllers need before they reconcile; not ready until it has synced.
    pub fn cache_pending(&self, cache: &'static str) {
        self.waiting().caches.insert(cache);
        self.inner.caches_synced.store(false, Ordering::Relaxed);
    }

    /// `cache` has its first list; ready once no cache is pending.
    pub fn cache_synced(&self, cache: &'static str) {
        let mut waiting = self.waiting();
        waiting.caches.remove(cache);
        if waiting.caches.is_empty() {
            waiting.last_error = None;
            self.inner.caches_synced.store(true, Ordering::Relaxed);
        }
    }

    pub fn caches_synced(&self) -> bool {
        self.inner.caches_synced.load(Ordering::Relaxed)
    }

    /// Records why the API server did not answer (a watch or leader election failed).
    pub fn api_failed(&self, error: &(dyn std::error::Error + 'static)) {
        self.waiting().last_error = Some(with_causes(error));
    }

    pub fn set_leader_state(&self, state: LeaderState) {
        self.inner.leader.store(state as u8, Ordering::Relaxed);
        if state == LeaderState::Standby {
            self.waiting().last_error = None;
        }
    }

    pub fn set_shutting_down(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }

    pub fn leader_state(&self) -> LeaderState {
        match self.inner.leader.load(Ordering::Relaxed) {
            1 => LeaderState::Standby,
            2 => LeaderState::Leading,
            3 => LeaderState::Electing,
            _ => LeaderState::Disabled,
        }
    }

    /// Ready when this replica can do its job: a standby is ready (it takes over when the
    /// leader goes); a reconciling replica once its caches have synced; nobody while stopping.
    /// The text says why, for `kubectl describe` and humans curling the endpoint.
    pub fn readiness(&self) -> (bool, String) {
        if self.inner.shutting_down.load(Ordering::Relaxed) {
            return (false, "shutting down".into());
        }
        match (self.leader_state(), self.caches_synced()) {
            (LeaderState::Standby, _) => (true, "standby: waiting for the leader lease".into()),
            (LeaderState::Electing, _) => (false, self.waiting_for()),
            (LeaderState::Leading, true) => (true, "leading: caches synced".into()),
            (LeaderState::Disabled, true) => (true, "caches synced".into()),
            (_, false) => (false, self.waiting_for()),
        }
    }

    /// What the operator waits for, with the API server's last error if there was one.
    pub fn waiting_for(&self) -> String {
        let waiting = self.waiting();
        let mut text = if self.leader_state() == LeaderState::Electing {
            "waiting for leader election to start".to_owned()
        } else if waiting.caches.is_empty() {
            "waiting for caches to sync".to_owned()
        } else {
            let caches: Vec<&str> = waiting.caches.iter().copied().collect();
            format!("waiting for caches to sync: {}", caches.join(", "))
        };
        if let Some(error) = &waiting.last_error {
            text.push_str("; last error: ");
            text.push_str(error);
        }
        text
    }

    /// Logs what the operator waits for every [`WAITING_REPORT_INTERVAL`] while it is not
    /// ready (the client's own messages are connection errors without context). Never ends.
    pub async fn report_waiting(&self) {
        loop {
            tokio::time::sleep(WAITING_REPORT_INTERVAL).await;
            let (ready, _) = self.readiness();
            if !ready && !self.inner.shutting_down.load(Ordering::Relaxed) {
                tracing::warn!("{}", self.waiting_for());
            }
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `error: cause: cause…`, each cause once (many errors repeat their source in their text).
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_sync_leadership_and_shutdown() {
        let health = Health::default();
        assert!(!health.readiness().0, "not ready before the caches sync");
        health.cache_pending("PeeringAcceptor");
        health.cache_synced("PeeringAcceptor");
        assert_eq!(health.readiness(), (true, "caches synced".into()));

        health.cache_pending("PeeringDialer");
        health.set_leader_state(LeaderState::Standby);
        assert!(health.readiness().0, "a standby is ready to take over");
        health.set_leader_state(LeaderState::Leading);
        assert!(
            !health.readiness().0,
            "a new leader is not ready until synced"
        );
        health.cache_synced("PeeringDialer");
        assert_eq!(health.readiness(), (true, "leading: caches synced".into()));

        health.set_shutting_down();
        assert_eq!(health.readiness(), (false, "shutting down".into()));
    }

    #[test]
    fn not_ready_says_what_it_waits_for_and_the_last_error() {
        let health = Health::default();
        health.cache_pending("PeeringDialer");
        health.cache_pending("PeeringAcceptor");
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        health.api_failed(&refused);
        assert_eq!(
            health.readiness(),
            (
                false,
                "waiting for caches to sync: PeeringAcceptor, PeeringDialer; last error: refused"
                    .into()
            )
        );
        health.cache_synced("PeeringAcceptor");
        health.cache_synced("PeeringDialer");
        assert_eq!(health.readiness(), (true, "caches synced".into()));

        health.set_leader_state(LeaderState::Electing);
        health.api_failed(&refused);
        assert_eq!(
            health.readiness(),
            (
                false,
                "waiting for leader election to start; last error: refused".into()
            )
        );
        health.set_leader_state(LeaderState::Standby);
        assert!(health.readiness().0);
    }

    #[test]
    fn causes_are_listed_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("list failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(with_causes(&error), "list failed: connection refused");
    }
}
