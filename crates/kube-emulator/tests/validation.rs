//! Custom resources against their schema through the server: 422 bodies with causes,
//! defaulting, pruning and fieldValidation with its Warning headers.

mod common;

use common::*;
use serde_json::{Value, json};

/// POSTs a body as JSON and returns (status, Warning headers, body).
async fn post(
    emu: &kube_emulator::KubeEmulator,
    query: &str,
    body: Value,
) -> (u16, Vec<String>, Value) {
    let http = https_client(emu);
    let resp = http
        .post(format!(
            "{}/apis/demo.example.com/v1/namespaces/default/gadgets{query}",
            emu.url()
        ))
        .bearer_auth(emu.admin_token())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (code, warnings, resp.json().await.unwrap())
}

fn gadget_body(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn schema_violations_are_422_with_causes_in_order() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let (code, _, body) = post(&emu, "", gadget_body("bad1", json!({"color": "red"}))).await;
    assert_eq!(code, 422);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Gadget.demo.example.com \"bad1\" is invalid: spec.size: Required value",
            "reason": "Invalid",
            "details": {"name": "bad1", "group": "demo.example.com", "kind": "Gadget",
                "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.size"}]},
            "code": 422})
    );
    let (_, _, body) = post(
        &emu,
        "",
        gadget_body("bad5", json!({"size": "x", "color": "pink"})),
    )
    .await;
    assert_eq!(
        body["message"],
        "Gadget.demo.example.com \"bad5\" is invalid: [spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\", spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\"]"
    );
    let (_, _, body) = post(&emu, "", gadget_body("bad3", json!({"size": 11}))).await;
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "Invalid value: 11: spec.size in body should be less than or equal to 10"
    );
}

#[tokio::test]
async fn defaults_are_applied_and_unknown_fields_pruned_with_warnings() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let mut body = gadget_body("def1", json!({"size": 2, "bogus": 1}));
    body["topLevelExtra"] = json!(1);
    let (code, warnings, created) = post(&emu, "", body.clone()).await;
    assert_eq!(code, 201);
    assert_eq!(created["spec"], json!({"size": 2, "color": "red"}));
    assert!(created.get("topLevelExtra").is_none());
    assert!(
        warnings.contains(&"299 - \"unknown field \\\"spec.bogus\\\"\"".to_string()),
        "{warnings:?}"
    );
    body["metadata"]["name"] = json!("ign1");
    let (code, warnings, _) = post(&emu, "?fieldValidation=Ignore", body.clone()).await;
    assert_eq!((code, warnings.len()), (201, 0));
    body["metadata"]["name"] = json!("strict1");
    body["metadata"]["extra"] = json!("x");
    let (code, _, status) = post(&emu, "?fieldValidation=Strict", body.clone()).await;
    assert_eq!(code, 400);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: unknown field \"metadata.extra\""),
        "{message}"
    );
    assert!(
        message.contains("unknown field \"spec.bogus\""),
        "{message}"
    );
    let (code, _, status) = post(&emu, "?fieldValidation=Bogus", body).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Bogus\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
    );
}

#[tokio::test]
async fn a_merge_patch_to_null_gets_the_default_back_as_a_no_op() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    let created = api
        .create(&Default::default(), &gadget("def2", 2))
        .await
        .unwrap();
    let patched = api
        .patch(
            "def2",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"spec": {"color": null}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["color"], "red");
    assert_eq!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
}

#[tokio::test]
async fn status_writes_are_validated_against_the_schema() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    api.create(&Default::default(), &gadget("s1", 2))
        .await
        .unwrap();
    let err = api_error(
        api.patch_status(
            "s1",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"status": {"conditions": [{"type": "Ready"}]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Gadget.demo.example.com \"s1\" is invalid: status.conditions[0].status: Required value"
    );
}

#[tokio::test]
async fn strict_reports_duplicate_keys() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let http = https_client(&emu);
    let body = r#"{"apiVersion":"demo.example.com/v1","kind":"Gadget","metadata":{"name":"dup1"},"spec":{"size":2,"size":3}}"#;
    let resp = http
        .post(format!(
            "{}/apis/demo.example.com/v1/namespaces/default/gadgets?fieldValidation=Strict",
            emu.url()
        ))
        .bearer_auth(emu.admin_token())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let status: Value = resp.json().await.unwrap();
    assert_eq!(
        status["message"],
        "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: duplicate field \"spec.size\""
    );
}
