//! The one place where the server calls the pure building blocks written alongside it
//! (`schema`, `openapi`, `table`, `ssa`, `strategic_merge`, `protobuf`). Until a block has
//! landed, its call site here falls back to the simplest behaviour that keeps the server usable;
//! every fallback is listed in the README.

use serde_json::{Value, json};

use crate::resource::ResourceKind;
use crate::status::{ApiError, Cause};

/// The compiled schema of one CRD version.
pub struct Schema {
    _raw: Value,
}

impl Schema {
    pub fn compile(open_api_v3_schema: &Value) -> Result<Schema, String> {
        Ok(Schema {
            _raw: open_api_v3_schema.clone(),
        })
    }
    /// Removes unknown fields; returns their paths (`.spec.foo`).
    pub fn prune(&self, _object: &mut Value) -> Vec<String> {
        Vec::new()
    }
    pub fn apply_defaults(&self, _object: &mut Value) {}
    pub fn validate(&self, _object: &Value) -> Vec<Cause> {
        Vec::new()
    }
}

/// `includeObject=` of Table requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// A `meta.k8s.io/v1` Table of the objects.
pub fn table(
    _kind: &ResourceKind,
    objects: &[Value],
    with_column_definitions: bool,
    include_object: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Object => o.clone(),
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                }),
            };
            json!({"cells": [o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)], "object": object})
        })
        .collect();
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    let columns = if with_column_definitions {
        json!([{"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}])
    } else {
        Value::Null
    };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns, "rows": rows})
}

pub fn openapi_v2(_kinds: &[ResourceKind]) -> Option<Value> {
    None
}
pub fn openapi_v3_root(_kinds: &[ResourceKind]) -> Option<Value> {
    None
}
pub fn openapi_v3_group_version(
    _group: &str,
    _version: &str,
    _kinds: &[ResourceKind],
) -> Option<Value> {
    None
}

pub use crate::ssa::{Conflict, apply, conflict_causes, conflict_message, record_update};

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

pub fn strategic_merge_patch(
    _kind: &ResourceKind,
    original: &Value,
    patch: &Value,
) -> Result<Value, String> {
    let mut out = original.clone();
    json_patch::merge(&mut out, patch);
    Ok(out)
}

/// Decodes a Kubernetes protobuf body into JSON.
pub fn decode_protobuf(_body: &[u8]) -> Result<Value, String> {
    Err("protobuf is not supported yet".to_string())
}
