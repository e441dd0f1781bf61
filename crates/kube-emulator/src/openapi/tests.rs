//! The documents' shape where kubectl depends on it (kubectl-traces.md Appendix B and §17).

use serde_json::{Value, json};

use super::*;

fn kind(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    schema: Option<Value>,
) -> ResourceKind {
    ResourceKind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: vec![],
        categories: vec![],
        namespaced,
        status_subresource: schema.is_some(),
        verbs: vec!["get".into(), "list".into(), "patch".into()],
        custom: schema.is_some(),
        schema,
        printer_columns: vec![],
    }
}

fn gadget_schema(max: i64) -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": max},
            "color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red"}}},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}})
}

fn served(max: i64) -> Vec<ResourceKind> {
    vec![
        kind("", "v1", "Namespace", "namespaces", false, None),
        kind("", "v1", "Secret", "secrets", true, None),
        kind("", "v1", "ConfigMap", "configmaps", true, None),
        kind("", "v1", "Event", "events", true, None),
        kind("", "v1", "ServiceAccount", "serviceaccounts", true, None),
        kind("events.k8s.io", "v1", "Event", "events", true, None),
        kind("coordination.k8s.io", "v1", "Lease", "leases", true, None),
        kind(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            None,
        ),
        kind(
            "demo.example.com",
            "v1",
            "Gadget",
            "gadgets",
            true,
            Some(gadget_schema(max)),
        ),
    ]
}

/// Every `$ref` in the document points at a schema the document holds.
fn assert_refs_resolve(doc: &Value, prefix: &str, schemas: &Value) {
    match doc {
        Value::Object(m) => {
            for (k, v) in m {
                // JSONSchemaProps has a property named "$ref" (an object): only strings refer.
                if let ("$ref", Value::String(r)) = (k.as_str(), v) {
                    let target = r.strip_prefix(prefix).expect("local reference");
                    assert!(schemas.get(target).is_some(), "dangling reference {target}");
                } else {
                    assert_refs_resolve(v, prefix, schemas);
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|v| assert_refs_resolve(v, prefix, schemas)),
        _ => {}
    }
}

/// What cli-runtime's `supportsQueryParamV3` looks for: a PATCH operation for the kind with a
/// `fieldValidation` query parameter.
fn patch_operation<'a>(
    doc: &'a Value,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<&'a Value> {
    doc["paths"].as_object()?.values().find_map(|item| {
        let op = item.get("patch")?;
        (op["x-kubernetes-group-version-kind"]
            == json!({"group": group, "version": version, "kind": kind}))
        .then_some(op)
    })
}

#[test]
fn root_lists_every_group_version_with_a_stable_hash() {
    let kinds = served(10);
    let root = v3_root(&kinds);
    let paths = root["paths"].as_object().expect("paths");
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "api/v1",
            "apis/apiextensions.k8s.io/v1",
            "apis/coordination.k8s.io/v1",
            "apis/demo.example.com/v1",
            "apis/events.k8s.io/v1"
        ]
    );
    let url = paths["apis/demo.example.com/v1"]["serverRelativeURL"]
        .as_str()
        .expect("url");
    let hash = url
        .strip_prefix("/openapi/v3/apis/demo.example.com/v1?hash=")
        .expect("hash query");
    assert_eq!(hash.len(), 128);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    assert_eq!(v3_root(&kinds), root);
    let changed = v3_root(&served(20));
    assert_ne!(
        changed["paths"]["apis/demo.example.com/v1"],
        root["paths"]["apis/demo.example.com/v1"]
    );
    assert_eq!(changed["paths"]["api/v1"], root["paths"]["api/v1"]);
    let (doc, doc_hash) =
        v3_group_version_with_hash("demo.example.com", "v1", &kinds).expect("served");
    assert_eq!(doc_hash, hash);
    assert_eq!(hex_sha512(&serde_json::to_vec(&*doc).unwrap()), hash);
}

#[test]
fn custom_resource_document_matches_the_published_shape() {
    let doc = v3_group_version("demo.example.com", "v1", &served(10)).expect("served");
    assert_eq!(doc["openapi"], "3.0.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        vec![
            "/apis/demo.example.com/v1/gadgets",
            "/apis/demo.example.com/v1/namespaces/{namespace}/gadgets",
            "/apis/demo.example.com/v1/namespaces/{namespace}/gadgets/{name}",
            "/apis/demo.example.com/v1/namespaces/{namespace}/gadgets/{name}/status",
        ]
    );
    let gadget = &doc["components"]["schemas"]["com.example.demo.v1.Gadget"];
    assert_eq!(
        gadget["x-kubernetes-group-version-kind"],
        json!([{"group": "demo.example.com", "kind": "Gadget", "version": "v1"}])
    );
    assert_eq!(
        gadget["properties"]["spec"]["properties"]["color"]["default"],
        "red"
    );
    assert_eq!(
        gadget["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(gadget["properties"]["kind"]["type"], "string");
    let list = &doc["components"]["schemas"]["com.example.demo.v1.GadgetList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "GadgetList"
    );
    let patch = patch_operation(&doc, "demo.example.com", "v1", "Gadget").expect("patch operation");
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    let content = patch["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(
        !content.contains_key("application/strategic-merge-patch+json"),
        "kubectl must not send SMP to a CR"
    );
    assert_refs_resolve(&doc, "#/components/schemas/", &doc["components"]["schemas"]);
    assert!(v3_group_version("nope.example.com", "v1", &served(10)).is_none());
}

#[test]
fn builtin_documents_carry_kinds_and_patch_strategies() {
    let kinds = served(10);
    let core = v3_group_version("", "v1", &kinds).expect("core served");
    let schemas = &core["components"]["schemas"];
    for (definition, kind) in [
        ("io.k8s.api.core.v1.Secret", "Secret"),
        ("io.k8s.api.core.v1.ConfigMap", "ConfigMap"),
        ("io.k8s.api.core.v1.Namespace", "Namespace"),
        ("io.k8s.api.core.v1.Event", "Event"),
        ("io.k8s.api.core.v1.ServiceAccount", "ServiceAccount"),
    ] {
        assert_eq!(
            schemas[definition]["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": kind, "version": "v1"}]),
            "{definition}"
        );
        let patch = patch_operation(&core, "", "v1", kind).expect("patch operation");
        assert!(
            patch["requestBody"]["content"]
                .get("application/strategic-merge-patch+json")
                .is_some()
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
    }
    assert!(core["paths"].get("/api/v1/namespaces/{name}").is_some());
    assert!(
        core["paths"]
            .get("/api/v1/namespaces/{namespace}/secrets/{name}")
            .is_some()
    );
    let owner_refs = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["ownerReferences"];
    assert_eq!(owner_refs["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(owner_refs["x-kubernetes-patch-merge-key"], "uid");
    assert_eq!(
        schemas["io.k8s.api.core.v1.ServiceAccount"]["properties"]["secrets"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    assert_refs_resolve(&core, "#/components/schemas/", schemas);
    for (group, kind, definition) in [
        ("events.k8s.io", "Event", "io.k8s.api.events.v1.Event"),
        (
            "coordination.k8s.io",
            "Lease",
            "io.k8s.api.coordination.v1.Lease",
        ),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
    ] {
        let doc = v3_group_version(group, "v1", &kinds).expect("served");
        assert_eq!(
            doc["components"]["schemas"][definition]["x-kubernetes-group-version-kind"][0]["kind"],
            kind
        );
        assert!(patch_operation(&doc, group, "v1", kind).is_some());
        assert_refs_resolve(&doc, "#/components/schemas/", &doc["components"]["schemas"]);
    }
}

#[test]
fn v2_document_is_swagger_with_resolvable_definitions() {
    let doc = v2_document(&served(10));
    assert_eq!(doc["swagger"], "2.0");
    assert_refs_resolve(&doc, "#/definitions/", &doc["definitions"]);
    let patch =
        &doc["paths"]["/apis/demo.example.com/v1/namespaces/{namespace}/gadgets/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Gadget");
    let params = patch["parameters"].as_array().unwrap();
    assert_eq!(params[0]["in"], "body");
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["type"] == "string")
    );
    assert!(doc["definitions"]["io.k8s.api.core.v1.Secret"].is_object());
}
