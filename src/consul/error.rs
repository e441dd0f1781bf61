//! The Consul client's error: it keeps Consul's status code and plain-text body, says whether a
//! retry can help, and names the condition reason it maps to. Its text never holds a token:
//! request bodies are never formatted into it, and Consul's own error bodies carry no tokens.

use crate::crd::reason;

/// Consul's text when an establishment secret was used, superseded or deleted.
const TOKEN_REJECTED_MARKER: &str = "a new peering token must be generated";

/// Consul's texts for a token that cannot be used as it is (decoding and validation at establish).
const TOKEN_INVALID_MARKERS: &[&str] = &[
    "failed to decode token",
    "peering token invalid CA",
    "peering token server addresses value is empty",
    "is not a valid peering server address",
    "peering token server name value is empty",
    "peering token peer ID value is empty",
];

/// Consul's texts on a 500 that mean "try again later" rather than "no".
const UNAVAILABLE_MARKERS: &[&str] = &[
    "No cluster leader",
    "CA has not finished initializing",
    "rpc error making call",
    "connection refused",
    "i/o timeout",
    "failed to exchange peering secret through address",
];

#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// Consul answered with a status other than 200. `body` is Consul's plain-text error,
    /// trimmed. The text is the Go client's (`api.StatusError`), which the CLI prints.
    #[error("Unexpected response code: {status} ({body})")]
    Api { status: u16, body: String },

    /// No connection could be made (refused, DNS, unreachable): the request was not sent.
    #[error("{0}")]
    Connect(String),

    /// The connection failed after the request may have been sent (reset, closed, body error).
    #[error("{0}")]
    Transport(String),

    /// The TLS handshake failed (unknown CA, wrong name, client certificate refused).
    #[error("{0}")]
    Tls(String),

    /// No response within the timeout.
    #[error("{0}")]
    Timeout(String),

    /// The client configuration is unusable (address, certificates, token file).
    #[error("{0}")]
    InvalidConfig(String),

    /// The call cannot be made as asked (e.g. an empty peer name).
    #[error("{0}")]
    InvalidRequest(String),

    /// A peering token that is not base64 of the token JSON.
    #[error("invalid peering token: {0}")]
    InvalidToken(String),

    /// A 200 response whose body is not what Consul sends.
    #[error("{0}")]
    Decode(String),
}

impl ConsulError {
    /// Whether the same request may succeed later: connection failures, timeouts and 5xx.
    /// Never 4xx: Consul said no, and will again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status >= 500,
            Self::Connect(_) | Self::Transport(_) | Self::Timeout(_) => true,
            Self::Tls(_)
            | Self::InvalidConfig(_)
            | Self::InvalidRequest(_)
            | Self::InvalidToken(_)
            | Self::Decode(_) => false,
        }
    }

    /// Whether the request surely never reached Consul, so that even a non-idempotent call
    /// (establish, which consumes the token) can be repeated safely.
    pub fn request_not_sent(&self) -> bool {
        matches!(self, Self::Connect(_))
    }

    /// Whether the accepting side refused the token's establishment secret: used, superseded
    /// or deleted there. Unlike a malformed token, a new token from the same acceptor helps.
    pub fn is_secret_refused(&self) -> bool {
        matches!(self, Self::Api { body, .. } if body.contains(TOKEN_REJECTED_MARKER))
    }

    /// Whether Consul refused the peering token itself: it was used, superseded, deleted on the
    /// other side, or is malformed. Only a new token helps.
    pub fn is_token_rejected(&self) -> bool {
        match self {
            Self::InvalidToken(_) => true,
            Self::Api { body, .. } => {
                body.contains(TOKEN_REJECTED_MARKER)
                    || TOKEN_INVALID_MARKERS.iter().any(|m| body.contains(m))
            }
            _ => false,
        }
    }

    /// The HTTP status Consul answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The condition reason (and metric label) for this error; see [`crate::crd::reason`].
    pub fn reason(&self) -> &'static str {
        if self.is_token_rejected() {
            return reason::TOKEN_REJECTED;
        }
        match self {
            Self::Api { status: 403, .. } => reason::CONSUL_PERMISSION_DENIED,
            Self::Api { status: 429, .. } => reason::CONSUL_UNAVAILABLE,
            Self::Api { status: 500, body } => {
                if UNAVAILABLE_MARKERS.iter().any(|m| body.contains(m)) {
                    reason::CONSUL_UNAVAILABLE
                } else {
                    // Consul reports validation failures of the peering service as 500.
                    reason::CONSUL_REJECTED
                }
            }
            Self::Api { status, .. } if *status > 500 => reason::CONSUL_UNAVAILABLE,
            Self::Api { .. } | Self::InvalidRequest(_) => reason::CONSUL_REJECTED,
            Self::Connect(_)
            | Self::Transport(_)
            | Self::Tls(_)
            | Self::Timeout(_)
            | Self::InvalidConfig(_)
            | Self::Decode(_) => reason::CONSUL_UNAVAILABLE,
            Self::InvalidToken(_) => reason::TOKEN_REJECTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> ConsulError {
        ConsulError::Api {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn display_is_the_go_clients() {
        assert_eq!(
            api(403, "ACL not found").to_string(),
            "Unexpected response code: 403 (ACL not found)"
        );
    }

    #[test]
    fn retries_only_connection_failures_timeouts_and_5xx() {
        assert!(api(500, "boom").is_retryable());
        assert!(api(503, "").is_retryable());
        for status in [400, 403, 404, 405, 429] {
            assert!(!api(status, "no").is_retryable(), "{status}");
        }
        assert!(ConsulError::Connect("refused".into()).is_retryable());
        assert!(ConsulError::Transport("reset".into()).is_retryable());
        assert!(ConsulError::Timeout("slow".into()).is_retryable());
        for error in [
            ConsulError::Tls("unknown ca".into()),
            ConsulError::InvalidConfig("bad".into()),
            ConsulError::InvalidToken("bad".into()),
            ConsulError::InvalidRequest("bad".into()),
            ConsulError::Decode("bad".into()),
        ] {
            assert!(!error.is_retryable(), "{error:?}");
        }
        assert!(ConsulError::Connect("refused".into()).request_not_sent());
        assert!(!ConsulError::Transport("reset".into()).request_not_sent());
        assert!(!ConsulError::Timeout("slow".into()).request_not_sent());
    }

    #[test]
    fn reasons() {
        let used = api(
            500,
            "rpc error: code = Unknown desc = a new peering token must be generated: invalid peering establishment secret",
        );
        assert!(used.is_token_rejected());
        assert_eq!(used.reason(), reason::TOKEN_REJECTED);
        assert_eq!(
            api(500, "rpc error: code = Unknown desc = failed to decode token: illegal base64 data at input byte 4").reason(),
            reason::TOKEN_REJECTED
        );
        assert_eq!(
            api(
                403,
                "Permission denied: token with AccessorID 'x' lacks permission 'peering:write'"
            )
            .reason(),
            reason::CONSUL_PERMISSION_DENIED
        );
        assert_eq!(
            api(
                500,
                "rpc error: code = Unknown desc = Dc2 is not a valid peer name"
            )
            .reason(),
            reason::CONSUL_REJECTED
        );
        assert_eq!(
            api(500, "No cluster leader").reason(),
            reason::CONSUL_UNAVAILABLE
        );
        assert_eq!(api(502, "bad gateway").reason(), reason::CONSUL_UNAVAILABLE);
        assert_eq!(
            api(429, "rate limited").reason(),
            reason::CONSUL_UNAVAILABLE
        );
        assert_eq!(
            api(
                400,
                "PeerName is required in the payload when generating a new peering token."
            )
            .reason(),
            reason::CONSUL_REJECTED
        );
        assert_eq!(
            ConsulError::Connect("refused".into()).reason(),
            reason::CONSUL_UNAVAILABLE
        );
        assert_eq!(
            ConsulError::InvalidToken("x".into()).reason(),
            reason::TOKEN_REJECTED
        );
    }
}
