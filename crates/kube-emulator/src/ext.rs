//! The one place where the server calls the pure building blocks written alongside it
//! (`schema`, `openapi`, `table`, `ssa`, `strategic_merge`, `protobuf`), translating their
//! results into the server's types (`Cause`, `ApiError`).

use serde_json::Value;

use crate::resource::ResourceKind;
use crate::status::{ApiError, Cause, Details};

pub use crate::openapi::{v2_document as openapi_v2, v3_group_version_with_hash, v3_root};
pub use crate::ssa::{Conflict, apply, conflict_causes, conflict_message, record_update};
pub use crate::table::{IncludeObject, table};

/// The compiled schema of one CRD version.
pub struct Schema(crate::schema::Schema);

fn causes(errors: Vec<crate::schema::FieldError>) -> Vec<Cause> {
    errors
        .into_iter()
        .map(|e| Cause {
            reason: e.reason,
            message: e.message,
            field: Some(e.field),
        })
        .collect()
}

impl Schema {
    pub fn compile(open_api_v3_schema: &Value) -> Result<Schema, String> {
        crate::schema::Schema::compile(open_api_v3_schema).map(Schema)
    }
    /// Removes unknown fields; returns their paths (`spec.foo`, `metadata.extra`).
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        self.0.prune(object)
    }
    pub fn apply_defaults(&self, object: &mut Value) {
        self.0.apply_defaults(object)
    }
    /// Validation of a create.
    pub fn validate(&self, object: &Value) -> Vec<Cause> {
        causes(self.0.validate(object))
    }
    /// Validation of an update of the main resource (errors in unchanged values ratchet).
    pub fn validate_update(&self, object: &Value, old: &Value) -> Vec<Cause> {
        causes(self.0.validate_update(object, old))
    }
    /// Validation of a write to /status.
    pub fn validate_status(&self, object: &Value, old: &Value) -> Vec<Cause> {
        causes(self.0.validate_status(object, Some(old)))
    }
    /// The CRD's validation rules, after the causes found so far: their causes, and the
    /// `Warning` header values of the failures ratcheted on unchanged values.
    pub fn validate_rules(
        &self,
        object: &Value,
        old: Option<&Value>,
        so_far: &[Cause],
    ) -> (Vec<Cause>, Vec<String>) {
        let found: Vec<crate::schema::FieldError> = so_far
            .iter()
            .map(|c| crate::schema::FieldError {
                reason: c.reason.clone(),
                field: c.field.clone().unwrap_or_default(),
                message: c.message.clone(),
            })
            .collect();
        let out = self.0.validate_rules(object, old, &found);
        let warnings = out
            .warnings
            .iter()
            .map(|w| crate::schema::warning_header(w))
            .collect();
        (causes(out.errors), warnings)
    }
}

/// What a CRD's `x-kubernetes-validations` rules give it on create and update (rules that do
/// not compile or cost too much): once under `spec.validation.openAPIV3Schema` when every
/// version has the same schema (the server hoists it there), else per version.
pub fn crd_rule_causes(versions: &[Value]) -> Vec<Cause> {
    let schemas: Vec<&Value> = versions
        .iter()
        .filter_map(|v| v.pointer("/schema/openAPIV3Schema"))
        .collect();
    if schemas.len() == versions.len() && schemas.windows(2).all(|w| w[0] == w[1]) {
        return schemas.first().map_or_else(Vec::new, |s| {
            causes(crate::schema::cel::crd_errors(
                s,
                "spec.validation.openAPIV3Schema",
            ))
        });
    }
    versions
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, v.pointer("/schema/openAPIV3Schema")?)))
        .flat_map(|(i, s)| {
            let base = format!("spec.versions[{i}].schema.openAPIV3Schema");
            causes(crate::schema::cel::crd_errors(s, &base))
        })
        .collect()
}

/// The 422 a PATCH with `fieldValidation=Strict` gets for unknown fields.
pub fn strict_patch_error(patched: &Value, unknown: &[String]) -> ApiError {
    let errors: Vec<String> = unknown
        .iter()
        .map(|u| crate::schema::unknown_field_error(u))
        .collect();
    let json = serde_json::to_string(patched).unwrap_or_default();
    let cause = crate::schema::strict_patch_error(&json, &errors);
    ApiError::invalid("", "", "", "", causes(vec![cause]))
}

/// The 400 of `fieldValidation=Strict` on create and update.
pub fn strict_decoding_error(
    kind: &str,
    version: &str,
    duplicates: &[String],
    unknown: &[String],
) -> ApiError {
    let errors: Vec<String> = duplicates
        .iter()
        .map(|d| crate::schema::duplicate_field_error(d))
        .chain(
            unknown
                .iter()
                .map(|u| crate::schema::unknown_field_error(u)),
        )
        .collect();
    ApiError::bad_request(crate::schema::strict_decoding_message(
        kind, version, &errors,
    ))
}

/// The `Warning` header value for one unknown field.
pub fn unknown_field_warning(path: &str) -> String {
    crate::schema::warning_header(&crate::schema::unknown_field_error(path))
}

/// `check_applied` of the apply body, as a Status error.
pub fn check_applied(kind: &ResourceKind, applied: &Value) -> Result<(), ApiError> {
    crate::ssa::check_applied(kind, applied).map_err(|e| {
        if e.code == 400 {
            ApiError::bad_request(e.message)
        } else {
            let mut err = ApiError::internal(&e.message);
            err.reason = e.reason.to_string();
            err
        }
    })
}

/// Strategic merge patch of a built-in object, with the real server's error statuses.
pub fn strategic_merge_patch(
    kind: &ResourceKind,
    original: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    crate::strategic_merge::strategic_merge_patch(kind, original, patch).map_err(|message| {
        let status = crate::strategic_merge::error_status(&message);
        let mut err = ApiError::new(status.code, status.reason, status.message);
        if status.code == 422 {
            err.details = Some(Box::default());
        } else if status.code == 500 {
            err.details = Some(Box::new(Details {
                causes: vec![Cause {
                    reason: String::new(),
                    message: message.clone(),
                    field: None,
                }],
                ..Details::default()
            }));
        }
        err
    })
}

/// Decodes a Kubernetes protobuf body into JSON; `endpoint_kind` names the kind of the URL.
pub fn decode_protobuf(body: &[u8], endpoint_kind: &str) -> Result<Value, ApiError> {
    crate::protobuf::decode(body).map_err(|e| {
        ApiError::bad_request(crate::protobuf::bad_request_message(
            endpoint_kind,
            body,
            &e,
        ))
    })
}

/// `?includeObject=` of a Table request (400 for an unknown value).
pub fn include_object(value: Option<&str>) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(value).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unrecognized includeObject value: {:?}",
            value.unwrap_or("")
        ))
    })
}
