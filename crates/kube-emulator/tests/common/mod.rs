//! Shared helpers of the integration tests: an emulator with the scratch Gadget CRD.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube_emulator::KubeEmulator;
use serde_json::{Value, json};

/// An HTTPS client that trusts the emulator's CA, for raw requests (it sends no credentials by itself).
pub fn https_client(emu: &KubeEmulator) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

pub async fn emulator() -> KubeEmulator {
    emulator_common::install_crypto_provider();
    kube_emulator::start().await.expect("emulator starts")
}

/// The CRD used throughout the spec: gadgets.demo.example.com, status subresource, printer columns.
pub fn gadget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.demo.example.com"},
        "spec": {
            "group": "demo.example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList", "shortNames": ["gd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "required": ["size"], "properties": {
                            "size": {"type": "integer", "minimum": 1, "maximum": 10},
                            "color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red"},
                            "note": {"type": "string"}
                        }},
                        "status": {"type": "object", "properties": {
                            "phase": {"type": "string"},
                            "observedGeneration": {"type": "integer", "format": "int64"},
                            "conditions": {"type": "array", "items": {"type": "object", "required": ["type", "status"], "properties": {
                                "type": {"type": "string"}, "status": {"type": "string"}, "reason": {"type": "string"},
                                "message": {"type": "string"}, "lastTransitionTime": {"type": "string", "format": "date-time"}
                            }}}
                        }}
                    }
                }}
            }]
        }
    })
}

pub async fn install_gadget_crd(emu: &KubeEmulator) {
    let crds: Api<CustomResourceDefinition> = Api::all(emu.client());
    let crd: CustomResourceDefinition = serde_json::from_value(gadget_crd()).unwrap();
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("CRD created");
}

pub fn gadget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("demo.example.com", "v1", "Gadget"),
        "gadgets",
    )
}

pub fn gadgets(emu: &KubeEmulator, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(emu.client(), ns, &gadget_resource())
}

pub fn gadget(name: &str, size: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": name}, "spec": {"size": size}
    }))
    .unwrap()
}

/// Waits up to 5 s for `check` to hold.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
