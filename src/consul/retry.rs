//! When the client repeats a failed request, and how long it waits in between.

use std::time::Duration;

use super::error::ConsulError;

/// Whether repeating a request can do harm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, deletes, and token generation (a repeat returns a newer token, which is the one
    /// Consul then accepts).
    Idempotent,
    /// Establish consumes the token: repeat it only when the request never left this process.
    ConsumesToken,
}

/// Capped exponential backoff over a bounded number of attempts, applied to connection failures,
/// timeouts and 5xx only (see [`ConsulError::is_retryable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = never retry).
    pub max_attempts: u32,
    /// The wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries (the CLI: like `consul peering generate-token`).
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Whether to try again after `attempts` attempts ended with `error`.
    pub fn should_retry(
        &self,
        attempts: u32,
        error: &ConsulError,
        idempotency: Idempotency,
    ) -> bool {
        if attempts >= self.max_attempts || !error.is_retryable() {
            return false;
        }
        match idempotency {
            Idempotency::Idempotent => true,
            Idempotency::ConsumesToken => error.request_not_sent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
        };
        let waits: Vec<u128> = (0..6).map(|r| policy.backoff(r).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700, 700]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(700));
    }

    #[test]
    fn retries_are_bounded_and_selective() {
        let policy = RetryPolicy::default();
        let refused = ConsulError::Connect("connection refused".into());
        let server = ConsulError::Api {
            status: 500,
            body: "No cluster leader".into(),
        };
        let denied = ConsulError::Api {
            status: 403,
            body: "ACL not found".into(),
        };
        let reset = ConsulError::Transport("connection reset".into());
        for attempts in 1..policy.max_attempts {
            assert!(policy.should_retry(attempts, &refused, Idempotency::Idempotent));
            assert!(policy.should_retry(attempts, &server, Idempotency::Idempotent));
            assert!(!policy.should_retry(attempts, &denied, Idempotency::Idempotent));
        }
        assert!(!policy.should_retry(policy.max_attempts, &refused, Idempotency::Idempotent));
        // Establish: only when the request surely never reached Consul.
        assert!(policy.should_retry(1, &refused, Idempotency::ConsumesToken));
        assert!(!policy.should_retry(1, &server, Idempotency::ConsumesToken));
        assert!(!policy.should_retry(1, &reset, Idempotency::ConsumesToken));
        assert!(!RetryPolicy::never().should_retry(1, &refused, Idempotency::Idempotent));
    }
}
