//! Validation, pruning and defaulting of custom resources against the `openAPIV3Schema` of their
//! CRD version, with the real API server's order of causes and exact messages
//! (apiextensions-apiserver + kube-openapi of Kubernetes 1.36).
//!
//! Request flow, as in the real server (see the crate's report for the wiring):
//! 1. decode the body, then [`Schema::prune`] — it returns the unknown field paths that become
//!    `Warning` headers ([`warning_header`]) or, with `fieldValidation=Strict`, a 400
//!    ([`strict_decoding_message`]);
//! 2. [`Schema::apply_defaults`];
//! 3. [`Schema::validate`] (create), [`Schema::validate_update`] (update/patch, with the
//!    server's ratcheting of unchanged fields) or [`Schema::validate_status`] (status
//!    subresource writes); a non-empty result is a 422 with [`invalid_message`].

pub mod cel;
mod defaults;
mod formats;
mod node;
mod openapi_errors;
mod prune;
mod structural;
mod validate;

use emulator_common::{gofmt, gojson};
use serde_json::Value;

pub use emulator_common::gofmt::{float_v as go_float_v, quote as go_quote};
pub use emulator_common::gojson::to_json as go_json;

use node::Node;
use openapi_errors::{OpenApiError, to_field_errors};

/// The compiled `openAPIV3Schema` of one CRD version.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Node,
    /// The `x-kubernetes-validations` rules, compiled once with the schema.
    rules: std::sync::Arc<cel::Rules>,
}

/// One `details.causes[]` entry of a 422 Invalid status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueTypeInvalid`, `FieldValueTooLong`, `FieldValueTooMany`, `FieldValueDuplicate`, ...
    pub reason: String,
    /// `spec.size`, `status.conditions[0].status`.
    pub field: String,
    /// Exactly as the real server's `details.causes[].message`.
    pub message: String,
}

impl Schema {
    /// Compiles a CRD version's `openAPIV3Schema`. Defaults are pruned like the server does.
    pub fn compile(open_api_v3_schema: &Value) -> Result<Schema, String> {
        let mut root = Node::compile(open_api_v3_schema, "openAPIV3Schema")?;
        prune_defaults(&mut root);
        let rules = std::sync::Arc::new(cel::Rules::compile(open_api_v3_schema));
        Ok(Schema { root, rules })
    }

    /// What the server's decoder does before anything else: drops unknown `metadata` fields,
    /// prunes fields the schema does not know (honouring `x-kubernetes-preserve-unknown-fields`
    /// and `x-kubernetes-embedded-resource`), drops nulls the schema neither allows nor
    /// defaults. Returns the unknown field paths in the server's order and spelling
    /// (`metadata.extra`, `spec.bogus`, `spec.items[0].x`): turn each into
    /// [`unknown_field_error`] for warnings or a strict-decoding error.
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        match object {
            Value::Object(map) => prune::prune_root(map, &self.root),
            _ => Vec::new(),
        }
    }

    /// Applies schema `default`s: missing properties and non-nullable nulls, also inside
    /// `additionalProperties` values and array items. Run it after [`Schema::prune`] (a merge
    /// patch that sets a defaulted field to null gets the default back).
    pub fn apply_defaults(&self, object: &mut Value) {
        defaults::apply(object, &self.root);
    }

    /// Validates a whole object (create) and returns the causes in the server's order.
    pub fn validate(&self, object: &Value) -> Vec<FieldError> {
        self.validate_against(object, None)
    }

    /// Validates an updated object. Like the server (CRD validation ratcheting), errors inside
    /// values that are unchanged from `old` are not reported.
    pub fn validate_update(&self, object: &Value, old: &Value) -> Vec<FieldError> {
        self.validate_against(object, Some(old))
    }

    /// Validates a write to the `status` subresource: only `status` is checked against the
    /// schema (with messages relative to `status`, as the server's status validator does).
    pub fn validate_status(&self, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut causes = Vec::new();
        if let (Some(status), Some(schema)) =
            (object.get("status"), self.root.properties.get("status"))
        {
            let mut errs = Vec::new();
            let old_status = old.and_then(|o| o.get("status"));
            validate::validate(schema, status, old_status, "", &mut errs);
            causes = to_field_errors(errs, Some("status"));
        }
        causes.extend(self.structural_errors(object));
        causes
    }

    /// Runs the CRD's validation rules on a created (`old` None) or updated object, after the
    /// schema checks: when one of `causes` is a blocking error the server skips them and says
    /// so in one extra cause.
    pub fn validate_rules(
        &self,
        object: &Value,
        old: Option<&Value>,
        causes: &[FieldError],
    ) -> cel::Outcome {
        if self.rules.is_empty() {
            return cel::Outcome::default();
        }
        if causes.iter().any(cel::is_blocking) {
            return cel::Outcome {
                errors: vec![cel::not_checked_cause()],
                warnings: Vec::new(),
            };
        }
        self.rules.validate(object, old)
    }

    fn validate_against(&self, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs: Vec<OpenApiError> = Vec::new();
        validate::validate(&self.root, object, old, "", &mut errs);
        let mut causes = to_field_errors(errs, None);
        causes.extend(self.structural_errors(object));
        causes
    }

    fn structural_errors(&self, object: &Value) -> Vec<FieldError> {
        let mut causes = Vec::new();
        if let Value::Object(map) = object {
            for (k, v) in map {
                if let Some(prop) = self.root.properties.get(k) {
                    structural::validate_embedded(v, prop, k, &mut causes);
                }
            }
            structural::validate_list_types(map, &self.root, "", &mut causes);
        }
        causes
    }
}

/// The server prunes each `default` with the schema it belongs to.
fn prune_defaults(node: &mut Node) {
    if let Some(mut default) = node.default.take() {
        prune::prune_default(&mut default, node);
        node.default = Some(default);
    }
    for child in node.properties.values_mut() {
        prune_defaults(child);
    }
    if let Some(node::Additional::Schema(ap)) = &mut node.additional {
        prune_defaults(ap);
    }
    if let Some(items) = &mut node.items {
        prune_defaults(items);
    }
}

/// `%v` of a field error's bad value, as `field.Error.ErrorBody` prints it.
fn bad_value(v: &Value) -> String {
    match v {
        Value::String(s) => gofmt::quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => match n.as_u64() {
                Some(u) => u.to_string(),
                None => gofmt::float_v(n.as_f64().unwrap_or(0.0)),
            },
        },
        Value::Null | Value::Array(_) | Value::Object(_) => gojson::to_json(v),
    }
}

impl FieldError {
    fn new(reason: &str, field: &str, message: String) -> Self {
        FieldError {
            reason: reason.to_string(),
            field: field.to_string(),
            message,
        }
    }

    fn with_detail(body: String, detail: &str) -> String {
        if detail.is_empty() {
            body
        } else {
            format!("{body}: {detail}")
        }
    }

    /// `field.Required`.
    pub fn required(field: &str) -> Self {
        Self::new("FieldValueRequired", field, "Required value".into())
    }

    /// `field.Invalid`.
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        let body = format!("Invalid value: {}", bad_value(value));
        Self::new("FieldValueInvalid", field, Self::with_detail(body, detail))
    }

    /// `field.TypeInvalid`.
    pub fn type_invalid(field: &str, value: &Value, detail: &str) -> Self {
        let body = format!("Invalid value: {}", bad_value(value));
        Self::new(
            "FieldValueTypeInvalid",
            field,
            Self::with_detail(body, detail),
        )
    }

    /// `field.NotSupported`: allowed values print as strings (non-strings as their JSON).
    pub fn not_supported(field: &str, value: &Value, allowed: &[Value]) -> Self {
        let body = format!("Unsupported value: {}", bad_value(value));
        let quoted: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => gofmt::quote(s),
                other => gofmt::quote(&gojson::to_json(other)),
            })
            .collect();
        let detail = if quoted.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            "FieldValueNotSupported",
            field,
            Self::with_detail(body, &detail),
        )
    }

    /// `field.TooLong` (the value itself is never shown).
    pub fn too_long(field: &str, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "value is too long".to_string(),
            1 => "may not be more than 1 byte".to_string(),
            m => format!("may not be more than {m} bytes"),
        };
        Self::new("FieldValueTooLong", field, format!("Too long: {detail}"))
    }

    /// `field.TooMany`.
    pub fn too_many(field: &str, actual: i64, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "has too many items".to_string(),
            1 => "must have at most 1 item".to_string(),
            m => format!("must have at most {m} items"),
        };
        let body = if actual >= 0 {
            format!("Too many: {actual}")
        } else {
            "Too many".to_string()
        };
        Self::new("FieldValueTooMany", field, format!("{body}: {detail}"))
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: &str, value: &Value) -> Self {
        Self::new(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {}", bad_value(value)),
        )
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::new(
            "FieldValueForbidden",
            field,
            Self::with_detail("Forbidden".into(), detail),
        )
    }

    /// `"spec.size: Required value"`, as inside the top-level Status message.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// The message of a 422 Invalid status: `Gadget.demo.example.com "g1" is invalid: <cause>` for
/// one distinct cause, `... is invalid: [<cause>, <cause>]` for several (duplicates collapse).
pub fn invalid_message(group_kind: &str, name: &str, errors: &[FieldError]) -> String {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<String> = errors
        .iter()
        .map(FieldError::summary)
        .filter(|s| seen.insert(s.clone()))
        .collect();
    let head = format!("{group_kind} {} is invalid", gofmt::quote(name));
    match distinct.len() {
        0 => head,
        1 => format!("{head}: {}", distinct[0]),
        _ => format!("{head}: [{}]", distinct.join(", ")),
    }
}

/// One strict-decoding error for an unknown field: `unknown field "spec.bogus"`.
pub fn unknown_field_error(path: &str) -> String {
    format!("unknown field \"{path}\"")
}

/// One strict-decoding error for a key that appears twice: `duplicate field "spec.size"`.
pub fn duplicate_field_error(path: &str) -> String {
    format!("duplicate field \"{path}\"")
}

/// The 400 BadRequest message for `fieldValidation=Strict` on create/update:
/// `Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: unknown field
/// "metadata.extra", unknown field "spec.bogus"`.
pub fn strict_decoding_message(kind: &str, version: &str, errors: &[String]) -> String {
    format!(
        "{kind} in version {} cannot be handled as a {kind}: strict decoding error: {}",
        gofmt::quote(version),
        errors.join(", ")
    )
}

/// The cause of the 422 that a PATCH with `fieldValidation=Strict` gets instead: field `patch`,
/// the patched object as the bad value. Its status message is
/// `invalid_message("", "", &[cause])` (the server leaves kind and name empty).
pub fn strict_patch_error(patched_json: &str, errors: &[String]) -> FieldError {
    FieldError::invalid(
        "patch",
        &Value::String(patched_json.to_string()),
        &format!("strict decoding error: {}", errors.join(", ")),
    )
}

/// The value of one `Warning` response header: `299 - "unknown field \"spec.bogus\""`.
pub fn warning_header(text: &str) -> String {
    let mut out = String::from("299 - \"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
