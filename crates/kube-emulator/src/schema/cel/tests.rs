use serde_json::{Value, json};

use super::*;

const BASE: &str = "spec.validation.openAPIV3Schema";

/// The `spec` of the reference's scratch CRD (cel-validation.md, section 0).
fn scaler() -> Value {
    json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.maxReplicas", "message": "minReplicas must be less than or equal to maxReplicas"},
            {"rule": "self.mode != 'Exclusive' || !has(self.sharedWith)", "reason": "FieldValueForbidden", "fieldPath": ".sharedWith", "message": "must not be set when mode is Exclusive"},
            {"rule": "!has(self.sharedWith) || has(self.mode)", "reason": "FieldValueRequired", "fieldPath": ".mode", "message": "must be set when sharedWith is set"}
        ],
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
            "peerName": {"type": "string", "pattern": "^[a-z0-9-]+$"}
        }
    }, "status": {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "!has(self.readyReplicas) || self.readyReplicas <= self.desiredReplicas", "message": "readyReplicas must not exceed desiredReplicas"}],
        "required": ["desiredReplicas"],
        "properties": {"readyReplicas": {"type": "integer"}, "desiredReplicas": {"type": "integer"}}
    }}})
}

fn causes(errors: &[FieldError]) -> Vec<(String, String, String)> {
    errors
        .iter()
        .map(|e| (e.reason.clone(), e.field.clone(), e.message.clone()))
        .collect()
}

fn one(reason: &str, field: &str, message: &str) -> Vec<(String, String, String)> {
    vec![(reason.into(), field.into(), message.into())]
}

fn create(spec: Value) -> Outcome {
    let rules = Rules::compile(&scaler());
    rules.validate(&json!({"metadata": {"name": "s"}, "spec": spec}), None)
}

#[test]
fn the_reference_schema_compiles_within_budget() {
    assert_eq!(causes(&crd_errors(&scaler(), BASE)), vec![]);
}

#[test]
fn failing_rules_give_the_reference_causes() {
    let cases = [
        (
            json!({"minReplicas": 5, "maxReplicas": 2}),
            "FieldValueInvalid",
            "spec",
            "Invalid value: minReplicas must be less than or equal to maxReplicas",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 2, "labels": {"team": "a", "consul-mesh": "true"}}),
            "FieldValueInvalid",
            "spec.labels",
            "Invalid value: label keys must not start with 'consul-'",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 2, "hosts": ["a.example.com", ""]}),
            "FieldValueInvalid",
            "spec.hosts",
            "Invalid value: failed rule: self.all(x, x.size() > 0)",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 2, "name": "Web1"}),
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"Web1\": failed rule: self.matches('^[a-z]+$')",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 2, "partition": "default"}),
            "FieldValueInvalid",
            "spec.partition",
            "Invalid value: \"default\": partition default is reserved",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 2, "mode": "Exclusive", "sharedWith": "team-b"}),
            "FieldValueForbidden",
            "spec.sharedWith",
            "Forbidden: must not be set when mode is Exclusive",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 2, "hosts": ["a", "b", "a"]}),
            "FieldValueDuplicate",
            "spec.hosts",
            "Duplicate value",
        ),
        (
            json!({"maxReplicas": 2}),
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": no such key: minReplicas evaluating rule: minReplicas must be less than or equal to maxReplicas",
        ),
        (
            json!({"minReplicas": 1, "maxReplicas": 3, "pinned": "other"}),
            "FieldValueInvalid",
            "spec.pinned",
            "Invalid value: \"other\": must be 'initial' when first set",
        ),
    ];
    for (spec, reason, field, message) in cases {
        let out = create(spec.clone());
        assert_eq!(causes(&out.errors), one(reason, field, message), "{spec}");
        assert!(out.warnings.is_empty());
    }
}

#[test]
fn an_evaluation_error_ignores_reason_and_field_path() {
    let out = create(json!({"minReplicas": 1, "maxReplicas": 2, "sharedWith": "team-b"}));
    assert_eq!(
        causes(&out.errors),
        vec![
            ("FieldValueInvalid".into(), "spec".into(), "Invalid value: \"object\": no such key: mode evaluating rule: must not be set when mode is Exclusive".into()),
            ("FieldValueRequired".into(), "spec.mode".into(), "Required value: must be set when sharedWith is set".into()),
        ]
    );
}

#[test]
fn transition_rules_need_an_old_value_unless_optional() {
    let rules = Rules::compile(&scaler());
    let old =
        json!({"spec": {"minReplicas": 1, "maxReplicas": 3, "datacenter": "dc1", "version": 3}});
    let mut new = old.clone();
    new["spec"]["datacenter"] = json!("dc2");
    assert_eq!(
        causes(&rules.validate(&new, Some(&old)).errors),
        one(
            "FieldValueInvalid",
            "spec.datacenter",
            "Invalid value: \"dc2\": is immutable"
        )
    );
    assert!(
        rules.validate(&new, None).errors.is_empty(),
        "not evaluated on create"
    );
    let mut removed = old.clone();
    removed["spec"]
        .as_object_mut()
        .unwrap()
        .remove("datacenter");
    assert!(rules.validate(&removed, Some(&old)).errors.is_empty());
    new = old.clone();
    new["spec"]["version"] = json!(2);
    assert_eq!(
        causes(&rules.validate(&new, Some(&old)).errors),
        one(
            "FieldValueInvalid",
            "spec.version",
            "Invalid value: 2: may not decrease"
        )
    );
    assert!(
        rules
            .validate(&new, Some(&removed_version(&old)))
            .errors
            .is_empty()
    );
}

fn removed_version(old: &Value) -> Value {
    let mut o = old.clone();
    o["spec"].as_object_mut().unwrap().remove("version");
    o
}

#[test]
fn unchanged_failing_values_are_ratcheted_into_warnings() {
    let rules = Rules::compile(&scaler());
    let old = json!({"metadata": {"name": "s"}, "spec": {"minReplicas": 5, "maxReplicas": 2, "name": "Abc"}});
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"touched": "yes"});
    let out = rules.validate(&new, Some(&old));
    assert!(out.errors.is_empty());
    assert_eq!(
        out.warnings,
        vec![
            "spec: Invalid value: minReplicas must be less than or equal to maxReplicas"
                .to_string(),
            "spec.name: Invalid value: \"Abc\": failed rule: self.matches('^[a-z]+$')".to_string(),
        ]
    );
    new["spec"]["hosts"] = json!(["a"]);
    let out = rules.validate(&new, Some(&old));
    assert_eq!(
        causes(&out.errors),
        one(
            "FieldValueInvalid",
            "spec",
            "Invalid value: minReplicas must be less than or equal to maxReplicas"
        )
    );
    assert_eq!(out.warnings.len(), 1);
}

fn probe(spec_schema: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec_schema}})
}

#[test]
fn crd_rules_that_do_not_compile_are_refused_with_the_servers_text() {
    let cases = [
        (
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.minReplicas <= ", "message": "bad"}], "properties": {"minReplicas": {"type": "integer"}}}),
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule",
            "Invalid value: {\"Rule\":\"self.minReplicas \\u003c= \",\"Message\":\"bad\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:21: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | self.minReplicas <= \n | ....................^",
        ),
        (
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.replicas > 0"}], "properties": {"minReplicas": {"type": "integer"}}}),
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule",
            "Invalid value: {\"Rule\":\"self.replicas \\u003e 0\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:5: undefined field 'replicas'\n | self.replicas > 0\n | ....^",
        ),
        (
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.name > 3"}], "properties": {"name": {"type": "string"}}}),
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule",
            "Invalid value: {\"Rule\":\"self.name \\u003e 3\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:11: found no matching overload for '_>_' applied to '(string, int)'\n | self.name > 3\n | ..........^",
        ),
        (
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.name"}], "properties": {"name": {"type": "string"}}}),
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule",
            "Invalid value: {\"Rule\":\"self.name\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: cel expression must evaluate to a bool",
        ),
    ];
    for (spec, field, message) in cases {
        assert_eq!(
            causes(&crd_errors(&probe(spec.clone()), BASE)),
            one("FieldValueInvalid", field, message),
            "{spec}"
        );
    }
}

const OVER: &str = " (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)";

#[test]
fn rule_costs_are_classified_as_the_server_does() {
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
        probe(json!({"type": "object", "properties": {"groups": o}}))
    };
    let rule = "spec.validation.openAPIV3Schema.properties[spec].properties[groups].x-kubernetes-validations[0].rule";
    assert_eq!(
        causes(&crd_errors(&groups(None, None, None), BASE)),
        vec![
            ("FieldValueForbidden".into(), rule.into(), format!("Forbidden: estimated rule cost exceeds budget by factor of more than 100x{OVER}")),
            ("FieldValueForbidden".into(), rule.into(), "Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema".into()),
            ("FieldValueForbidden".into(), BASE.into(), format!("Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x{OVER}")),
        ]
    );
    assert_eq!(
        causes(&crd_errors(&groups(Some(5000), Some(1000), Some(10)), BASE)),
        one(
            "FieldValueForbidden",
            rule,
            &format!("Forbidden: estimated rule cost exceeds budget by factor of 2.5x{OVER}")
        )
    );
    assert_eq!(
        causes(&crd_errors(&groups(Some(10), Some(10), Some(64)), BASE)),
        vec![]
    );
}

#[test]
fn map_rules_and_message_expressions_are_costed() {
    let peers = |bounded: bool| {
        let mut items = json!({"type": "string"});
        let mut list = json!({"type": "array", "items": items.clone()});
        let mut map = json!({"type": "object", "additionalProperties": list.clone(),
            "x-kubernetes-validations": [{"rule": "self.all(k, self[k].all(x, x != k))"}]});
        if bounded {
            items["maxLength"] = json!(63);
            list = json!({"type": "array", "maxItems": 16, "items": items});
            map["additionalProperties"] = list;
            map["maxProperties"] = json!(16);
        }
        probe(json!({"type": "object", "properties": {"peers": map}}))
    };
    assert_eq!(crd_errors(&peers(false), BASE).len(), 3);
    assert_eq!(causes(&crd_errors(&peers(true), BASE)), vec![]);
    let port = probe(
        json!({"type": "object", "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535,
        "x-kubernetes-validations": [{"rule": "self >= 1024", "messageExpression": "'port ' + string(self) + ' is privileged'"}]}}}),
    );
    let errors = crd_errors(&port, BASE);
    assert_eq!(errors.len(), 3);
    assert!(
        errors[0]
            .field
            .ends_with("x-kubernetes-validations[0].messageExpression")
    );
    assert_eq!(
        errors[0].message,
        format!(
            "Forbidden: estimated messageExpression cost exceeds budget by factor of more than 100x{OVER}"
        )
    );
}

#[test]
fn rule_fields_are_checked() {
    let name = |rule: Value| {
        probe(
            json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 10, "x-kubernetes-validations": [rule]}}}),
        )
    };
    let at = "spec.validation.openAPIV3Schema.properties[spec].properties[name].x-kubernetes-validations[0]";
    assert_eq!(
        causes(&crd_errors(
            &name(json!({"rule": "self != 'x'", "optionalOldSelf": true})),
            BASE
        )),
        one(
            "FieldValueInvalid",
            &format!("{at}.optionalOldSelf"),
            "Invalid value: true: may not be set if oldSelf is not used in rule"
        )
    );
    assert_eq!(
        causes(&crd_errors(&name(json!({"rule": ""})), BASE)),
        one(
            "FieldValueRequired",
            &format!("{at}.rule"),
            "Required value: rule is not specified"
        )
    );
    assert_eq!(
        causes(&crd_errors(
            &name(json!({"rule": "self != 'x'", "messageExpression": "1 + 2"})),
            BASE
        )),
        one(
            "FieldValueInvalid",
            &format!("{at}.messageExpression"),
            "Invalid value: {\"Rule\":\"self != 'x'\",\"Message\":\"\",\"MessageExpression\":\"1 + 2\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: messageExpression must evaluate to a string"
        )
    );
    assert_eq!(
        causes(&crd_errors(
            &name(json!({"rule": "self != 'x'", "reason": "FieldValueBogus"})),
            BASE
        )),
        one(
            "FieldValueNotSupported",
            &format!("{at}.reason"),
            "Unsupported value: \"FieldValueBogus\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
        )
    );
    let ports = probe(
        json!({"type": "object", "properties": {"ports": {"type": "array", "maxItems": 8, "items": {
        "type": "object", "properties": {"port": {"type": "integer"}}, "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port"}]}}}}),
    );
    assert_eq!(
        causes(&crd_errors(&ports, BASE)),
        one(
            "FieldValueInvalid",
            "spec.validation.openAPIV3Schema.properties[spec].properties[ports].items.x-kubernetes-validations[0].rule",
            "Invalid value: \"self.port == oldSelf.port\": oldSelf cannot be used on the uncorrelatable portion of the schema within spec.validation.openAPIV3Schema.properties[spec].properties[ports]"
        )
    );
}

#[test]
fn kubernetes_library_functions_run() {
    let schema = probe(
        json!({"type": "object", "properties": {"xs": {"type": "array", "maxItems": 10, "items": {"type": "integer"},
        "x-kubernetes-validations": [
            {"rule": "self.isSorted()", "message": "sorted"},
            {"rule": "self.sum() < 10 && self.max() < 5 && self.min() >= 0", "message": "sum"},
            {"rule": "self.indexOf(3) != 0", "message": "index"}]},
        "s": {"type": "string", "maxLength": 20, "x-kubernetes-validations": [
            {"rule": "self.find('[0-9]+') == '' && self.lowerAscii() == self", "message": "find"}]}}}),
    );
    assert_eq!(causes(&crd_errors(&schema, BASE)), vec![]);
    let rules = Rules::compile(&schema);
    let out = rules.validate(&json!({"spec": {"xs": [3, 1, 9], "s": "Ab1"}}), None);
    let fields: Vec<String> = out.errors.iter().map(|e| e.message.clone()).collect();
    assert_eq!(
        fields,
        [
            "Invalid value: \"Ab1\": find",
            "Invalid value: sorted",
            "Invalid value: sum",
            "Invalid value: index"
        ]
    );
}

#[test]
fn kubernetes_format_predicates_run() {
    let schema = probe(
        json!({"type": "object", "properties": {"s": {"type": "string", "maxLength": 64,
        "x-kubernetes-validations": [
            {"rule": "isURL(self)", "message": "url"},
            {"rule": "isIP(self)", "message": "ip"},
            {"rule": "isCIDR(self)", "message": "cidr"},
            {"rule": "isQuantity(self)", "message": "quantity"}]}}}),
    );
    assert_eq!(causes(&crd_errors(&schema, BASE)), vec![]);
    let rules = Rules::compile(&schema);
    let failing = |s: &str| -> Vec<String> {
        rules
            .validate(&json!({"spec": {"s": s}}), None)
            .errors
            .iter()
            .map(|e| e.message.rsplit(": ").next().unwrap().to_string())
            .collect()
    };
    assert_eq!(failing("https://example.com/x"), ["ip", "cidr", "quantity"]);
    assert_eq!(failing("10.0.0.1"), ["url", "cidr", "quantity"]);
    assert_eq!(failing("10.0.0.0/8"), ["url", "ip", "quantity"]);
    assert_eq!(failing("500Mi"), ["url", "ip", "cidr"]);
    assert_eq!(failing("01.2.3.4"), ["url", "ip", "cidr", "quantity"]);
}

#[test]
fn property_names_are_escaped_as_kubernetes_does() {
    let schema = probe(json!({"type": "object", "properties": {
        "namespace": {"type": "string"}, "foo-bar": {"type": "string"}, "a.b": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "self.__namespace__ == self.foo__dash__bar", "message": "equal"},
            {"rule": "!has(self.a__dot__b)", "message": "dotted"}]}));
    assert_eq!(causes(&crd_errors(&schema, BASE)), vec![]);
    let rules = Rules::compile(&schema);
    let out = rules.validate(
        &json!({"spec": {"namespace": "x", "foo-bar": "y", "a.b": "z"}}),
        None,
    );
    let messages: Vec<&str> = out.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["Invalid value: equal", "Invalid value: dotted"]);
    let unknown = probe(
        json!({"type": "object", "properties": {"foo-bar": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.foo_bar == ''"}]}),
    );
    assert!(
        crd_errors(&unknown, BASE)[0]
            .message
            .contains("undefined field 'foo_bar'")
    );
}

#[test]
fn root_rules_see_the_resource_with_name_and_generate_name_only() {
    let schema = json!({"type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.metadata.name.startsWith('a') && self.kind == 'Probe'", "message": "root"}],
        "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}}});
    assert_eq!(causes(&crd_errors(&schema, BASE)), vec![]);
    let labels = probe(json!({"type": "object"}));
    let mut with_labels = labels.clone();
    with_labels["x-kubernetes-validations"] = json!([{"rule": "has(self.metadata.labels)"}]);
    assert!(
        crd_errors(&with_labels, BASE)[0]
            .message
            .contains("undefined field 'labels'")
    );
    let rules = Rules::compile(&schema);
    let object = |name: &str| json!({"kind": "Probe", "metadata": {"name": name, "labels": {"a": "b"}}, "spec": {}});
    assert!(rules.validate(&object("abc"), None).errors.is_empty());
    assert_eq!(
        causes(&rules.validate(&object("xyz"), None).errors),
        one("FieldValueInvalid", "<nil>", "Invalid value: root")
    );
}
