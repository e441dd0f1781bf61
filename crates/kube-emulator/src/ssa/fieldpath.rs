//! Field paths and sets of them, as structured-merge-diff defines them: the unit of ownership in
//! managedFields. A set is a trie ordered the way the real server orders it (field names, then
//! map-list keys, then set values, then indexes), so that its `fieldsV1` encoding and the order
//! of conflicts come out byte for byte as kube-apiserver writes them.

use emulator_common::{gofmt, gojson};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One step of a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of a struct or a key of a map (`f:name`).
    Field(String),
    /// An item of a map-list, by its key fields sorted by name (`k:{"type":"Ready"}`).
    Key(Vec<(String, Value)>),
    /// An item of a set-list, by its value (`v:"a"`).
    Value(Value),
    /// An item of a list by position (`i:0`); only seen in entries written by others.
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `fieldsV1` key of this element.
    pub fn to_fields_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let obj: Map<String, Value> = fields.iter().cloned().collect();
                format!("k:{}", gojson::to_json(&Value::Object(obj)))
            }
            PathElement::Value(v) => format!("v:{}", gojson::to_json(v)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key; unknown prefixes give `None` (the real server ignores them).
    pub fn from_fields_key(key: &str) -> Option<PathElement> {
        let (kind, rest) = key.split_once(':')?;
        match kind {
            "f" => Some(PathElement::Field(rest.to_string())),
            "v" => serde_json::from_str(rest).ok().map(PathElement::Value),
            "i" => rest.parse().ok().map(PathElement::Index),
            "k" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(map) => {
                    let mut fields: Vec<(String, Value)> = map.into_iter().collect();
                    fields.sort_by(|a, b| a.0.cmp(&b.0));
                    Some(PathElement::Key(fields))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// `PathElement.String()`: `.name`, `[type="Ready"]`, `[="a"]`, `[0]`.
impl std::fmt::Display for PathElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// `value.ToString`: strings quoted, maps as `k=v` runs, lists in brackets.
fn value_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => gofmt::quote(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => format!("{}", n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", value_string(v)))
            .collect::<String>(),
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for PathElement {}
impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_fields(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

fn compare_fields(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let c = x.0.cmp(&y.0).then_with(|| compare_values(&x.1, &y.1));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

/// The total order of `value.Compare`: numbers (ints and floats compared numerically), then
/// strings, booleans, lists, maps, and null last.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let c = compare_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xk: Vec<&String> = x.keys().collect();
            let mut yk: Vec<&String> = y.keys().collect();
            xk.sort();
            yk.sort();
            for (p, q) in xk.iter().zip(&yk) {
                let c = p.cmp(q).then_with(|| compare_values(&x[*p], &y[*q]));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xk.len().cmp(&yk.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    match (x.as_i64(), y.as_i64()) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => match (x.as_u64(), y.as_u64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => {
                let (a, b) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                a.partial_cmp(&b).unwrap_or(Ordering::Equal)
            }
        },
    }
}

/// Deep equality as `value.Equals` sees it (an integer equals the same float).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A field path.
pub type Path = Vec<PathElement>;

/// `Path.String()`, e.g. `.spec.size` or `.status.conditions[type="Ready"]`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(|pe| pe.to_string()).collect()
}

/// A set of field paths. A path is a member when it is owned itself; children hold the paths
/// below an element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    /// The paths below `pe` (empty when there are none).
    pub fn with_prefix(&self, pe: &PathElement) -> Set {
        self.children.get(pe).cloned().unwrap_or_default()
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        Set { members, children }
    }

    /// The paths of `self` that are not in `other`; a member of `other` does not remove the
    /// paths below it (`Set.Difference`).
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            match other.children.get(pe) {
                Some(theirs) => {
                    let rest = child.difference(theirs);
                    if !rest.is_empty() {
                        children.insert(pe.clone(), rest);
                    }
                }
                None => {
                    children.insert(pe.clone(), child.clone());
                }
            }
        }
        Set { members, children }
    }

    /// Like `difference`, but a member of `other` also removes every path below it
    /// (`Set.RecursiveDifference`, used to filter out reset fields).
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            match other.children.get(pe) {
                Some(theirs) => {
                    let rest = child.recursive_difference(theirs);
                    if !rest.is_empty() {
                        children.insert(pe.clone(), rest);
                    }
                }
                None => {
                    children.insert(pe.clone(), child.clone());
                }
            }
        }
        Set { members, children }
    }

    /// Every path, members of a node before the paths below it (`Set.Iterate`).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    pub(super) fn members(&self) -> &BTreeSet<PathElement> {
        &self.members
    }

    pub(super) fn children(&self) -> &BTreeMap<PathElement, Set> {
        &self.children
    }

    pub(super) fn from_parts(
        members: BTreeSet<PathElement>,
        children: BTreeMap<PathElement, Set>,
    ) -> Set {
        Set { members, children }
    }

    /// The `fieldsV1` object: `"."` marks a path that is owned and has owned children.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.fields_contents(false))
    }

    fn fields_contents(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !(self.members.is_empty() && self.children.is_empty()) {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                out.insert(pe.to_fields_key(), Value::Object(Map::new()));
            }
        }
        for (pe, child) in &self.children {
            let owned = self.members.contains(pe);
            out.insert(
                pe.to_fields_key(),
                Value::Object(child.fields_contents(owned)),
            );
        }
        out
    }

    /// Parses a `fieldsV1` object; keys the real server would not understand are skipped.
    pub fn from_fields_v1(v: &Value) -> Set {
        let mut set = Set::new();
        if let Value::Object(map) = v {
            set.read_fields(map);
        }
        set
    }

    fn read_fields(&mut self, map: &Map<String, Value>) {
        for (key, inner) in map {
            if key == "." {
                continue;
            }
            let Some(pe) = PathElement::from_fields_key(key) else {
                continue;
            };
            let inner = match inner {
                Value::Object(m) => m,
                _ => {
                    self.members.insert(pe);
                    continue;
                }
            };
            if inner.is_empty() || inner.contains_key(".") {
                self.members.insert(pe.clone());
            }
            if inner.keys().any(|k| k != ".") {
                let mut child = Set::new();
                child.read_fields(inner);
                self.children.insert(pe, child);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    #[test]
    fn fields_v1_round_trip_keeps_dot_entries() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:tier": {}}},
            "f:spec": {"f:size": {}},
            "f:status": {"f:conditions": {
                "k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}
            }},
            "f:finalizers": {"v:\"a\"": {}}
        });
        let set = Set::from_fields_v1(&fields);
        assert!(set.has(&[field("metadata"), field("labels")]));
        assert!(!set.has(&[field("metadata")]));
        let key = PathElement::Key(vec![("type".into(), json!("Ready"))]);
        assert!(set.has(&[field("status"), field("conditions"), key.clone()]));
        assert_eq!(set.to_fields_v1(), fields);
        assert_eq!(
            path_string(&[field("status"), field("conditions"), key]),
            ".status.conditions[type=\"Ready\"]"
        );
    }

    #[test]
    fn difference_is_shallow_and_recursive_difference_is_not() {
        let mut owned = Set::new();
        owned.insert(&[field("status"), field("phase")]);
        owned.insert(&[field("spec"), field("size")]);
        let mut reset = Set::new();
        reset.insert(&[field("status")]);
        assert_eq!(owned.difference(&reset), owned);
        let filtered = owned.recursive_difference(&reset);
        assert!(!filtered.has(&[field("status"), field("phase")]));
        assert!(filtered.has(&[field("spec"), field("size")]));
    }

    #[test]
    fn paths_list_members_before_children() {
        let mut set = Set::new();
        set.insert(&[field("spec"), field("size")]);
        set.insert(&[field("spec"), field("color")]);
        set.insert(&[field("apiVersion")]);
        let strings: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(strings, vec![".apiVersion", ".spec.color", ".spec.size"]);
    }

    #[test]
    fn value_order_puts_numbers_first_and_null_last() {
        let mut values = [json!(null), json!("a"), json!(2), json!(1.5), json!(true)];
        values.sort_by(compare_values);
        assert_eq!(
            values,
            [json!(1.5), json!(2), json!("a"), json!(true), json!(null)]
        );
        assert!(values_equal(&json!({"a": 1}), &json!({"a": 1.0})));
    }
}
