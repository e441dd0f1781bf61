//! The errors of kube-openapi's validator (what it records, with its exact message texts) and
//! their conversion to the field errors the API server reports
//! (`kubeOpenAPIResultToFieldErrors` in apiextensions-apiserver).

use serde_json::Value;

use super::FieldError;
use emulator_common::gofmt;

/// kube-openapi error codes that the conversion distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    /// Every other validation failure (pattern, min/max, minLength, …): reported as Invalid.
    Other,
}

/// One error recorded by the validator.
#[derive(Debug, Clone)]
pub enum OpenApiError {
    /// An `errors.Validation`: `name` is the value's path as the validator spells it
    /// (`spec.size`, `.spec` for a required property at the root).
    Validation {
        code: Code,
        name: String,
        value: Option<Value>,
        valid: Option<i64>,
        values: Vec<Value>,
        message: String,
    },
    /// Any other error (composite `anyOf`/`oneOf` failures, range checks): reported against the
    /// validated root with an empty value.
    Plain(String),
}

impl OpenApiError {
    pub fn validation(code: Code, name: &str, value: Option<Value>, message: String) -> Self {
        OpenApiError::Validation {
            code,
            name: name.to_string(),
            value,
            valid: None,
            values: Vec::new(),
            message,
        }
    }

    pub fn with_valid(mut self, limit: i64) -> Self {
        if let OpenApiError::Validation { valid, .. } = &mut self {
            *valid = Some(limit);
        }
        self
    }

    pub fn with_values(mut self, allowed: Vec<Value>) -> Self {
        if let OpenApiError::Validation { values, .. } = &mut self {
            *values = allowed;
        }
        self
    }
}

/// `errors.InvalidType`: the message quotes the value only when it is a string.
pub fn invalid_type(name: &str, type_name: &str, value: Value) -> OpenApiError {
    let message = match &value {
        Value::String(s) => format!(
            "{name} in body must be of type {type_name}: {}",
            gofmt::quote(s)
        ),
        _ => format!("{name} in body must be of type {type_name}"),
    };
    OpenApiError::validation(Code::InvalidType, name, Some(value), message)
}

/// Converts the validator's errors to field errors. `prefix` is the path the validated value
/// sits at (`None` for the whole object, `Some("status")` for the status validator).
pub fn to_field_errors(errors: Vec<OpenApiError>, prefix: Option<&str>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| match e {
            OpenApiError::Validation {
                code,
                name,
                value,
                valid,
                values,
                message,
            } => {
                let field = if name.is_empty() || name == "." {
                    prefix.unwrap_or("<nil>").to_string()
                } else {
                    let name = name.strip_prefix('.').unwrap_or(&name);
                    match prefix {
                        Some(p) => format!("{p}.{name}"),
                        None => name.to_string(),
                    }
                };
                let value = value.unwrap_or(Value::String(String::new()));
                match code {
                    Code::Required => FieldError::required(&field),
                    Code::Enum => FieldError::not_supported(&field, &value, &values),
                    Code::TooLong => FieldError::too_long(&field, valid.unwrap_or(-1)),
                    Code::MaxItems | Code::TooManyProperties => FieldError::too_many(
                        &field,
                        value.as_i64().unwrap_or(-1),
                        valid.unwrap_or(-1),
                    ),
                    Code::InvalidType => FieldError::type_invalid(&field, &value, &message),
                    Code::Other => FieldError::invalid(&field, &value, &message),
                }
            }
            OpenApiError::Plain(message) => FieldError::invalid(
                prefix.unwrap_or("<nil>"),
                &Value::String(String::new()),
                &message,
            ),
        })
        .collect()
}
