//! Authentication, RBAC, discovery, faults, counters, garbage collection, Events and Leases.

mod common;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_emulator::Rule;
use serde_json::{Value, json};

/// A request without kube-rs' retries, as `token` (the admin when None).
async fn raw_as(
    emu: &kube_emulator::KubeEmulator,
    token: Option<&str>,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String) {
    let http = https_client(emu);
    let mut req = http
        .request(method.parse().unwrap(), format!("{}{path}", emu.url()))
        .bearer_auth(token.unwrap_or(emu.admin_token()));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn raw(
    emu: &kube_emulator::KubeEmulator,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String) {
    raw_as(emu, None, method, path, accept).await
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

#[tokio::test]
async fn version_health_and_discovery() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let _c = emu.client();
    let (code, body) = raw(&emu, "GET", "/version", None).await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["gitVersion"],
        "v1.36.2"
    );
    assert_eq!(
        raw(&emu, "GET", "/healthz", None).await,
        (200, "ok".to_string())
    );
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let (code, body) = raw(&emu, "GET", "/apis", Some(accept)).await;
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    let demo = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "demo.example.com")
        .unwrap();
    let gadgets = &demo["versions"][0]["resources"][0];
    assert_eq!(gadgets["resource"], "gadgets");
    assert_eq!(gadgets["shortNames"], json!(["gd"]));
    assert_eq!(gadgets["subresources"][0]["subresource"], "status");
    let (code, body) = raw(&emu, "GET", "/apis/demo.example.com/v1", None).await;
    assert_eq!(code, 200);
    assert!(body.contains("\"gadgets/status\""), "{body}");
    let (code, body) = raw(
        &emu,
        "GET",
        "/apis/nosuch.example.com/v1/namespaces/x/things",
        None,
    )
    .await;
    assert_eq!((code, body.as_str()), (404, "404 page not found\n"));
}

#[tokio::test]
async fn unknown_tokens_get_401_and_restricted_users_403() {
    let emu = emulator().await;
    let unauthorized = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    let http = https_client(&emu);
    let anonymous = http
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps",
            emu.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(anonymous.text().await.unwrap(), unauthorized);
    let version = http
        .get(format!("{}/version", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(version.status().as_u16(), 200, "/version needs no token");
    let (code, body) = raw_as(
        &emu,
        Some("not-a-token"),
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
    )
    .await;
    assert_eq!((code, body.as_str()), (401, unauthorized));
    let token = emu.add_user(
        "operator",
        vec![Rule::new(
            &["get", "list", "watch"],
            &[""],
            &["configmaps"],
            &["default"],
        )],
    );
    let client = emu.client_with_token(&token).await.unwrap();
    let allowed: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    allowed.list(&ListParams::default()).await.unwrap();
    let err = api_error(
        allowed
            .create(&PostParams::default(), &cm("x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "configmaps is forbidden: User \"operator\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    let err = api_error(secrets.get("s").await.unwrap_err());
    assert_eq!(
        err.message,
        "secrets \"s\" is forbidden: User \"operator\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(emu.count("list", "configmaps"), 1);
    let by_user: u64 = emu
        .request_counts()
        .iter()
        .filter(|c| c.user == "operator")
        .map(|c| c.count)
        .sum();
    assert_eq!(by_user, 1, "only authorized requests are counted");
}

#[tokio::test]
async fn injected_write_failures_and_throttling() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    emu.fail_next_writes(1, 409);
    let err = api_error(
        api.create(&PostParams::default(), &cm("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    emu.fail_next_writes(2, 500);
    for _ in 0..2 {
        let err = api_error(
            api.create(&PostParams::default(), &cm("a"))
                .await
                .unwrap_err(),
        );
        assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    }
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    api.get("a").await.unwrap();
    emu.throttle_next(1, 7);
    let (code, body) = raw(&emu, "GET", "/api/v1/namespaces/default/configmaps/a", None).await;
    assert_eq!(code, 429);
    assert!(body.contains("\"retryAfterSeconds\":7"), "{body}");
    api.get("a").await.unwrap();
}

#[tokio::test]
async fn faults_and_counters_over_http_control_paths() {
    let emu = emulator().await;
    let c = emu.client();
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let (code, _) = raw(
        &emu,
        "POST",
        "/emulator/faults/fail-writes?count=1&code=500",
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        api_error(
            api.create(&PostParams::default(), &cm("h"))
                .await
                .unwrap_err()
        )
        .code,
        500
    );
    api.create(&PostParams::default(), &cm("h")).await.unwrap();
    let (_, body) = raw(&emu, "GET", "/emulator/requests", None).await;
    let doc: Value = serde_json::from_str(&body).unwrap();
    let creates: u64 = doc["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verb"] == "create" && r["resource"] == "configmaps")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(creates, 2);
    let rv: u64 = api
        .get("h")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
        .parse()
        .unwrap();
    let rv = rv - 1;
    raw(&emu, "POST", "/emulator/faults/expire-history", None).await;
    let (code, body) = raw(
        &emu,
        "GET",
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        ),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        body.contains("\"type\":\"ERROR\"") && body.contains("\"code\":410"),
        "{body}"
    );
    let viewer = emu.add_user("viewer", vec![]);
    let (code, _) = raw_as(
        &emu,
        Some(&viewer),
        "POST",
        "/emulator/faults/throttle?count=5",
        None,
    )
    .await;
    assert_eq!(code, 403, "only the admin drives faults");
}

#[tokio::test]
async fn garbage_collection_background_foreground_and_orphan() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let owners = gadgets(&emu, "default");
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let mut uids = Vec::new();
    for name in ["bg", "fg", "or"] {
        let o = owners
            .create(&PostParams::default(), &gadget(name, 1))
            .await
            .unwrap();
        let uid = o.metadata.uid.unwrap();
        let dep: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("dep-{name}"), "ownerReferences": [
            {"apiVersion": "demo.example.com/v1", "kind": "Gadget", "name": name, "uid": uid, "blockOwnerDeletion": true}
        ]}}))
        .unwrap();
        cms.create(&PostParams::default(), &dep).await.unwrap();
        uids.push(uid);
    }
    owners
        .delete("bg", &DeleteParams::background())
        .await
        .unwrap();
    eventually("background dependent collected", || async {
        cms.get_opt("dep-bg").await.unwrap().is_none()
    })
    .await;
    let fg = owners
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        fg.metadata.finalizers.unwrap(),
        vec!["foregroundDeletion".to_string()]
    );
    eventually("foreground owner gone after its dependent", || async {
        cms.get_opt("dep-fg").await.unwrap().is_none()
            && owners.get_opt("fg").await.unwrap().is_none()
    })
    .await;
    owners.delete("or", &DeleteParams::orphan()).await.unwrap();
    eventually("orphaning owner gone", || async {
        owners.get_opt("or").await.unwrap().is_none()
    })
    .await;
    let orphan = cms.get("dep-or").await.unwrap();
    assert!(
        orphan.metadata.owner_references.is_none(),
        "reference removed, object kept"
    );
}

#[tokio::test]
async fn namespace_deletion_removes_its_contents() {
    let emu = emulator().await;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(emu.client());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "doomed");
    cms.create(&PostParams::default(), &cm("c")).await.unwrap();
    let terminating = ns
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    eventually("namespace gone", || async {
        ns.get_opt("doomed").await.unwrap().is_none()
    })
    .await;
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn events_are_one_store_seen_through_two_api_versions() {
    let emu = emulator().await;
    let new_api: Api<Event> = Api::namespaced(emu.client(), "default");
    let ev: Event = serde_json::from_value(json!({
        "metadata": {"name": "ev-new-1"},
        "eventTime": "2026-11-28T07:09:39.000000Z",
        "reportingController": "demo.example.com/trace", "reportingInstance": "trace-1",
        "action": "Reconcile", "reason": "Tested", "note": "new-style event", "type": "Normal",
        "regarding": {"apiVersion": "demo.example.com/v1", "kind": "Gadget", "name": "st1", "namespace": "default"}
    }))
    .unwrap();
    new_api.create(&PostParams::default(), &ev).await.unwrap();
    let patched = new_api
        .patch(
            "ev-new-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"series": {"count": 2, "lastObservedTime": "2026-11-28T07:09:39.000000Z"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.series.unwrap().count, 2);
    let core: Api<CoreEvent> = Api::namespaced(emu.client(), "default");
    let as_core = core.get("ev-new-1").await.unwrap();
    assert_eq!(as_core.message.as_deref(), Some("new-style event"));
    assert_eq!(as_core.involved_object.name.as_deref(), Some("st1"));
    assert_eq!(
        as_core.reporting_component.as_deref(),
        Some("demo.example.com/trace")
    );
    let mut missing_time = ev.clone();
    missing_time.metadata.name = Some("ev-new-2".into());
    missing_time.event_time = None;
    let err = api_error(
        new_api
            .create(&PostParams::default(), &missing_time)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Event \"ev-new-2\" is invalid: eventTime: Required value"
    );
}

/// events.k8s.io/v1 as the real server validates it: a note of at most 1024 bytes, a series of
/// at least two with its time, and on update only the note and the series may change.
#[tokio::test]
async fn events_v1_bound_the_note_and_keep_the_story_fields_immutable() {
    let emu = emulator().await;
    let api: Api<Event> = Api::namespaced(emu.client(), "default");
    let event = |name: &str, note: String| -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "eventTime": "2026-11-28T07:09:39.000000Z",
            "reportingController": "demo.example.com/trace", "reportingInstance": "trace-1",
            "action": "Reconcile", "reason": "Tested", "note": note, "type": "Normal",
            "regarding": {"apiVersion": "demo.example.com/v1", "kind": "Gadget", "name": "g1",
                          "namespace": "default"}
        }))
        .unwrap()
    };
    let long = api_error(
        api.create(&PostParams::default(), &event("ev-long", "x".repeat(1025)))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        long.message,
        "Event \"ev-long\" is invalid: message: Invalid value: \"\": can have at most 1024 characters"
    );
    api.create(&PostParams::default(), &event("ev-1", "x".repeat(1024)))
        .await
        .unwrap();

    let patch = |body: serde_json::Value| {
        let api = api.clone();
        async move {
            api.patch("ev-1", &PatchParams::default(), &Patch::Merge(body))
                .await
        }
    };
    let short_series = api_error(
        patch(json!({"series": {"count": 1, "lastObservedTime": "2026-11-28T07:10:00.000000Z"}}))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        short_series.message,
        "Event \"ev-1\" is invalid: series.count: Invalid value: \"\": should be at least 2"
    );
    let new_reason = api_error(patch(json!({"reason": "Other"})).await.unwrap_err());
    assert_eq!(
        new_reason.message,
        "Event \"ev-1\" is invalid: reason: Invalid value: \"Other\": field is immutable"
    );
    // The note and the series may change.
    let next = patch(json!({"note": "the current story",
        "series": {"count": 2, "lastObservedTime": "2026-11-28T07:10:00.000000Z"}}))
    .await
    .unwrap();
    assert_eq!(next.note.as_deref(), Some("the current story"));
    assert_eq!(next.series.unwrap().count, 2);
}

#[tokio::test]
async fn leases_use_optimistic_concurrency() {
    let emu = emulator().await;
    let api: Api<Lease> = Api::namespaced(emu.client(), "default");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "lease1"}, "spec": {
        "holderIdentity": "pod-a", "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-28T07:09:39.123456Z", "renewTime": "2026-11-28T07:09:39.123456Z", "leaseTransitions": 0
    }}))
    .unwrap();
    let created = api.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(
        serde_json::to_value(&created).unwrap()["spec"]["renewTime"],
        "2026-11-28T07:09:39.123456Z",
        "MicroTime keeps six fractional digits"
    );
    let mut next = created.clone();
    next.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    api.replace("lease1", &PostParams::default(), &next)
        .await
        .unwrap();
    let err = api_error(
        api.replace("lease1", &PostParams::default(), &next)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    let err = api_error(
        api.patch(
            "lease1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"renewTime": "2026-01-01T00:00:00Z"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
        "{}",
        err.message
    );
    assert!(err.message.ends_with(": parsing time \"2026-01-01T00:00:00Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""), "{}", err.message);
    next.metadata.resource_version = None;
    let err = api_error(
        api.replace("lease1", &PostParams::default(), &next)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "leases.coordination.k8s.io \"lease1\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"
    );
}

#[tokio::test]
async fn lists_page_with_continue_and_select_by_label_and_field() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for i in 0..5 {
        let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("page-{i}"), "labels": {"idx": i.to_string(), "pg": "yes"}}})).unwrap();
        api.create(&PostParams::default(), &c).await.unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.items[0].metadata.name.as_deref(), Some("page-2"));
    assert_eq!(
        second.metadata.resource_version, first.metadata.resource_version,
        "one snapshot version"
    );
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("idx in (1,3)"))
                .await
                .unwrap()
        ),
        vec!["page-1", "page-3"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("idx>2"))
                .await
                .unwrap()
        ),
        vec!["page-3", "page-4"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=page-2"))
                .await
                .unwrap()
        ),
        vec!["page-2"]
    );
    let err = api_error(
        api.list(&ListParams::default().fields("data.x=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "field label not supported: data.x")
    );
}

#[tokio::test]
async fn anonymous_requests_can_be_allowed_and_are_then_forbidden() {
    emulator_common::install_crypto_provider();
    let emu = kube_emulator::start_with(kube_emulator::Config {
        anonymous_auth: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let http = https_client(&emu);
    let resp = http
        .get(format!(
            "{}/api/v1/namespaces/trace-ns/configmaps",
            emu.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps is forbidden: User \"system:anonymous\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"trace-ns\"","reason":"Forbidden","details":{"kind":"configmaps"},"code":403}"#
    );
}

#[tokio::test]
async fn a_continue_token_older_than_the_history_is_gone() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(1)).await.unwrap();
    api.create(&PostParams::default(), &cm("later"))
        .await
        .unwrap();
    emu.expire_history();
    let token = first.metadata.continue_.unwrap();
    let err = api_error(
        api.list(&ListParams::default().limit(1).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn a_dependent_with_a_remaining_owner_only_loses_the_reference() {
    let emu = emulator().await;
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let a = cms
        .create(&PostParams::default(), &cm("owner-a"))
        .await
        .unwrap();
    let b = cms
        .create(&PostParams::default(), &cm("owner-b"))
        .await
        .unwrap();
    let owner = |c: &ConfigMap| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": c.metadata.name, "uid": c.metadata.uid});
    let dep: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "dep", "ownerReferences": [owner(&a), owner(&b)]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner-a", &DeleteParams::default())
        .await
        .unwrap();
    eventually("reference to the deleted owner removed", || async {
        cms.get("dep")
            .await
            .unwrap()
            .metadata
            .owner_references
            .unwrap()
            .len()
            == 1
    })
    .await;
    cms.delete("owner-b", &DeleteParams::default())
        .await
        .unwrap();
    eventually("dependent collected with its last owner", || async {
        cms.get_opt("dep").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn a_server_side_apply_that_creates_needs_create_as_well_as_patch() {
    let emu = emulator().await;
    let patcher = emu.add_user(
        "patcher",
        vec![Rule::new(
            &["get", "patch"],
            &[""],
            &["configmaps"],
            &["default"],
        )],
    );
    let creator = emu.add_user(
        "creator",
        vec![Rule::new(
            &["get", "patch", "create"],
            &[""],
            &["configmaps"],
            &["default"],
        )],
    );
    let as_patcher: Api<ConfigMap> =
        Api::namespaced(emu.client_with_token(&patcher).await.unwrap(), "default");
    let as_creator: Api<ConfigMap> =
        Api::namespaced(emu.client_with_token(&creator).await.unwrap(), "default");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm1"}, "data": {"a": "1"}});
    let params = PatchParams::apply("test").force();

    // Creating through apply with patch rights only is refused, as a create.
    let err = api_error(
        as_patcher
            .patch("cm1", &params, &Patch::Apply(&applied))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "configmaps \"cm1\" is forbidden: User \"patcher\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    // With create as well it goes through; changing the existing object needs patch only.
    as_creator
        .patch("cm1", &params, &Patch::Apply(&applied))
        .await
        .unwrap();
    let changed = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm1"}, "data": {"a": "2"}});
    let cm = as_patcher
        .patch("cm1", &params, &Patch::Apply(&changed))
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["a"], "2");
}
