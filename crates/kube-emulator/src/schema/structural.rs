//! Validations the server runs after the OpenAPI schema: `apiVersion`/`kind` of embedded
//! resources (`x-kubernetes-embedded-resource`) and uniqueness in `x-kubernetes-list-type`
//! `set` and `map` lists. Paths use field-path spelling: `.child`, `[key]`, `[index]`.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::FieldError;
use super::node::{Additional, Node};
use emulator_common::gojson;

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `objectmeta.Validate` below the root.
pub fn validate_embedded(x: &Value, s: &Node, path: &str, out: &mut Vec<FieldError>) {
    match x {
        Value::Object(map) => {
            if s.embedded_resource {
                embedded_type_meta(map, path, out);
            }
            for (k, v) in map {
                if let Some(prop) = s.properties.get(k) {
                    validate_embedded(v, prop, &child(path, k), out);
                } else if let Some(Additional::Schema(ap)) = &s.additional {
                    validate_embedded(v, ap, &format!("{path}[{k}]"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for (i, v) in items.iter().enumerate() {
                    validate_embedded(v, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

static DNS1035: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-z]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));

fn embedded_type_meta(map: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    for key in ["apiVersion", "kind"] {
        if !map.contains_key(key) {
            out.push(FieldError::required(&child(path, key)));
        }
    }
    for (k, v) in map {
        let field = child(path, k);
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => out.push(FieldError::invalid(&field, v, "must be a string")),
                Some("") => out.push(FieldError::invalid(&field, v, "must not be empty")),
                Some(gv) if gv.matches('/').count() > 1 => out.push(FieldError::invalid(
                    &field,
                    v,
                    &format!("unexpected GroupVersion string: {gv}"),
                )),
                Some(_) => {}
            },
            "kind" => match v.as_str() {
                None => out.push(FieldError::invalid(&field, v, "must be a string")),
                Some("") => out.push(FieldError::invalid(&field, v, "must not be empty")),
                Some(kind) => {
                    let lower = kind.to_lowercase();
                    let mut errs = Vec::new();
                    if lower.len() > 63 {
                        errs.push("must be no more than 63 characters".to_string());
                    }
                    if !DNS1035.is_match(&lower) {
                        errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
                    }
                    if !errs.is_empty() {
                        out.push(FieldError::invalid(
                            &field,
                            v,
                            &format!(
                                "may have mixed case, but should otherwise match: {}",
                                errs.join(",")
                            ),
                        ));
                    }
                }
            },
            _ => {}
        }
    }
}

/// `listtype.ValidateListSetsAndMaps` from an object node.
pub fn validate_list_types(
    obj: &Map<String, Value>,
    s: &Node,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if let Some(Additional::Schema(ap)) = &s.additional {
        for (k, v) in obj {
            list_types_of(v, ap, &format!("{path}[{k}]"), out);
        }
    }
    for (k, v) in obj {
        if let Some(prop) = s.properties.get(k) {
            list_types_of(v, prop, &child(path, k), out);
        }
    }
}

fn list_types_of(v: &Value, s: &Node, path: &str, out: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    for i in first_repeats(items.iter().map(identity_key)) {
                        out.push(FieldError::duplicate(&format!("{path}[{i}]"), &items[i]));
                    }
                }
                Some("map") => list_map(items, s, path, out),
                _ => {}
            }
            if let Some(item_schema) = &s.items {
                for (i, item) in items.iter().enumerate() {
                    list_types_of(item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => validate_list_types(map, s, path, out),
        _ => {}
    }
}

/// A comparison key that tells values apart the way Go's map keys and JSON encoding do.
fn identity_key(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => format!("f:{}", gojson::to_json(v)),
        _ => gojson::to_json(v),
    }
}

/// Indices of the second appearance of each repeated key (later repeats are not reported).
fn first_repeats(keys: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut repeats = Vec::new();
    for (i, key) in keys.enumerate() {
        let count = seen.entry(key).or_insert(0);
        *count += 1;
        if *count == 2 {
            repeats.push(i);
        }
    }
    repeats
}

fn list_map(items: &[Value], s: &Node, path: &str, out: &mut Vec<FieldError>) {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            out.push(FieldError::invalid(
                &format!("{path}[{i}]"),
                x,
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    let keys: Vec<Map<String, Value>> = items
        .iter()
        .map(|x| {
            s.list_map_keys
                .iter()
                .filter_map(|k| x.get(k).map(|v| (k.clone(), v.clone())))
                .collect()
        })
        .collect();
    let identities = keys.iter().map(|k| {
        if s.list_map_keys.len() == 1 {
            // One key: compared as the bare value, a missing key as its own marker.
            match k.values().next() {
                Some(v) => identity_key(v),
                None => "\u{0}unspecified".to_string(),
            }
        } else {
            gojson::to_json(&Value::Object(k.clone()))
        }
    });
    for i in first_repeats(identities) {
        out.push(FieldError::duplicate(
            &format!("{path}[{i}]"),
            &Value::Object(keys[i].clone()),
        ));
    }
}
