//! Checks against the real server's bodies in spec/kube-api/error-bodies.md §5-§6 and
//! semantics.md §5 (the scratch `gadgets.demo.example.com` CRD), plus the keywords the spec did
//! not capture, with messages taken from kube-openapi / apimachinery.

use serde_json::{Value, json};

use super::*;

/// The `openAPIV3Schema` of the scratch Gadget CRD (kubectl-traces.md §1).
fn gadget() -> Schema {
    Schema::compile(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red"},
                    "note": {"type": "string"}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "conditions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["type", "status"],
                            "properties": {
                                "type": {"type": "string"},
                                "status": {"type": "string"},
                                "reason": {"type": "string"},
                                "message": {"type": "string"},
                                "lastTransitionTime": {"type": "string", "format": "date-time"}
                            }
                        }
                    }
                }
            }
        }
    }))
    .expect("the Gadget schema compiles")
}

fn gadget_with_spec(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec})
}

/// Runs the create path (prune, default, validate) and returns the causes and the message.
fn create(object: Value) -> (Vec<FieldError>, String) {
    let schema = gadget();
    let mut object = object;
    schema.prune(&mut object);
    schema.apply_defaults(&mut object);
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let causes = schema.validate(&object);
    let message = invalid_message("Gadget.demo.example.com", &name, &causes);
    (causes, message)
}

fn cause(reason: &str, field: &str, message: &str) -> FieldError {
    FieldError {
        reason: reason.into(),
        field: field.into(),
        message: message.into(),
    }
}

#[test]
fn missing_required_size() {
    let (causes, message) = create(gadget_with_spec("bad1", json!({"color": "red"})));
    assert_eq!(
        causes,
        vec![cause("FieldValueRequired", "spec.size", "Required value")]
    );
    assert_eq!(
        message,
        "Gadget.demo.example.com \"bad1\" is invalid: spec.size: Required value"
    );
}

#[test]
fn enum_violation() {
    let (causes, message) = create(gadget_with_spec(
        "bad2",
        json!({"size": 2, "color": "purple"}),
    ));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueNotSupported",
            "spec.color",
            "Unsupported value: \"purple\": supported values: \"red\", \"green\", \"blue\""
        )]
    );
    assert_eq!(
        message,
        "Gadget.demo.example.com \"bad2\" is invalid: spec.color: Unsupported value: \"purple\": supported values: \"red\", \"green\", \"blue\""
    );
}

#[test]
fn maximum_and_minimum_violations() {
    let (causes, message) = create(gadget_with_spec("bad3", json!({"size": 11})));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueInvalid",
            "spec.size",
            "Invalid value: 11: spec.size in body should be less than or equal to 10"
        )]
    );
    assert_eq!(
        message,
        "Gadget.demo.example.com \"bad3\" is invalid: spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"
    );
    let (causes, _) = create(gadget_with_spec("bad3", json!({"size": 0})));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueInvalid",
            "spec.size",
            "Invalid value: 0: spec.size in body should be greater than or equal to 1"
        )]
    );
}

#[test]
fn wrong_type() {
    let (causes, message) = create(gadget_with_spec("bad4", json!({"size": "three"})));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueTypeInvalid",
            "spec.size",
            "Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
        )]
    );
    assert_eq!(
        message,
        "Gadget.demo.example.com \"bad4\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
    );
}

#[test]
fn several_violations_in_the_captured_order() {
    let (causes, message) = create(gadget_with_spec(
        "bad5",
        json!({"size": "x", "color": "pink"}),
    ));
    assert_eq!(
        causes,
        vec![
            cause(
                "FieldValueTypeInvalid",
                "spec.size",
                "Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
            ),
            cause(
                "FieldValueNotSupported",
                "spec.color",
                "Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\""
            ),
        ]
    );
    assert_eq!(
        message,
        "Gadget.demo.example.com \"bad5\" is invalid: [spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\", spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\"]"
    );
}

#[test]
fn spec_of_the_wrong_type() {
    let (causes, message) = create(gadget_with_spec("bad5", json!("notanobject")));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueTypeInvalid",
            "spec",
            "Invalid value: \"string\": spec in body must be of type object: \"string\""
        )]
    );
    assert_eq!(
        message,
        "Gadget.demo.example.com \"bad5\" is invalid: spec: Invalid value: \"string\": spec in body must be of type object: \"string\""
    );
}

#[test]
fn status_condition_missing_required_status() {
    let schema = gadget();
    let object = json!({
        "apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "ssa1"},
        "spec": {"size": 2, "color": "red"},
        "status": {"conditions": [{"type": "Ready"}]}
    });
    let expected = vec![cause(
        "FieldValueRequired",
        "status.conditions[0].status",
        "Required value",
    )];
    assert_eq!(schema.validate_status(&object, None), expected);
    assert_eq!(schema.validate(&object), expected);
    assert_eq!(
        invalid_message("Gadget.demo.example.com", "ssa1", &expected),
        "Gadget.demo.example.com \"ssa1\" is invalid: status.conditions[0].status: Required value"
    );
}

#[test]
fn status_validator_ignores_spec_and_reports_relative_messages() {
    let schema = gadget();
    let object = json!({"spec": {"size": 99}, "status": {"observedGeneration": "two"}});
    assert_eq!(
        schema.validate_status(&object, None),
        vec![cause(
            "FieldValueTypeInvalid",
            "status.observedGeneration",
            "Invalid value: \"string\": observedGeneration in body must be of type integer: \"string\""
        )]
    );
}

#[test]
fn unknown_fields_are_pruned_with_metadata_first() {
    let schema = gadget();
    let mut object = json!({
        "apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "strict1", "extra": "x"},
        "spec": {"size": 2, "bogus": 1}
    });
    let unknown = schema.prune(&mut object);
    assert_eq!(unknown, vec!["metadata.extra", "spec.bogus"]);
    let errors: Vec<String> = unknown.iter().map(|p| unknown_field_error(p)).collect();
    assert_eq!(
        strict_decoding_message("Gadget", "v1", &errors),
        "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: unknown field \"metadata.extra\", unknown field \"spec.bogus\""
    );
    assert_eq!(object["metadata"], json!({"name": "strict1"}));
    assert_eq!(object["spec"], json!({"size": 2}));
}

#[test]
fn warning_header_for_an_unknown_field() {
    assert_eq!(
        warning_header(&unknown_field_error("spec.bogus")),
        "299 - \"unknown field \\\"spec.bogus\\\"\""
    );
}

#[test]
fn defaulting_and_pruning_on_create() {
    let schema = gadget();
    let mut object = json!({
        "apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "def1", "labels": {"l": "1"}},
        "spec": {"size": 2, "extraField": "dropped"},
        "topLevelExtra": 1
    });
    let unknown = schema.prune(&mut object);
    schema.apply_defaults(&mut object);
    assert_eq!(unknown, vec!["spec.extraField", "topLevelExtra"]);
    assert_eq!(
        object,
        json!({
            "apiVersion": "demo.example.com/v1", "kind": "Gadget",
            "metadata": {"name": "def1", "labels": {"l": "1"}},
            "spec": {"color": "red", "size": 2}
        })
    );
    assert!(schema.validate(&object).is_empty());
}

#[test]
fn null_defaulted_field_is_defaulted_again_and_other_nulls_dropped() {
    let schema = gadget();
    let mut object = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "def1"}, "spec": {"size": 2, "color": null, "note": null}});
    assert!(schema.prune(&mut object).is_empty());
    schema.apply_defaults(&mut object);
    assert_eq!(object["spec"], json!({"size": 2, "color": "red"}));
}

fn compile(schema: Value) -> Schema {
    Schema::compile(&schema).expect("schema compiles")
}

fn causes_of(schema: &Schema, spec: Value) -> Vec<(String, String, String)> {
    schema
        .validate(&json!({"spec": spec}))
        .into_iter()
        .map(|c| (c.reason, c.field, c.message))
        .collect()
}

fn one(reason: &str, field: &str, message: &str) -> Vec<(String, String, String)> {
    vec![(reason.into(), field.into(), message.into())]
}

fn spec_schema(properties: Value) -> Schema {
    compile(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}),
    )
}

#[test]
fn string_limits_pattern_and_format() {
    let s = spec_schema(json!({
        "name": {"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^[a-z]+$"},
        "when": {"type": "string", "format": "date-time"},
        "odd": {"type": "string", "format": "not-a-known-format"}
    }));
    assert_eq!(
        causes_of(&s, json!({"name": "toolongname"})),
        one(
            "FieldValueTooLong",
            "spec.name",
            "Too long: may not be more than 5 bytes"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"name": "a"})),
        one(
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"a\": spec.name in body should be at least 2 chars long"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"name": "AB"})),
        one(
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"when": "yesterday"})),
        one(
            "FieldValueTypeInvalid",
            "spec.when",
            "Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\""
        )
    );
    assert!(
        causes_of(
            &s,
            json!({"when": "2026-11-28T07:03:08Z", "odd": "anything"})
        )
        .is_empty()
    );
}

#[test]
fn numeric_limits() {
    let s = spec_schema(json!({
        "ex": {"type": "integer", "minimum": 1, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true},
        "ratio": {"type": "number", "maximum": 1.5},
        "step": {"type": "integer", "multipleOf": 5},
        "small": {"type": "integer", "format": "int32"}
    }));
    assert_eq!(
        causes_of(&s, json!({"ex": 1})),
        one(
            "FieldValueInvalid",
            "spec.ex",
            "Invalid value: 1: spec.ex in body should be greater than 1"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"ex": 5})),
        one(
            "FieldValueInvalid",
            "spec.ex",
            "Invalid value: 5: spec.ex in body should be less than 5"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"ratio": 2.25})),
        one(
            "FieldValueInvalid",
            "spec.ratio",
            "Invalid value: 2.25: spec.ratio in body should be less than or equal to 1.5"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"step": 7})),
        one(
            "FieldValueInvalid",
            "spec.step",
            "Invalid value: 7: spec.step in body should be a multiple of 5"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"small": 3_000_000_000_i64})),
        one(
            "FieldValueInvalid",
            "<nil>",
            "Invalid value: \"\": Checked value must be of type integer with format int32 in spec.small"
        )
    );
    // A float with an integral value passes as an integer, as in Go.
    assert!(causes_of(&s, json!({"step": 10.0})).is_empty());
}

#[test]
fn array_and_object_limits() {
    let s = spec_schema(json!({
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3, "uniqueItems": true},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2, "minProperties": 1},
        "closed": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}
    }));
    assert_eq!(
        causes_of(&s, json!({"tags": ["a"]})),
        one(
            "FieldValueInvalid",
            "spec.tags",
            "Invalid value: 1: spec.tags in body should have at least 2 items"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"tags": ["a", "b", "c", "d"]})),
        one(
            "FieldValueTooMany",
            "spec.tags",
            "Too many: 4: must have at most 3 items"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"tags": ["a", "a"]})),
        one(
            "FieldValueInvalid",
            "spec.tags",
            "Invalid value: \"\": spec.tags in body shouldn't contain duplicates"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"tags": ["a", 3]})),
        one(
            "FieldValueTypeInvalid",
            "spec.tags[1]",
            "Invalid value: \"integer\": spec.tags[1] in body must be of type string: \"integer\""
        )
    );
    assert_eq!(
        causes_of(&s, json!({"labels": {"a": "1", "b": "2", "c": "3"}})),
        one(
            "FieldValueTooMany",
            "spec.labels",
            "Too many: 3: must have at most 2 items"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"labels": {}})),
        one(
            "FieldValueInvalid",
            "spec.labels",
            "Invalid value: 0: spec.labels in body should have at least 1 properties"
        )
    );
    assert_eq!(
        causes_of(&s, json!({"labels": {"x": 1}})),
        one(
            "FieldValueTypeInvalid",
            "spec.labels.x",
            "Invalid value: \"integer\": spec.labels.x in body must be of type string: \"integer\""
        )
    );
    assert_eq!(
        causes_of(&s, json!({"closed": {"a": "x", "b": "y"}})),
        one(
            "FieldValueInvalid",
            "spec.closed",
            "Invalid value: \"b\": spec.closed.b in body is a forbidden property"
        )
    );
}

#[test]
fn nullable_int_or_string_and_non_string_enums() {
    let s = spec_schema(json!({
        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "maybe": {"type": "string", "nullable": true},
        "level": {"type": "integer", "enum": [1, 2]},
        "items": {"type": "array", "items": {"type": "string"}}
    }));
    assert!(causes_of(&s, json!({"port": 80})).is_empty());
    assert!(causes_of(&s, json!({"port": "http"})).is_empty());
    assert!(causes_of(&s, json!({"maybe": null})).is_empty());
    let bad_port = causes_of(&s, json!({"port": true}));
    assert_eq!(
        bad_port[0],
        (
            "FieldValueTypeInvalid".to_string(),
            "spec.port".to_string(),
            "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"".to_string()
        )
    );
    assert_eq!(
        bad_port[1],
        (
            "FieldValueInvalid".to_string(),
            "<nil>".to_string(),
            "Invalid value: \"\": \"spec.port\" must validate at least one schema (anyOf)"
                .to_string()
        )
    );
    assert_eq!(
        causes_of(&s, json!({"level": 3})),
        one(
            "FieldValueNotSupported",
            "spec.level",
            "Unsupported value: 3: supported values: \"1\", \"2\""
        )
    );
    assert_eq!(
        causes_of(&s, json!({"items": [null]})),
        one(
            "FieldValueTypeInvalid",
            "spec.items[0]",
            "Invalid value: \"null\": spec.items[0] in body must be of type string: \"null\""
        )
    );
}

#[test]
fn list_type_set_and_map_uniqueness() {
    let s = spec_schema(json!({
        "set": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
    }));
    assert_eq!(
        causes_of(&s, json!({"set": ["a", "b", "a"]})),
        one(
            "FieldValueDuplicate",
            "spec.set[2]",
            "Duplicate value: \"a\""
        )
    );
    assert_eq!(
        causes_of(
            &s,
            json!({"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]})
        ),
        one(
            "FieldValueDuplicate",
            "spec.ports[1]",
            "Duplicate value: {\"name\":\"http\"}"
        )
    );
}

#[test]
fn preserve_unknown_fields_and_embedded_resources() {
    let s = compile(json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
                }
            }
        }
    }));
    let mut object = json!({"spec": {
        "free": {"anything": {"goes": 1}, "known": {"a": "x", "b": "pruned"}},
        "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t", "junk": 1},
            "spec": {"x": "y", "z": 1}}
    }});
    let unknown = s.prune(&mut object);
    assert_eq!(
        unknown,
        vec![
            "spec.free.known.b",
            "spec.template.spec.z",
            "spec.template.metadata.junk"
        ]
    );
    assert_eq!(object["spec"]["free"]["anything"], json!({"goes": 1}));
    assert_eq!(object["spec"]["template"]["metadata"], json!({"name": "t"}));
    let missing = json!({"spec": {"template": {"spec": {"x": "y"}}}});
    assert_eq!(
        s.validate(&missing),
        vec![
            cause(
                "FieldValueRequired",
                "spec.template.apiVersion",
                "Required value"
            ),
            cause("FieldValueRequired", "spec.template.kind", "Required value"),
        ]
    );
}

#[test]
fn defaults_inside_items_and_maps_are_applied_and_pruned() {
    let s = spec_schema(json!({
        "rules": {"type": "array", "items": {"type": "object",
            "properties": {"action": {"type": "string", "default": "allow"}}}},
        "limits": {"type": "object", "additionalProperties": {"type": "object",
            "properties": {"max": {"type": "integer", "default": 3}}}},
        "obj": {"type": "object", "default": {"a": 1, "unknown": 2}, "properties": {"a": {"type": "integer"}}}
    }));
    let mut object = json!({"spec": {"rules": [{}, {"action": "deny"}], "limits": {"cpu": {}}}});
    s.apply_defaults(&mut object);
    assert_eq!(
        object["spec"],
        json!({"rules": [{"action": "allow"}, {"action": "deny"}], "limits": {"cpu": {"max": 3}}, "obj": {"a": 1}})
    );
}

#[test]
fn update_ratchets_unchanged_invalid_values() {
    let s = gadget();
    let old = gadget_with_spec("g", json!({"size": 50, "color": "red"}));
    let unchanged = gadget_with_spec("g", json!({"size": 50, "color": "blue"}));
    assert!(s.validate_update(&unchanged, &old).is_empty());
    let changed = gadget_with_spec("g", json!({"size": 60, "color": "red"}));
    assert_eq!(s.validate_update(&changed, &old).len(), 1);
    assert_eq!(s.validate(&unchanged).len(), 1);
}

#[test]
fn duplicate_causes_collapse_in_the_message() {
    let a = FieldError::required("spec.a");
    let b = FieldError::required("spec.b");
    assert_eq!(
        invalid_message("Widget.x.io", "w", &[a.clone(), a.clone()]),
        "Widget.x.io \"w\" is invalid: spec.a: Required value"
    );
    assert_eq!(
        invalid_message("Widget.x.io", "w", &[a, b]),
        "Widget.x.io \"w\" is invalid: [spec.a: Required value, spec.b: Required value]"
    );
    assert_eq!(
        invalid_message("Widget.x.io", "w", &[]),
        "Widget.x.io \"w\" is invalid"
    );
}

#[test]
fn strict_patch_error_names_the_patch() {
    let e = strict_patch_error("{\"spec\":{}}", &[unknown_field_error("spec.bogus")]);
    assert_eq!(e.field, "patch");
    assert_eq!(
        e.message,
        "Invalid value: \"{\\\"spec\\\":{}}\": strict decoding error: unknown field \"spec.bogus\""
    );
}

#[test]
fn bad_schemas_are_refused() {
    assert!(Schema::compile(&json!("not a schema")).is_err());
    assert!(Schema::compile(&json!({"type": 3})).is_err());
    assert!(Schema::compile(&json!({"properties": {"a": {"maxLength": "x"}}})).is_err());
}
