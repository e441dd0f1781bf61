//! Injected faults and request counters, the hooks reliability tests, benchmarks and
//! `playground fault` use.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::Shared;

/// A fault that lasts until cleared or until its time is up (what `playground fault` sets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KubeFault {
    /// Every resource request gets 429 Too Many Requests with this `Retry-After`.
    Throttle { retry_after_seconds: u64 },
    /// Every write (create, update, patch, delete) gets 409 Conflict.
    ConflictOnWrites,
    /// Every open watch is closed now, and again every `every`.
    DropWatches { every: Duration },
    /// The change history is forgotten and every watch closed, now and again every `every`:
    /// the clients' re-watches get 410 Gone and they list again.
    ExpireWatches { every: Duration },
}

#[derive(Clone, Copy, Debug)]
struct Lasting {
    fault: KubeFault,
    until: Option<Instant>,
    /// Tells a periodic fault's task whether it is still the one in force.
    generation: u64,
}

impl Lasting {
    fn in_force(&self) -> bool {
        self.until.is_none_or(|until| Instant::now() < until)
    }
}

#[derive(Debug, Default)]
struct Armed {
    /// The next N writes fail with this HTTP code (409 or 500).
    fail_writes: Option<(u32, u16)>,
    /// The next N requests get 429 with this Retry-After.
    throttle: Option<(u32, u64)>,
    lasting: Option<Lasting>,
    generations: u64,
}

/// The injected faults of one server. Requests read one atomic flag while nothing is armed.
#[derive(Debug, Default)]
pub struct Faults {
    armed: AtomicBool,
    inner: Mutex<Armed>,
}

impl Faults {
    /// Runs `change` on the armed faults, keeping the fast-path flag true to what is armed.
    fn with<T>(&self, change: impl FnOnce(&mut Armed) -> T) -> T {
        let mut armed: MutexGuard<'_, Armed> = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if armed.lasting.is_some_and(|l| !l.in_force()) {
            armed.lasting = None;
        }
        let result = change(&mut armed);
        let any =
            armed.fail_writes.is_some() || armed.throttle.is_some() || armed.lasting.is_some();
        self.armed.store(any, Ordering::Relaxed);
        result
    }

    fn lasting_now(&self) -> Option<KubeFault> {
        if !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        self.with(|a| a.lasting.map(|l| l.fault))
    }

    pub fn fail_writes(&self, count: u32, code: u16) {
        self.with(|a| a.fail_writes = (count > 0).then_some((count, code)));
    }

    pub fn throttle(&self, count: u32, retry_after_seconds: u64) {
        self.with(|a| a.throttle = (count > 0).then_some((count, retry_after_seconds)));
    }

    /// Puts `fault` in force for `duration` (`None`: until cleared), replacing any other
    /// lasting fault; returns its generation.
    fn set_lasting(&self, fault: KubeFault, duration: Option<Duration>) -> u64 {
        self.with(|a| {
            a.generations += 1;
            a.lasting = Some(Lasting {
                fault,
                until: duration.map(|d| Instant::now() + d),
                generation: a.generations,
            });
            a.generations
        })
    }

    /// The lasting fault of this generation, while it is in force.
    fn lasting_of(&self, generation: u64) -> Option<KubeFault> {
        self.with(|a| {
            a.lasting
                .filter(|l| l.generation == generation)
                .map(|l| l.fault)
        })
    }

    pub fn clear(&self) {
        self.with(|a| {
            let generations = a.generations;
            *a = Armed {
                generations,
                ..Armed::default()
            };
        });
    }

    /// Consumes one injected write failure, if armed; a lasting conflict fault answers 409.
    pub fn take_write_failure(&self) -> Option<u16> {
        if !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        self.with(|a| {
            take(&mut a.fail_writes).or_else(|| {
                matches!(a.lasting, Some(l) if l.fault == KubeFault::ConflictOnWrites)
                    .then_some(409)
            })
        })
    }

    /// Consumes one injected 429, if armed; a lasting throttle answers every request.
    pub fn take_throttle(&self) -> Option<u64> {
        if !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        self.with(|a| {
            let lasting = match a.lasting {
                Some(Lasting {
                    fault:
                        KubeFault::Throttle {
                            retry_after_seconds,
                        },
                    ..
                }) => Some(retry_after_seconds),
                _ => None,
            };
            take(&mut a.throttle).or(lasting)
        })
    }
}

/// Puts `fault` in force on the server for `duration` (`None`: until cleared). The watch
/// faults act at once and then on their own timer while they are in force.
pub(crate) fn set_lasting(shared: &Arc<Shared>, fault: KubeFault, duration: Option<Duration>) {
    let generation = shared.faults.set_lasting(fault, duration);
    let (KubeFault::DropWatches { every } | KubeFault::ExpireWatches { every }) = fault else {
        return;
    };
    let server = Arc::downgrade(shared);
    tokio::spawn(async move {
        while let Some(shared) = server.upgrade() {
            match shared.faults.lasting_of(generation) {
                Some(KubeFault::DropWatches { .. }) => shared.lock().store.close_watches(),
                Some(KubeFault::ExpireWatches { .. }) => {
                    let mut state = shared.lock();
                    state.store.expire_history();
                    state.store.close_watches();
                }
                _ => return,
            }
            drop(shared);
            tokio::time::sleep(every).await;
        }
    });
}

/// Whether a lasting fault is in force now (for tests and the playground to show).
pub(crate) fn lasting_now(shared: &Shared) -> Option<KubeFault> {
    shared.faults.lasting_now()
}

fn take<T: Copy>(slot: &mut Option<(u32, T)>) -> Option<T> {
    let (left, value) = (*slot)?;
    *slot = (left > 1).then_some((left - 1, value));
    Some(value)
}

/// One counted request class.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RequestKey {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// `<plural>.<group>` (core: the plural), with `/subresource` when one was addressed.
    pub resource: String,
    pub user: String,
}

#[derive(Debug, Default)]
pub struct Counters {
    counts: BTreeMap<RequestKey, u64>,
}

impl Counters {
    pub fn add(&mut self, key: RequestKey) {
        *self.counts.entry(key).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<(RequestKey, u64)> {
        self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn reset(&mut self) {
        self.counts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up() {
        let f = Faults::default();
        f.fail_writes(2, 500);
        assert_eq!(f.take_write_failure(), Some(500));
        assert_eq!(f.take_write_failure(), Some(500));
        assert_eq!(f.take_write_failure(), None);
        f.throttle(1, 3);
        assert_eq!(f.take_throttle(), Some(3));
        assert_eq!(f.take_throttle(), None);
    }

    #[test]
    fn a_lasting_fault_answers_until_cleared_or_over() {
        let f = Faults::default();
        f.set_lasting(KubeFault::ConflictOnWrites, None);
        for _ in 0..3 {
            assert_eq!(f.take_write_failure(), Some(409));
        }
        assert_eq!(f.take_throttle(), None);
        f.clear();
        assert_eq!(f.take_write_failure(), None);
        assert!(!f.armed.load(Ordering::Relaxed));

        let generation = f.set_lasting(
            KubeFault::Throttle {
                retry_after_seconds: 1,
            },
            Some(Duration::from_millis(30)),
        );
        assert_eq!(f.take_throttle(), Some(1));
        assert!(f.lasting_of(generation).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(f.take_throttle(), None);
        assert_eq!(f.lasting_of(generation), None);
        assert!(!f.armed.load(Ordering::Relaxed), "an ended fault disarms");
    }

    #[test]
    fn a_new_lasting_fault_retires_the_previous_ones_timer() {
        let f = Faults::default();
        let every = Duration::from_secs(5);
        let first = f.set_lasting(KubeFault::DropWatches { every }, None);
        let second = f.set_lasting(KubeFault::ExpireWatches { every }, None);
        assert_eq!(f.lasting_of(first), None);
        assert_eq!(
            f.lasting_of(second),
            Some(KubeFault::ExpireWatches { every })
        );
    }
}
