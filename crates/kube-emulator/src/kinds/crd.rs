//! CustomResourceDefinitions (apiextensions.k8s.io/v1): their defaults and initial status, the
//! checks of the definition itself, the status the apiextensions controllers write.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy};
use crate::ssa::builtin::{self, GoStruct};
use crate::status::Cause;

pub struct CustomResourceDefinition;

impl KindStrategy for CustomResourceDefinition {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["crd", "crds"],
            categories: &["api-extensions"],
            status_subresource: true,
            has_generation: true,
            unconditional_update: false,
            ..Definition::cluster(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
            )
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::CUSTOM_RESOURCE_DEFINITION)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<apiextensions::CustomResourceDefinition>(generator)
    }
    fn prepare(&self, obj: &mut Value, old: Option<&Value>, _: &Admission) {
        normalize_crd(obj, old);
    }
    fn validate(&self, obj: &Value, _: Option<&Value>) -> Vec<Cause> {
        crd_causes(obj)
    }
}

fn normalize_crd(obj: &mut Value, old: Option<&Value>) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !spec.contains_key("conversion") {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if names
            .get("singular")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    let storage: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    if old.is_none() {
        obj["status"] = json!({
            "conditions": null,
            "acceptedNames": {"plural": "", "kind": ""},
            "storedVersions": storage,
        });
    }
}

/// The CRD status the apiextensions controllers write right after creation.
pub fn established_status(crd: &Value, now: &str) -> Value {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored = crd
        .pointer("/status/storedVersions")
        .cloned()
        .unwrap_or(json!([]));
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    })
}

/// The Terminating condition a CRD gets when deleted.
pub fn terminating_condition(now: &str) -> Value {
    json!({"type": "Terminating", "status": "True", "lastTransitionTime": now, "reason": "InstanceDeletionPending", "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"})
}

/// `ValidateCustomResourceDefinition`'s rules the emulator applies: names and scope, then the
/// versions.
fn crd_causes(crd: &Value) -> Vec<Cause> {
    let mut causes = name_causes(crd);
    causes.extend(version_causes(crd));
    causes
}

/// The CRD's name, group, scope, plural and kind.
fn name_causes(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = s("/metadata/name");
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    if !name.is_empty()
        && !group.is_empty()
        && !plural.is_empty()
        && name != format!("{plural}.{group}")
    {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        causes.push(Cause::required("spec.group", ""));
    } else if !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    match s("/spec/scope").as_str() {
        "Cluster" | "Namespaced" => {}
        "" => causes.push(Cause::required("spec.scope", "")),
        other => causes.push(Cause::not_supported(
            "spec.scope",
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural", ""));
    } else {
        for m in crate::validation::name_errors(&plural, crate::validation::NameRule::Label) {
            causes.push(Cause::invalid("spec.names.plural", &json!(plural), &m));
        }
    }
    if s("/spec/names/kind").is_empty() {
        causes.push(Cause::required("spec.names.kind", ""));
    }
    causes
}

/// Exactly one storage version; each version named, with a schema that compiles (and CEL
/// rules that do).
fn version_causes(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .count();
        if storage != 1 {
            causes.push(Cause::invalid(
                "spec.versions",
                &Value::Array(versions.clone()),
                "must have exactly one version marked as storage version",
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if v.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(Cause::required(&format!("spec.versions[{i}].name"), ""));
            }
            match v.pointer("/schema/openAPIV3Schema") {
                None => causes.push(Cause::required(
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "schemas are required",
                )),
                Some(schema) => {
                    if let Err(e) = crate::ext::Schema::compile(schema) {
                        causes.push(Cause::invalid(
                            &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                            &json!("..."),
                            &e,
                        ));
                    }
                }
            }
        }
        causes.extend(crate::ext::crd_rule_causes(&versions));
    }
    causes
}
