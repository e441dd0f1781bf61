//! The one place where the server calls the pure building blocks written alongside it
//! (`schema`, `openapi`, `table`, `ssa`, `strategic_merge`, `protobuf`). Until a block has
//! landed, its call site here falls back to the simplest behaviour that keeps the server usable;
//! every fallback is listed in the README.

use serde_json::{Value, json};

use crate::resource::ResourceKind;
use crate::status::Cause;

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

/// A field-manager conflict of a server-side apply.
pub struct Conflict {
    pub manager: String,
    pub field: String,
}

/// Server-side apply of `applied` onto `live`.
pub fn apply(
    _kind: &ResourceKind,
    live: Option<&Value>,
    applied: &Value,
    _manager: &str,
    _force: bool,
    _subresource: Option<&str>,
    _now: &str,
) -> Result<Value, Vec<Conflict>> {
    let mut merged = live.cloned().unwrap_or_else(|| json!({}));
    deep_merge(&mut merged, applied);
    Ok(merged)
}

fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Records a non-apply write into `new`'s managedFields.
pub fn record_update(
    _kind: &ResourceKind,
    _old: Option<&Value>,
    _new: &mut Value,
    _manager: &str,
    _subresource: Option<&str>,
    _now: &str,
) {
}

pub fn conflict_message(conflicts: &[Conflict]) -> String {
    format!("Apply failed with {} conflicts", conflicts.len())
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
