//! The CEL type of each schema node, with the size bounds the Kubernetes cost estimator reads
//! (k8s.io/apiserver/pkg/cel `SchemaDeclType`): `maxLength` (times 4, bytes per rune),
//! `maxItems`, `maxProperties`, or what fits in the largest request when they are absent.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// The largest request body the server accepts (`MaxRequestSizeBytes`).
pub const MAX_REQUEST_SIZE_BYTES: u64 = 3 * 1024 * 1024;

#[derive(Debug)]
pub enum DeclKind {
    Bool,
    Int,
    Double,
    String,
    /// `x-kubernetes-int-or-string`, or an object that only preserves unknown fields.
    Dyn,
    Object(BTreeMap<String, Arc<Decl>>),
    Map(Arc<Decl>),
    List(Arc<Decl>),
}

#[derive(Debug)]
pub struct Decl {
    pub kind: DeclKind,
    /// The largest `size()` a value can have (string bytes, list items, map entries).
    pub max_elements: u64,
    /// The smallest JSON serialisation of a value (`""`, `[]`, `{}`, `0`, `true`).
    pub min_size: u64,
}

impl Decl {
    /// The declaration of one schema node; `None` for a node CEL cannot see (no type).
    pub fn of(schema: &Value) -> Option<Arc<Decl>> {
        let int_or_string = flag(schema, "x-kubernetes-int-or-string");
        let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
        let decl = match ty {
            _ if int_or_string => scalar(DeclKind::Dyn, MAX_REQUEST_SIZE_BYTES - 2, 1),
            "boolean" => scalar(DeclKind::Bool, 0, 4),
            "integer" => scalar(DeclKind::Int, 0, 1),
            "number" => scalar(DeclKind::Double, 0, 1),
            "string" => scalar(DeclKind::String, string_bound(schema), 2),
            "array" => {
                let items = schema.get("items").and_then(Decl::of)?;
                let max = bound(schema, "maxItems")
                    .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (items.min_size + 1));
                scalar(DeclKind::List(items), max, 2)
            }
            "object" => object(schema)?,
            _ => return None,
        };
        Some(Arc::new(decl))
    }

    /// The type of the elements of a list or the values of a map.
    pub fn element(&self) -> Option<&Arc<Decl>> {
        match &self.kind {
            DeclKind::List(e) | DeclKind::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The name CEL prints for this type in error messages.
    pub fn type_name(&self) -> String {
        match &self.kind {
            DeclKind::Bool => "bool".into(),
            DeclKind::Int => "int".into(),
            DeclKind::Double => "double".into(),
            DeclKind::String => "string".into(),
            DeclKind::Dyn => "dyn".into(),
            DeclKind::Object(_) => "object".into(),
            DeclKind::Map(v) => format!("map(string, {})", v.type_name()),
            DeclKind::List(e) => format!("list({})", e.type_name()),
        }
    }
}

/// A map key: a string of unknown length.
pub fn map_key() -> Arc<Decl> {
    Arc::new(scalar(DeclKind::String, MAX_REQUEST_SIZE_BYTES - 2, 2))
}

fn scalar(kind: DeclKind, max_elements: u64, min_size: u64) -> Decl {
    Decl {
        kind,
        max_elements,
        min_size,
    }
}

fn object(schema: &Value) -> Option<Decl> {
    if let Some(ap) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        let value = Decl::of(ap)?;
        let max = bound(schema, "maxProperties")
            .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (value.min_size + 6));
        return Some(scalar(DeclKind::Map(value), max, 2));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    if props.is_none_or(|p| p.is_empty())
        && !embedded
        && flag(schema, "x-kubernetes-preserve-unknown-fields")
    {
        return Some(scalar(DeclKind::Dyn, MAX_REQUEST_SIZE_BYTES - 2, 2));
    }
    let mut fields = BTreeMap::new();
    if embedded {
        let meta = serde_json::json!({"type": "object", "properties": {
            "name": {"type": "string"}, "generateName": {"type": "string"}}});
        for (k, v) in [
            ("apiVersion", serde_json::json!({"type": "string"})),
            ("kind", serde_json::json!({"type": "string"})),
            ("metadata", meta),
        ] {
            fields.extend(Decl::of(&v).map(|d| (k.to_string(), d)));
        }
    }
    for (name, prop) in props.into_iter().flatten() {
        fields.extend(Decl::of(prop).map(|d| (name.clone(), d)));
    }
    let max = bound(schema, "maxProperties").unwrap_or(fields.len() as u64);
    Some(scalar(DeclKind::Object(fields), max, 2))
}

/// `maxLength` in bytes (4 per rune), or what fits in a request.
fn string_bound(schema: &Value) -> u64 {
    match bound(schema, "maxLength") {
        Some(n) => n.saturating_mul(4),
        None => match schema.get("format").and_then(Value::as_str) {
            Some("duration") => 64,
            Some("date") => 12,
            Some("date-time") => 34,
            _ => MAX_REQUEST_SIZE_BYTES - 2,
        },
    }
}

fn bound(schema: &Value, key: &str) -> Option<u64> {
    schema
        .get(key)
        .and_then(Value::as_i64)
        .map(|n| n.max(0) as u64)
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}
