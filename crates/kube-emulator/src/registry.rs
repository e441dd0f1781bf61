//! The kinds the server serves: the fixed built-in ones and those CustomResourceDefinitions
//! add, with the per-kind rules the generic request handling needs.

use std::sync::Arc;

use serde_json::Value;

use crate::ext::Schema;
use crate::kinds::KindStrategy;
use crate::resource::{PrinterColumn, ResourceKind};
use crate::validation::NameRule;

/// How stored objects are presented through a kind (two kinds may share one storage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Plain,
    /// events.k8s.io/v1 Events, stored as core/v1 Events.
    EventsV1,
}

/// A served kind plus the server-side rules attached to it.
pub struct Served {
    pub kind: ResourceKind,
    /// Storage key shared by every view of the same objects, e.g. `/events`, `demo.example.com/gadgets`.
    pub store: String,
    pub view: View,
    /// The compiled schema of a CRD version.
    pub schema: Option<Arc<Schema>>,
    /// Whether objects carry `metadata.generation`.
    pub has_generation: bool,
    /// Whether PUT without `metadata.resourceVersion` is allowed.
    pub unconditional_update: bool,
    pub name_rule: NameRule,
    /// Field selectors besides `metadata.name` / `metadata.namespace`.
    pub extra_field_selectors: &'static [&'static str],
    /// Whether an annotation change also moves `metadata.generation` (Deployments: their
    /// annotations are copied to ReplicaSets).
    pub annotations_bump_generation: bool,
    /// A built-in kind's strategy (custom resources have none: their schema does its work).
    pub strategy: Option<&'static dyn KindStrategy>,
}

impl Served {
    pub fn is_crd_kind(&self) -> bool {
        self.kind.group == "apiextensions.k8s.io" && self.kind.plural == "customresourcedefinitions"
    }
    pub fn is_namespace_kind(&self) -> bool {
        self.kind.group.is_empty() && self.kind.plural == "namespaces"
    }
    pub fn is_event(&self) -> bool {
        self.store == "/events"
    }

    /// Field labels usable in a fieldSelector.
    pub fn field_selectors(&self) -> Vec<&'static str> {
        let mut v = vec!["metadata.name", "metadata.namespace"];
        v.extend_from_slice(self.extra_field_selectors);
        v
    }
}

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// The served kind of a built-in kind's strategy.
fn builtin(strategy: &'static dyn KindStrategy) -> Served {
    let d = strategy.definition();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut verbs = strings(d.verbs.unwrap_or(&ALL_VERBS));
    if !d.delete_collection {
        verbs.retain(|v| v != "deletecollection");
    }
    let kind = ResourceKind {
        group: d.group.to_string(),
        version: d.version.to_string(),
        kind: d.kind.to_string(),
        list_kind: format!("{}List", d.kind),
        plural: d.plural.to_string(),
        singular: d.kind.to_lowercase(),
        short_names: strings(d.short_names),
        categories: strings(d.categories),
        namespaced: d.namespaced,
        status_subresource: d.status_subresource,
        verbs,
        schema: None,
        printer_columns: Vec::new(),
        custom: false,
    };
    Served {
        store: match d.store {
            Some(store) => store.to_string(),
            None => format!("{}/{}", d.group, d.plural),
        },
        kind,
        view: d.view,
        schema: None,
        has_generation: d.has_generation,
        unconditional_update: d.unconditional_update,
        name_rule: d.name_rule,
        extra_field_selectors: d.extra_field_selectors,
        annotations_bump_generation: d.annotations_bump_generation,
        strategy: Some(strategy),
    }
}

/// The built-in kinds, in discovery order.
pub fn builtins() -> Vec<Served> {
    crate::kinds::BUILTINS.iter().map(|s| builtin(*s)).collect()
}

/// Kubernetes' version priority: GA before beta before alpha, higher numbers first, then
/// everything else alphabetically.
pub fn version_priority(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(v: &str) -> (u8, i64, i64, String) {
        let parse = || -> Option<(u8, i64, i64)> {
            let rest = v.strip_prefix('v')?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let major: i64 = digits.parse().ok()?;
            let rest = &rest[digits.len()..];
            if rest.is_empty() {
                return Some((0, -major, 0));
            }
            let (level, rest) = if let Some(r) = rest.strip_prefix("beta") {
                (1, r)
            } else if let Some(r) = rest.strip_prefix("alpha") {
                (2, r)
            } else {
                return None;
            };
            let minor: i64 = rest.parse().ok()?;
            Some((level, -major, -minor))
        };
        match parse() {
            Some((l, a, b)) => (l, a, b, String::new()),
            None => (3, 0, 0, v.to_string()),
        }
    }
    key(a).cmp(&key(b))
}

/// The served kinds of one CRD (one per served version), or why the CRD is unusable.
pub fn crd_kinds(crd: &Value) -> Result<Vec<Served>, String> {
    let spec = crd.get("spec").ok_or("spec missing")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let group = s(spec, "group");
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let kind = s(&names, "kind");
    let plural = s(&names, "plural");
    let mut singular = s(&names, "singular");
    if singular.is_empty() {
        singular = kind.to_lowercase();
    }
    let mut list_kind = s(&names, "listKind");
    if list_kind.is_empty() {
        list_kind = format!("{kind}List");
    }
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = strings(names.get("shortNames"));
    let categories = strings(names.get("categories"));
    let namespaced = s(spec, "scope") != "Cluster";
    let mut out = Vec::new();
    let mut versions: Vec<&Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    versions.sort_by(|a, b| version_priority(&s(a, "name"), &s(b, "name")));
    for v in versions {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let schema_value = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or(Value::Null);
        let schema = Schema::compile(&schema_value)?;
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: s(c, "name"),
                        type_: s(c, "type"),
                        format: c.get("format").and_then(Value::as_str).map(String::from),
                        description: c
                            .get("description")
                            .and_then(Value::as_str)
                            .map(String::from),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                        json_path: s(c, "jsonPath"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kind = ResourceKind {
            group: group.clone(),
            version: s(v, "name"),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            short_names: short_names.clone(),
            categories: categories.clone(),
            namespaced,
            status_subresource: v.pointer("/subresources/status").is_some(),
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            schema: Some(schema_value),
            printer_columns,
            custom: true,
        };
        out.push(Served {
            store: format!("{group}/{plural}"),
            kind,
            view: View::Plain,
            schema: Some(Arc::new(schema)),
            has_generation: true,
            unconditional_update: false,
            name_rule: NameRule::Subdomain,
            extra_field_selectors: &[],
            annotations_bump_generation: false,
            strategy: None,
        });
    }
    Ok(out)
}

/// Everything currently served.
#[derive(Default, Clone)]
pub struct Registry {
    pub kinds: Vec<Arc<Served>>,
}

impl Registry {
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Served>> {
        self.kinds
            .iter()
            .find(|s| s.kind.group == group && s.kind.version == version && s.kind.plural == plural)
            .cloned()
    }

    /// Whether any kind is served under this group/version.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.kinds
            .iter()
            .any(|s| s.kind.group == group && s.kind.version == version)
    }

    /// Some served view of a storage key (for GC and namespace cleanup).
    pub fn by_store(&self, store: &str) -> Option<Arc<Served>> {
        self.kinds
            .iter()
            .find(|s| s.store == store && s.view == View::Plain)
            .cloned()
    }

    pub fn all_kinds(&self) -> Vec<ResourceKind> {
        self.kinds.iter().map(|s| s.kind.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v2", "foo", "v1", "v1beta2", "v1beta1", "v10"];
        v.sort_by(|a, b| version_priority(a, b));
        assert_eq!(
            v,
            vec!["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }
}
