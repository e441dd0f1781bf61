//! Protocol-level behaviour: method/media-type errors, dryRun, generateName,
//! deletecollection, periodic bookmarks, CRD validation, YAML responses.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    fn new(emu: &kube_emulator::KubeEmulator) -> Raw {
        Raw {
            http: https_client(emu),
            base: emu.url().to_string(),
            token: emu.admin_token().to_string(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn method_and_media_type_errors() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    gadgets(&emu, "default")
        .create(&PostParams::default(), &gadget("ssa1", 2))
        .await
        .unwrap();
    let raw = Raw::new(&emu);
    let item = "/apis/demo.example.com/v1/namespaces/default/gadgets/ssa1";
    let (code, body) = raw
        .send(
            "POST",
            &format!("{item}/status"),
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(code, 405);
    assert_eq!(
        message(&body),
        "create is not supported on resources of kind \"gadgets.demo.example.com\""
    );
    let (code, body) = raw.send("DELETE", &format!("{item}/status"), &[], "").await;
    assert_eq!(
        (code, message(&body)),
        (
            405,
            "delete is not supported on resources of kind \"gadgets.demo.example.com\"".to_string()
        )
    );
    let (code, body) = raw
        .send(
            "PATCH",
            item,
            &[("content-type", "application/json")],
            r#"{"spec":{"size":3}}"#,
        )
        .await;
    assert_eq!(code, 415);
    assert!(message(&body).starts_with("the body of the request was in an unknown format"));
    let (code, _) = raw
        .send(
            "PATCH",
            item,
            &[("content-type", "application/strategic-merge-patch+json")],
            r#"{"spec":{"size":3}}"#,
        )
        .await;
    assert_eq!(code, 415, "no strategic merge patch on custom resources");
    let (code, body) = raw
        .send(
            "PATCH",
            "/apis/demo.example.com/v1/namespaces/default/gadgets",
            &[("content-type", "application/merge-patch+json")],
            "{}",
        )
        .await;
    assert_eq!(
        (code, message(&body)),
        (400, "name must be provided".to_string())
    );
    let (code, body) = raw.send("GET", item, &[("accept", "text/html")], "").await;
    assert_eq!(code, 406);
    assert_eq!(
        message(&body),
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let (code, body) = raw
        .send(
            "DELETE",
            "/api/v1/namespaces/default/configmaps/x/status",
            &[],
            "",
        )
        .await;
    assert_eq!(
        (code, message(&body)),
        (
            404,
            "the server could not find the requested resource".to_string()
        )
    );
    let (code, body) = raw
        .send(
            "POST",
            "/apis/demo.example.com/v1/namespaces/default/gadgets",
            &[("content-type", "application/json")],
            r#"{"apiVersion":"demo.example.com/v1","kind":"Gadget","#,
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        message(&body).starts_with("the object provided is unrecognized (must be of type Gadget)"),
        "{body}"
    );
    let (code, body) = raw
        .send(
            "GET",
            "/apis/demo.example.com/v1/namespaces/default/gadgets",
            &[("accept", "application/yaml")],
            "",
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        body.contains("kind: GadgetList") && body.contains("name: ssa1"),
        "{body}"
    );
    let (code, body) = raw
        .send(
            "GET",
            "/apis/demo.example.com/v1/namespaces/default/gadgets?resourceVersionMatch=Exact",
            &[],
            "",
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        message(&body),
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    );
    let (code, body) = raw.send("GET", "/apis/demo.example.com/v1/namespaces/default/gadgets?watch=true&sendInitialEvents=true", &[], "").await;
    assert_eq!(code, 422);
    assert!(
        message(&body)
            .ends_with("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
    );
    let (code, body) = raw
        .send(
            "DELETE",
            &format!("{item}?propagationPolicy=Bogus"),
            &[],
            "",
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        message(&body),
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Bogus\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
    );
}

#[tokio::test]
async fn dry_run_generate_name_and_delete_collection() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"generateName": "gen-", "labels": {"batch": "1"}}}),
    )
    .unwrap();
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    assert!(dry.metadata.name.unwrap().starts_with("gen-"));
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "dry run stores nothing"
    );
    let mut names = Vec::new();
    for _ in 0..3 {
        let c = api.create(&PostParams::default(), &cm).await.unwrap();
        let name = c.metadata.name.unwrap();
        assert_eq!(name.len(), "gen-".len() + 5);
        names.push(name);
    }
    let dry_delete = api
        .delete(
            &names[0],
            &DeleteParams {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(dry_delete.is_right());
    assert!(api.get_opt(&names[0]).await.unwrap().is_some());
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("batch=1"),
    )
    .await
    .unwrap();
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn idle_watches_get_periodic_bookmarks() {
    emulator_common::install_crypto_provider();
    let emu = kube_emulator::start_with(kube_emulator::Config {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let c = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap(),
        )
        .await
        .unwrap();
    let rv = c.metadata.resource_version.unwrap();
    let mut events = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_crds_are_refused() {
    let emu = emulator().await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(emu.client());
    let mut crd = gadget_crd();
    crd["metadata"]["name"] = json!("wrong.demo.example.com");
    let err = api_error(
        crds.create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(err.message.contains("metadata.name: Invalid value: \"wrong.demo.example.com\": must be spec.names.plural+\".\"+spec.group"), "{}", err.message);
    let mut crd = gadget_crd();
    crd["spec"]["versions"][0]["storage"] = json!(false);
    let err = api_error(
        crds.create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        err.message
            .contains("must have exactly one version marked as storage version"),
        "{}",
        err.message
    );
}
