//! Discovery documents: aggregated (`apidiscovery.k8s.io/v2`, what kubectl asks for) and the
//! legacy `APIVersions` / `APIGroupList` / `APIGroup` / `APIResourceList` forms.

use serde_json::{Value, json};

use crate::registry::{Registry, version_priority};
use crate::resource::ResourceKind;

/// The groups in discovery order (core excluded) with their versions in preference order.
fn groups(registry: &Registry) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for s in &registry.kinds {
        let k = &s.kind;
        if k.group.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, versions)) => {
                if !versions.contains(&k.version) {
                    versions.push(k.version.clone());
                }
            }
            None => out.push((k.group.clone(), vec![k.version.clone()])),
        }
    }
    for (_, versions) in &mut out {
        versions.sort_by(|a, b| version_priority(a, b));
    }
    out
}

fn kinds_of<'a>(
    registry: &'a Registry,
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a ResourceKind> {
    registry
        .kinds
        .iter()
        .map(|s| &s.kind)
        .filter(move |k| k.group == group && k.version == version)
}

fn aggregated_resource(k: &ResourceKind) -> Value {
    let response_kind = json!({"group": k.group, "version": k.version, "kind": k.kind});
    let mut r = json!({
        "resource": k.plural,
        "responseKind": response_kind,
        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": k.singular,
        "verbs": k.verbs,
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    let mut subs = Vec::new();
    if k.status_subresource {
        subs.push(json!({"subresource": "status", "responseKind": response_kind, "verbs": ["get", "patch", "update"]}));
    }
    let strategy = (!k.custom).then(|| crate::kinds::builtin(&k.group, &k.kind));
    for sub in strategy.flatten().map(|s| s.subresources()).unwrap_or(&[]) {
        let kind = match sub.response_kind {
            Some((group, version, kind)) => {
                json!({"group": group, "version": version, "kind": kind})
            }
            None => response_kind.clone(),
        };
        subs.push(json!({"subresource": sub.name, "responseKind": kind, "verbs": sub.verbs}));
    }
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

fn aggregated_version(registry: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = kinds_of(registry, group, version)
        .map(aggregated_resource)
        .collect();
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

/// `GET /api` or `GET /apis` as an `APIGroupDiscoveryList`.
pub fn aggregated(registry: &Registry, core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = if core {
        vec![json!({"metadata": {}, "versions": [aggregated_version(registry, "", "v1")]})]
    } else {
        groups(registry)
            .into_iter()
            .map(|(g, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| aggregated_version(registry, &g, v))
                    .collect();
                json!({"metadata": {"name": g}, "versions": versions})
            })
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// Legacy `GET /api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// Legacy `GET /apis`.
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = groups(registry)
        .iter()
        .map(|(g, v)| api_group(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`, if served.
pub fn group(registry: &Registry, group: &str) -> Option<Value> {
    groups(registry)
        .into_iter()
        .find(|(g, _)| g == group)
        .map(|(g, v)| {
            let mut doc = api_group(&g, &v);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            doc
        })
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`, if served.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if !registry.serves_group_version(group, version) {
        return None;
    }
    let mut resources = Vec::new();
    for k in kinds_of(registry, group, version) {
        let mut r = json!({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": k.verbs,
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        resources.push(r);
        if k.status_subresource {
            resources.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// Which aggregated-discovery version an `Accept` header asks for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for entry in accept.split(',') {
        if entry.contains("as=APIGroupDiscoveryList") && entry.contains("g=apidiscovery.k8s.io") {
            if entry.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if entry.contains("v=v2") {
                return Some("v2");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;

    #[test]
    fn core_and_groups() {
        let state = State::new(10);
        let core = aggregated(&state.registry, true, "apidiscovery.k8s.io/v2");
        let resources = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap();
        assert!(resources.iter().any(|r| r["resource"] == "secrets"));
        let ns = resources
            .iter()
            .find(|r| r["resource"] == "namespaces")
            .unwrap();
        assert_eq!(ns["scope"], "Cluster");
        let apis = aggregated(&state.registry, false, "apidiscovery.k8s.io/v2");
        let names: Vec<_> = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].clone())
            .collect();
        assert!(names.contains(&json!("coordination.k8s.io")));
        assert!(resource_list(&state.registry, "nope.io", "v1").is_none());
        assert_eq!(
            wants_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Some("v2")
        );
    }
}
