//! Strategic merge patch (`application/strategic-merge-patch+json`), the patch kubectl sends for
//! built-in kinds (client-side apply, and client-go/kube-rs event recorders). A port of
//! k8s.io/apimachinery `strategicpatch` as the server runs it (`StrategicMergeMapPatch`:
//! parallel lists merged, unmatched nulls ignored), with the patch metadata of the Go types in
//! [`crate::ssa::builtin`]: maps merge recursively, `null` deletes, lists are replaced unless
//! their field has `patchStrategy:"merge"` (by `patchMergeKey` for lists of objects, as a set
//! for lists of scalars), and the directives `$patch` (replace/delete), `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` work as on the real server,
//! error messages included.

use crate::resource::ResourceKind;
use crate::ssa::builtin::{self, GoType};
use emulator_common::gofmt::{quote, sprint, type_name};
use serde_json::{Map, Value};

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// `mergepatch` errors the HTTP layer maps to 400.
pub const ERR_BAD_JSON_DOC: &str = "invalid JSON document";
pub const ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
pub const ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
pub const ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST: &str =
    "invalid patch format of setElementOrder list";
pub const ERR_UNSUPPORTED_STRATEGIC_MERGE_PATCH_FORMAT: &str =
    "strategic merge patch format is not supported";
/// `mergepatch` errors the HTTP layer maps to 422.
pub const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
pub const ERR_PATCH_CONTENT_NOT_MATCH_RETAIN_KEYS: &str =
    "patch content doesn't match retainKeys list";

/// The answer the real server gives for a strategic merge patch error message.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorStatus {
    pub code: u16,
    /// `BadRequest`, `Invalid`, or `""` (the real 500 carries no reason).
    pub reason: &'static str,
    /// The Status message: the error itself, except for 422 where the real server answers
    /// with a generic sentence (and `details: {}`).
    pub message: String,
}

/// How the real server answers an error from [`strategic_merge_patch`]
/// (`interpretStrategicMergePatchError`): format errors are 400 BadRequest, lists of lists and
/// retainKeys mismatches 422 Invalid with the generic message and empty details, anything else
/// (missing merge key, unknown field, bad directive) 500 with an empty reason.
pub fn error_status(message: &str) -> ErrorStatus {
    match message {
        ERR_BAD_JSON_DOC
        | ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST
        | ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS
        | ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST
        | ERR_UNSUPPORTED_STRATEGIC_MERGE_PATCH_FORMAT => ErrorStatus {
            code: 400,
            reason: "BadRequest",
            message: message.to_string(),
        },
        ERR_NO_LIST_OF_LISTS | ERR_PATCH_CONTENT_NOT_MATCH_RETAIN_KEYS => ErrorStatus {
            code: 422,
            reason: "Invalid",
            message: "the server rejected our request due to an error in our request".to_string(),
        },
        m if m.starts_with("json: cannot unmarshal") => ErrorStatus {
            code: 400,
            reason: "BadRequest",
            message: m.to_string(),
        },
        m => ErrorStatus {
            code: 500,
            reason: "",
            message: m.to_string(),
        },
    }
}

/// kubectl sends strategic merge patches (application/strategic-merge-patch+json) for built-in
/// kinds: client-side apply, label, annotate, and kube-rs/client-go event recorders. Applies
/// `patch` to `original` with the patch strategies of the kind's Go type; the error strings are
/// the real server's (see [`error_status`] for their HTTP status). Custom resources do not
/// support it (the real server answers 415 before getting here; this returns the 400 error of
/// the library).
pub fn strategic_merge_patch(
    kind: &ResourceKind,
    original: &serde_json::Value,
    patch: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    if kind.custom {
        return Err(ERR_UNSUPPORTED_STRATEGIC_MERGE_PATCH_FORMAT.to_string());
    }
    let Value::Object(patch) = patch else {
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match patch {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        ));
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let schema = GoType::Struct(
        builtin::kind_struct(&kind.group, &kind.kind).unwrap_or(&builtin::UNKNOWN_KIND),
    );
    merge_map(original, patch.clone(), &schema).map(Value::Object)
}

// --- patch metadata lookups (`PatchMetaFromStruct`) ---

struct PatchMeta {
    strategies: Vec<&'static str>,
    merge_key: &'static str,
}

fn kind_name(t: &GoType) -> &'static str {
    match t {
        GoType::Struct(_) | GoType::Raw => "struct",
        GoType::Map(_) => "map",
        GoType::Slice(_) => "slice",
        GoType::Scalar(_) => "string",
    }
}

fn lookup_struct(t: &GoType, key: &str) -> Result<(&'static GoType, PatchMeta), String> {
    let GoType::Struct(s) = t else {
        return Err(format!(
            "merging an object in json but data type is not struct, instead is: {}",
            kind_name(t)
        ));
    };
    match s.field(key) {
        Some(f) => Ok((
            &f.ty,
            PatchMeta {
                strategies: f.strategy.split(',').collect(),
                merge_key: f.merge_key,
            },
        )),
        None => Err(format!(
            "unable to find api field in struct {} for the json field {}",
            s.name,
            quote(key)
        )),
    }
}

fn lookup_slice(t: &GoType, key: &str) -> Result<(&'static GoType, PatchMeta), String> {
    let (field, meta) = lookup_struct(t, key)?;
    match field {
        GoType::Slice(elem) => Ok((elem, meta)),
        _ => Err(format!(
            "expected slice or array type, but got: {}",
            kind_name(t)
        )),
    }
}

/// The non-retainKeys strategy of a field (`extractRetainKeysPatchStrategy`).
fn strategy(meta: &PatchMeta) -> Result<&'static str, String> {
    match meta.strategies.as_slice() {
        [] => Ok(""),
        [one] if *one == RETAIN_KEYS_STRATEGY => Ok(""),
        [one] => Ok(one),
        [a, b] if *a == RETAIN_KEYS_STRATEGY => Ok(b),
        [a, b] if *b == RETAIN_KEYS_STRATEGY => Ok(a),
        other => Err(format!("unexpected patch strategy: [{}]", other.join(" "))),
    }
}

// --- errors worded as `mergepatch` words them ---

fn err_no_merge_key(m: &Map<String, Value>, key: &str) -> String {
    format!(
        "map: {} does not contain declared merge key: {key}",
        sprint(&Value::Object(m.clone()))
    )
}

fn err_bad_arg_type(expected: &str, actual: &Value) -> String {
    format!(
        "expected a {expected}, but received a {}",
        type_name(actual)
    )
}

fn err_bad_patch_type(t: &Value, m: &Map<String, Value>) -> String {
    format!(
        "unknown patch type: {} in map: {}",
        sprint(t),
        sprint(&Value::Object(m.clone()))
    )
}

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// Go's `==` on two decoded JSON values (different dynamic types are never equal).
fn go_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| n.is_i64() || n.is_u64();
            int(x) == int(y) && x.as_f64() == y.as_f64() && x.as_i64() == y.as_i64()
        }
        (Value::Array(_), _) | (Value::Object(_), _) => false,
        _ => a == b,
    }
}

/// The dynamic type of an element, for `sliceElementType`.
fn elem_type(v: &Value) -> &'static str {
    type_name(v)
}

// --- the merge ---

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: &GoType,
) -> Result<Map<String, Value>, String> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER).cloned() {
        return handle_directive_in_merge_map(&directive, patch);
    }
    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, schema)?;

    for (key, mut patch_v) in patch {
        let (k, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (key, false)
        };
        if patch_v.is_null() {
            original.remove(&k);
            continue;
        }
        let Some(original_v) = original.get(&k) else {
            if !is_delete_list {
                discard_null_values(&mut patch_v);
                set_without_directives(&mut original, k, patch_v);
            }
            continue;
        };
        if elem_type(original_v) != elem_type(&patch_v) {
            if !is_delete_list {
                discard_null_values(&mut patch_v);
                set_without_directives(&mut original, k, patch_v);
            }
            continue;
        }
        match patch_v {
            Value::Object(patch_map) => {
                let (sub, meta) = lookup_struct(schema, &k)?;
                let strategy = strategy(&meta)?;
                let Some(Value::Object(original_map)) = original.remove(&k) else {
                    unreachable!("types compared equal above")
                };
                let merged = if strategy != REPLACE_DIRECTIVE {
                    merge_map(original_map, patch_map, sub)?
                } else {
                    patch_map
                };
                original.insert(k, Value::Object(merged));
            }
            Value::Array(patch_list) => {
                let (sub, meta) = lookup_slice(schema, &k)?;
                let strategy = strategy(&meta)?;
                let Some(Value::Array(original_list)) = original.remove(&k) else {
                    unreachable!("types compared equal above")
                };
                let (merged, _) = merge_slice_handler(
                    original_list,
                    patch_list,
                    sub,
                    strategy,
                    meta.merge_key,
                    is_delete_list,
                )?;
                original.insert(k, Value::Array(merged));
            }
            other => set_without_directives(&mut original, k, other),
        }
    }
    Ok(original)
}

fn set_without_directives(original: &mut Map<String, Value>, k: String, v: Value) {
    match remove_directives(v) {
        Some(v) => {
            original.insert(k, v);
        }
        None => {
            original.remove(&k);
        }
    }
}

fn handle_directive_in_merge_map(
    directive: &Value,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(patch)
        }
        Some(DELETE_DIRECTIVE) => Ok(Map::new()),
        _ => Err(err_bad_patch_type(directive, &patch)),
    }
}

/// `$retainKeys`: keys of the original not listed are dropped; the patch may only set listed
/// keys.
fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), String> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string());
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

fn extract_key(s: &str, prefix: &str) -> Result<String, String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(match prefix {
            DELETE_FROM_PRIMITIVE_LIST => ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST.to_string(),
            _ => ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST.to_string(),
        }),
    }
}

/// `$setElementOrder/<field>`: merges the field's list and orders it as listed, server-only
/// items kept in their relative place.
fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: &GoType,
) -> Result<(), String> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(err_bad_arg_type(SLICE_TYPE, &order));
        };
        let original_key = extract_key(&key, SET_ELEMENT_ORDER)?;
        let original_list = match original.get(&original_key) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(err_bad_arg_type(SLICE_TYPE, other)),
        };
        let patch_list = match patch.get(&original_key) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(err_bad_arg_type(SLICE_TYPE, other)),
        };
        let (sub, meta) = lookup_slice(schema, &original_key)?;
        let strategy = strategy(&meta)?;
        let merge_key = meta.merge_key;
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            merge_key,
        )?;
        // The live order the merged list is normalised against is the original list as the
        // merge left it in place (see `OriginalView`).
        let (merged, original_items) = match (&original_list, &patch_list) {
            (Some(o), None) => (o.clone(), o.clone()),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(items)) => (items, Vec::new()),
                _ => continue,
            },
            (Some(o), Some(p)) => {
                merge_slice_handler(o.clone(), p.clone(), sub, strategy, merge_key, false)?
            }
            (None, None) => continue,
        };
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)
        } else {
            partition_maps(merged, &order, merge_key)?
        };
        let is_map =
            slice_element_is_map(&original_items, patch_list.as_deref().unwrap_or_default())?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &original_items,
            merge_key,
            is_map,
        )?;
        original.insert(original_key.clone(), Value::Array(both));
        patch.remove(&original_key);
    }
    Ok(())
}

fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), String> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<Value> = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        extract_to_delete_items(patch_list.to_vec())?.0
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        if matches!(&non_delete[pi], Value::Object(m) if m.contains_key(DIRECTIVE_MARKER)) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            sprint(&Value::Array(patch_list.to_vec())),
            sprint(&Value::Array(order.to_vec()))
        ));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, String> {
    if merge_key.is_empty() {
        return Ok(go_eq(left, right));
    }
    let Value::Object(l) = left else {
        return Err(err_bad_arg_type(MAP_TYPE, left));
    };
    let Value::Object(r) = right else {
        return Err(err_bad_arg_type(MAP_TYPE, right));
    };
    let lv = l
        .get(merge_key)
        .ok_or_else(|| err_no_merge_key(l, merge_key))?;
    let rv = r
        .get(merge_key)
        .ok_or_else(|| err_no_merge_key(r, merge_key))?;
    Ok(go_eq(lv, rv))
}

/// Drops null values from a value the patch adds where the original has nothing.
fn discard_null_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_null_values);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// Removes `$patch` maps from a value; `None` when the value itself is one.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Merges or replaces a list; also returns the original list as the merge left it in place.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: &GoType,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    if strategy == MERGE_DIRECTIVE || is_delete_list {
        merge_slice(original, patch, schema, merge_key, is_delete_list)
    } else {
        Ok((patch, original))
    }
}

/// The original list as the caller still sees it after the merge edited it in place. The real
/// code deletes `$patch: delete` items by shifting the rest left in the same array and appends
/// new items into the slots that frees (the server's lists have no spare capacity, so appends
/// beyond them go to a new array); `$setElementOrder` then orders server-only items by this
/// array, which decides where they land.
struct OriginalView {
    items: Vec<Value>,
    attached: bool,
}

impl OriginalView {
    fn sync(&mut self, current: &[Value]) {
        if self.attached {
            for (slot, v) in self.items.iter_mut().zip(current) {
                *slot = v.clone();
            }
        }
    }

    /// Before an append to `current`: whether it still writes into the original array.
    fn before_push(&mut self, current_len: usize) {
        if current_len >= self.items.len() {
            self.attached = false;
        }
    }
}

/// Whether the elements of the lists are objects; errors as `sliceElementType`.
fn slice_element_is_map(original: &[Value], patch: &[Value]) -> Result<bool, String> {
    let mut first: Option<&'static str> = None;
    for v in original.iter().chain(patch) {
        let t = elem_type(v);
        match first {
            None => {
                if v.is_array() {
                    return Err(ERR_NO_LIST_OF_LISTS.to_string());
                }
                if v.is_null() {
                    return Err("invalid nil element in list".to_string());
                }
                first = Some(t);
            }
            Some(f) if f != t => {
                return Err(format!(
                    "list element types are not identical: [{} {}]",
                    sprint(&Value::Array(original.to_vec())),
                    sprint(&Value::Array(patch.to_vec()))
                ));
            }
            Some(_) => {}
        }
    }
    match first {
        Some(t) => Ok(t == MAP_TYPE),
        None => Err("no elements in any of the given slices".to_string()),
    }
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: &GoType,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    if original.is_empty() && patch.is_empty() {
        return Ok((original.clone(), original));
    }
    let is_map = slice_element_is_map(&original, &patch)?;
    let mut view = OriginalView {
        items: original.clone(),
        attached: true,
    };
    let (original, patch, merged) = if !is_map {
        if is_delete_list {
            return Ok((delete_from_slice(original.clone(), &patch), original));
        }
        let both: Vec<Value> = original.iter().chain(&patch).cloned().collect();
        (original, patch, deduplicate_scalars(both))
    } else {
        if merge_key.is_empty() {
            return Err(format!(
                "cannot merge lists without merge key for {}",
                kind_name(schema)
            ));
        }
        let (original, patch) =
            merge_slice_with_special_elements(original, patch, merge_key, &mut view)?;
        let merged = merge_slice_without_special_elements(
            original.clone(),
            &patch,
            merge_key,
            schema,
            &mut view,
        )?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch)
    } else {
        partition_maps(merged, &patch, merge_key)?
    };
    let merged = normalize_element_order(
        patch_items,
        server_only,
        &patch,
        &original,
        merge_key,
        is_map,
    )?;
    Ok((merged, view.items))
}

/// Applies `$patch: delete` and `$patch: replace` items of a list of objects; returns the
/// original and the patch items left to merge.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    view: &mut OriginalView,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut rest = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            rest.push(v);
            continue;
        };
        let Some(directive) = m.get(DIRECTIVE_MARKER) else {
            rest.push(v);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let value = m
                    .get(merge_key)
                    .ok_or_else(|| err_no_merge_key(m, merge_key))?;
                while let Some(i) = find_map_in_slice(&original, merge_key, value)? {
                    original.remove(i);
                    view.sync(&original);
                }
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err("merging lists cannot yet be specified in the patch".to_string());
            }
            _ => return Err(err_bad_patch_type(directive, m)),
        }
    }
    if replace {
        view.attached = false;
        Ok((rest, Vec::new()))
    } else {
        Ok((original, rest))
    }
}

fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: &GoType,
    view: &mut OriginalView,
) -> Result<Vec<Value>, String> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(err_bad_arg_type(MAP_TYPE, v));
        };
        let value = m
            .get(merge_key)
            .ok_or_else(|| err_no_merge_key(m, merge_key))?;
        match find_map_in_slice(&original, merge_key, value)? {
            Some(i) => {
                let Value::Object(existing) = std::mem::take(&mut original[i]) else {
                    unreachable!("find_map_in_slice only finds objects")
                };
                original[i] = Value::Object(merge_map(existing, m.clone(), schema)?);
            }
            None => {
                view.before_push(original.len());
                original.push(v.clone());
            }
        }
        view.sync(&original);
    }
    Ok(original)
}

fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.iter().any(|d| go_eq(d, v)))
        .collect()
}

fn find_map_in_slice(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, String> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(format!("value for key {i} is not a map"));
        };
        if m.get(key).is_some_and(|x| go_eq(x, value)) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The real algorithm, kept for its resulting order: a duplicate is replaced by the last
/// element.
fn deduplicate_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut length = s.len() as isize - 1;
    let mut i = 0;
    while (i as isize) < length {
        let mut j = i + 1;
        while (j as isize) <= length {
            if go_eq(&s[i], &s[j]) {
                s[j] = s[length as usize].clone();
                s.truncate(length as usize);
                length -= 1;
                continue;
            }
            j += 1;
        }
        i += 1;
    }
    s
}

fn partition_primitives(merged: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    merged
        .into_iter()
        .partition(|v| by.iter().any(|b| go_eq(b, v)))
}

fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let (mut patch, mut server_only) = (Vec::new(), Vec::new());
    for v in merged {
        let Value::Object(m) = &v else {
            return Err(err_bad_arg_type(MAP_TYPE, &v));
        };
        let value = m
            .get(merge_key)
            .ok_or_else(|| err_no_merge_key(m, merge_key))?;
        if find_map_in_slice(by, merge_key, value)?.is_some() {
            patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((patch, server_only))
}

/// Orders the patch items as in `patch_order` and the server-only items as in `server_order`,
/// then interleaves them keeping the server's relative order where both are known.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, String> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, is_map)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, is_map)?;
    Ok(merge_sorted_slice(
        server_only,
        patch,
        server_order,
        merge_key,
        is_map,
    ))
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, String> {
    let (mut to_sort, to_delete) = if is_map {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order])?;
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    // `sort.SliceStable` with the real comparator (an item missing from `order` sorts as less).
    let less = |a: &Value, b: &Value| match (
        index(order, a, merge_key, is_map),
        index(order, b, merge_key, is_map),
    ) {
        (Some(x), Some(y)) => x < y,
        _ => true,
    };
    for i in 1..to_sort.len() {
        let mut j = i;
        while j > 0 && less(&to_sort[j], &to_sort[j - 1]) {
            to_sort.swap(j, j - 1);
            j -= 1;
        }
    }
    to_sort.extend(to_delete);
    Ok(to_sort)
}

fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<(), String> {
    for item in lists.iter().flat_map(|l| l.iter()) {
        let Value::Object(m) = item else {
            return Err(err_bad_arg_type(MAP_TYPE, item));
        };
        if !m.contains_key(merge_key) {
            return Err(err_no_merge_key(m, merge_key));
        }
    }
    Ok(())
}

fn extract_to_delete_items(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), String> {
    let (mut keep, mut delete) = (Vec::new(), Vec::new());
    for v in list {
        let Value::Object(m) = &v else {
            return Err(err_bad_arg_type(MAP_TYPE, &v));
        };
        if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

/// The position of `v` in `list`, by merge key for objects.
fn index(list: &[Value], v: &Value, merge_key: &str, is_map: bool) -> Option<usize> {
    let key_of = |item: &Value| -> Value {
        if is_map {
            item.get(merge_key).cloned().unwrap_or(Value::Null)
        } else {
            item.clone()
        }
    };
    let wanted = key_of(v);
    list.iter().position(|item| go_eq(&key_of(item), &wanted))
}

/// Inserts the server-only items (`left`) among the patch items (`right`): both keep their own
/// order; a server-only item goes first when the live list had it before the patch item.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (
                    index(server_order, l, merge_key, is_map),
                    index(server_order, r, merge_key, is_map),
                ),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(group: &str, kind: &str) -> ResourceKind {
        ResourceKind {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            plural: format!("{}s", kind.to_lowercase()),
            singular: kind.to_lowercase(),
            short_names: vec![],
            categories: vec![],
            namespaced: true,
            status_subresource: false,
            verbs: vec![],
            schema: None,
            printer_columns: vec![],
            custom: false,
        }
    }

    fn patch(k: &ResourceKind, original: Value, p: Value) -> Result<Value, String> {
        strategic_merge_patch(k, &original, &p)
    }

    #[test]
    fn event_count_bump_as_recorders_send_it() {
        // semantics.md §10.
        let ev = kind("", "Event");
        let out = patch(
            &ev,
            json!({"kind": "Event", "count": 1, "message": "core event", "source": {"component": "trace-tool"},
                   "involvedObject": {"kind": "Gadget", "name": "st1"}}),
            json!({"count": 2, "lastTimestamp": "2026-11-28T07:09:39Z", "message": "core event again"}),
        )
        .unwrap();
        assert_eq!(out["count"], json!(2));
        assert_eq!(out["message"], json!("core event again"));
        assert_eq!(out["source"], json!({"component": "trace-tool"}));
    }

    #[test]
    fn maps_merge_and_null_deletes() {
        let cm = kind("", "ConfigMap");
        let out = patch(
            &cm,
            json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}, "data": {"x": null, "z": {"n": null, "m": 1}}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"name": "c", "labels": {"a": "1", "c": "3"}}, "data": {"y": "2", "z": {"m": 1}}})
        );
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let secret = kind("", "Secret");
        let original = json!({"metadata": {"finalizers": ["a", "b"]}});
        let added = patch(
            &secret,
            original.clone(),
            json!({"metadata": {"finalizers": ["c", "a"]}}),
        )
        .unwrap();
        assert_eq!(added["metadata"]["finalizers"], json!(["c", "a", "b"]));
        // What kubectl apply sends to drop one finalizer.
        let removed = patch(
            &secret,
            original,
            json!({"metadata": {"$setElementOrder/finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(removed["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let cm = kind("", "ConfigMap");
        let original = json!({"metadata": {"ownerReferences": [
            {"uid": "u1", "name": "one", "kind": "Gadget", "apiVersion": "demo/v1"},
            {"uid": "u2", "name": "two", "kind": "Gadget", "apiVersion": "demo/v1"}]}});
        let out = patch(
            &cm,
            original.clone(),
            json!({"metadata": {"ownerReferences": [
                {"uid": "u3", "name": "three", "kind": "Gadget", "apiVersion": "demo/v1"},
                {"uid": "u2", "controller": true},
                {"uid": "u1", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([
                {"uid": "u3", "name": "three", "kind": "Gadget", "apiVersion": "demo/v1"},
                {"uid": "u2", "name": "two", "kind": "Gadget", "apiVersion": "demo/v1", "controller": true}
            ])
        );
        let err = patch(
            &cm,
            original,
            json!({"metadata": {"ownerReferences": [{"name": "x"}]}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "map: map[name:x] does not contain declared merge key: uid"
        );
        assert_eq!(error_status(&err).code, 500);
    }

    #[test]
    fn set_element_order_with_a_deletion_keeps_server_only_items_where_the_server_puts_them() {
        // kubectl apply dropping u1 and adding u3 while the live list also has u4 (added by
        // someone else): the real server lands u4 before u3.
        let cm = kind("", "ConfigMap");
        let out = patch(
            &cm,
            json!({"metadata": {"ownerReferences": [
                {"uid": "u1"}, {"uid": "u2", "name": "b"}, {"uid": "u4", "name": "c"}]}}),
            json!({"metadata": {
                "$setElementOrder/ownerReferences": [{"uid": "u2"}, {"uid": "u3"}],
                "ownerReferences": [{"uid": "u3"}, {"uid": "u1", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "u2", "name": "b"}, {"uid": "u4", "name": "c"}, {"uid": "u3"}])
        );
    }

    #[test]
    fn service_account_secrets_merge_by_name_image_pull_secrets_replace() {
        let sa = kind("", "ServiceAccount");
        let out = patch(
            &sa,
            json!({"secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "p1"}]}),
            json!({"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "p2"}]}),
        )
        .unwrap();
        // New items go before the live ones they are not ordered against.
        assert_eq!(out["secrets"], json!([{"name": "b"}, {"name": "a"}]));
        assert_eq!(out["imagePullSecrets"], json!([{"name": "p2"}]));
    }

    #[test]
    fn set_element_order_reorders_merged_items() {
        let cm = kind("", "ConfigMap");
        let out = patch(
            &cm,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"], "finalizers": ["d"]}}),
        )
        .unwrap();
        // Listed items follow the order given; b keeps its place before c, as in the live list.
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "c", "d", "a"]));
    }

    #[test]
    fn patch_directives_replace_and_delete() {
        let ns = kind("", "Namespace");
        let original = json!({"metadata": {"labels": {"a": "1"}},
            "status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]}});
        let replaced = patch(
            &ns,
            original.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "z": "9"}},
                   "status": {"conditions": [{"$patch": "replace"}, {"type": "C", "status": "False"}]}}),
        )
        .unwrap();
        assert_eq!(replaced["metadata"]["labels"], json!({"z": "9"}));
        assert_eq!(
            replaced["status"]["conditions"],
            json!([{"type": "C", "status": "False"}])
        );
        let deleted = patch(
            &ns,
            original.clone(),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(deleted["metadata"]["labels"], json!({}));
        let err = patch(
            &ns,
            original,
            json!({"status": {"conditions": [{"$patch": "merge"}]}}),
        )
        .unwrap_err();
        assert_eq!(err, "merging lists cannot yet be specified in the patch");
    }

    #[test]
    fn retain_keys_clears_unlisted_fields() {
        let lease = kind("coordination.k8s.io", "Lease");
        let out = patch(
            &lease,
            json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
            json!({"spec": {"$retainKeys": ["holderIdentity"], "holderIdentity": "b"}}),
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"holderIdentity": "b"}));
        let err = patch(
            &lease,
            json!({"spec": {}}),
            json!({"spec": {"$retainKeys": ["holderIdentity"], "renewTime": "x"}}),
        )
        .unwrap_err();
        assert_eq!(error_status(&err).code, 400);
    }

    #[test]
    fn lists_without_strategy_are_replaced() {
        let ns = kind("", "Namespace");
        let out = patch(
            &ns,
            json!({"spec": {"finalizers": ["kubernetes", "x"]}}),
            json!({"spec": {"finalizers": ["y"]}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["finalizers"], json!(["y"]));
    }

    #[test]
    fn errors_are_worded_as_the_real_server() {
        let cm = kind("", "ConfigMap");
        let err = patch(
            &cm,
            json!({"metadata": {"bogus": {"a": 1}}}),
            json!({"metadata": {"bogus": {"b": 2}}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "unable to find api field in struct ObjectMeta for the json field \"bogus\""
        );
        let err = patch(
            &cm,
            json!({"metadata": {}}),
            json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
        )
        .unwrap_err();
        assert_eq!(err, ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST);
        assert_eq!(
            error_status(&err),
            ErrorStatus {
                code: 400,
                reason: "BadRequest",
                message: err.clone()
            }
        );
        let err = patch(
            &cm,
            json!({"metadata": {"labels": {}}}),
            json!({"metadata": {"labels": {"$patch": "bogus"}}}),
        )
        .unwrap_err();
        assert_eq!(err, "unknown patch type: bogus in map: map[$patch:bogus]");
        let err = patch(&cm, json!({}), json!([1])).unwrap_err();
        assert_eq!(error_status(&err).code, 400);
        let err = patch(
            &cm,
            json!({"metadata": {"finalizers": [["a"]]}}),
            json!({"metadata": {"finalizers": [["b"]]}}),
        )
        .unwrap_err();
        assert_eq!(error_status(&err).code, 422);

        let mut custom = kind("demo.example.com", "Gadget");
        custom.custom = true;
        let err = patch(&custom, json!({}), json!({})).unwrap_err();
        assert_eq!(err, ERR_UNSUPPORTED_STRATEGIC_MERGE_PATCH_FORMAT);
    }

    #[test]
    fn new_values_lose_nulls_and_directives() {
        let cm = kind("", "ConfigMap");
        let out = patch(&cm, json!({}), json!({"metadata": {"labels": {"a": null, "b": "1"}, "finalizers": [{"$patch": "delete"}, "x"]}})).unwrap();
        assert_eq!(
            out["metadata"],
            json!({"labels": {"b": "1"}, "finalizers": ["x"]})
        );
    }
}
