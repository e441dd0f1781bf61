//! OpenAPI documents: `/openapi/v3` (root), `/openapi/v3/api/v1` and
//! `/openapi/v3/apis/<group>/<version>` as kube-apiserver publishes them, and `/openapi/v2`
//! (JSON) built from the same pieces.
//!
//! What kubectl v1.32 reads from them (kubectl-traces.md §17, cli-runtime's verifier):
//! - every manifest-reading command asks whether the kind's PATCH operation takes the
//!   `fieldValidation` query parameter (found through `x-kubernetes-group-version-kind` on the
//!   operation); when it does, kubectl leaves unknown-field checks to the server
//!   (`fieldValidation=Strict`). A kind without such an operation fails validation.
//! - client-side `apply` builds a strategic merge patch from the v3 component schema carrying
//!   the kind in `x-kubernetes-group-version-kind` when the PATCH operation accepts
//!   `application/strategic-merge-patch+json` (built-in kinds only; custom resources get a
//!   JSON merge patch), using `x-kubernetes-patch-strategy`/`-merge-key`.
//! - `kubectl explain` walks the component schemas.
//!
//! Built-in component schemas come from k8s-openapi's `schemars` output; custom resources use
//! the CRD version's `openAPIV3Schema`. Documents are cached per set of kinds (see
//! [`v3_group_version_with_hash`]); the hash is the SHA-512 of the served bytes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use crate::resource::ResourceKind;
use crate::ssa::builtin::{GoField, GoStruct, GoType, ListType};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// `GET /openapi/v3`: one entry per served group/version, each URL carrying the document's hash.
/// The real server sends it with `Content-Type: text/plain; charset=utf-8` (kubectl parses it
/// regardless) and `Cache-Control: no-cache, private`.
pub fn v3_root(kinds: &[ResourceKind]) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(kinds) {
        if let Some((_, hash)) = v3_group_version_with_hash(&group, &version, kinds) {
            let key = gv_path(&group, &version);
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; `None` when no kind of
/// that group/version is served (answer 404).
pub fn v3_group_version(group: &str, version: &str, kinds: &[ResourceKind]) -> Option<Value> {
    v3_group_version_with_hash(group, version, kinds).map(|(doc, _)| (*doc).clone())
}

/// The group/version document (shared, cached) and its hash (128 upper-case hex digits, the
/// value of `?hash=` and of the `Etag`). Serve the document with `Content-Type:
/// application/json`, `Cache-Control: public, immutable`, `Etag: "<hash>"` when the request's
/// `hash` matches, and `Cache-Control: no-cache, private` otherwise.
pub fn v3_group_version_with_hash(
    group: &str,
    version: &str,
    kinds: &[ResourceKind],
) -> Option<(Arc<Value>, String)> {
    let served: Vec<&ResourceKind> = kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let fingerprint = fingerprint(&served);
    static CACHE: LazyLock<Mutex<HashMap<String, Published>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    if let Some(hit) = CACHE.lock().expect("openapi cache lock").get(&fingerprint) {
        return Some(hit.clone());
    }
    let doc = build_group_version(group, version, &served);
    let hash = hex_sha512(&serde_json::to_vec(&doc).expect("a JSON value serializes"));
    let entry = (Arc::new(doc), hash);
    let mut cache = CACHE.lock().expect("openapi cache lock");
    if cache.len() > 256 {
        cache.clear();
    }
    cache.insert(fingerprint, entry.clone());
    Some(entry)
}

/// `GET /openapi/v2` as JSON (Swagger 2.0). kubectl asks for the protobuf form only; answer
/// such a request with 404 (kubectl then falls back, see kubectl-traces.md §17).
pub fn v2_document(kinds: &[ResourceKind]) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for (group, version) in group_versions(kinds) {
        let Some((doc, _)) = v3_group_version_with_hash(&group, &version, kinds) else {
            continue;
        };
        if let Some(schemas) = doc["components"]["schemas"].as_object() {
            for (name, schema) in schemas {
                definitions.insert(name.clone(), v3_refs_to_v2(schema));
            }
        }
        if let Some(gv_paths) = doc["paths"].as_object() {
            for (path, item) in gv_paths {
                paths.insert(path.clone(), v2_path_item(item));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.36.2"},
        "paths": paths,
        "definitions": definitions,
    })
}

/// A built document and its hash.
type Published = (Arc<Value>, String);

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn group_versions(kinds: &[ResourceKind]) -> Vec<(String, String)> {
    let mut gvs: Vec<(String, String)> = kinds
        .iter()
        .map(|k| (k.group.clone(), k.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    gvs
}

fn fingerprint(kinds: &[&ResourceKind]) -> String {
    let parts: Vec<Value> = kinds
        .iter()
        .map(|k| {
            json!([
                k.group,
                k.version,
                k.kind,
                k.list_kind,
                k.plural,
                k.namespaced,
                k.status_subresource,
                k.verbs,
                k.custom,
                k.schema
            ])
        })
        .collect();
    serde_json::to_string(&parts).expect("a JSON value serializes")
}

fn hex_sha512(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `{"allOf": [{"$ref": ...}]}` with siblings, the form kube-openapi publishes.
fn wrapped_ref(name: &str, description: &str) -> Value {
    json!({"allOf": [reference(name)], "description": description})
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// Definition names in the reverse-domain style the server uses for custom resources
/// (`demo.example.com` → `com.example.demo.v1.Gadget`).
fn crd_definition_name(kind: &ResourceKind, name: &str) -> String {
    let reversed: Vec<&str> = kind.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), kind.version, name)
}

fn build_group_version(group: &str, version: &str, kinds: &[&ResourceKind]) -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let mut generator = SchemaSettings::openapi3()
        .with(|s| s.meta_schema = None)
        .into_generator();
    // The meta types every document references (objects, lists, delete and error bodies).
    {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        add::<meta::ObjectMeta>(&mut generator);
        add::<meta::ListMeta>(&mut generator);
        add::<meta::Status>(&mut generator);
        add::<meta::DeleteOptions>(&mut generator);
    }
    let mut kind_definitions = Vec::new();
    for kind in kinds {
        let (object_name, list_name) = if kind.custom {
            let object = crd_definition_name(kind, &kind.kind);
            let list = crd_definition_name(kind, &kind.list_kind);
            schemas.insert(object.clone(), crd_object_schema(kind));
            (object, list)
        } else {
            match builtin_definition(&mut generator, group, version, &kind.kind) {
                Some(name) => {
                    let list = format!("{}List", name);
                    (name, list)
                }
                None => continue,
            }
        };
        schemas.insert(list_name.clone(), list_schema(&object_name, kind));
        kind_definitions.push((object_name.clone(), (*kind).clone()));
        add_paths(&mut paths, kind, &object_name, &list_name);
    }
    for (name, schema) in generator.take_definitions(true) {
        schemas.entry(name).or_insert(schema);
    }
    for (object_name, kind) in &kind_definitions {
        if let Some(Value::Object(s)) = schemas.get_mut(object_name) {
            s.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([gvk(&kind.group, &kind.version, &kind.kind)]),
            );
        }
    }
    schemas.insert(
        format!("{META}.Patch"),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );
    add_go_markers(&mut schemas, &kind_definitions);
    let schemas: BTreeMap<String, Value> = schemas.into_iter().collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.2"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// Registers a k8s-openapi type's schemas; returns its definition name.
pub(crate) fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// Registers a built-in kind's schemas (its strategy's); returns its definition name.
fn builtin_definition(
    generator: &mut SchemaGenerator,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<String> {
    let strategy = crate::kinds::builtin(group, kind)?;
    (strategy.definition().version == version).then(|| strategy.openapi(generator))
}

/// Publishes the markers of the Go types on the built-in kinds' schemas, as kube-openapi does:
/// `x-kubernetes-patch-strategy`/`-patch-merge-key` (what kubectl's client-side apply builds
/// its strategic merge patch from), `x-kubernetes-list-type`/`-list-map-keys`,
/// `x-kubernetes-map-type: atomic` and `default`. Walks each kind's Go type alongside its
/// definition, following references.
fn add_go_markers(schemas: &mut Map<String, Value>, kinds: &[(String, ResourceKind)]) {
    let mut seen = HashSet::new();
    for (definition, kind) in kinds {
        if kind.custom {
            continue;
        }
        if let Some(go) = crate::ssa::builtin::kind_struct(&kind.group, &kind.kind) {
            annotate(schemas, definition, go, &mut seen);
        }
    }
}

fn annotate(
    schemas: &mut Map<String, Value>,
    definition: &str,
    go: &'static GoStruct,
    seen: &mut HashSet<String>,
) {
    if !seen.insert(definition.to_string()) {
        return;
    }
    let Some(Value::Object(schema)) = schemas.get_mut(definition) else {
        return;
    };
    if go.atomic {
        schema.insert("x-kubernetes-map-type".into(), "atomic".into());
    }
    let mut referenced = Vec::new();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            let Some(field) = go.fields.iter().find(|f| f.json == name) else {
                continue;
            };
            mark_field(property, field);
            let (inner_schema, inner_type) = match &field.ty {
                GoType::Slice(elem) => (property.get("items"), *elem),
                GoType::Map(elem) => (property.get("additionalProperties"), *elem),
                other => (Some(&*property), other),
            };
            if let (Some(inner_schema), GoType::Struct(inner)) = (inner_schema, inner_type)
                && let Some(name) = crate::ssa::derived::referenced(inner_schema)
            {
                referenced.push((name.to_string(), *inner));
            }
        }
    }
    for (name, inner) in referenced {
        annotate(schemas, &name, inner, seen);
    }
}

fn mark_field(property: &mut Value, field: &GoField) {
    let mut marks = Map::new();
    match field.list {
        Some(ListType::Atomic) => {
            marks.insert("x-kubernetes-list-type".into(), "atomic".into());
        }
        Some(ListType::Set) => {
            marks.insert("x-kubernetes-list-type".into(), "set".into());
        }
        Some(ListType::Map(keys)) => {
            marks.insert("x-kubernetes-list-map-keys".into(), json!(keys));
            marks.insert("x-kubernetes-list-type".into(), "map".into());
        }
        None => {}
    }
    if !field.merge_key.is_empty() {
        marks.insert(
            "x-kubernetes-patch-merge-key".into(),
            field.merge_key.into(),
        );
    }
    if !field.strategy.is_empty() {
        marks.insert("x-kubernetes-patch-strategy".into(), field.strategy.into());
    }
    if field.map_atomic {
        marks.insert("x-kubernetes-map-type".into(), "atomic".into());
    }
    if let Some(default) = field.default {
        marks.insert("default".into(), default.into());
    }
    if marks.is_empty() {
        return;
    }
    // Siblings of a bare `$ref` are ignored by OpenAPI readers: wrap it as kube-openapi does.
    if let Some(reference) = property.as_object_mut().and_then(|p| p.remove("$ref")) {
        property["allOf"] = json!([{"$ref": reference}]);
    }
    if let Some(p) = property.as_object_mut() {
        p.extend(marks);
    }
}

/// A custom resource as the server publishes it: the CRD schema with `apiVersion`, `kind` and
/// `metadata` (a reference to ObjectMeta) in place.
fn crd_object_schema(kind: &ResourceKind) -> Value {
    let mut schema = match &kind.schema {
        Some(Value::Object(s)) => s.clone(),
        _ => {
            let mut s = Map::new();
            s.insert("type".into(), "object".into());
            s.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            s
        }
    };
    let properties = schema
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut properties = properties;
    properties.insert(
        "apiVersion".into(),
        json!({"description": API_VERSION_DOC, "type": "string"}),
    );
    properties.insert(
        "kind".into(),
        json!({"description": KIND_DOC, "type": "string"}),
    );
    properties.insert(
        "metadata".into(),
        wrapped_ref(
            &format!("{META}.ObjectMeta"),
            "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        ),
    );
    schema.insert("properties".into(), Value::Object(properties));
    Value::Object(schema)
}

fn list_schema(object_name: &str, kind: &ResourceKind) -> Value {
    json!({
        "description": format!("{} is a list of {}", kind.list_kind, kind.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "items": {"description": format!("List of {}.", kind.plural), "type": "array", "items": reference(object_name)},
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": wrapped_ref(&format!("{META}.ListMeta"), "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"),
        },
        "x-kubernetes-group-version-kind": [gvk(&kind.group, &kind.version, &kind.list_kind)],
    })
}

fn query(name: &str, type_: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": type_, "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(with_force: bool) -> Vec<Value> {
    let mut params = vec![
        query(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted.",
        ),
        query(
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query(
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
        ),
    ];
    if with_force {
        params.push(query(
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests.",
        ));
    }
    params
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        query(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields.",
        ),
        query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels.",
        ),
        query(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        query(
            "watch",
            "boolean",
            "Watch for changes to the described resources.",
        ),
    ]
}

fn json_body(schema: Value) -> Value {
    let mut content = Map::new();
    for media in [
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
    ] {
        content.insert(media.into(), json!({"schema": schema}));
    }
    Value::Object(content)
}

fn operation(kind: &ResourceKind, action: &str, id: String, response: Value) -> Map<String, Value> {
    let mut op = Map::new();
    op.insert("operationId".into(), id.into());
    op.insert("x-kubernetes-action".into(), action.into());
    op.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk(&kind.group, &kind.version, &kind.kind),
    );
    op.insert("responses".into(), json!({"200": {"description": "OK", "content": json_body(response)}, "401": {"description": "Unauthorized"}}));
    op
}

fn operation_id(verb: &str, kind: &ResourceKind, suffix: &str) -> String {
    let group: String = kind
        .group
        .split(['.', '-'])
        .filter(|p| !p.is_empty())
        .map(capitalize)
        .collect();
    let scope = if kind.namespaced { "Namespaced" } else { "" };
    format!(
        "{verb}{}{}{scope}{}{suffix}",
        if group.is_empty() {
            "Core".to_string()
        } else {
            group
        },
        capitalize(&kind.version),
        kind.kind
    )
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn add_paths(
    paths: &mut Map<String, Value>,
    kind: &ResourceKind,
    object_name: &str,
    list_name: &str,
) {
    let prefix = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    let scope = if kind.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let collection = format!("{prefix}{scope}/{}", kind.plural);
    let item = format!("{collection}/{{name}}");
    let mut common = vec![query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    )];
    if kind.namespaced {
        common.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    let object = reference(object_name);
    let patch_types: Vec<&str> = if kind.custom {
        vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ]
    } else {
        vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ]
    };
    let patch_body: Map<String, Value> = patch_types
        .into_iter()
        .map(|m| {
            (
                m.to_string(),
                json!({"schema": reference(&format!("{META}.Patch"))}),
            )
        })
        .collect();

    let mut list = operation(
        kind,
        "list",
        operation_id("list", kind, ""),
        reference(list_name),
    );
    list.insert("parameters".into(), Value::Array(list_params()));
    let mut create = operation(
        kind,
        "post",
        operation_id("create", kind, ""),
        object.clone(),
    );
    create.insert("parameters".into(), Value::Array(write_params(false)));
    create.insert(
        "requestBody".into(),
        json!({"required": true, "content": {"*/*": {"schema": object}}}),
    );
    let mut collection_item = Map::new();
    collection_item.insert("get".into(), Value::Object(list));
    collection_item.insert("post".into(), Value::Object(create));
    collection_item.insert("parameters".into(), Value::Array(common.clone()));
    paths.insert(collection, Value::Object(collection_item));

    let mut item_params = common.clone();
    item_params.insert(0, path_param("name", &format!("name of the {}", kind.kind)));
    for (path, suffix) in [(item.clone(), ""), (format!("{item}/status"), "Status")] {
        if suffix == "Status" && !kind.status_subresource {
            continue;
        }
        let mut get = operation(
            kind,
            "get",
            operation_id("read", kind, suffix),
            object.clone(),
        );
        get.insert("parameters".into(), json!([]));
        let mut put = operation(
            kind,
            "put",
            operation_id("replace", kind, suffix),
            object.clone(),
        );
        put.insert("parameters".into(), Value::Array(write_params(false)));
        put.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"*/*": {"schema": object}}}),
        );
        let mut patch = operation(
            kind,
            "patch",
            operation_id("patch", kind, suffix),
            object.clone(),
        );
        patch.insert("parameters".into(), Value::Array(write_params(true)));
        patch.insert(
            "requestBody".into(),
            json!({"required": true, "content": patch_body}),
        );
        let mut entry = Map::new();
        entry.insert("get".into(), Value::Object(get));
        entry.insert("put".into(), Value::Object(put));
        entry.insert("patch".into(), Value::Object(patch));
        if suffix.is_empty() {
            let mut delete = operation(
                kind,
                "delete",
                operation_id("delete", kind, ""),
                reference(&format!("{META}.Status")),
            );
            delete.insert(
                "parameters".into(),
                json!([
                    query(
                        "dryRun",
                        "string",
                        "When present, indicates that modifications should not be persisted."
                    ),
                    query(
                        "propagationPolicy",
                        "string",
                        "Whether and how garbage collection will be performed."
                    )
                ]),
            );
            delete.insert("requestBody".into(), json!({"content": {"*/*": {"schema": reference(&format!("{META}.DeleteOptions"))}}}));
            entry.insert("delete".into(), Value::Object(delete));
        }
        entry.insert("parameters".into(), Value::Array(item_params.clone()));
        paths.insert(path, Value::Object(entry));
    }
    if kind.namespaced {
        let mut all = operation(
            kind,
            "list",
            operation_id("list", kind, "ForAllNamespaces").replace("Namespaced", ""),
            reference(list_name),
        );
        all.insert("parameters".into(), Value::Array(list_params()));
        paths.insert(
            format!("{prefix}/{}", kind.plural),
            json!({"get": all, "parameters": [query("pretty", "string", "If 'true', then the output is pretty printed.")]}),
        );
    }
}

/// Rewrites `#/components/schemas/` references to Swagger 2.0's `#/definitions/`.
fn v3_refs_to_v2(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => (
                        k.clone(),
                        Value::String(r.replace("#/components/schemas/", "#/definitions/")),
                    ),
                    _ => (k.clone(), v3_refs_to_v2(x)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(v3_refs_to_v2).collect()),
        other => other.clone(),
    }
}

/// A Swagger 2.0 path item from a v3 one: parameters keep `in`/`name`/`type`, request bodies
/// become a `body` parameter, and media types move to `consumes`/`produces`.
fn v2_path_item(item: &Value) -> Value {
    let mut out = Map::new();
    let Some(item) = item.as_object() else {
        return Value::Object(out);
    };
    for (key, op) in item {
        if key == "parameters" {
            out.insert(key.clone(), v2_params(op));
            continue;
        }
        let Some(op) = op.as_object() else {
            continue;
        };
        let mut v2 = Map::new();
        for (k, x) in op {
            match k.as_str() {
                "parameters" => {
                    let mut params = v2_params(x);
                    if let (Some(body), Value::Array(list)) = (op.get("requestBody"), &mut params) {
                        let schema = body["content"]
                            .as_object()
                            .and_then(|c| c.values().next())
                            .map(|c| v3_refs_to_v2(&c["schema"]))
                            .unwrap_or(json!({}));
                        list.insert(0, json!({"name": "body", "in": "body", "required": true, "schema": schema}));
                        let consumes: Vec<&String> = body["content"]
                            .as_object()
                            .map(|c| c.keys().collect())
                            .unwrap_or_default();
                        v2.insert("consumes".into(), json!(consumes));
                    }
                    v2.insert(k.clone(), params);
                }
                "requestBody" => {}
                "responses" => {
                    let schema = x["200"]["content"]["application/json"]["schema"].clone();
                    v2.insert(k.clone(), json!({"200": {"description": "OK", "schema": v3_refs_to_v2(&schema)}, "401": {"description": "Unauthorized"}}));
                    v2.insert(
                        "produces".into(),
                        json!([
                            "application/json",
                            "application/yaml",
                            "application/vnd.kubernetes.protobuf"
                        ]),
                    );
                }
                _ => {
                    v2.insert(k.clone(), x.clone());
                }
            }
        }
        out.insert(key.clone(), Value::Object(v2));
    }
    Value::Object(out)
}

fn v2_params(params: &Value) -> Value {
    Value::Array(
        params
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|p| {
                        let mut q = p.as_object().cloned().unwrap_or_default();
                        if let Some(schema) = q.remove("schema") {
                            if let Some(t) = schema.get("type") {
                                q.insert("type".into(), t.clone());
                            }
                            q.insert("uniqueItems".into(), true.into());
                        }
                        Value::Object(q)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests;
