//! `kind: Status` error bodies, built exactly like the real server builds them (key order
//! `kind, apiVersion, metadata, status, message, reason, details, code`, empty parts omitted).

use serde::Serialize;

/// One entry of `details.causes`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Cause {
    pub fn new(reason: &str, field: &str, message: impl Into<String>) -> Cause {
        Cause {
            reason: reason.to_string(),
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
    pub fn required(field: &str, detail: &str) -> Cause {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Cause::new("FieldValueRequired", field, message)
    }
    /// `Invalid value: <json of value>: <detail>`.
    pub fn invalid(field: &str, value: &serde_json::Value, detail: &str) -> Cause {
        Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {}: {detail}", go_value(value)),
        )
    }
    pub fn forbidden(field: &str, detail: &str) -> Cause {
        Cause::new("FieldValueForbidden", field, format!("Forbidden: {detail}"))
    }
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Cause {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause::new(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        )
    }
    /// How the cause reads inside the top-level message: `field: message`.
    pub fn summary(&self) -> String {
        match &self.field {
            Some(f) if !f.is_empty() => format!("{f}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// A value as Go's field errors print it: strings quoted, numbers bare, everything else JSON.
pub fn go_value(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl Details {
    /// `name`, `group` (omitted for the core group) and `kind`, empty strings left out.
    pub fn of(name: &str, group: &str, kind: &str) -> Details {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Details {
            name: opt(name),
            group: opt(group),
            kind: opt(kind),
            ..Details::default()
        }
    }
}

/// An error answered as a `Status` body (or, for unserved paths, as plain text).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Box<Details>>,
    /// `Retry-After` header value.
    pub retry_after: Option<u64>,
    /// Answer `404 page not found` as text/plain instead of a Status.
    pub plain_not_found: bool,
    /// `Warning` header values sent with the error (ratcheted CRD rule failures).
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: serde_json::Map<String, serde_json::Value>,
    status: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    code: u16,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            retry_after: None,
            plain_not_found: false,
            warnings: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Details) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    /// The Status JSON body.
    pub fn body(&self) -> Vec<u8> {
        let body = StatusBody {
            kind: "Status",
            api_version: "v1",
            metadata: serde_json::Map::new(),
            status: "Failure",
            message: &self.message,
            reason: &self.reason,
            details: self.details.as_deref(),
            code: self.code,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The Status object as JSON (for watch `ERROR` events).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body()).unwrap_or_default()
    }

    pub fn page_not_found() -> ApiError {
        ApiError {
            plain_not_found: true,
            ..ApiError::new(404, "NotFound", "404 page not found")
        }
    }

    /// `<resource>.<group> "<name>" not found`; `group_resource` is e.g. `gadgets.demo.example.com`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource, group)),
        )
        .with_details(Details::of(name, group, resource))
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource, group)),
        )
        .with_details(Details::of(name, group, resource))
    }

    /// Optimistic-concurrency failure of an update.
    pub fn conflict(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(resource, group)
            ),
        )
        .with_details(Details::of(name, group, resource))
    }

    /// 422 Invalid; `qualified_kind` is `Gadget.demo.example.com` (or `gadgets.demo.example.com`
    /// where the real server names the resource), `details_kind` what goes into details.kind.
    pub fn invalid(
        qualified_kind: &str,
        name: &str,
        group: &str,
        details_kind: &str,
        causes: Vec<Cause>,
    ) -> ApiError {
        // Identical causes appear once in the message, as in the real server.
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<String> = causes
            .iter()
            .map(Cause::summary)
            .filter(|s| seen.insert(s.clone()))
            .collect();
        let summary = match distinct.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut details = Details::of(name, group, details_kind);
        details.causes = causes;
        ApiError::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
        )
        .with_details(details)
    }

    /// Invalid request options (`ListOptions`, `PatchOptions`, `DeleteOptions`, `CreateOptions`...).
    pub fn invalid_options(options_kind: &str, cause: Cause) -> ApiError {
        ApiError::invalid(
            &format!("{options_kind}.meta.k8s.io"),
            "",
            "meta.k8s.io",
            options_kind,
            vec![cause],
        )
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(verb: &str, group: &str, resource: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind \"{}\"",
                qualified(resource, group)
            ),
        )
        .with_details(Details::of("", group, resource))
    }

    pub fn unsupported_patch_type() -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
        )
    }

    pub fn not_acceptable() -> ApiError {
        ApiError::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// `Expired` (410) as used by watches and lists.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// The generic 422 of a JSON patch that cannot be applied.
    pub fn patch_rejected() -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
        .with_details(Details::default())
    }

    pub fn internal(message: &str) -> ApiError {
        let mut details = Details::default();
        details.causes.push(Cause {
            reason: String::new(),
            message: message.to_string(),
            field: None,
        });
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(details)
    }

    pub fn too_many_requests(retry_after: u64) -> ApiError {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
        .with_details(Details {
            retry_after_seconds: Some(retry_after),
            ..Details::default()
        });
        e.retry_after = Some(retry_after);
        e
    }
}

/// `<resource>.<group>`, or just the resource for the core group.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_body_has_the_real_key_order_and_omits_core_group() {
        let body = String::from_utf8(ApiError::not_found("", "configmaps", "x").body()).unwrap();
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}"#
        );
    }

    #[test]
    fn invalid_lists_several_causes_in_brackets() {
        let e = ApiError::invalid(
            "Gadget.demo.example.com",
            "bad5",
            "demo.example.com",
            "Gadget",
            vec![
                Cause::required("spec.size", ""),
                Cause::not_supported("spec.color", "pink", &["red", "green"]),
            ],
        );
        assert_eq!(
            e.message,
            "Gadget.demo.example.com \"bad5\" is invalid: [spec.size: Required value, spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\"]"
        );
    }

    #[test]
    fn patch_rejected_keeps_empty_details() {
        let body = String::from_utf8(ApiError::patch_rejected().body()).unwrap();
        assert!(body.contains(r#""details":{},"code":422"#), "{body}");
    }
}
