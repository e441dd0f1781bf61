//! Tables as kube-apiserver 1.36 serves them (kubectl-traces.md §7 and §9), plus the built-in
//! printers' columns.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::resource::{PrinterColumn, ResourceKind};

fn at(rfc3339: &str) -> SystemTime {
    SystemTime::from(rfc3339.parse::<jiff::Timestamp>().expect("valid timestamp"))
}

fn kind(
    group: &str,
    version: &str,
    kind: &str,
    custom: bool,
    columns: Vec<PrinterColumn>,
) -> ResourceKind {
    ResourceKind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: format!("{}s", kind.to_lowercase()),
        singular: kind.to_lowercase(),
        short_names: vec![],
        categories: vec![],
        namespaced: true,
        status_subresource: custom,
        verbs: vec![],
        schema: None,
        printer_columns: columns,
        custom,
    }
}

fn printer_column(name: &str, type_: &str, path: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: None,
        description: None,
        priority: 0,
        json_path: path.into(),
    }
}

fn gadget_kind() -> ResourceKind {
    kind(
        "demo.example.com",
        "v1",
        "Gadget",
        true,
        vec![
            printer_column("Size", "integer", ".spec.size"),
            printer_column("Color", "string", ".spec.color"),
            printer_column("Phase", "string", ".status.phase"),
            printer_column("Age", "date", ".metadata.creationTimestamp"),
        ],
    )
}

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

#[test]
fn gadget_table_matches_the_captured_list() {
    let g1 = json!({
        "apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": "trace-ns", "uid": "3f51bf8b-5951-49c0-bc14-25a42ad2cbe0",
            "resourceVersion": "570", "generation": 2, "creationTimestamp": "2026-11-28T07:03:08Z"},
        "spec": {"color": "red", "note": "first", "size": 5}
    });
    let g2 = json!({
        "apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g2", "namespace": "trace-ns", "creationTimestamp": "2026-11-28T07:03:13Z"},
        "spec": {"color": "blue", "size": 4}
    });
    let t = table_at(
        &gadget_kind(),
        &[g1.clone(), g2],
        true,
        IncludeObject::Metadata,
        "571",
        None,
        at("2026-11-28T07:03:13Z"),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "571"}));
    assert_eq!(
        t["columnDefinitions"],
        json!([
            {"name": "Name", "type": "string", "format": "name", "description": NAME_DOC, "priority": 0},
            {"name": "Size", "type": "integer", "format": "", "description": "Custom resource definition column (in JSONPath format): .spec.size", "priority": 0},
            {"name": "Color", "type": "string", "format": "", "description": "Custom resource definition column (in JSONPath format): .spec.color", "priority": 0},
            {"name": "Phase", "type": "string", "format": "", "description": "Custom resource definition column (in JSONPath format): .status.phase", "priority": 0},
            {"name": "Age", "type": "date", "format": "", "description": "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", "priority": 0}
        ])
    );
    assert_eq!(t["rows"][0]["cells"], json!(["g1", 5, "red", null, "5s"]));
    assert_eq!(t["rows"][1]["cells"], json!(["g2", 4, "blue", null, "0s"]));
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": g1["metadata"]})
    );
}

#[test]
fn watch_events_after_the_first_have_null_column_definitions() {
    let g = json!({"metadata": {"name": "g4", "creationTimestamp": "2026-11-28T07:17:55Z"}, "spec": {"size": 2, "color": "red"}});
    let t = table_at(
        &gadget_kind(),
        &[g],
        false,
        IncludeObject::Metadata,
        "922",
        None,
        at("2026-11-28T07:17:56Z"),
    );
    assert_eq!(t["columnDefinitions"], Value::Null);
    assert_eq!(t["rows"][0]["cells"], json!(["g4", 2, "red", null, "1s"]));
}

#[test]
fn crd_without_columns_gets_name_and_age() {
    let k = kind("x.io", "v1", "Widget", true, vec![]);
    let w = json!({"metadata": {"name": "w", "creationTimestamp": "2026-11-28T07:00:00Z"}});
    let t = table_at(
        &k,
        &[w],
        true,
        IncludeObject::None,
        "5",
        Some("tok"),
        at("2026-11-28T07:14:00Z"),
    );
    let cols = t["columnDefinitions"].as_array().expect("columns");
    assert_eq!(cols.len(), 2);
    assert_eq!(cols[1]["name"], "Age");
    assert_eq!(cols[1]["type"], "date");
    assert!(
        cols[1]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("CreationTimestamp is a timestamp"))
    );
    assert_eq!(t["rows"][0]["cells"], json!(["w", "14m"]));
    assert_eq!(t["rows"][0]["object"], Value::Null);
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "5", "continue": "tok"})
    );
}

#[test]
fn jsonpath_columns_follow_kubernetes_semantics() {
    let mut ready = printer_column(
        "Ready",
        "string",
        ".status.conditions[?(@.type==\"Ready\")].status",
    );
    ready.priority = 1;
    ready.description = Some("Whether it is ready".into());
    let k = kind(
        "x.io",
        "v1",
        "Widget",
        true,
        vec![
            ready,
            printer_column("App", "string", ".metadata.labels.app-name"),
            printer_column(
                "Zone",
                "string",
                ".metadata.labels['topology.kubernetes.io/zone']",
            ),
            printer_column("Count", "string", ".spec.count"),
            printer_column("Whole", "integer", ".spec.ratio"),
            printer_column("Ratio", "number", ".spec.ratio"),
            printer_column("On", "boolean", ".spec.on"),
            printer_column("When", "date", ".spec.when"),
            printer_column("Obj", "string", ".spec.obj"),
            printer_column("Nothing", "string", ".spec.nothing"),
        ],
    );
    let w = json!({
        "metadata": {"name": "w", "labels": {"app-name": "demo", "topology.kubernetes.io/zone": "z1"}},
        "spec": {"count": 5, "ratio": 2.5, "on": true, "when": "garbage", "obj": {"b": 1, "a": "<"}, "nothing": null},
        "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}
    });
    let t = table_at(
        &k,
        &[w],
        true,
        IncludeObject::Object,
        "1",
        None,
        at("2026-11-28T07:00:00Z"),
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "w",
            "True",
            "demo",
            "z1",
            "5",
            2,
            2.5,
            true,
            "<invalid>",
            "{\"a\":\"\\u003c\",\"b\":1}",
            "<no value>"
        ])
    );
    assert_eq!(t["columnDefinitions"][1]["priority"], 1);
    assert_eq!(
        t["columnDefinitions"][1]["description"],
        "Whether it is ready"
    );
    assert_eq!(t["rows"][0]["object"]["spec"]["count"], 5);
}

#[test]
fn unparsable_column_ends_the_column_list() {
    let k = kind(
        "x.io",
        "v1",
        "Widget",
        true,
        vec![
            printer_column("A", "string", ".spec.a"),
            printer_column("B", "string", ".spec[?("),
            printer_column("C", "string", ".spec.c"),
        ],
    );
    let t = table_at(
        &k,
        &[],
        true,
        IncludeObject::Metadata,
        "1",
        None,
        SystemTime::now(),
    );
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Name", "A"]);
}

fn names_and_cells(t: &Value) -> (Vec<String>, Value) {
    let names = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    (names, t["rows"][0]["cells"].clone())
}

#[test]
fn builtin_kinds_have_the_real_printers_columns() {
    let now = at("2026-11-28T08:00:00Z");
    let created = "2026-11-28T07:00:00Z";
    let cases = vec![
        (
            kind("", "v1", "Secret", false, vec![]),
            json!({"metadata": {"name": "s1", "creationTimestamp": created}, "type": "Opaque", "data": {"a": "YQ==", "b": "Yg=="}}),
            vec!["Name", "Type", "Data", "Age"],
            json!(["s1", "Opaque", 2, "60m"]),
        ),
        (
            kind("", "v1", "ConfigMap", false, vec![]),
            json!({"metadata": {"name": "c", "creationTimestamp": created}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}),
            vec!["Name", "Data", "Age"],
            json!(["c", 2, "60m"]),
        ),
        (
            kind("", "v1", "Namespace", false, vec![]),
            json!({"metadata": {"name": "default", "creationTimestamp": created}, "status": {"phase": "Active"}}),
            vec!["Name", "Status", "Age"],
            json!(["default", "Active", "60m"]),
        ),
        (
            kind("", "v1", "ServiceAccount", false, vec![]),
            json!({"metadata": {"name": "default", "creationTimestamp": created}}),
            vec!["Name", "Secrets", "Age"],
            json!(["default", 0, "60m"]),
        ),
        (
            kind("coordination.k8s.io", "v1", "Lease", false, vec![]),
            json!({"metadata": {"name": "l", "creationTimestamp": created}, "spec": {"holderIdentity": "pod-0"}}),
            vec!["Name", "Holder", "Age"],
            json!(["l", "pod-0", "60m"]),
        ),
        (
            kind(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                false,
                vec![],
            ),
            json!({"metadata": {"name": "gadgets.demo.example.com", "creationTimestamp": created}}),
            vec!["Name", "Created At"],
            json!(["gadgets.demo.example.com", "2026-11-28T07:00:00Z"]),
        ),
    ];
    for (k, object, columns, cells) in cases {
        let t = table_at(&k, &[object], true, IncludeObject::Metadata, "1", None, now);
        let (names, got) = names_and_cells(&t);
        assert_eq!(names, columns, "{}", k.kind);
        assert_eq!(got, cells, "{}", k.kind);
    }
    let secret = table_at(
        &kind("", "v1", "Secret", false, vec![]),
        &[],
        true,
        IncludeObject::Metadata,
        "1",
        None,
        now,
    );
    assert!(
        secret["columnDefinitions"][1]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Used to facilitate programmatic handling"))
    );
    assert_eq!(secret["columnDefinitions"][3]["type"], "string");
}

#[test]
fn workload_and_rbac_kinds_print_like_the_real_server_wide() {
    let now = at("2026-11-28T08:00:00Z");
    let meta = json!({"name": "web", "creationTimestamp": "2026-11-28T07:00:00Z"});
    let cases = vec![
        (
            kind("apps", "v1", "Deployment", false, vec![]),
            json!({"metadata": meta, "spec": {"replicas": 3,
                "selector": {"matchLabels": {"tier": "fe", "app": "web"},
                    "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}]}}},
                "status": {"readyReplicas": 1, "updatedReplicas": 2}}),
            vec![
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector",
            ],
            json!([
                "web",
                "1/3",
                2,
                0,
                "60m",
                "web,side",
                "nginx:1.27,busybox",
                "app=web,env in (dev,prod),tier=fe"
            ]),
        ),
        (
            kind("", "v1", "Service", false, vec![]),
            json!({"metadata": meta, "spec": {"type": "NodePort", "clusterIP": "10.96.4.2", "clusterIPs": ["10.96.4.2"],
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}}),
            vec![
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector",
            ],
            json!([
                "web",
                "NodePort",
                "10.96.4.2",
                "<none>",
                "80:30080/TCP,53/UDP",
                "60m",
                "app=web"
            ]),
        ),
        (
            kind("", "v1", "Service", false, vec![]),
            json!({"metadata": meta, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.4.3"]},
                "status": {"loadBalancer": {}}}),
            vec![
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector",
            ],
            json!([
                "web",
                "LoadBalancer",
                "10.96.4.3",
                "<pending>",
                "<none>",
                "60m",
                "<none>"
            ]),
        ),
        (
            kind("policy", "v1", "PodDisruptionBudget", false, vec![]),
            json!({"metadata": meta, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}),
            vec![
                "Name",
                "Min Available",
                "Max Unavailable",
                "Allowed Disruptions",
                "Age",
            ],
            json!(["web", "50%", "N/A", 1, "60m"]),
        ),
        (
            kind(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRoleBinding",
                false,
                vec![],
            ),
            json!({"metadata": meta, "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"},
                    {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}]}),
            vec!["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
            json!(["web", "ClusterRole/view", "60m", "alice, bob", "", "ops/op"]),
        ),
        (
            kind(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRole",
                false,
                vec![],
            ),
            json!({"metadata": meta, "rules": []}),
            vec!["Name", "Created At"],
            json!(["web", "2026-11-28T07:00:00Z"]),
        ),
    ];
    for (k, object, columns, cells) in cases {
        let t = table_at(&k, &[object], true, IncludeObject::Metadata, "1", None, now);
        let (names, got) = names_and_cells(&t);
        assert_eq!(names, columns, "{}", k.kind);
        assert_eq!(got, cells, "{}", k.kind);
    }
    let deployment = table_at(
        &kind("apps", "v1", "Deployment", false, vec![]),
        &[],
        true,
        IncludeObject::Metadata,
        "1",
        None,
        now,
    );
    let priorities: Vec<i64> = deployment["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(
        priorities,
        [0, 0, 0, 0, 0, 1, 1, 1],
        "kubectl shows the last three with -o wide"
    );
}

#[test]
fn events_print_the_same_from_both_api_groups() {
    let now = at("2026-11-28T08:00:00Z");
    let core = json!({
        "metadata": {"name": "g1.abc", "creationTimestamp": "2026-11-28T07:00:00Z"},
        "involvedObject": {"kind": "Gadget", "name": "g1", "fieldPath": "spec"},
        "reason": "Synced", "message": "  all good \n", "type": "Normal",
        "firstTimestamp": "2026-11-28T07:00:00Z", "lastTimestamp": "2026-11-28T07:59:00Z", "count": 3,
        "source": {"component": "ctrl"}, "reportingInstance": "pod-0"
    });
    let t = table_at(
        &kind("", "v1", "Event", false, vec![]),
        &[core],
        true,
        IncludeObject::Metadata,
        "1",
        None,
        now,
    );
    let (names, cells) = names_and_cells(&t);
    assert_eq!(
        names,
        vec![
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    assert_eq!(
        cells,
        json!([
            "60s",
            "Normal",
            "Synced",
            "gadget/g1",
            "spec",
            "ctrl, pod-0",
            "all good",
            "60m",
            3,
            "g1.abc"
        ])
    );
    let priorities: Vec<i64> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, vec![0, 0, 0, 0, 1, 1, 0, 1, 1, 1]);

    let new_api = json!({
        "metadata": {"name": "g1.def", "creationTimestamp": "2026-11-28T07:00:00Z"},
        "regarding": {"kind": "Gadget", "name": "g1"},
        "reason": "Synced", "note": "ok", "type": "Warning", "action": "Reconcile",
        "eventTime": "2026-11-28T07:30:00.000000Z", "reportingController": "trace-controller", "reportingInstance": "trace-pod-0",
        "series": {"count": 4, "lastObservedTime": "2026-11-28T07:58:00.000000Z"}
    });
    let t = table_at(
        &kind("events.k8s.io", "v1", "Event", false, vec![]),
        &[new_api],
        true,
        IncludeObject::Metadata,
        "1",
        None,
        now,
    );
    let (_, cells) = names_and_cells(&t);
    assert_eq!(
        cells,
        json!([
            "2m",
            "Warning",
            "Synced",
            "gadget/g1",
            "",
            "trace-controller, trace-pod-0",
            "ok",
            "30m",
            4,
            "g1.def"
        ])
    );
}

#[test]
fn human_duration_matches_apimachinery() {
    let cases = [
        (0.0, "0s"),
        (-1.5, "0s"),
        (-2.0, "<invalid>"),
        (119.9, "119s"),
        (120.0, "2m"),
        (150.0, "2m30s"),
        (600.0, "10m"),
        (179.0 * 60.0, "179m"),
        (3.0 * 3600.0, "3h"),
        (7.0 * 3600.0 + 59.0 * 60.0, "7h59m"),
        (8.0 * 3600.0, "8h"),
        (47.0 * 3600.0, "47h"),
        (48.0 * 3600.0, "2d"),
        (49.0 * 3600.0, "2d1h"),
        (8.0 * 86400.0, "8d"),
        (2.0 * 365.0 * 86400.0, "2y"),
        (2.0 * 365.0 * 86400.0 + 86400.0, "2y1d"),
        (8.0 * 365.0 * 86400.0, "8y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(secs), want, "{secs}");
    }
    assert_eq!(age_since("", SystemTime::now()), "<unknown>");
    assert_eq!(
        age_since(
            "2026-11-28T07:00:00Z",
            at("2026-11-28T07:00:00Z") + Duration::from_secs(3)
        ),
        "3s"
    );
}

#[test]
fn include_object_parameter() {
    assert_eq!(IncludeObject::parse(None), Some(IncludeObject::Metadata));
    assert_eq!(
        IncludeObject::parse(Some("Object")),
        Some(IncludeObject::Object)
    );
    assert_eq!(
        IncludeObject::parse(Some("None")),
        Some(IncludeObject::None)
    );
    assert_eq!(IncludeObject::parse(Some("Everything")), None);
}
