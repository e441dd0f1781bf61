//! The reconcilers' one error type. Each variant maps to the reason of the `Ready` condition
//! and to the `reason` label of the failure metric; messages say what to do and keep Consul's
//! own text where it explains the cause. No variant ever holds a token.

use std::time::Duration;

use crate::consul;
use crate::crd::reason;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec or an annotation is invalid; nothing is retried until the resource changes.
    #[error("{0}")]
    InvalidSpec(String),

    /// A Secret this operator does not own is where the token should go.
    #[error("{0}")]
    SecretConflict(String),

    /// The dialer's Secret or its key is missing.
    #[error("{0}")]
    SecretMissing(String),

    /// Consul refused or failed a request.
    #[error("{0}")]
    Consul(#[from] consul::ConsulError),

    /// The shared peering watcher cannot read Consul; the resource waits for it to recover
    /// (the watcher wakes every resource then) instead of polling Consul on its own.
    #[error("{message}")]
    ConsulUnreachable {
        reason: &'static str,
        message: String,
    },

    /// The dialer's token cannot be used: malformed, or refused by Consul before. It waits for
    /// a new token in the Secret.
    #[error("{0}")]
    TokenRejected(String),

    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// A delivered copy of the token Secret could not be withdrawn from its target cluster.
    #[error("delivery target: {0}")]
    Delivery(String),

    /// The finalizer helper could not add or remove the finalizer.
    #[error("finalizer: {0}")]
    Finalizer(String),

    /// A PeeringMesh waits for what it created in its members to be gone (or to be
    /// reachable); the reason is the mesh's.
    #[error("{message}")]
    Mesh {
        reason: &'static str,
        message: String,
    },
}

impl Error {
    /// The `Ready` condition reason and metric label for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => reason::INVALID_SPEC,
            Error::SecretConflict(_) => reason::SECRET_CONFLICT,
            Error::SecretMissing(_) => reason::SECRET_MISSING,
            Error::Consul(e) => e.reason(),
            Error::ConsulUnreachable { reason, .. } => reason,
            Error::TokenRejected(_) => reason::TOKEN_REJECTED,
            Error::Kube(_) | Error::Finalizer(_) => reason::KUBERNETES_ERROR,
            Error::Delivery(_) => reason::DELIVERY_FAILED,
            Error::Mesh { reason, .. } => reason,
        }
    }

    /// Whether retrying the same request later can succeed without anyone changing anything.
    /// Errors that need a change (a spec fix, a new token, a Secret) wait for that change's
    /// watch event instead of being retried on a timer.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::InvalidSpec(_)
            | Error::SecretMissing(_)
            | Error::TokenRejected(_)
            | Error::ConsulUnreachable { .. } => false,
            // A foreign Secret is not watched (it lacks our label); look again now and then.
            Error::SecretConflict(_) => true,
            Error::Consul(e) => e.reason() != reason::TOKEN_REJECTED,
            Error::Kube(_) | Error::Finalizer(_) | Error::Delivery(_) | Error::Mesh { .. } => true,
        }
    }
}

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(error: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match error {
            F::ApplyFailed(e) | F::CleanupFailed(e) => e,
            F::AddFinalizer(e) | F::RemoveFinalizer(e) => Error::Kube(e),
            other => Error::Finalizer(other.to_string()),
        }
    }
}

/// Capped exponential backoff: 1 s, 2 s, 4 s … up to a minute. The cap bounds how long a
/// resource stays failed after its cause is gone when nothing tells the operator so (a peer's
/// Consul that comes back is seen only by trying it again).
pub fn backoff(consecutive_failures: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(60);
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(6), Duration::from_secs(32));
        assert_eq!(backoff(7), Duration::from_secs(60));
        assert_eq!(backoff(1000), Duration::from_secs(60));
    }
}
