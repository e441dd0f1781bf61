//! Deployments (apps/v1): their defaults, the first rules of `ValidateDeploymentSpec`, and the
//! `status: {}` Go always writes.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy, zero_status};
use crate::ssa::builtin::GoStruct;
use crate::status::Cause;
use crate::table::{Printer, workloads};

pub struct Deployment;

impl KindStrategy for Deployment {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["deploy"],
            categories: &["all"],
            status_subresource: true,
            has_generation: true,
            // Its annotations are copied to ReplicaSets.
            annotations_bump_generation: true,
            ..Definition::namespaced("apps", "v1", "Deployment", "deployments")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct("apps", "Deployment")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<apps::Deployment>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(workloads::deployment())
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        crate::defaults::deployment(obj);
        zero_status(obj, json!({}));
    }
    fn validate(&self, obj: &Value, _: Option<&Value>) -> Vec<Cause> {
        deployment_causes(obj)
    }
}

/// The first rules of `ValidateDeploymentSpec`: replicas, a selector that selects the pod
/// template's labels, containers with names and images. (The rest of pod validation is not
/// done; see the README.)
fn deployment_causes(d: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(replicas) = d.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            &json!(replicas),
            "must be greater than or equal to 0",
        ));
    }
    let selector = d.pointer("/spec/selector").filter(|s| s.is_object());
    if selector.is_none() {
        causes.push(Cause::required("spec.selector", ""));
    }
    let labels = d
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    // A missing selector selects nothing, so the template's labels do not match it either.
    if !selector.is_some_and(|s| crate::selectors::selects(s, labels)) {
        let shown = match labels {
            None => "map[string]string(nil)".to_string(),
            Some(l) => {
                let pairs: Vec<String> = l
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
                    .collect();
                format!("map[string]string{{{}}}", pairs.join(", "))
            }
        };
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            format!("Invalid value: {shown}: `selector` does not match template `labels`"),
        ));
    }
    let containers = d
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if containers.is_empty() {
        causes.push(Cause::required("spec.template.spec.containers", ""));
    }
    for (i, c) in containers.iter().enumerate() {
        for field in ["name", "image"] {
            if c.get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(Cause::required(
                    &format!("spec.template.spec.containers[{i}].{field}"),
                    "",
                ));
            }
        }
    }
    causes
}
