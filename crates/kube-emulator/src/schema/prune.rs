//! What the API server's decoder does to a custom resource before anything else looks at it:
//! unknown `metadata` fields dropped, unknown fields pruned by the structural schema, nulls that
//! the schema does not allow (and cannot default) removed, metadata of embedded resources cleaned.
//! Unknown field paths are collected in the server's spelling (`spec.bogus`, `items[0].x`).

use serde_json::{Map, Value};

use super::node::Node;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Known fields of `ObjectMeta`; `None` marks a value decoded as is, `Some` a nested object
/// (or list of objects) with its own known fields.
fn object_meta_field(name: &str) -> Option<Option<&'static [&'static str]>> {
    const OWNER_REFERENCE: &[&str] = &[
        "apiVersion",
        "kind",
        "name",
        "uid",
        "controller",
        "blockOwnerDeletion",
    ];
    const MANAGED_FIELDS: &[&str] = &[
        "manager",
        "operation",
        "apiVersion",
        "time",
        "fieldsType",
        "fieldsV1",
        "subresource",
    ];
    match name {
        "name"
        | "generateName"
        | "namespace"
        | "selfLink"
        | "uid"
        | "resourceVersion"
        | "generation"
        | "creationTimestamp"
        | "deletionTimestamp"
        | "deletionGracePeriodSeconds"
        | "labels"
        | "annotations"
        | "finalizers" => Some(None),
        "ownerReferences" => Some(Some(OWNER_REFERENCE)),
        "managedFields" => Some(Some(MANAGED_FIELDS)),
        _ => None,
    }
}

/// Drops unknown fields of an `ObjectMeta` value and returns their paths under `prefix`.
pub fn prune_object_meta(metadata: &mut Value, prefix: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let Value::Object(map) = metadata else {
        return unknown;
    };
    let mut drop = Vec::new();
    for (key, value) in map.iter_mut() {
        match object_meta_field(key) {
            None => drop.push(key.clone()),
            Some(None) => {}
            Some(Some(known)) => {
                if let Value::Array(items) = value {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let Value::Object(fields) = item {
                            let extra: Vec<String> = fields
                                .keys()
                                .filter(|k| !known.contains(&k.as_str()))
                                .cloned()
                                .collect();
                            for k in extra {
                                fields.remove(&k);
                                unknown.push(format!("{prefix}.{key}[{i}].{k}"));
                            }
                        }
                    }
                }
            }
        }
    }
    for key in drop {
        map.remove(&key);
        unknown.push(format!("{prefix}.{key}"));
    }
    unknown.sort();
    unknown
}

/// The structural pruning of `pruning.PruneWithOptions`. `path` is the parent path.
pub fn prune(x: &mut Value, s: Option<&Node>, path: &str, unknown: &mut Vec<String>) {
    if let Some(s) = s
        && s.preserve_unknown_fields
    {
        skip_prune(x, s, path, unknown);
        return;
    }
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                for k in map.keys() {
                    unknown.push(join_key(path, k));
                }
                map.clear();
                return;
            };
            let mut drop = Vec::new();
            for (k, v) in map.iter_mut() {
                if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(prop) = s.properties.get(k) {
                    prune(v, Some(prop), &join_key(path, k), unknown);
                } else if s.has_additional() {
                    prune(v, s.child(k), &join_key(path, k), unknown);
                } else {
                    if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                        unknown.push(join_key(path, k));
                    }
                    drop.push(k.clone());
                }
            }
            for k in drop {
                map.remove(&k);
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                prune(v, item_schema, &format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

/// `x-kubernetes-preserve-unknown-fields`: unknown keys stay, known ones are still pruned.
fn skip_prune(x: &mut Value, s: &Node, path: &str, unknown: &mut Vec<String>) {
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(prop) = s.properties.get(k) {
                    prune(v, Some(prop), &join_key(path, k), unknown);
                } else if s.has_additional() {
                    prune(v, s.child(k), &join_key(path, k), unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    skip_prune(v, item_schema, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `PruneNonNullableNullsWithoutDefaults`: a null the schema neither allows nor defaults goes.
pub fn prune_nulls(x: &mut Value, s: Option<&Node>) {
    match x {
        Value::Object(map) => {
            let mut drop = Vec::new();
            for (k, v) in map.iter_mut() {
                let child = s.and_then(|s| s.child(k));
                match child {
                    Some(c) if v.is_null() && !c.nullable && c.default.is_none() => {
                        drop.push(k.clone())
                    }
                    _ => prune_nulls(v, child),
                }
            }
            for k in drop {
                map.remove(&k);
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for v in items {
                prune_nulls(v, item_schema);
            }
        }
        _ => {}
    }
}

/// `objectmeta.Coerce` below the root: the `metadata` of embedded resources is cleaned like the
/// root's. `path` uses field-path spelling (`spec.template`, `spec.map[key]`, `items[0]`).
pub fn coerce_embedded(x: &mut Value, s: &Node, path: &str, unknown: &mut Vec<String>) {
    match x {
        Value::Object(map) => {
            if s.embedded_resource
                && let Some(meta) = map.get_mut("metadata")
            {
                let prefix = if path.is_empty() {
                    "metadata".to_string()
                } else {
                    format!("{path}.metadata")
                };
                unknown.extend(prune_object_meta(meta, &prefix));
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    coerce_embedded(v, prop, &join_key(path, k), unknown);
                } else if let Some(child) = s.child(k) {
                    coerce_embedded(v, child, &format!("{path}[{k}]"), unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    coerce_embedded(v, item_schema, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Removes unknown keys of a map in place (used for defaults, which the server prunes too).
pub fn prune_default(default: &mut Value, s: &Node) {
    let mut ignored = Vec::new();
    prune(default, Some(s), "", &mut ignored);
}

/// Helper for callers holding a map: prune the root of an object.
pub fn prune_root(object: &mut Map<String, Value>, root: &Node) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Some(meta) = object.get_mut("metadata") {
        unknown.extend(prune_object_meta(meta, "metadata"));
    }
    let mut paths = Vec::new();
    for (k, v) in object.iter_mut() {
        if META_FIELDS.contains(&k.as_str()) {
            continue;
        }
        if let Some(prop) = root.properties.get(k) {
            prune(v, Some(prop), k, &mut paths);
        } else if root.has_additional() {
            prune(v, root.child(k), k, &mut paths);
        }
    }
    if !root.preserve_unknown_fields && !root.has_additional() {
        let extra: Vec<String> = object
            .keys()
            .filter(|k| !META_FIELDS.contains(&k.as_str()) && !root.properties.contains_key(*k))
            .cloned()
            .collect();
        for k in extra {
            object.remove(&k);
            paths.push(k);
        }
    }
    paths.sort();
    unknown.extend(paths);
    let mut embedded = Vec::new();
    for (k, v) in object.iter_mut() {
        if let Some(prop) = root.properties.get(k) {
            coerce_embedded(v, prop, k, &mut embedded);
        }
    }
    embedded.sort();
    unknown.extend(embedded);
    let root_value = std::mem::take(object);
    let mut value = Value::Object(root_value);
    prune_nulls(&mut value, Some(root));
    if let Value::Object(map) = value {
        *object = map;
    }
    unknown
}
