//! CRUD, status subresource, generation, finalizers and CRD lifecycle through kube::Client.

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn starts_with_the_default_namespaces() {
    let emu = emulator().await;
    let ns: Api<Namespace> = Api::all(emu.client());
    let names: Vec<String> = ns
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let default = ns.get("default").await.unwrap();
    assert_eq!(
        default.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "default"
    );
    assert_eq!(default.status.unwrap().phase.as_deref(), Some("Active"));
}

#[tokio::test]
async fn resource_version_is_one_counter_across_kinds() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let a = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
        )
        .await
        .unwrap();
    let g = gadgets(&emu, "default")
        .create(&PostParams::default(), &gadget("g", 2))
        .await
        .unwrap();
    let b = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap(),
        )
        .await
        .unwrap();
    let rv = |s: Option<String>| s.unwrap().parse::<u64>().unwrap();
    let (ra, rg, rb) = (
        rv(a.metadata.resource_version),
        rv(g.metadata.resource_version),
        rv(b.metadata.resource_version),
    );
    assert_eq!((rg, rb), (ra + 1, ra + 2));
    assert!(
        a.metadata.generation.is_none(),
        "ConfigMaps have no generation"
    );
    assert_eq!(g.metadata.generation, Some(1));
}

#[tokio::test]
async fn stale_update_is_a_conflict_and_missing_rv_is_invalid_for_custom_resources() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    let created = api
        .create(&PostParams::default(), &gadget("e1", 2))
        .await
        .unwrap();
    let mut changed = created.clone();
    changed.data["spec"]["size"] = json!(3);
    api.replace("e1", &PostParams::default(), &changed)
        .await
        .unwrap();
    changed.data["spec"]["size"] = json!(4);
    let err = api_error(
        api.replace("e1", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on gadgets.demo.example.com \"e1\": the object has been modified; please apply your changes to the latest version and try again"
    );
    changed.metadata.resource_version = None;
    let err = api_error(
        api.replace("e1", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "gadgets.demo.example.com \"e1\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"
    );
}

#[tokio::test]
async fn generation_moves_with_spec_only_and_status_is_a_subresource() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    let mut g = gadget("st1", 2);
    g.data["status"] = json!({"phase": "Injected"});
    let created = api.create(&PostParams::default(), &g).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status dropped on create"
    );
    let pp = PatchParams::default();
    let after_spec = api
        .patch(
            "st1",
            &pp,
            &Patch::Merge(json!({"spec": {"size": 4}, "status": {"phase": "ViaMain"}})),
        )
        .await
        .unwrap();
    assert_eq!(after_spec.metadata.generation, Some(2));
    assert!(
        after_spec.data.get("status").is_none(),
        "status ignored on the main resource"
    );
    let after_status = api
        .patch_status(
            "st1",
            &pp,
            &Patch::Merge(json!({"spec": {"size": 9}, "status": {"phase": "ViaStatus"}})),
        )
        .await
        .unwrap();
    assert_eq!(after_status.metadata.generation, Some(2));
    assert_eq!(
        after_status.data["spec"]["size"], 4,
        "spec ignored on /status"
    );
    assert_eq!(after_status.data["status"]["phase"], "ViaStatus");
    let labelled = api
        .patch(
            "st1",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));
    // A no-op write keeps the resourceVersion.
    let same = api
        .patch("st1", &pp, &Patch::Merge(json!({"spec": {"size": 4}})))
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        labelled.metadata.resource_version
    );
    let whole = api.get_status("st1").await.unwrap();
    assert_eq!(
        whole.data["spec"]["size"], 4,
        "GET /status returns the whole object"
    );
}

#[tokio::test]
async fn finalizers_keep_a_deleted_object_until_removed() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    let mut g = gadget("fin1", 2);
    g.metadata.finalizers = Some(vec!["demo.example.com/a".into()]);
    api.create(&PostParams::default(), &g).await.unwrap();
    let deleted = api.delete("fin1", &DeleteParams::default()).await.unwrap();
    let obj = deleted.left().expect("object kept by its finalizer");
    assert!(obj.metadata.deletion_timestamp.is_some());
    assert_eq!(obj.metadata.generation, Some(2));
    let err = api_error(
        api.patch(
            "fin1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["demo.example.com/a", "demo.example.com/b"]}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(err.message.contains("no new finalizers can be added if the object is being deleted, found new finalizers []string{\"demo.example.com/b\"}"), "{}", err.message);
    let last = api
        .patch(
            "fin1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": []}})),
        )
        .await
        .unwrap();
    assert!(last.metadata.deletion_timestamp.is_some());
    assert!(api.get_opt("fin1").await.unwrap().is_none());
}

#[tokio::test]
async fn missing_namespace_name_validation_and_already_exists() {
    let emu = emulator().await;
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "no-such-ns");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    let err = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"no-such-ns\" not found")
    );
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    let err = api_error(cms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(err.code, 422);
    assert!(err.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let err = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "configmaps \"x\" already exists");
}

#[tokio::test]
async fn secrets_merge_string_data_and_check_base64() {
    let emu = emulator().await;
    let api: Api<Secret> = Api::namespaced(emu.client(), "default");
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": "sec1"},
        "data": {"a": "YWFh", "b": "YmJi"},
        "stringData": {"b": "from-stringData", "c": "plain"}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    let data = created.data.unwrap();
    assert_eq!(data["b"].0, b"from-stringData");
    assert_eq!(data["c"].0, b"plain");
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert!(created.string_data.is_none());
    let tls: Secret = serde_json::from_value(
        json!({"metadata": {"name": "sec3"}, "type": "kubernetes.io/tls", "data": {"x": "eA=="}}),
    )
    .unwrap();
    let err = api_error(api.create(&PostParams::default(), &tls).await.unwrap_err());
    assert_eq!(
        err.message,
        "Secret \"sec3\" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]"
    );
}

#[tokio::test]
async fn deleting_a_crd_removes_its_objects_and_its_paths() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    api.create(&PostParams::default(), &gadget("wd1", 1))
        .await
        .unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(emu.client());
    let crd = crds.get("gadgets.demo.example.com").await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    crds.delete("gadgets.demo.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually("CRD gone", || async {
        crds.get_opt("gadgets.demo.example.com")
            .await
            .unwrap()
            .is_none()
    })
    .await;
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert!(format!("{err:?}").contains("404"), "{err:?}");
}
