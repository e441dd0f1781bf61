//! JSON values as CEL sees them through their schema: integers stay integers, `number` is
//! always a double, objects only show their declared (escaped) properties.

use std::collections::HashMap;
use std::sync::Arc;

use ::cel::Value as Cel;
use serde_json::Value;

use super::decl::{Decl, DeclKind};
use super::names;

pub fn to_cel(v: &Value, decl: &Decl) -> Cel {
    match (&decl.kind, v) {
        (DeclKind::Double, Value::Number(n)) => Cel::Float(n.as_f64().unwrap_or(0.0)),
        (DeclKind::Object(fields), Value::Object(map)) => {
            let entries: HashMap<String, Cel> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .filter_map(|(k, v)| {
                    let field = fields.get(k)?;
                    Some((names::escape(k)?, to_cel(v, field)))
                })
                .collect();
            Cel::from(entries)
        }
        (DeclKind::Map(elem), Value::Object(map)) => {
            let entries: HashMap<String, Cel> = map
                .iter()
                .map(|(k, v)| (k.clone(), to_cel(v, elem)))
                .collect();
            Cel::from(entries)
        }
        (DeclKind::List(elem), Value::Array(items)) => {
            Cel::List(Arc::new(items.iter().map(|i| to_cel(i, elem)).collect()))
        }
        _ => plain(v),
    }
}

/// A value without a schema (`x-kubernetes-preserve-unknown-fields`, int-or-string).
fn plain(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => match n.as_u64() {
                Some(u) => Cel::UInt(u),
                None => Cel::Float(n.as_f64().unwrap_or(0.0)),
            },
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(plain).collect())),
        Value::Object(map) => {
            let entries: HashMap<String, Cel> =
                map.iter().map(|(k, v)| (k.clone(), plain(v))).collect();
            Cel::from(entries)
        }
    }
}
