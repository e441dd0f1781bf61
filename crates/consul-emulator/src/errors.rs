//! Errors as Consul's HTTP layer renders them: plain text, with the status derived the way
//! `agent/http.go` derives it.

/// A failed request.
#[derive(Debug)]
pub enum ApiError {
    /// An `HTTPError{StatusCode, Reason}` raised by the HTTP handler itself.
    Http { status: u16, reason: String },
    /// An error returned by the peering gRPC service, seen by the HTTP agent as a gRPC status:
    /// `rpc error: code = <code> desc = <message>`.
    Rpc { code: &'static str, message: String },
}

impl ApiError {
    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::Http {
            status: 400,
            reason: reason.into(),
        }
    }

    /// A plain Go error returned by the service (gRPC code `Unknown`).
    pub fn unknown(message: impl Into<String>) -> ApiError {
        ApiError::Rpc {
            code: "Unknown",
            message: message.into(),
        }
    }

    pub fn rpc(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Rpc {
            code,
            message: message.into(),
        }
    }

    pub fn body(&self) -> String {
        match self {
            ApiError::Http { reason, .. } => reason.clone(),
            ApiError::Rpc { code, message } => format!("rpc error: code = {code} desc = {message}"),
        }
    }

    /// ACL errors (their text contains `Permission denied` or `ACL not found`) are 403; so is
    /// a rejected establishment secret (gRPC `PermissionDenied`, consul PR #15086); the rest
    /// of the service's errors are 500.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Http { status, .. } => *status,
            ApiError::Rpc { code, .. } => {
                let body = self.body();
                if body.contains("Permission denied")
                    || body.contains("ACL not found")
                    || *code == "PermissionDenied"
                {
                    403
                } else {
                    500
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiError;

    #[test]
    fn statuses_follow_consuls_http_layer() {
        assert_eq!(ApiError::bad_request("x").status(), 400);
        let denied = ApiError::unknown(
            "Permission denied: token with AccessorID 'a' lacks permission 'peering:read'",
        );
        assert_eq!(denied.status(), 403);
        assert_eq!(
            denied.body(),
            "rpc error: code = Unknown desc = Permission denied: token with AccessorID 'a' lacks permission 'peering:read'"
        );
        assert_eq!(ApiError::unknown("ACL not found").status(), 403);
        assert_eq!(
            ApiError::rpc("PermissionDenied", "a new peering token must be generated").status(),
            403
        );
        assert_eq!(
            ApiError::rpc(
                "InvalidArgument",
                "Partitions are a Consul Enterprise feature"
            )
            .status(),
            500
        );
    }
}
