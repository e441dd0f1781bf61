//! Injected faults: failing answers, slow answers, outages of the HTTP listener and stream
//! hold-downs. Shared by the in-process handle and the `/emulator/faults` control path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A canned failure for the next requests.
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: u16,
    pub body: String,
}

impl Failure {
    /// A Consul-like failure body for `status`: 500 is what a server without a leader answers
    /// through the peering service, 503/429 what a rate-limited or unavailable server answers.
    pub fn consul_like(status: u16) -> Failure {
        let body = match status {
            500 => "rpc error: code = Unknown desc = No cluster leader",
            429 => "rate limit exceeded, try again later or against a different server",
            503 => "rpc error: code = Unavailable desc = No cluster leader",
            _ => "injected failure",
        };
        Failure {
            status,
            body: body.to_string(),
        }
    }
}

/// A fault that lasts until cleared or until its time is up (what `playground fault` sets).
#[derive(Clone, Debug)]
pub enum ConsulFault {
    /// The API listener is closed: connections are refused.
    Down,
    /// Every API request is answered with this failure.
    Failing(Failure),
    /// Every API answer comes this much later.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    fail_next: u32,
    failure: Option<Failure>,
    delay: Option<Duration>,
    /// A lasting failure and until when it lasts (`None`: until cleared).
    failing: Option<(Failure, Option<Instant>)>,
    /// A lasting delay and until when it lasts.
    slow: Option<(Duration, Option<Instant>)>,
    /// Peering ID → until when streams of that peering are held down.
    stream_holds: HashMap<String, Instant>,
    /// How many of the next establishes fail after their secret exchange.
    cut_establishes: u32,
}

fn in_force(until: Option<Instant>) -> bool {
    until.is_none_or(|until| Instant::now() < until)
}

/// Fault state of one datacenter. API requests read one atomic flag while nothing is armed.
pub struct Faults {
    armed: AtomicBool,
    state: Mutex<State>,
    /// `Some(duration)` asks the HTTP listener task to stop accepting for that long.
    pub(crate) outage: watch::Sender<Option<Duration>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            armed: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            outage: watch::channel(None).0,
        }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("faults lock")
    }

    /// Runs `change` on the armed faults, keeping the fast-path flag true to what is armed.
    fn with<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.lock();
        if s.failing
            .as_ref()
            .is_some_and(|(_, until)| !in_force(*until))
        {
            s.failing = None;
        }
        if s.slow.is_some_and(|(_, until)| !in_force(until)) {
            s.slow = None;
        }
        let result = change(&mut s);
        let any = s.fail_next > 0
            || s.delay.is_some()
            || s.failing.is_some()
            || s.slow.is_some()
            || !s.stream_holds.is_empty()
            || s.cut_establishes > 0;
        self.armed.store(any, Ordering::Relaxed);
        result
    }

    fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    pub fn fail_next(&self, count: u32, failure: Failure) {
        self.with(|s| {
            s.fail_next = count;
            s.failure = Some(failure);
        });
    }

    /// The failure to answer this request with, if one is armed.
    pub fn take_failure(&self) -> Option<Failure> {
        if !self.armed() {
            return None;
        }
        self.with(|s| {
            if s.fail_next == 0 {
                return s.failing.as_ref().map(|(failure, _)| failure.clone());
            }
            s.fail_next -= 1;
            s.failure.clone()
        })
    }

    /// Makes the next `count` establishes fail after the acceptor took their establishment
    /// secret, as a server that loses its leadership between the exchange and the write does.
    pub fn cut_next_establishes(&self, count: u32) {
        self.with(|s| s.cut_establishes = count);
    }

    /// Whether this establish is one to cut after its exchange.
    pub fn take_establish_cut(&self) -> bool {
        if !self.armed() {
            return false;
        }
        self.with(|s| {
            let cut = s.cut_establishes > 0;
            s.cut_establishes = s.cut_establishes.saturating_sub(1);
            cut
        })
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        self.with(|s| s.delay = delay);
    }

    pub fn delay(&self) -> Option<Duration> {
        if !self.armed() {
            return None;
        }
        self.with(|s| s.delay.or(s.slow.map(|(delay, _)| delay)))
    }

    pub fn outage(&self, duration: Duration) {
        // Kept even while no listener task watches yet (it reads the value when it does).
        self.outage.send_replace(Some(duration));
    }

    /// Puts `fault` in force for `duration` (`None`: until [`Self::clear`]).
    pub fn set_lasting(&self, fault: ConsulFault, duration: Option<Duration>) {
        let until = duration.map(|d| Instant::now() + d);
        match fault {
            ConsulFault::Down => self.outage(duration.unwrap_or(Duration::MAX)),
            ConsulFault::Failing(failure) => self.with(|s| s.failing = Some((failure, until))),
            ConsulFault::Slow(delay) => self.with(|s| s.slow = Some((delay, until))),
        }
    }

    /// The lasting faults in force, to show.
    pub fn lasting(&self) -> Vec<ConsulFault> {
        let mut faults = Vec::new();
        if self.outage.borrow().is_some() {
            faults.push(ConsulFault::Down);
        }
        self.with(|s| {
            faults.extend(
                s.failing
                    .as_ref()
                    .map(|(f, _)| ConsulFault::Failing(f.clone())),
            );
            faults.extend(s.slow.map(|(d, _)| ConsulFault::Slow(d)));
        });
        faults
    }

    pub fn hold_stream(&self, peering_id: &str, until: Instant) {
        self.with(|s| s.stream_holds.insert(peering_id.to_string(), until));
    }

    /// Until when a peering's stream must stay down, if it must.
    pub fn stream_hold(&self, peering_id: &str) -> Option<Instant> {
        self.with(|s| match s.stream_holds.get(peering_id) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                s.stream_holds.remove(peering_id);
                None
            }
            None => None,
        })
    }

    /// Clears every armed fault and ends an outage in progress.
    pub fn clear(&self) {
        self.with(|s| *s = State::default());
        if self.outage.borrow().is_some() {
            self.outage.send_replace(None);
        }
    }
}
