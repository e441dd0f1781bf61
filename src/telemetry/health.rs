//! Liveness and readiness as seen by `/healthz` and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Where this replica stands in leader election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderState {
    /// Leader election is off: this replica always reconciles.
    Disabled = 0,
    /// Waiting for the lease: ready to take over, reconciling nothing.
    Standby = 1,
    /// Holding the lease and reconciling.
    Leading = 2,
}

/// Shared, lock-free health flags; cheap to clone.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    caches_synced: AtomicBool,
    leader: AtomicU8,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn set_caches_synced(&self, synced: bool) {
        self.inner.caches_synced.store(synced, Ordering::Relaxed);
    }

    pub fn set_leader_state(&self, state: LeaderState) {
        self.inner.leader.store(state as u8, Ordering::Relaxed);
    }

    pub fn set_shutting_down(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }

    pub fn leader_state(&self) -> LeaderState {
        match self.inner.leader.load(Ordering::Relaxed) {
            1 => LeaderState::Standby,
            2 => LeaderState::Leading,
            _ => LeaderState::Disabled,
        }
    }

    /// Ready when this replica can do its job: a standby is ready (it takes over when the
    /// leader goes); a reconciling replica once its caches have synced; nobody while stopping.
    /// The text says why, for `kubectl describe` and humans curling the endpoint.
    pub fn readiness(&self) -> (bool, &'static str) {
        if self.inner.shutting_down.load(Ordering::Relaxed) {
            return (false, "shutting down");
        }
        let synced = self.inner.caches_synced.load(Ordering::Relaxed);
        match (self.leader_state(), synced) {
            (LeaderState::Standby, _) => (true, "standby: waiting for the leader lease"),
            (LeaderState::Leading, true) => (true, "leading: caches synced"),
            (LeaderState::Disabled, true) => (true, "caches synced"),
            (_, false) => (false, "caches not synced yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_sync_leadership_and_shutdown() {
        let health = Health::default();
        assert!(!health.readiness().0, "not ready before the caches sync");
        health.set_caches_synced(true);
        assert_eq!(health.readiness(), (true, "caches synced"));

        health.set_caches_synced(false);
        health.set_leader_state(LeaderState::Standby);
        assert!(health.readiness().0, "a standby is ready to take over");
        health.set_leader_state(LeaderState::Leading);
        assert!(
            !health.readiness().0,
            "a new leader is not ready until synced"
        );
        health.set_caches_synced(true);
        assert_eq!(health.readiness(), (true, "leading: caches synced"));

        health.set_shutting_down();
        assert_eq!(health.readiness(), (false, "shutting down"));
    }
}
