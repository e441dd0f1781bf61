//! CRD validation rules (`x-kubernetes-validations`) through the emulated API server with raw
//! requests: one test per row of the Summary tables of kube-api/cel-validation.md, asserting
//! the exact status, message and causes the real v1.36 server answers.

#[path = "cel_support/mod.rs"]
mod cel_support;

use cel_support::*;
use serde_json::{Value, json};

const INV: &str = "FieldValueInvalid";

async fn refused(
    emu: &kube_emulator::KubeEmulator,
    name: &str,
    spec: Value,
    causes: &[(&str, &str, &str)],
) {
    let reply = post(emu, SCALERS, &scaler(name, spec)).await;
    assert_eq!(reply.code, 422, "{name}: {}", reply.body);
    assert_eq!(reply.body, scaler_invalid(name, causes), "{name}");
    assert!(reply.warnings.is_empty(), "{name}: {:?}", reply.warnings);
}

#[tokio::test]
async fn a_failing_rule_on_an_object_map_or_list_shows_no_value() {
    let emu = with_scalers().await;
    refused(
        &emu,
        "s-one",
        json!({"minReplicas": 5, "maxReplicas": 2}),
        &[(
            INV,
            "Invalid value: minReplicas must be less than or equal to maxReplicas",
            "spec",
        )],
    )
    .await;
    refused(
        &emu,
        "s-map",
        json!({"minReplicas": 1, "maxReplicas": 2, "labels": {"team": "a", "consul-mesh": "true"}}),
        &[(
            INV,
            "Invalid value: label keys must not start with 'consul-'",
            "spec.labels",
        )],
    )
    .await;
    refused(
        &emu,
        "s-list",
        json!({"minReplicas": 1, "maxReplicas": 2, "hosts": ["a.example.com", ""]}),
        &[(
            INV,
            "Invalid value: failed rule: self.all(x, x.size() > 0)",
            "spec.hosts",
        )],
    )
    .await;
}

#[tokio::test]
async fn a_failing_rule_on_a_string_or_integer_shows_the_value() {
    let emu = with_scalers().await;
    refused(
        &emu,
        "s-str",
        json!({"minReplicas": 1, "maxReplicas": 2, "name": "Web1"}),
        &[(
            INV,
            "Invalid value: \"Web1\": failed rule: self.matches('^[a-z]+$')",
            "spec.name",
        )],
    )
    .await;
    refused(
        &emu,
        "s-msgexpr",
        json!({"minReplicas": 1, "maxReplicas": 2, "partition": "default"}),
        &[(
            INV,
            "Invalid value: \"default\": partition default is reserved",
            "spec.partition",
        )],
    )
    .await;
    let created = post(
        &emu,
        SCALERS,
        &scaler(
            "s-int",
            json!({"minReplicas": 1, "maxReplicas": 2, "version": 3}),
        ),
    )
    .await;
    assert_eq!(created.code, 201);
    let reply = merge(
        &emu,
        &format!("{SCALERS}/s-int"),
        json!({"spec": {"version": 2}}),
    )
    .await;
    assert_eq!(
        reply.body,
        scaler_invalid(
            "s-int",
            &[(INV, "Invalid value: 2: may not decrease", "spec.version")]
        )
    );
}

#[tokio::test]
async fn rule_reasons_forbidden_required_and_duplicate() {
    let emu = with_scalers().await;
    refused(
        &emu,
        "s-forbid",
        json!({"minReplicas": 1, "maxReplicas": 2, "mode": "Exclusive", "sharedWith": "team-b"}),
        &[(
            "FieldValueForbidden",
            "Forbidden: must not be set when mode is Exclusive",
            "spec.sharedWith",
        )],
    )
    .await;
    refused(&emu, "s-req", json!({"minReplicas": 1, "maxReplicas": 2, "sharedWith": "team-b"}), &[
        (INV, "Invalid value: \"object\": no such key: mode evaluating rule: must not be set when mode is Exclusive", "spec"),
        ("FieldValueRequired", "Required value: must be set when sharedWith is set", "spec.mode"),
    ]).await;
    refused(
        &emu,
        "s-dup",
        json!({"minReplicas": 1, "maxReplicas": 2, "hosts": ["a", "b", "a"]}),
        &[("FieldValueDuplicate", "Duplicate value", "spec.hosts")],
    )
    .await;
}

#[tokio::test]
async fn a_rule_that_errors_is_reported_at_its_node() {
    let emu = with_scalers().await;
    refused(&emu, "s-nokey", json!({"maxReplicas": 2}), &[(INV,
        "Invalid value: \"object\": no such key: minReplicas evaluating rule: minReplicas must be less than or equal to maxReplicas", "spec")]).await;
}

#[tokio::test]
async fn several_failing_rules_give_one_cause_each() {
    let emu = with_scalers().await;
    refused(
        &emu,
        "s-two",
        json!({"minReplicas": 5, "maxReplicas": 2, "labels": {"consul-x": "v"}}),
        &[
            (
                INV,
                "Invalid value: minReplicas must be less than or equal to maxReplicas",
                "spec",
            ),
            (
                INV,
                "Invalid value: label keys must not start with 'consul-'",
                "spec.labels",
            ),
        ],
    )
    .await;
    let all = json!({"minReplicas": 5, "maxReplicas": 2, "mode": "Exclusive", "sharedWith": "x",
        "labels": {"consul-x": "v"}, "hosts": [""], "name": "Abc", "partition": "default"});
    let reply = post(&emu, SCALERS, &scaler("s-all", all)).await;
    assert_eq!(reply.code, 422);
    let causes = reply.body["details"]["causes"].as_array().unwrap().clone();
    // A node's rules come first, in declaration order; siblings come in any order.
    assert_eq!(
        causes[0],
        json!({"reason": INV, "message": "Invalid value: minReplicas must be less than or equal to maxReplicas", "field": "spec"})
    );
    assert_eq!(
        causes[1],
        json!({"reason": "FieldValueForbidden", "message": "Forbidden: must not be set when mode is Exclusive", "field": "spec.sharedWith"})
    );
    let mut rest: Vec<String> = causes[2..]
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        [
            "spec.hosts: Invalid value: failed rule: self.all(x, x.size() > 0)",
            "spec.labels: Invalid value: label keys must not start with 'consul-'",
            "spec.name: Invalid value: \"Abc\": failed rule: self.matches('^[a-z]+$')",
            "spec.partition: Invalid value: \"default\": partition default is reserved",
        ]
    );
}

#[tokio::test]
async fn pattern_and_minimum_errors_do_not_stop_the_rules() {
    let emu = with_scalers().await;
    let spec_rule = (
        INV,
        "Invalid value: minReplicas must be less than or equal to maxReplicas",
        "spec",
    );
    refused(
        &emu,
        "s-pattern",
        json!({"minReplicas": 5, "maxReplicas": 2, "peerName": "Bad_Name"}),
        &[
            (
                INV,
                "Invalid value: \"Bad_Name\": spec.peerName in body should match '^[a-z0-9-]+$'",
                "spec.peerName",
            ),
            spec_rule,
        ],
    )
    .await;
    refused(
        &emu,
        "s-min",
        json!({"minReplicas": -1, "maxReplicas": -5}),
        &[
            (
                INV,
                "Invalid value: -1: spec.minReplicas in body should be greater than or equal to 0",
                "spec.minReplicas",
            ),
            spec_rule,
        ],
    )
    .await;
}

#[tokio::test]
async fn enum_type_length_count_and_required_errors_skip_the_rules() {
    let emu = with_scalers().await;
    let enum_cause = (
        "FieldValueNotSupported",
        "Unsupported value: \"Bogus\": supported values: \"Shared\", \"Exclusive\"",
        "spec.mode",
    );
    refused(
        &emu,
        "s-enum",
        json!({"minReplicas": 5, "maxReplicas": 2, "mode": "Bogus", "labels": {"consul-x": "v"}}),
        &[enum_cause, NOT_CHECKED],
    )
    .await;
    refused(
        &emu,
        "s-enum-only",
        json!({"minReplicas": 1, "maxReplicas": 2, "mode": "Bogus"}),
        &[enum_cause, NOT_CHECKED],
    )
    .await;
    refused(&emu, "s-type", json!({"minReplicas": "five", "maxReplicas": 2, "labels": {"consul-x": "v"}}), &[
        ("FieldValueTypeInvalid", "Invalid value: \"string\": spec.minReplicas in body must be of type integer: \"string\"", "spec.minReplicas"), NOT_CHECKED]).await;
    refused(
        &emu,
        "s-long",
        json!({"minReplicas": 5, "maxReplicas": 2, "partition": "p".repeat(40)}),
        &[
            (
                "FieldValueTooLong",
                "Too long: may not be more than 32 bytes",
                "spec.partition",
            ),
            NOT_CHECKED,
        ],
    )
    .await;
    refused(
        &emu,
        "s-many",
        json!({"minReplicas": 5, "maxReplicas": 2, "hosts": ["a", "b", "c", "d", "e", "f"]}),
        &[
            (
                "FieldValueTooMany",
                "Too many: 6: must have at most 5 items",
                "spec.hosts",
            ),
            NOT_CHECKED,
        ],
    )
    .await;
    assert_eq!(
        post(
            &emu,
            SCALERS,
            &scaler("s-stat", json!({"minReplicas": 1, "maxReplicas": 3}))
        )
        .await
        .code,
        201
    );
    let reply = merge(
        &emu,
        &format!("{SCALERS}/s-stat/status"),
        json!({"status": {"readyReplicas": 5}}),
    )
    .await;
    assert_eq!(
        reply.body,
        scaler_invalid(
            "s-stat",
            &[
                (
                    "FieldValueRequired",
                    "Required value",
                    "status.desiredReplicas"
                ),
                NOT_CHECKED
            ]
        )
    );
    let reply = post(
        &emu,
        SCALERS,
        &scaler(
            "s-enum",
            json!({"minReplicas": 5, "maxReplicas": 2, "mode": "Bogus"}),
        ),
    )
    .await;
    assert!(reply.body["message"].as_str().unwrap().ends_with(
        "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"));
}

async fn create_s_imm(emu: &kube_emulator::KubeEmulator) {
    let spec = json!({"minReplicas": 1, "maxReplicas": 3, "datacenter": "dc1", "version": 3});
    assert_eq!(post(emu, SCALERS, &scaler("s-imm", spec)).await.code, 201);
}

#[tokio::test]
async fn an_immutable_field_is_refused_alike_by_put_merge_json_patch_and_apply() {
    let emu = with_scalers().await;
    create_s_imm(&emu).await;
    let path = format!("{SCALERS}/s-imm");
    let expected = scaler_invalid(
        "s-imm",
        &[(
            INV,
            "Invalid value: \"dc2\": is immutable",
            "spec.datacenter",
        )],
    );
    let current = call(&emu, "GET", &path, "", "").await.body;
    let mut put = current.clone();
    put["spec"]["datacenter"] = json!("dc2");
    let replies = [
        call(&emu, "PUT", &path, "application/json", &put.to_string()).await,
        merge(&emu, &path, json!({"spec": {"datacenter": "dc2"}})).await,
        call(&emu, "PATCH", &path, "application/json-patch+json", r#"[{"op":"replace","path":"/spec/datacenter","value":"dc2"}]"#).await,
        call(&emu, "PATCH", &format!("{path}?fieldManager=cel-test&force=true"), "application/apply-patch+yaml",
            "apiVersion: cel.example.com/v1\nkind: Scaler\nmetadata:\n  name: s-imm\nspec:\n  minReplicas: 1\n  maxReplicas: 3\n  datacenter: dc2\n  version: 3\n").await,
    ];
    for reply in replies {
        assert_eq!((reply.code, &reply.body), (422, &expected));
    }
    let reply = merge(
        &emu,
        &path,
        json!({"spec": {"datacenter": "dc9", "minReplicas": 7}}),
    )
    .await;
    assert_eq!(
        reply.body,
        scaler_invalid(
            "s-imm",
            &[
                (
                    INV,
                    "Invalid value: minReplicas must be less than or equal to maxReplicas",
                    "spec"
                ),
                (
                    INV,
                    "Invalid value: \"dc9\": is immutable",
                    "spec.datacenter"
                )
            ]
        )
    );
}

#[tokio::test]
async fn apply_without_force_reports_the_conflict_before_the_rules() {
    let emu = with_scalers().await;
    create_s_imm(&emu).await;
    let reply = call(&emu, "PATCH", &format!("{SCALERS}/s-imm?fieldManager=cel-test2"), "application/apply-patch+yaml",
        "apiVersion: cel.example.com/v1\nkind: Scaler\nmetadata:\n  name: s-imm\nspec:\n  datacenter: dc2\n").await;
    assert_eq!(reply.code, 409);
    assert_eq!(
        reply.body["message"],
        "Apply failed with 1 conflict: conflict with \"unknown\" using cel.example.com/v1: .spec.datacenter"
    );
}

#[tokio::test]
async fn transition_rules_skip_creates_and_added_or_removed_fields() {
    let emu = with_scalers().await;
    create_s_imm(&emu).await;
    let path = format!("{SCALERS}/s-imm");
    let removed = merge(&emu, &path, json!({"spec": {"datacenter": null}})).await;
    assert_eq!(removed.code, 200, "{}", removed.body);
    assert!(removed.body["spec"].get("datacenter").is_none());
    let added = merge(&emu, &path, json!({"spec": {"datacenter": "dc7"}})).await;
    assert_eq!(
        (added.code, &added.body["spec"]["datacenter"]),
        (200, &json!("dc7"))
    );
}

#[tokio::test]
async fn optional_old_self_rules_run_on_create_and_without_an_old_value() {
    let emu = with_scalers().await;
    create_s_imm(&emu).await;
    let path = format!("{SCALERS}/s-imm");
    let pinned = (
        INV,
        "Invalid value: \"other\": must be 'initial' when first set",
        "spec.pinned",
    );
    refused(
        &emu,
        "s-pin",
        json!({"minReplicas": 1, "maxReplicas": 3, "pinned": "other"}),
        &[pinned],
    )
    .await;
    let reply = merge(&emu, &path, json!({"spec": {"pinned": "other"}})).await;
    assert_eq!(reply.body, scaler_invalid("s-imm", &[pinned]));
    assert_eq!(
        merge(&emu, &path, json!({"spec": {"version": null}}))
            .await
            .code,
        200
    );
    let lower = merge(&emu, &path, json!({"spec": {"version": 1}})).await;
    assert_eq!(
        (lower.code, &lower.body["spec"]["version"]),
        (200, &json!(1))
    );
}

#[tokio::test]
async fn status_rules_run_on_the_status_subresource_only() {
    let emu = with_scalers().await;
    assert_eq!(
        post(
            &emu,
            SCALERS,
            &scaler("s-stat", json!({"minReplicas": 1, "maxReplicas": 3}))
        )
        .await
        .code,
        201
    );
    let path = format!("{SCALERS}/s-stat");
    let expected = scaler_invalid(
        "s-stat",
        &[(
            INV,
            "Invalid value: readyReplicas must not exceed desiredReplicas",
            "status",
        )],
    );
    let bad = json!({"status": {"readyReplicas": 5, "desiredReplicas": 3}});
    assert_eq!(
        merge(&emu, &format!("{path}/status"), bad.clone())
            .await
            .body,
        expected
    );
    let mut put = call(&emu, "GET", &path, "", "").await.body;
    put["status"] = bad["status"].clone();
    let reply = call(
        &emu,
        "PUT",
        &format!("{path}/status"),
        "application/json",
        &put.to_string(),
    )
    .await;
    assert_eq!((reply.code, reply.body), (422, expected));
    let main = merge(&emu, &path, bad).await;
    assert_eq!(main.code, 200);
    assert!(main.body.get("status").is_none(), "{}", main.body);
    let ok = merge(
        &emu,
        &format!("{path}/status"),
        json!({"status": {"readyReplicas": 2, "desiredReplicas": 3}}),
    )
    .await;
    assert_eq!(
        (ok.code, &ok.body["status"]),
        (200, &json!({"desiredReplicas": 3, "readyReplicas": 2}))
    );
}

/// The reference's section 6: the CRD's rules tightened after s-rat was stored.
async fn tighten_rules(emu: &kube_emulator::KubeEmulator) {
    let path = format!("{CRDS}/scalers.cel.example.com");
    let mut crd = call(emu, "GET", &path, "", "").await.body;
    let spec = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    spec["x-kubernetes-validations"][0]["rule"] = json!("self.minReplicas < self.maxReplicas");
    spec["properties"]["name"]["x-kubernetes-validations"] = json!([{"rule": "self.matches('^[a-z]+$') && self.size() <= 3", "message": "at most 3 lowercase letters"}]);
    let reply = call(emu, "PUT", &path, "application/json", &crd.to_string()).await;
    assert_eq!(reply.code, 200, "{}", reply.body);
}

fn warning(text: &str) -> String {
    format!(
        "299 - \"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

#[tokio::test]
async fn tightened_rules_ratchet_unchanged_values_with_warnings() {
    let emu = with_scalers().await;
    let spec = json!({"minReplicas": 2, "maxReplicas": 2, "name": "abcdef"});
    assert_eq!(
        post(&emu, SCALERS, &scaler("s-rat", spec.clone()))
            .await
            .code,
        201
    );
    tighten_rules(&emu).await;
    let path = format!("{SCALERS}/s-rat");
    let spec_rule = "spec: Invalid value: minReplicas must be less than or equal to maxReplicas";
    let name_rule = "spec.name: Invalid value: \"abcdef\": at most 3 lowercase letters";
    let labelled = merge(
        &emu,
        &path,
        json!({"metadata": {"labels": {"touched": "yes"}}}),
    )
    .await;
    assert_eq!(labelled.code, 200, "{}", labelled.body);
    assert_eq!(labelled.warnings, [warning(spec_rule), warning(name_rule)]);
    let hosts = merge(&emu, &path, json!({"spec": {"hosts": ["a"]}})).await;
    assert_eq!(
        hosts.body,
        scaler_invalid(
            "s-rat",
            &[(
                INV,
                "Invalid value: minReplicas must be less than or equal to maxReplicas",
                "spec"
            )]
        )
    );
    assert_eq!(hosts.warnings, [warning(name_rule)]);
    let renamed = merge(
        &emu,
        &path,
        json!({"spec": {"name": "abcdefg", "maxReplicas": 3}}),
    )
    .await;
    assert_eq!(
        renamed.body,
        scaler_invalid(
            "s-rat",
            &[(
                INV,
                "Invalid value: \"abcdefg\": at most 3 lowercase letters",
                "spec.name"
            )]
        )
    );
    assert!(renamed.warnings.is_empty());
    let fixed = merge(&emu, &path, json!({"spec": {"maxReplicas": 3}})).await;
    assert_eq!(
        (fixed.code, fixed.warnings),
        (200, vec![warning(name_rule)])
    );
    let status = merge(
        &emu,
        &format!("{path}/status"),
        json!({"status": {"readyReplicas": 1, "desiredReplicas": 1}}),
    )
    .await;
    assert_eq!(
        (status.code, status.warnings),
        (200, vec![warning(name_rule)])
    );
    refused(
        &emu,
        "s-rat2",
        json!({"minReplicas": 2, "maxReplicas": 3, "name": "abcdef"}),
        &[(
            INV,
            "Invalid value: \"abcdef\": at most 3 lowercase letters",
            "spec.name",
        )],
    )
    .await;
}

fn crd_invalid(name: &str, causes: &[(&str, &str, &str)]) -> Value {
    invalid(
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        name,
        causes,
    )
}

const AT_SPEC: &str =
    "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule";
const EXPECTING: &str = "Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}";

#[tokio::test]
async fn crds_whose_rules_do_not_compile_are_refused() {
    let emu = with_scalers().await;
    let probe = |rules: Value, props: Value| {
        probe_crd(
            "probes.cel.example.com",
            "Probe",
            json!({"type": "object", "x-kubernetes-validations": rules, "properties": props}),
        )
    };
    let cases = [
        (probe(json!([{"rule": "self.minReplicas <= ", "message": "bad"}]), json!({"minReplicas": {"type": "integer"}})),
            format!("Invalid value: {{\"Rule\":\"self.minReplicas \\u003c= \",\"Message\":\"bad\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}}: compilation failed: ERROR: <input>:1:21: {EXPECTING}\n | self.minReplicas <= \n | ....................^")),
        (probe(json!([{"rule": "self.replicas > 0"}]), json!({"minReplicas": {"type": "integer"}})),
            "Invalid value: {\"Rule\":\"self.replicas \\u003e 0\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:5: undefined field 'replicas'\n | self.replicas > 0\n | ....^".to_string()),
        (probe(json!([{"rule": "self.name > 3"}]), json!({"name": {"type": "string"}})),
            "Invalid value: {\"Rule\":\"self.name \\u003e 3\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:11: found no matching overload for '_>_' applied to '(string, int)'\n | self.name > 3\n | ..........^".to_string()),
        (probe(json!([{"rule": "self.name"}]), json!({"name": {"type": "string"}})),
            "Invalid value: {\"Rule\":\"self.name\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: cel expression must evaluate to a bool".to_string()),
    ];
    for (crd, message) in cases {
        let reply = post(&emu, CRDS, &crd).await;
        assert_eq!(
            reply.body,
            crd_invalid("probes.cel.example.com", &[(INV, &message, AT_SPEC)])
        );
    }
    let two = probe(
        json!([{"rule": "self.a ==", "message": "x"}, {"rule": "self.b == 1"}]),
        json!({"a": {"type": "integer"}}),
    );
    let reply = post(&emu, CRDS, &two).await;
    let fields: Vec<&str> = reply.body["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, [AT_SPEC, &AT_SPEC.replace("[0]", "[1]")]);
    assert_eq!(
        call(
            &emu,
            "GET",
            &format!("{CRDS}/probes.cel.example.com"),
            "",
            ""
        )
        .await
        .code,
        404
    );
}

#[tokio::test]
async fn crds_whose_rules_cost_too_much_are_refused_until_bounded() {
    let emu = with_scalers().await;
    let groups = |outer: Option<u64>, inner: Option<u64>, len: Option<u64>| {
        let mut s = json!({"type": "string"});
        if let Some(l) = len {
            s["maxLength"] = json!(l)
        }
        let mut i = json!({"type": "array", "items": s});
        if let Some(m) = inner {
            i["maxItems"] = json!(m)
        }
        let mut o = json!({"type": "array", "items": i, "x-kubernetes-validations": [{"rule": "self.all(g, g.all(x, x.startsWith('a')))"}]});
        if let Some(m) = outer {
            o["maxItems"] = json!(m)
        }
        probe_crd(
            "costlies.cel.example.com",
            "Costly",
            json!({"type": "object", "properties": {"groups": o}}),
        )
    };
    let rule = "spec.validation.openAPIV3Schema.properties[spec].properties[groups].x-kubernetes-validations[0].rule";
    let reply = post(&emu, CRDS, &groups(None, None, None)).await;
    assert_eq!(
        reply.body,
        crd_invalid(
            "costlies.cel.example.com",
            &[
                (
                    "FieldValueForbidden",
                    &format!(
                        "Forbidden: estimated rule cost exceeds budget by factor of more than 100x{BUDGET_HINT}"
                    ),
                    rule
                ),
                (
                    "FieldValueForbidden",
                    "Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
                    rule
                ),
                (
                    "FieldValueForbidden",
                    &format!(
                        "Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x{BUDGET_HINT}"
                    ),
                    "spec.validation.openAPIV3Schema"
                ),
            ]
        )
    );
    let reply = post(&emu, CRDS, &groups(Some(5000), Some(1000), Some(10))).await;
    assert_eq!(
        reply.body,
        crd_invalid(
            "costlies.cel.example.com",
            &[(
                "FieldValueForbidden",
                &format!(
                    "Forbidden: estimated rule cost exceeds budget by factor of 2.5x{BUDGET_HINT}"
                ),
                rule
            )]
        )
    );
    assert_eq!(
        post(&emu, CRDS, &groups(Some(10), Some(10), Some(64)))
            .await
            .code,
        201
    );
}

#[tokio::test]
async fn published_openapi_carries_the_rules_verbatim() {
    let emu = with_scalers().await;
    let v3 = call(&emu, "GET", "/openapi/v3/apis/cel.example.com/v1", "", "")
        .await
        .body;
    let spec = &v3["components"]["schemas"]["com.example.cel.v1.Scaler"]["properties"]["spec"];
    assert_eq!(
        spec["x-kubernetes-validations"],
        scaler_schema()["properties"]["spec"]["x-kubernetes-validations"]
    );
    assert_eq!(
        spec["properties"]["version"]["x-kubernetes-validations"],
        json!([{"rule": "!oldSelf.hasValue() || self >= oldSelf.value()", "message": "may not decrease", "optionalOldSelf": true}])
    );
    let v2 = call(&emu, "GET", "/openapi/v2", "", "").await.body;
    assert_eq!(
        v2["definitions"]["com.example.cel.v1.Scaler"]["properties"]["spec"]["properties"]["datacenter"]
            ["x-kubernetes-validations"],
        json!([{"message": "is immutable", "rule": "self == oldSelf"}])
    );
}

#[tokio::test]
async fn crds_with_bad_message_expressions_reasons_field_paths_or_old_self_are_refused() {
    let emu = with_scalers().await;
    let name_rule = |rule: Value| {
        probe_crd(
            "probes.cel.example.com",
            "Probe",
            json!({"type": "object", "properties": {"name": {
            "type": "string", "maxLength": 10, "x-kubernetes-validations": [rule]}}}),
        )
    };
    let at = "spec.validation.openAPIV3Schema.properties[spec].properties[name].x-kubernetes-validations[0]";
    let cases = [
        (name_rule(json!({"rule": "self != 'x'", "messageExpression": "'bad ' + "})),
            (INV, format!("Invalid value: {{\"Rule\":\"self != 'x'\",\"Message\":\"\",\"MessageExpression\":\"'bad ' + \",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}}: messageExpression compilation failed: ERROR: <input>:1:10: {EXPECTING}\n | 'bad ' + \n | .........^"), format!("{at}.messageExpression"))),
        (name_rule(json!({"rule": "self != 'x'", "messageExpression": "1 + 2"})),
            (INV, "Invalid value: {\"Rule\":\"self != 'x'\",\"Message\":\"\",\"MessageExpression\":\"1 + 2\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: messageExpression must evaluate to a string".into(), format!("{at}.messageExpression"))),
        (name_rule(json!({"rule": "self != 'x'", "reason": "FieldValueBogus"})),
            ("FieldValueNotSupported", "Unsupported value: \"FieldValueBogus\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"".into(), format!("{at}.reason"))),
        (name_rule(json!({"rule": "self != 'x'", "optionalOldSelf": true})),
            (INV, "Invalid value: true: may not be set if oldSelf is not used in rule".into(), format!("{at}.optionalOldSelf"))),
        (name_rule(json!({"rule": ""})),
            ("FieldValueRequired", "Required value: rule is not specified".into(), format!("{at}.rule"))),
        (probe_crd("probes.cel.example.com", "Probe", json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "has(self.name)", "fieldPath": ".nope"}], "properties": {"name": {"type": "string"}}})),
            (INV, "Invalid value: \".nope\": must be a valid path".into(), AT_SPEC.replace(".rule", ".fieldPath"))),
        (probe_crd("probes.cel.example.com", "Probe", json!({"type": "object", "properties": {"ports": {"type": "array", "maxItems": 8,
            "items": {"type": "object", "properties": {"port": {"type": "integer"}}, "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port"}]}}}})),
            (INV, "Invalid value: \"self.port == oldSelf.port\": oldSelf cannot be used on the uncorrelatable portion of the schema within spec.validation.openAPIV3Schema.properties[spec].properties[ports]".into(),
                "spec.validation.openAPIV3Schema.properties[spec].properties[ports].items.x-kubernetes-validations[0].rule".into())),
    ];
    for (crd, (reason, message, field)) in cases {
        let reply = post(&emu, CRDS, &crd).await;
        assert_eq!(
            reply.body,
            crd_invalid("probes.cel.example.com", &[(reason, &message, &field)]),
            "{crd}"
        );
    }
}

#[tokio::test]
async fn map_rules_and_message_expressions_are_costed_like_the_server() {
    let emu = with_scalers().await;
    let peers = |bounded: bool| {
        let (len, items, props) = if bounded {
            (json!(63), json!(16), json!(16))
        } else {
            (Value::Null, Value::Null, Value::Null)
        };
        let mut s = json!({"type": "string"});
        let mut list = json!({"type": "array"});
        let mut map = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.all(k, self[k].all(x, x != k))"}]});
        if bounded {
            s["maxLength"] = len;
            list["maxItems"] = items;
            map["maxProperties"] = props;
        }
        list["items"] = s;
        map["additionalProperties"] = list;
        probe_crd(
            "costlies.cel.example.com",
            "Costly",
            json!({"type": "object", "properties": {"peers": map}}),
        )
    };
    let rule = "spec.validation.openAPIV3Schema.properties[spec].properties[peers].x-kubernetes-validations[0].rule";
    let total = format!(
        "Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x{BUDGET_HINT}"
    );
    let contributed = "Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema";
    let reply = post(&emu, CRDS, &peers(false)).await;
    assert_eq!(
        reply.body,
        crd_invalid(
            "costlies.cel.example.com",
            &[
                (
                    "FieldValueForbidden",
                    &format!(
                        "Forbidden: estimated rule cost exceeds budget by factor of more than 100x{BUDGET_HINT}"
                    ),
                    rule
                ),
                ("FieldValueForbidden", contributed, rule),
                (
                    "FieldValueForbidden",
                    &total,
                    "spec.validation.openAPIV3Schema"
                ),
            ]
        )
    );
    assert_eq!(post(&emu, CRDS, &peers(true)).await.code, 201);
    let port = probe_crd(
        "probes.cel.example.com",
        "Probe",
        json!({"type": "object", "properties": {"port": {
        "type": "integer", "minimum": 1, "maximum": 65535,
        "x-kubernetes-validations": [{"rule": "self >= 1024", "messageExpression": "'port ' + string(self) + ' is privileged'"}]}}}),
    );
    let at = "spec.validation.openAPIV3Schema.properties[spec].properties[port].x-kubernetes-validations[0].messageExpression";
    let reply = post(&emu, CRDS, &port).await;
    assert_eq!(
        reply.body,
        crd_invalid(
            "probes.cel.example.com",
            &[
                (
                    "FieldValueForbidden",
                    &format!(
                        "Forbidden: estimated messageExpression cost exceeds budget by factor of more than 100x{BUDGET_HINT}"
                    ),
                    at
                ),
                ("FieldValueForbidden", contributed, at),
                (
                    "FieldValueForbidden",
                    &total,
                    "spec.validation.openAPIV3Schema"
                ),
            ]
        )
    );
}
