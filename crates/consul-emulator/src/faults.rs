//! Injected faults: failing answers, slow answers, outages of the HTTP listener and stream
//! hold-downs. Shared by the in-process handle and the `/emulator/faults` control path.

use std::collections::HashMap;
use std::sync::Mutex;
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

#[derive(Default)]
struct State {
    fail_next: u32,
    failure: Option<Failure>,
    delay: Option<Duration>,
    /// Peering ID → until when streams of that peering are held down.
    stream_holds: HashMap<String, Instant>,
}

/// Fault state of one datacenter.
pub struct Faults {
    state: Mutex<State>,
    /// `Some(duration)` asks the HTTP listener task to stop accepting for that long.
    pub(crate) outage: watch::Sender<Option<Duration>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            state: Mutex::new(State::default()),
            outage: watch::channel(None).0,
        }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("faults lock")
    }

    pub fn fail_next(&self, count: u32, failure: Failure) {
        let mut s = self.lock();
        s.fail_next = count;
        s.failure = Some(failure);
    }

    /// The failure to answer this request with, if one is armed.
    pub fn take_failure(&self) -> Option<Failure> {
        let mut s = self.lock();
        if s.fail_next == 0 {
            return None;
        }
        s.fail_next -= 1;
        s.failure.clone()
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        self.lock().delay = delay;
    }

    pub fn delay(&self) -> Option<Duration> {
        self.lock().delay
    }

    pub fn outage(&self, duration: Duration) {
        let _ = self.outage.send(Some(duration));
    }

    pub fn hold_stream(&self, peering_id: &str, until: Instant) {
        self.lock()
            .stream_holds
            .insert(peering_id.to_string(), until);
    }

    /// Until when a peering's stream must stay down, if it must.
    pub fn stream_hold(&self, peering_id: &str) -> Option<Instant> {
        let mut s = self.lock();
        match s.stream_holds.get(peering_id) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                s.stream_holds.remove(peering_id);
                None
            }
            None => None,
        }
    }

    /// Clears every armed fault (an outage in progress runs to its end).
    pub fn clear(&self) {
        *self.lock() = State::default();
    }
}
