//! The scratch CRD of the CEL reference (`scalers.cel.example.com`, kube-api/cel-validation.md
//! section 0) and raw HTTP requests against the emulator, for the CEL test suites.
#![allow(dead_code)]

use kube_emulator::KubeEmulator;
use serde_json::{Value, json};

pub const NS: &str = "cel-ns";
pub const SCALERS: &str = "/apis/cel.example.com/v1/namespaces/cel-ns/scalers";
pub const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

pub fn scaler_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "scalers.cel.example.com"},
        "spec": {
            "group": "cel.example.com",
            "names": {"kind": "Scaler", "plural": "scalers", "singular": "scaler", "listKind": "ScalerList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": scaler_schema()}}]
        }
    })
}

pub fn scaler_schema() -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.minReplicas <= self.maxReplicas", "message": "minReplicas must be less than or equal to maxReplicas"},
                {"rule": "self.mode != 'Exclusive' || !has(self.sharedWith)", "reason": "FieldValueForbidden", "fieldPath": ".sharedWith", "message": "must not be set when mode is Exclusive"},
                {"rule": "!has(self.sharedWith) || has(self.mode)", "reason": "FieldValueRequired", "fieldPath": ".mode", "message": "must be set when sharedWith is set"}],
            "properties": {
                "minReplicas": {"type": "integer", "minimum": 0},
                "maxReplicas": {"type": "integer"},
                "mode": {"type": "string", "enum": ["Shared", "Exclusive"]},
                "sharedWith": {"type": "string"},
                "datacenter": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "is immutable"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                    "x-kubernetes-validations": [{"rule": "self.all(k, !k.startsWith('consul-'))", "message": "label keys must not start with 'consul-'"}]},
                "hosts": {"type": "array", "maxItems": 5, "items": {"type": "string"}, "x-kubernetes-validations": [
                    {"rule": "self.all(x, x.size() > 0)"},
                    {"rule": "self.all(x, self.exists_one(y, y == x))", "reason": "FieldValueDuplicate", "message": "must not contain duplicates"}]},
                "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self.matches('^[a-z]+$')"}]},
                "partition": {"type": "string", "maxLength": 32, "x-kubernetes-validations": [
                    {"rule": "self != 'default'", "messageExpression": "'partition ' + self + ' is reserved'"}]},
                "version": {"type": "integer", "x-kubernetes-validations": [
                    {"rule": "!oldSelf.hasValue() || self >= oldSelf.value()", "optionalOldSelf": true, "message": "may not decrease"}]},
                "pinned": {"type": "string", "x-kubernetes-validations": [
                    {"rule": "oldSelf.hasValue() || self == 'initial'", "optionalOldSelf": true, "message": "must be 'initial' when first set"}]},
                "peerName": {"type": "string", "pattern": "^[a-z0-9-]+$"}}},
        "status": {"type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.readyReplicas) || self.readyReplicas <= self.desiredReplicas", "message": "readyReplicas must not exceed desiredReplicas"}],
            "required": ["desiredReplicas"],
            "properties": {"readyReplicas": {"type": "integer"}, "desiredReplicas": {"type": "integer"}}}}})
}

/// A CRD `probes.cel.example.com` (kind Probe) whose `spec` has the given schema.
pub fn probe_crd(name: &str, kind: &str, spec_schema: Value) -> Value {
    let plural = name.split('.').next().unwrap_or_default();
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": "cel.example.com", "scope": "Namespaced", "names": {"kind": kind, "plural": plural},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}}}]}})
}

pub fn scaler(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "cel.example.com/v1", "kind": "Scaler", "metadata": {"name": name}, "spec": spec})
}

/// One answer: status code, `Warning` headers and the JSON body.
pub struct Reply {
    pub code: u16,
    pub warnings: Vec<String>,
    pub body: Value,
}

pub async fn call(
    emu: &KubeEmulator,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Reply {
    let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http
        .request(method, format!("{}{path}", emu.url()))
        .bearer_auth(emu.admin_token())
        .header("accept", "application/json");
    if !body.is_empty() {
        req = req
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let text = resp.text().await.unwrap();
    Reply {
        code,
        warnings,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

pub async fn post(emu: &KubeEmulator, path: &str, body: &Value) -> Reply {
    call(emu, "POST", path, "application/json", &body.to_string()).await
}

pub async fn merge(emu: &KubeEmulator, path: &str, patch: Value) -> Reply {
    call(
        emu,
        "PATCH",
        path,
        "application/merge-patch+json",
        &patch.to_string(),
    )
    .await
}

/// An emulator with the namespace `cel-ns` and the Scaler CRD.
pub async fn with_scalers() -> KubeEmulator {
    emulator_common::install_crypto_provider();
    let emu = kube_emulator::start().await.expect("emulator starts");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    assert_eq!(post(&emu, "/api/v1/namespaces", &ns).await.code, 201);
    let created = post(&emu, CRDS, &scaler_crd()).await;
    assert_eq!(created.code, 201, "{}", created.body);
    emu
}

/// The 422 Invalid Status of `<kind>.<group> "<name>"` with these `(reason, message, field)`
/// causes, its message built as the reference's Summary says.
pub fn invalid(kind: &str, group: &str, name: &str, causes: &[(&str, &str, &str)]) -> Value {
    let parts: Vec<String> = causes.iter().map(|(_, m, f)| format!("{f}: {m}")).collect();
    let head = format!("{kind}.{group} \"{name}\" is invalid: ");
    let message = match parts.as_slice() {
        [one] => format!("{head}{one}"),
        many => format!("{head}[{}]", many.join(", ")),
    };
    let causes: Vec<Value> = causes
        .iter()
        .map(|(r, m, f)| json!({"reason": r, "message": m, "field": f}))
        .collect();
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": causes}, "code": 422})
}

pub fn scaler_invalid(name: &str, causes: &[(&str, &str, &str)]) -> Value {
    invalid("Scaler", "cel.example.com", name, causes)
}

pub const NOT_CHECKED: (&str, &str, &str) = (
    "FieldValueInvalid",
    "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
    "<nil>",
);

pub const BUDGET_HINT: &str = " (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)";
