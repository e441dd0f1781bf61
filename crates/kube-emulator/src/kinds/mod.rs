//! What the server does for particular built-in kinds on a write: Secrets (stringData, base64,
//! types), ConfigMaps, Namespaces, Events (and their two API versions), Leases,
//! CustomResourceDefinitions, Services (cluster IPs), the fields Go always serializes for the
//! workload kinds, and for every built-in kind the decoding of the body into its Go type
//! (unknown fields, values of the wrong type).

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::registry::{Served, View};
use crate::status::{ApiError, Cause};
use crate::validation::{config_key_errors, micro_time_error, time_error};

/// Decode-time checks: what the real server rejects while turning the body into its Go type
/// (base64 in Secret data, time formats). The error is the decoder's own words; see
/// [`decode_error`] for how the server answers it.
pub fn decode_checks(served: &Served, obj: &Value) -> Result<(), String> {
    let cannot = |detail: String| detail;
    if served.is_secret()
        && let Some(data) = obj.get("data").and_then(Value::as_object)
    {
        for v in data.values() {
            if let Some(s) = v.as_str()
                && let Some(offset) = base64_error_offset(s)
            {
                return Err(cannot(format!(
                    "illegal base64 data at input byte {offset}"
                )));
            }
        }
    }
    let micro_fields: &[&str] = if served.is_lease() {
        &["/spec/acquireTime", "/spec/renewTime"]
    } else if served.is_event() {
        match served.view {
            View::EventsV1 => &["/eventTime", "/series/lastObservedTime"],
            View::Plain => &["/eventTime", "/series/lastObservedTime"],
        }
    } else {
        &[]
    };
    for f in micro_fields {
        if let Some(s) = obj.pointer(f).and_then(Value::as_str)
            && let Some(e) = micro_time_error(s)
        {
            return Err(cannot(e));
        }
    }
    let time_fields: &[&str] = match (served.is_event(), served.view) {
        (true, View::Plain) => &["/firstTimestamp", "/lastTimestamp"],
        (true, View::EventsV1) => &["/deprecatedFirstTimestamp", "/deprecatedLastTimestamp"],
        _ => &[],
    };
    for f in time_fields
        .iter()
        .chain(["/metadata/creationTimestamp"].iter())
    {
        if let Some(s) = obj.pointer(f).and_then(Value::as_str)
            && let Some(e) = time_error(s)
        {
            return Err(cannot(e));
        }
    }
    if !served.kind.custom
        && let Some(go) = crate::ssa::builtin::kind_struct(&served.kind.group, &served.kind.kind)
        && let Some(e) = go.decode_error(obj)
    {
        return Err(cannot(e));
    }
    Ok(())
}

/// The answer to a body that does not decode: 400 for a create or update body, 422 naming
/// the patched object for a patch.
pub fn decode_error(served: &Served, detail: &str, patched: Option<&Value>) -> ApiError {
    let kind = &served.kind.kind;
    match patched {
        None => ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {detail}"
        )),
        Some(obj) => {
            let json = serde_json::to_string(obj).unwrap_or_default();
            ApiError::invalid(
                "",
                "",
                "",
                "",
                vec![Cause::invalid("patch", &json!(json), detail)],
            )
        }
    }
}

/// Byte offset Go's base64 decoder reports for invalid input, if the input is invalid.
fn base64_error_offset(s: &str) -> Option<usize> {
    let cleaned: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    if let Some(pos) = cleaned
        .bytes()
        .position(|c| !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='))
    {
        return Some(pos);
    }
    match base64::engine::general_purpose::STANDARD.decode(&cleaned) {
        Ok(_) => None,
        Err(base64::DecodeError::InvalidByte(pos, _)) => Some(pos),
        Err(base64::DecodeError::InvalidLastSymbol(pos, _)) => Some(pos),
        Err(_) => Some(cleaned.len() / 4 * 4),
    }
}

/// Server-side defaulting and normalisation of a built-in object on create and update.
pub fn normalize(served: &Served, obj: &mut Value, old: Option<&Value>) {
    if served.is_secret() {
        if let Some(Value::Object(string_data)) =
            obj.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            let data = obj
                .as_object_mut()
                .map(|o| o.entry("data").or_insert_with(|| json!({})))
                .filter(|d| d.is_object());
            if let Some(Value::Object(data)) = data {
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or_default();
                    data.insert(
                        k,
                        json!(base64::engine::general_purpose::STANDARD.encode(text)),
                    );
                }
            }
        }
        if obj
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            obj["type"] = json!("Opaque");
        }
    }
    if served.is_namespace_kind() {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !obj
            .pointer("/metadata/labels")
            .is_some_and(Value::is_object)
        {
            obj["metadata"]["labels"] = json!({});
        }
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        if old.is_none() {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
    }
    if served.is_event() && served.view == View::Plain {
        normalize_core_event(obj);
    }
    if served.is_crd_kind() {
        normalize_crd(obj, old);
    }
    if !served.kind.custom {
        crate::defaults::apply(&served.kind.group, &served.kind.kind, obj);
        go_zero_fields(served, obj);
    }
}

/// Fields the Go types always serialize (plain structs, non-`omitempty` fields), so that a
/// stored object reads back as the real server encodes it: a Deployment's `status: {}`, a
/// Service's `status.loadBalancer`, a PodDisruptionBudget's status counters, a role's `rules`.
fn go_zero_fields(served: &Served, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let (group, kind) = (served.kind.group.as_str(), served.kind.kind.as_str());
    let status_zero = match (group, kind) {
        ("apps", "Deployment") => Some(json!({})),
        ("", "Service") => Some(json!({"loadBalancer": {}})),
        ("policy", "PodDisruptionBudget") => Some(
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        ),
        _ => None,
    };
    if let Some(Value::Object(zero)) = status_zero {
        if !map.get("status").is_some_and(Value::is_object) {
            map.insert("status".into(), json!({}));
        }
        if let Some(status) = map.get_mut("status").and_then(Value::as_object_mut) {
            for (k, v) in zero {
                status.entry(k).or_insert(v);
            }
        }
    }
    if group == "rbac.authorization.k8s.io" && (kind == "ClusterRole" || kind == "Role") {
        map.entry("rules").or_insert(Value::Null);
    }
}

/// A Service's cluster IPs: allocated on create from 10.96.0.0/12 (`is_taken` tells which are
/// in use), kept from the stored object when an update leaves them out, as the Service REST
/// storage does; plus the IP family fields it fills in.
pub fn service_ips(obj: &mut Value, old: Option<&Value>, is_taken: impl Fn(&str) -> bool) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
    }
    let unset = |spec: &Map<String, Value>, k: &str| {
        spec.get(k)
            .is_none_or(|v| v.is_null() || v.as_str() == Some("") || v == &json!([]))
    };
    if let Some(old_spec) = old.and_then(|o| o.get("spec")) {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if unset(spec, k)
                && let Some(v) = old_spec.get(k)
            {
                spec.insert(k.into(), v.clone());
            }
        }
    }
    if unset(spec, "clusterIP") {
        let ip = loop {
            let bytes = uuid::Uuid::new_v4().into_bytes();
            // 10.96.0.0/12 without its network, broadcast and the `kubernetes` Service's .1.
            let offset =
                (u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) % ((1 << 20) - 3)) + 2;
            let ip =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)) + offset)
                    .to_string();
            if !is_taken(&ip) {
                break ip;
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
    }
    if unset(spec, "clusterIPs") {
        let ip = spec["clusterIP"].clone();
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    if unset(spec, "ipFamilies") {
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
    }
    if unset(spec, "ipFamilyPolicy") {
        spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
    }
}

fn normalize_core_event(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    o.entry("involvedObject").or_insert_with(|| json!({}));
    o.entry("source").or_insert_with(|| json!({}));
    o.entry("firstTimestamp").or_insert(Value::Null);
    o.entry("lastTimestamp").or_insert(Value::Null);
    o.entry("eventTime").or_insert(Value::Null);
    o.entry("reportingComponent").or_insert_with(|| json!(""));
    o.entry("reportingInstance").or_insert_with(|| json!(""));
}

/// (events.k8s.io/v1 name, core/v1 name) of the fields whose names differ.
const EVENT_RENAMES: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// A stored core/v1 Event as events.k8s.io/v1 shows it.
pub fn event_to_v1(core: &Value) -> Value {
    let mut out = Map::new();
    let Some(src) = core.as_object() else {
        return core.clone();
    };
    for (k, v) in src {
        let renamed = EVENT_RENAMES
            .iter()
            .find(|(_, c)| c == k)
            .map(|(n, _)| *n)
            .unwrap_or(k.as_str());
        out.insert(renamed.to_string(), v.clone());
    }
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    for empty_dropped in ["reportingController", "reportingInstance", "note", "action"] {
        if out
            .get(empty_dropped)
            .is_some_and(|v| v.as_str() == Some(""))
        {
            out.remove(empty_dropped);
        }
    }
    if out
        .get("deprecatedCount")
        .is_some_and(|v| v.as_i64() == Some(0))
    {
        out.remove("deprecatedCount");
    }
    out.entry("eventTime").or_insert(Value::Null);
    out.entry("deprecatedSource").or_insert_with(|| json!({}));
    out.entry("deprecatedFirstTimestamp").or_insert(Value::Null);
    out.entry("deprecatedLastTimestamp").or_insert(Value::Null);
    Value::Object(out)
}

/// An events.k8s.io/v1 Event in its stored core/v1 form.
pub fn event_from_v1(v1: &Value) -> Value {
    let mut out = Map::new();
    let Some(src) = v1.as_object() else {
        return v1.clone();
    };
    for (k, v) in src {
        let renamed = EVENT_RENAMES
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, c)| *c)
            .unwrap_or(k.as_str());
        out.insert(renamed.to_string(), v.clone());
    }
    out.insert("apiVersion".into(), json!("v1"));
    let mut value = Value::Object(out);
    normalize_core_event(&mut value);
    value
}

fn normalize_crd(obj: &mut Value, old: Option<&Value>) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !spec.contains_key("conversion") {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if names
            .get("singular")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    let storage: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    if old.is_none() {
        obj["status"] = json!({
            "conditions": null,
            "acceptedNames": {"plural": "", "kind": ""},
            "storedVersions": storage,
        });
    }
}

/// The CRD status the apiextensions controllers write right after creation.
pub fn crd_established_status(crd: &Value, now: &str) -> Value {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored = crd
        .pointer("/status/storedVersions")
        .cloned()
        .unwrap_or(json!([]));
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    })
}

/// The Terminating condition a CRD gets when deleted.
pub fn crd_terminating_condition(now: &str) -> Value {
    json!({"type": "Terminating", "status": "True", "lastTransitionTime": now, "reason": "InstanceDeletionPending", "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"})
}

/// Kind-specific validation (422 causes).
pub fn validate(served: &Served, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if served.is_secret() || served.is_configmap() {
        for field in ["data", "binaryData"] {
            if let Some(map) = obj.get(field).and_then(Value::as_object) {
                for k in map.keys() {
                    for m in config_key_errors(k) {
                        causes.push(Cause::invalid(&format!("{field}[{k}]"), &json!(k), &m));
                    }
                }
            }
        }
        if let Some(old) = old
            && old.get("immutable").and_then(Value::as_bool) == Some(true)
        {
            for field in ["data", "binaryData"] {
                if obj.get(field) != old.get(field) {
                    causes.push(Cause::forbidden(
                        field,
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
            if obj.get("immutable") != old.get("immutable") {
                causes.push(Cause::forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    if served.is_secret() {
        causes.extend(secret_type_causes(obj, old));
    }
    if served.is_event() && served.view == View::EventsV1 {
        causes.extend(events_v1_causes(obj));
    }
    if served.is_crd_kind() {
        causes.extend(crd_causes(obj));
    }
    if served.kind.group == "apps" && served.kind.kind == "Deployment" {
        causes.extend(deployment_causes(obj));
    }
    causes
}

/// The first rules of `ValidateDeploymentSpec`: replicas, a selector that selects the pod
/// template's labels, containers with names and images. (The rest of pod validation is not
/// done; see the README.)
fn deployment_causes(d: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(replicas) = d.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            &json!(replicas),
            "must be greater than or equal to 0",
        ));
    }
    let selector = d.pointer("/spec/selector").filter(|s| s.is_object());
    if selector.is_none() {
        causes.push(Cause::required("spec.selector", ""));
    }
    let labels = d
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    // A missing selector selects nothing, so the template's labels do not match it either.
    if !selector.is_some_and(|s| selects(s, labels)) {
        let shown = match labels {
            None => "map[string]string(nil)".to_string(),
            Some(l) => {
                let pairs: Vec<String> = l
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
                    .collect();
                format!("map[string]string{{{}}}", pairs.join(", "))
            }
        };
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            format!("Invalid value: {shown}: `selector` does not match template `labels`"),
        ));
    }
    let containers = d
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if containers.is_empty() {
        causes.push(Cause::required("spec.template.spec.containers", ""));
    }
    for (i, c) in containers.iter().enumerate() {
        for field in ["name", "image"] {
            if c.get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(Cause::required(
                    &format!("spec.template.spec.containers[{i}].{field}"),
                    "",
                ));
            }
        }
    }
    causes
}

/// Whether a LabelSelector selects these labels (an empty one selects everything).
fn selects(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let by_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|es| {
            es.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                    "In" => label(key).is_some_and(|v| values.contains(&v)),
                    "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                    "Exists" => label(key).is_some(),
                    "DoesNotExist" => label(key).is_none(),
                    _ => false,
                }
            })
        });
    by_labels && by_expressions
}

fn secret_type_causes(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    if let Some(old_ty) = old.and_then(|o| o.get("type")).and_then(Value::as_str)
        && old_ty != ty
    {
        causes.push(Cause::invalid("type", &json!(ty), "field is immutable"));
    }
    let has = |k: &str| {
        obj.pointer(&format!(
            "/data/{}",
            k.replace('~', "~0").replace('/', "~1")
        ))
        .is_some()
    };
    let required: &[&str] = match ty {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    };
    for k in required {
        if !has(k) {
            causes.push(Cause::required(&format!("data[{k}]"), ""));
        }
    }
    if ty == "kubernetes.io/service-account-token"
        && obj
            .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
            .is_none()
    {
        causes.push(Cause::required(
            "metadata.annotations[kubernetes.io/service-account.name]",
            "",
        ));
    }
    if ty == "kubernetes.io/basic-auth" && !has("username") && !has("password") {
        causes.push(Cause::required("data[username]", ""));
        causes.push(Cause::required("data[password]", ""));
    }
    causes
}

fn events_v1_causes(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
    if obj.get("eventTime").is_none_or(Value::is_null) {
        causes.push(Cause::required("eventTime", ""));
    }
    if s("reportingController").is_empty() {
        causes.push(Cause::required("reportingController", ""));
    }
    if s("reportingInstance").is_empty() {
        causes.push(Cause::required("reportingInstance", ""));
    }
    if s("action").is_empty() {
        causes.push(Cause::required("action", ""));
    }
    if s("reason").is_empty() {
        causes.push(Cause::required("reason", ""));
    }
    let ty = s("type");
    if ty != "Normal" && ty != "Warning" {
        causes.push(Cause::not_supported("type", ty, &["Normal", "Warning"]));
    }
    causes
}

fn crd_causes(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = s("/metadata/name");
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    if !name.is_empty()
        && !group.is_empty()
        && !plural.is_empty()
        && name != format!("{plural}.{group}")
    {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        causes.push(Cause::required("spec.group", ""));
    } else if !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    match s("/spec/scope").as_str() {
        "Cluster" | "Namespaced" => {}
        "" => causes.push(Cause::required("spec.scope", "")),
        other => causes.push(Cause::not_supported(
            "spec.scope",
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural", ""));
    } else {
        for m in crate::validation::name_errors(&plural, crate::validation::NameRule::Label) {
            causes.push(Cause::invalid("spec.names.plural", &json!(plural), &m));
        }
    }
    if s("/spec/names/kind").is_empty() {
        causes.push(Cause::required("spec.names.kind", ""));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .count();
        if storage != 1 {
            causes.push(Cause::invalid(
                "spec.versions",
                &Value::Array(versions.clone()),
                "must have exactly one version marked as storage version",
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if v.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(Cause::required(&format!("spec.versions[{i}].name"), ""));
            }
            match v.pointer("/schema/openAPIV3Schema") {
                None => causes.push(Cause::required(
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "schemas are required",
                )),
                Some(schema) => {
                    if let Err(e) = crate::ext::Schema::compile(schema) {
                        causes.push(Cause::invalid(
                            &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                            &json!("..."),
                            &e,
                        ));
                    }
                }
            }
        }
        causes.extend(crate::ext::crd_rule_causes(&versions));
    }
    causes
}

/// Removes the fields of a body that its kind does not have and returns their paths (for
/// fieldValidation): built-in kinds by their Go type, custom resources by `metadata` only (their
/// schema prunes the rest).
pub fn prune_unknown_fields(served: &Served, obj: &mut Value) -> Vec<String> {
    let go_type = (!served.kind.custom)
        .then(|| crate::ssa::builtin::kind_struct(&served.kind.group, &served.kind.kind))
        .flatten();
    match go_type {
        Some(s) => s.prune_unknown(obj),
        None => match obj.get_mut("metadata") {
            Some(meta) => crate::ssa::builtin::OBJECT_META
                .prune_unknown(meta)
                .into_iter()
                .map(|p| format!("metadata.{p}"))
                .collect(),
            None => Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtins;

    fn served(plural: &str, group: &str) -> Served {
        builtins()
            .into_iter()
            .find(|s| s.kind.plural == plural && s.kind.group == group)
            .unwrap()
    }

    #[test]
    fn secret_string_data_merges_and_wins() {
        let s = served("secrets", "");
        let mut obj = json!({"data": {"a": "YWFh", "b": "YmJi"}, "stringData": {"b": "from-stringData", "c": "plain"}});
        normalize(&s, &mut obj, None);
        assert_eq!(
            obj,
            json!({"data": {"a": "YWFh", "b": "ZnJvbS1zdHJpbmdEYXRh", "c": "cGxhaW4="}, "type": "Opaque"})
        );
    }

    #[test]
    fn secret_base64_error_offset() {
        let s = served("secrets", "");
        let err = decode_checks(&s, &json!({"data": {"a": "not base64!!"}})).unwrap_err();
        assert_eq!(
            decode_error(&s, &err, None).message,
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
        );
    }

    #[test]
    fn tls_secret_requires_keys() {
        let s = served("secrets", "");
        let causes = validate(
            &s,
            &json!({"type": "kubernetes.io/tls", "data": {"x": "eA=="}}),
            None,
        );
        let sums: Vec<_> = causes.iter().map(Cause::summary).collect();
        assert_eq!(
            sums,
            vec![
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value"
            ]
        );
    }

    #[test]
    fn deployments_need_a_selector_matching_their_template_and_named_containers_with_images() {
        let d = served("deployments", "apps");
        let sums = |obj: Value| -> Vec<String> {
            validate(&d, &obj, None)
                .iter()
                .map(Cause::summary)
                .collect()
        };
        assert_eq!(
            sums(
                json!({"spec": {"template": {"metadata": {"labels": {"b": "2", "a": "1"}},
                "spec": {"containers": [{"name": "c"}]}}}})
            ),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: `selector` does not match template `labels`",
                "spec.template.spec.containers[0].image: Required value",
            ]
        );
        assert_eq!(
            sums(
                json!({"spec": {"replicas": -1, "selector": {"matchLabels": {"a": "2"}},
                "template": {"spec": {}}}})
            ),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`",
                "spec.template.spec.containers: Required value",
            ]
        );
        assert!(
            sums(json!({"spec": {"selector": {"matchLabels": {"a": "1"},
                    "matchExpressions": [{"key": "b", "operator": "In", "values": ["2", "3"]}]},
                "template": {"metadata": {"labels": {"a": "1", "b": "2"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
            .is_empty()
        );
    }

    #[test]
    fn event_views_round_trip() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "st1"}, "message": "m", "source": {"component": "c"}, "count": 2, "firstTimestamp": null, "lastTimestamp": null, "eventTime": null, "reportingComponent": "", "reportingInstance": ""});
        let v1 = event_to_v1(&core);
        assert_eq!(v1["regarding"]["name"], "st1");
        assert_eq!(v1["note"], "m");
        assert_eq!(v1["deprecatedCount"], 2);
        assert!(v1.get("reportingController").is_none());
        assert_eq!(event_from_v1(&v1), core);
    }
}
