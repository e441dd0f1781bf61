//! Deployments, Services, PodDisruptionBudgets and the RBAC kinds: discovery and OpenAPI, scope,
//! generation and the status subresource, strategic merge patches with the Go types' strategies,
//! server-side apply's list keys, defaulting and unknown fields.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A request without kube-rs' retries: (status, Warning header, body).
async fn raw(
    emu: &kube_emulator::KubeEmulator,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let http = https_client(emu);
    let mut req = http
        .request(method.parse().unwrap(), format!("{}{path}", emu.url()))
        .bearer_auth(emu.admin_token())
        .header("accept", "application/json");
    if let Some(body) = body {
        req = req
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let warning = resp
        .headers()
        .get("warning")
        .map(|w| w.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, warning, body)
}

fn deployment(name: &str, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}
        }
    })
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn generation(d: &Deployment) -> i64 {
    d.metadata.generation.unwrap()
}

#[tokio::test]
async fn discovery_and_openapi_list_the_kinds_with_their_scope_and_subresources() {
    let emu = emulator().await;
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let http = https_client(&emu);
    let get = |path: &str, accept: &str| {
        http.get(format!("{}{path}", emu.url()))
            .bearer_auth(emu.admin_token())
            .header("accept", accept.to_string())
            .send()
    };
    let apis: Value = get("/apis", accept).await.unwrap().json().await.unwrap();
    let resource = |group: &str, plural: &str| -> Value {
        apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == group)
            .unwrap_or_else(|| panic!("no group {group}"))["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == plural)
            .unwrap_or_else(|| panic!("no {plural} in {group}"))
            .clone()
    };
    let deployments = resource("apps", "deployments");
    assert_eq!(deployments["scope"], "Namespaced");
    assert_eq!(deployments["shortNames"], json!(["deploy"]));
    assert_eq!(deployments["categories"], json!(["all"]));
    assert_eq!(deployments["subresources"][0]["subresource"], "status");
    let pdbs = resource("policy", "poddisruptionbudgets");
    assert_eq!(pdbs["shortNames"], json!(["pdb"]));
    assert_eq!(pdbs["subresources"][0]["subresource"], "status");
    for (plural, scope) in [
        ("clusterroles", "Cluster"),
        ("clusterrolebindings", "Cluster"),
        ("roles", "Namespaced"),
        ("rolebindings", "Namespaced"),
    ] {
        let r = resource("rbac.authorization.k8s.io", plural);
        assert_eq!(r["scope"], scope, "{plural}");
        assert!(r.get("subresources").is_none(), "{plural}");
    }
    let core: Value = get("/api", accept).await.unwrap().json().await.unwrap();
    let services = core["items"][0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "services")
        .unwrap()
        .clone();
    assert_eq!(services["shortNames"], json!(["svc"]));
    assert_eq!(services["subresources"][0]["subresource"], "status");

    // The legacy documents.
    let rbac: Value = get("/apis/rbac.authorization.k8s.io/v1", "application/json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cluster_roles = rbac["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "clusterroles")
        .unwrap();
    assert_eq!(cluster_roles["namespaced"], false);
    let v1: Value = get("/api/v1", "application/json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "services/status"),
        "{v1}"
    );

    // OpenAPI v3 carries the Go types' patch strategies and list keys (kubectl's client-side apply reads them).
    let apps: Value = get("/openapi/v3/apis/apps/v1", "application/json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &apps["components"]["schemas"];
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    assert_eq!(
        schemas["io.k8s.api.core.v1.ContainerPort"]["properties"]["protocol"]["default"],
        "TCP"
    );
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"],
        "atomic"
    );
    let rbac: Value = get(
        "/openapi/v3/apis/rbac.authorization.k8s.io/v1",
        "application/json",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let subjects =
        &rbac["components"]["schemas"]["io.k8s.api.rbac.v1.RoleBinding"]["properties"]["subjects"];
    assert_eq!(subjects["x-kubernetes-list-type"], "atomic");
    assert!(subjects.get("x-kubernetes-patch-strategy").is_none());
}

#[tokio::test]
async fn deployment_generation_moves_on_spec_and_annotation_changes_not_on_status_writes() {
    let emu = emulator().await;
    let api: Api<Deployment> = Api::namespaced(emu.client(), "default");
    let mut body = deployment("web", json!([{"name": "web", "image": "nginx:1.27"}]));
    body["status"] = json!({"replicas": 5});
    let created = api
        .create(&PostParams::default(), &typed(body))
        .await
        .unwrap();
    assert_eq!(generation(&created), 1);
    assert_eq!(
        serde_json::to_value(created.status.as_ref().unwrap()).unwrap(),
        json!({}),
        "status is reset on create"
    );

    // Status through /status: no new generation.
    let status = json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}});
    let after_status = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(generation(&after_status), 1);
    assert_eq!(
        after_status.status.as_ref().unwrap().ready_replicas,
        Some(1)
    );
    // Status through the main resource is ignored (and so is no change at all).
    let ignored = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 0}})),
        )
        .await
        .unwrap();
    assert_eq!(ignored.status.as_ref().unwrap().ready_replicas, Some(1));
    assert_eq!(
        ignored.metadata.resource_version,
        after_status.metadata.resource_version
    );
    // Spec changes count; so do annotation changes (copied to ReplicaSets); label changes do not.
    let scaled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(generation(&scaled), 2);
    let annotated = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"team": "a"}}})),
        )
        .await
        .unwrap();
    assert_eq!(generation(&annotated), 3);
    let labelled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "x"}}})),
        )
        .await
        .unwrap();
    assert_eq!(generation(&labelled), 3);

    // A PodDisruptionBudget counts spec changes only; its status starts at zero counters.
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(emu.client(), "default");
    let pdb = pdbs
        .create(
            &PostParams::default(),
            &typed(json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})),
        )
        .await
        .unwrap();
    assert_eq!(pdb.metadata.generation, Some(1));
    assert_eq!(
        serde_json::to_value(pdb.status.unwrap()).unwrap(),
        json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0})
    );
    let pdb = pdbs
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"a": "b"}}, "spec": {"minAvailable": "50%"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(pdb.metadata.generation, Some(2));
    let pdb = pdbs
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"a": "c"}}})),
        )
        .await
        .unwrap();
    assert_eq!(pdb.metadata.generation, Some(2));
}

#[tokio::test]
async fn strategic_merge_patches_merge_containers_by_name_and_replace_rbac_subjects() {
    let emu = emulator().await;
    let api: Api<Deployment> = Api::namespaced(emu.client(), "default");
    api.create(
        &PostParams::default(),
        &typed(deployment(
            "web",
            json!([
                {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "name": "http"}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "side", "image": "busybox:1.36"}
            ]),
        )),
    )
    .await
    .unwrap();
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
         "ports": [{"containerPort": 9090, "name": "metrics"}]}
    ]}}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let pod = serde_json::to_value(patched.spec.unwrap().template.spec.unwrap()).unwrap();
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(
        containers
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("web", "nginx:1.27"), ("side", "busybox:1.36")],
        "containers merge by name"
    );
    let mut env: Vec<(&str, &str)> = containers[0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    env.sort();
    assert_eq!(
        env,
        [("A", "1"), ("B", "3"), ("C", "4")],
        "env merges by name"
    );
    let mut ports: Vec<i64> = containers[0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_i64().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, [80, 9090], "ports merge by containerPort");
    // `$patch: delete` removes one container by its name.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .len(),
        1
    );

    // RBAC subjects have no patch strategy: a strategic merge patch replaces the list whole.
    let bindings: Api<RoleBinding> = Api::namespaced(emu.client(), "default");
    bindings
        .create(
            &PostParams::default(),
            &typed(json!({"metadata": {"name": "readers"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "a", "namespace": "default"},
                             {"kind": "User", "name": "alice"}]})),
        )
        .await
        .unwrap();
    let patch = json!({"subjects": [{"kind": "Group", "name": "auditors"}]});
    let patched = bindings
        .patch(
            "readers",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(patched.subjects.unwrap()).unwrap(),
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "auditors"}])
    );
}

#[tokio::test]
async fn cluster_roles_and_their_bindings_are_cluster_scoped() {
    let emu = emulator().await;
    let roles: Api<ClusterRole> = Api::all(emu.client());
    let role = roles
        .create(
            &PostParams::default(),
            &typed(json!({"metadata": {"name": "system:gadget-reader"},
                "rules": [{"apiGroups": ["demo.example.com"], "resources": ["gadgets"], "verbs": ["get", "list"]}]})),
        )
        .await
        .unwrap();
    assert_eq!(role.metadata.namespace, None);
    let bindings: Api<ClusterRoleBinding> = Api::all(emu.client());
    bindings
        .create(
            &PostParams::default(),
            &typed(json!({"metadata": {"name": "gadget-readers"},
                "roleRef": {"kind": "ClusterRole", "name": "system:gadget-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "default"}]})),
        )
        .await
        .unwrap();
    let binding = bindings.get("gadget-readers").await.unwrap();
    assert_eq!(
        binding.role_ref.api_group, "rbac.authorization.k8s.io",
        "defaulted"
    );
    assert_eq!(
        roles
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // A namespaced path to a cluster-scoped kind is not served.
    let (code, _, body) = raw(
        &emu,
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/clusterroles/system:gadget-reader",
        "",
        None,
    )
    .await;
    assert_eq!((code, body), (404, json!("404 page not found\n")));
    // Names only need to be path segments.
    let (code, _, body) = raw(
        &emu,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "application/json",
        Some(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "a/b"}})),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "ClusterRole.rbac.authorization.k8s.io \"a/b\" is invalid: metadata.name: Invalid value: \"a/b\": may not contain '/'"
    );
}

#[tokio::test]
async fn services_get_a_cluster_ip_that_updates_keep_and_ports_keyed_by_port_and_protocol() {
    let emu = emulator().await;
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    let svc = api
        .create(
            &PostParams::default(),
            &typed(json!({"metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})),
        )
        .await
        .unwrap();
    let spec = svc.spec.clone().unwrap();
    let ip = spec.cluster_ip.clone().unwrap();
    let addr: std::net::Ipv4Addr = ip.parse().unwrap();
    let [a, b, ..] = addr.octets();
    assert!(a == 10 && (96..112).contains(&b), "{ip} is in 10.96.0.0/12");
    assert_eq!(spec.cluster_ips, Some(vec![ip.clone()]));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.ports.unwrap()[0].protocol.as_deref(), Some("TCP"));
    assert_eq!(
        serde_json::to_value(svc.status.as_ref().unwrap()).unwrap(),
        json!({"loadBalancer": {}})
    );
    // A replace without the allocated address keeps it.
    let mut replaced = svc.clone();
    let spec = replaced.spec.as_mut().unwrap();
    spec.cluster_ip = None;
    spec.cluster_ips = None;
    let replaced = api
        .replace("web", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().cluster_ip, Some(ip));

    // Server-side apply of the same port without a protocol matches the stored one (the key's default is TCP).
    let config = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let applied = api
        .patch(
            "web",
            &PatchParams::apply("deployer").force(),
            &Patch::Apply(&config),
        )
        .await
        .unwrap();
    let ports = applied.spec.unwrap().ports.unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(
        serde_json::to_value(&ports[0].target_port).unwrap(),
        json!(8080)
    );
    let entry = applied
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("deployer"))
        .unwrap();
    let fields = serde_json::to_value(entry.fields_v1.unwrap()).unwrap();
    assert!(
        fields["f:spec"]["f:ports"]
            .get("k:{\"port\":80,\"protocol\":\"TCP\"}")
            .is_some(),
        "{fields}"
    );
}

#[tokio::test]
async fn unknown_fields_are_refused_at_any_depth_under_strict_and_dropped_otherwise() {
    let emu = emulator().await;
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let body = deployment(
        "web",
        json!([{"name": "web", "image": "nginx", "bogus": 1, "ports": [{"containerPort": 80, "hostIp": "x"}]}]),
    );
    let (code, _, status) = raw(
        &emu,
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        "application/json",
        Some(body.clone()),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.template.spec.containers[0].bogus\", unknown field \"spec.template.spec.containers[0].ports[0].hostIp\""
    );
    let (code, warning, created) = raw(
        &emu,
        "POST",
        &format!("{path}?fieldValidation=Warn"),
        "application/json",
        Some(body),
    )
    .await;
    assert_eq!(code, 201);
    assert!(
        warning
            .unwrap()
            .contains("unknown field \\\"spec.template.spec.containers[0].bogus\\\""),
    );
    let container = &created["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("bogus").is_none());
    assert_eq!(
        container["ports"][0],
        json!({"containerPort": 80, "protocol": "TCP"})
    );
    assert_eq!(container["imagePullPolicy"], "Always");
}

#[tokio::test]
async fn values_of_the_wrong_type_are_refused_as_the_go_decoder_refuses_them() {
    let emu = emulator().await;
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let mut body = deployment("web", json!([{"name": "web", "image": "nginx"}]));
    body["spec"]["replicas"] = json!("two");
    let (code, _, status) = raw(&emu, "POST", path, "application/json", Some(body)).await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    let mut body = deployment(
        "web",
        json!([{"name": "web", "image": "nginx", "resources": {"limits": {"memory": "128 MiB"}}}]),
    );
    let (code, _, status) = raw(&emu, "POST", path, "application/json", Some(body.clone())).await;
    assert_eq!(code, 400);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with("cannot be handled as a Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        "{status}"
    );
    body["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"memory": "128Mi"}});
    let (code, _, _) = raw(&emu, "POST", path, "application/json", Some(body)).await;
    assert_eq!(code, 201);
    // A patch that makes the object undecodable is refused with the patch named.
    let (code, _, status) = raw(
        &emu,
        "PATCH",
        &format!("{path}/web"),
        "application/merge-patch+json",
        Some(json!({"spec": {"paused": "yes"}})),
    )
    .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "patch");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool"),
        "{status}"
    );
}
