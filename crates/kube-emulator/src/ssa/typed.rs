//! Operations on objects through their type, ported from structured-merge-diff's `typed`
//! package: the set of fields an object sets, the comparison of two versions, the merge of an
//! applied configuration onto a live object, and the removal of a set of fields. Each follows
//! the corresponding walker of the real implementation, including its corner cases (empty maps
//! and lists compared as one value, list order after merge, removed containers left as null).

use super::fieldpath::{Path, PathElement, Set, values_equal};
use super::schema::{Atom, ListTy, Ty};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The fields `v` sets (`TypedValue.ToFieldSet`): leaves, list items and, for map keys that are
/// not named struct fields, the keys themselves.
pub fn to_field_set(v: &Value, ty: &Ty) -> Set {
    let mut set = Set::new();
    field_set_walk(v, ty, &mut Vec::new(), &mut set);
    set
}

fn field_set_walk(v: &Value, ty: &Ty, path: &mut Path, set: &mut Set) {
    match ty.atom(Some(v)) {
        Atom::Scalar => set.insert(path),
        Atom::List(l) => {
            if l.is_atomic() {
                set.insert(path);
                return;
            }
            let Value::Array(items) = v else { return };
            let Some(pes) = l.item_elements(items) else {
                set.insert(path);
                return;
            };
            let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
            for pe in &pes {
                *counts.entry(pe).or_default() += 1;
            }
            // Duplicated items (tolerated in live objects) are owned as a whole.
            for (pe, n) in &counts {
                if *n > 1 {
                    path.push((*pe).clone());
                    set.insert(path);
                    path.pop();
                }
            }
            for (item, pe) in items.iter().zip(&pes) {
                if counts[pe] > 1 {
                    continue;
                }
                path.push(pe.clone());
                field_set_walk(item, &l.elem, path, set);
                set.insert(path);
                path.pop();
            }
        }
        Atom::Map(m) => {
            if m.atomic {
                set.insert(path);
                return;
            }
            let Value::Object(map) = v else { return };
            for (k, val) in map {
                path.push(PathElement::Field(k.clone()));
                field_set_walk(val, m.field_ty(k), path, set);
                let empty = match val {
                    Value::Null => true,
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if empty || !m.has_field(k) {
                    set.insert(path);
                }
                path.pop();
            }
        }
    }
}

/// What changed between two versions of an object.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    /// Drops the reset fields (and everything below them) from each set.
    pub fn without(&self, ignored: &Set) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

/// `TypedValue.Compare`.
pub fn compare(lhs: &Value, rhs: &Value, ty: &Ty) -> Comparison {
    let mut c = Comparison::default();
    compare_node(Some(lhs), Some(rhs), ty, &mut Vec::new(), &mut c);
    c
}

fn compare_node(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    ty: &Ty,
    path: &mut Path,
    c: &mut Comparison,
) {
    let (alhs, arhs) = (ty.atom(lhs), ty.atom(rhs));
    let in_leaf = if rhs.is_none() {
        compare_atom(alhs, lhs, rhs, path, c)
    } else if lhs.is_none() || alhs.same(&arhs) {
        compare_atom(arhs, lhs, rhs, path, c)
    } else {
        compare_atom(alhs, lhs, rhs, path, c);
        compare_atom(arhs, lhs, rhs, path, c)
    };
    if !in_leaf {
        if lhs.is_none() {
            c.added.insert(path);
        } else if rhs.is_none() {
            c.removed.insert(path);
        }
    }
}

/// Compares one node with one type; true when it was compared as a single value.
fn compare_atom(
    atom: Atom<'_>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    path: &mut Path,
    c: &mut Comparison,
) -> bool {
    match atom {
        Atom::Scalar => {
            compare_leaf(lhs, rhs, path, c);
            true
        }
        Atom::List(l) => {
            let (ll, rl) = (as_array(lhs), as_array(rhs));
            if l.is_atomic() || (is_empty_list(ll) && is_empty_list(rl)) {
                compare_leaf(lhs, rhs, path, c);
                return true;
            }
            let lp = ll.map(|items| l.item_elements(items));
            let rp = rl.map(|items| l.item_elements(items));
            if matches!(lp, Some(None)) || matches!(rp, Some(None)) {
                compare_leaf(lhs, rhs, path, c);
                return true;
            }
            compare_list_items(
                l,
                ll.unwrap_or_default(),
                lp.flatten().unwrap_or_default(),
                rl.unwrap_or_default(),
                rp.flatten().unwrap_or_default(),
                path,
                c,
            );
            false
        }
        Atom::Map(m) => {
            let (lm, rm) = (as_object(lhs), as_object(rhs));
            if m.atomic || (is_empty_map(lm) && is_empty_map(rm)) {
                compare_leaf(lhs, rhs, path, c);
                return true;
            }
            let keys: BTreeSet<&String> =
                lm.iter().chain(rm.iter()).flat_map(|m| m.keys()).collect();
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                compare_node(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    m.field_ty(k),
                    path,
                    c,
                );
                path.pop();
            }
            false
        }
    }
}

fn compare_leaf(lhs: Option<&Value>, rhs: Option<&Value>, path: &Path, c: &mut Comparison) {
    match (lhs, rhs) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        (Some(l), Some(r)) if !values_equal(l, r) => c.modified.insert(path),
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn compare_list_items(
    l: &ListTy,
    lhs: &[Value],
    lpes: Vec<PathElement>,
    rhs: &[Value],
    rpes: Vec<PathElement>,
    path: &mut Path,
    c: &mut Comparison,
) {
    let mut order: Vec<PathElement> = Vec::new();
    let mut lvalues: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    for (item, pe) in lhs.iter().zip(lpes) {
        if !lvalues.contains_key(&pe) {
            order.push(pe.clone());
        }
        lvalues.entry(pe).or_default().push(item);
    }
    let mut rvalues: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    for (item, pe) in rhs.iter().zip(rpes) {
        if !rvalues.contains_key(&pe) && !lvalues.contains_key(&pe) {
            order.push(pe.clone());
        }
        rvalues.entry(pe).or_default().push(item);
    }
    for pe in order {
        let ls = lvalues.get(&pe).map(Vec::as_slice).unwrap_or_default();
        let rs = rvalues.get(&pe).map(Vec::as_slice).unwrap_or_default();
        path.push(pe);
        match (ls.len(), rs.len()) {
            (0, 0) => {}
            (0 | 1, 0 | 1) => {
                compare_node(ls.first().copied(), rs.first().copied(), &l.elem, path, c)
            }
            (a, b) if a >= 2 && b >= 2 => {
                let same = a == b && ls.iter().zip(rs).all(|(x, y)| values_equal(x, y));
                if !same {
                    c.modified.insert(path);
                }
            }
            (a, _) if a >= 2 => {
                if let Some(r) = rs.first() {
                    compare_node(None, Some(r), &l.elem, path, c);
                }
                c.removed.insert(path);
            }
            _ => {
                if let Some(left) = ls.first() {
                    compare_node(Some(left), None, &l.elem, path, c);
                }
                c.added.insert(path);
            }
        }
        path.pop();
    }
}

fn as_array(v: Option<&Value>) -> Option<&[Value]> {
    match v {
        Some(Value::Array(items)) => Some(items),
        _ => None,
    }
}

fn as_object(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn is_empty_list(l: Option<&[Value]>) -> bool {
    l.is_none_or(<[Value]>::is_empty)
}

fn is_empty_map(m: Option<&Map<String, Value>>) -> bool {
    m.is_none_or(Map::is_empty)
}

/// `TypedValue.Merge` with the applied configuration as the right-hand side: the configuration
/// wins on every leaf; granular maps and associative lists are merged item by item.
pub fn merge(lhs: &Value, rhs: &Value, ty: &Ty) -> Value {
    merge_node(Some(lhs), Some(rhs), ty).unwrap_or(Value::Null)
}

fn merge_node(lhs: Option<&Value>, rhs: Option<&Value>, ty: &Ty) -> Option<Value> {
    // Where the sides have different types only the right-hand side's handling yields output.
    let atom = if rhs.is_none() {
        ty.atom(lhs)
    } else {
        ty.atom(rhs)
    };
    let keep_rhs = || rhs.or(lhs).cloned();
    match atom {
        Atom::Scalar => keep_rhs(),
        Atom::List(l) => {
            let (ll, rl) = (as_array(lhs), as_array(rhs));
            if l.is_atomic() || (is_empty_list(ll) && is_empty_list(rl)) {
                return keep_rhs();
            }
            if ll.is_none() && rl.is_none() {
                return None;
            }
            let lp = ll.map(|items| l.item_elements(items));
            let rp = rl.map(|items| l.item_elements(items));
            if matches!(lp, Some(None)) || matches!(rp, Some(None)) {
                return keep_rhs();
            }
            let out = merge_list_items(
                l,
                ll.unwrap_or_default(),
                lp.flatten().unwrap_or_default(),
                rl.unwrap_or_default(),
                rp.flatten().unwrap_or_default(),
            );
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Atom::Map(m) => {
            let (lm, rm) = (as_object(lhs), as_object(rhs));
            if m.atomic || (is_empty_map(lm) && is_empty_map(rm)) {
                return keep_rhs();
            }
            if lm.is_none() && rm.is_none() {
                return None;
            }
            let keys: BTreeSet<&String> =
                lm.iter().chain(rm.iter()).flat_map(|m| m.keys()).collect();
            let mut out = Map::new();
            for k in keys {
                let merged = merge_node(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    m.field_ty(k),
                );
                if let Some(v) = merged {
                    out.insert(k.clone(), v);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
    }
}

/// The item order of a merged associative list: live items keep their place, applied items
/// follow the applied order, new ones are inserted where the configuration puts them
/// (`mergingWalker.visitListItems`).
fn merge_list_items(
    l: &ListTy,
    lhs: &[Value],
    lpes: Vec<PathElement>,
    rhs: &[Value],
    rpes: Vec<PathElement>,
) -> Vec<Value> {
    // A duplicated live item merges as null (the real walker cannot tell which one is meant).
    let null = Value::Null;
    let mut observed_lhs: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (item, pe) in lhs.iter().zip(&lpes) {
        observed_lhs
            .entry(pe)
            .and_modify(|v| *v = &null)
            .or_insert(item);
    }
    let observed_rhs: BTreeMap<&PathElement, &Value> =
        rhs.iter().zip(&rpes).map(|(v, pe)| (pe, v)).collect();

    let mut shared: std::collections::VecDeque<&PathElement> = rpes
        .iter()
        .filter(|pe| observed_lhs.contains_key(pe))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (llen, rlen) = (lpes.len(), rpes.len());
    let (mut li, mut ri) = (0, 0);
    let mut push = |v: Option<Value>| {
        if let Some(v) = v {
            out.push(v);
        }
    };
    while li < llen || ri < rlen {
        if li < llen && ri < rlen {
            let pe = &lpes[li];
            if *pe == rpes[ri] {
                merged_rhs.insert(pe);
                push(merge_node(
                    observed_lhs.get(pe).copied(),
                    observed_rhs.get(pe).copied(),
                    &l.elem,
                ));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if observed_rhs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < llen {
            let pe = &lpes[li];
            if !observed_rhs.contains_key(pe) {
                push(merge_node(Some(&lhs[li]), None, &l.elem));
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
            }
        }
        if ri < rlen {
            let pe = &rpes[ri];
            merged_rhs.insert(pe);
            push(merge_node(
                observed_lhs.get(pe).copied(),
                observed_rhs.get(pe).copied(),
                &l.elem,
            ));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// `TypedValue.RemoveItems`: `v` without the paths of `set` (a member removes its whole
/// subtree). A container left with nothing becomes null, as in the real walker.
pub fn remove_items(v: &Value, set: &Set, ty: &Ty) -> Value {
    remove_node(v, set, ty).unwrap_or(Value::Null)
}

fn remove_node(v: &Value, set: &Set, ty: &Ty) -> Option<Value> {
    match ty.atom(Some(v)) {
        Atom::Scalar => Some(v.clone()),
        Atom::List(l) => {
            let Value::Array(items) = v else { return None };
            if items.is_empty() || l.is_atomic() {
                return None;
            }
            let Some(pes) = l.item_elements(items) else {
                return Some(v.clone());
            };
            let mut out = Vec::new();
            for (item, pe) in items.iter().zip(pes) {
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let below = set.with_prefix(&pe);
                if below.is_empty() {
                    out.push(item.clone());
                } else {
                    out.push(remove_node(item, &below, &l.elem).unwrap_or(Value::Null));
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Atom::Map(m) => {
            let Value::Object(map) = v else { return None };
            if map.is_empty() || m.atomic {
                return None;
            }
            let mut out = Map::new();
            for (k, val) in map {
                let pe = PathElement::Field(k.clone());
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let below = set.with_prefix(&pe);
                if below.is_empty() {
                    out.insert(k.clone(), val.clone());
                } else {
                    out.insert(
                        k.clone(),
                        remove_node(val, &below, m.field_ty(k)).unwrap_or(Value::Null),
                    );
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
    }
}

/// Adds every named struct field that has owned fields below it as a member
/// (`Set.EnsureNamedFieldsAreMembers`), so that pruning removes a struct nobody owns any more.
pub fn ensure_named_fields_are_members(set: &Set, ty: Option<&Ty>) -> Set {
    let map = ty.and_then(Ty::map_schema);
    let list = ty.and_then(Ty::list_schema);
    let mut members = set.members().clone();
    let mut children = BTreeMap::new();
    for (pe, child) in set.children() {
        let child_ty = match pe {
            PathElement::Field(name) => map.map(|m| {
                if m.has_field(name) {
                    members.insert(pe.clone());
                }
                m.field_ty(name)
            }),
            PathElement::Key(_) => list.map(|l| &l.elem),
            _ => None,
        };
        children.insert(pe.clone(), ensure_named_fields_are_members(child, child_ty));
    }
    Set::from_parts(members, children)
}

#[cfg(test)]
mod tests {
    use super::super::fieldpath::path_string;
    use super::super::schema::custom_resource;
    use super::*;
    use serde_json::json;

    fn gadget_ty() -> Ty {
        custom_resource(Some(&json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "size": {"type": "integer"}, "color": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "items": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "v": {"type": "integer"}}}}
                }},
                "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
            }
        })))
    }

    fn paths(set: &Set) -> Vec<String> {
        set.paths().iter().map(|p| path_string(p)).collect()
    }

    #[test]
    fn field_set_of_an_applied_configuration() {
        let set = to_field_set(
            &json!({"apiVersion": "demo/v1", "kind": "Gadget", "metadata": {"name": "a", "labels": {"x": "1"}},
                    "spec": {"size": 2, "tags": ["a"], "items": [{"name": "n", "v": 1}]}}),
            &gadget_ty(),
        );
        assert_eq!(
            paths(&set),
            vec![
                ".apiVersion",
                ".kind",
                ".metadata.name",
                ".metadata.labels.x",
                ".spec.size",
                ".spec.tags",
                ".spec.items[name=\"n\"]",
                ".spec.items[name=\"n\"].name",
                ".spec.items[name=\"n\"].v",
            ]
        );
    }

    #[test]
    fn compare_marks_new_containers_as_added() {
        let c = compare(
            &json!({"spec": {"size": 2}}),
            &json!({"spec": {"size": 3}, "metadata": {"labels": {"tier": "gold"}}}),
            &gadget_ty(),
        );
        assert_eq!(paths(&c.modified), vec![".spec.size"]);
        assert_eq!(
            paths(&c.added),
            vec![".metadata", ".metadata.labels", ".metadata.labels.tier"]
        );
        assert!(c.removed.is_empty());
    }

    #[test]
    fn merge_keeps_live_items_and_orders_applied_ones() {
        let merged = merge(
            &json!({"spec": {"size": 1, "color": "red", "items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}}),
            &json!({"spec": {"size": 5, "items": [{"name": "c", "v": 3}, {"name": "a", "v": 9}]}}),
            &gadget_ty(),
        );
        assert_eq!(
            merged,
            json!({"spec": {"size": 5, "color": "red",
                "items": [{"name": "c", "v": 3}, {"name": "a", "v": 9}, {"name": "b", "v": 2}]}})
        );
    }

    #[test]
    fn remove_items_takes_out_subtrees() {
        let mut set = Set::new();
        set.insert(&[
            PathElement::Field("spec".into()),
            PathElement::Field("color".into()),
        ]);
        set.insert(&[PathElement::Field("status".into())]);
        let out = remove_items(
            &json!({"spec": {"size": 1, "color": "red"}, "status": {"phase": "x"}}),
            &set,
            &gadget_ty(),
        );
        assert_eq!(out, json!({"spec": {"size": 1}}));
    }

    #[test]
    fn named_fields_become_members() {
        let mut set = Set::new();
        set.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("a".into()),
        ]);
        let ensured = ensure_named_fields_are_members(&set, Some(&gadget_ty()));
        assert!(ensured.has(&[PathElement::Field("metadata".into())]));
        assert!(ensured.has(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into())
        ]));
    }
}
