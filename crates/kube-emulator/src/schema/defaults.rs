//! The API server's structural defaulting (`defaulting.Default`): missing properties and
//! non-nullable nulls get the schema `default`, also inside `additionalProperties` values and
//! array items.

use serde_json::Value;

use super::node::{Additional, Node};

fn non_nullable_null(x: &Value, s: &Node) -> bool {
    x.is_null() && !s.nullable
}

pub fn apply(x: &mut Value, s: &Node) {
    match x {
        Value::Object(map) => {
            for (k, prop) in &s.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                let missing = match map.get(k) {
                    None => true,
                    Some(v) => non_nullable_null(v, prop),
                };
                if missing {
                    map.insert(k.clone(), default.clone());
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    apply(v, prop);
                } else if let Some(Additional::Schema(ap)) = &s.additional {
                    if non_nullable_null(v, ap) {
                        *v = ap.default.clone().unwrap_or(Value::Null);
                    }
                    apply(v, ap);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for v in items.iter_mut() {
                    if non_nullable_null(v, item_schema) {
                        *v = item_schema.default.clone().unwrap_or(Value::Null);
                    }
                    apply(v, item_schema);
                }
            }
        }
        _ => {}
    }
}
