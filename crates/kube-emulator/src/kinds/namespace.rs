//! Namespaces (core/v1): the `kubernetes.io/metadata.name` label, the `kubernetes` finalizer
//! and `Active` phase of a new namespace, the `finalize` subresource.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy, Subresource};
use crate::protobuf::{self, Message};
use crate::ssa::builtin::{self, GoStruct};
use crate::table::{self, Printer};
use crate::validation::NameRule;

pub struct Namespace;

impl KindStrategy for Namespace {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["ns"],
            status_subresource: true,
            name_rule: NameRule::Label,
            extra_field_selectors: &["status.phase"],
            delete_collection: false,
            ..Definition::cluster("", "v1", "Namespace", "namespaces")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::NAMESPACE)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&protobuf::NAMESPACE)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<core::Namespace>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::new(vec![
            table::name_column(),
            table::text_column("Status", "The status of the namespace", |o, _| {
                table::str_at(o, &["status", "phase"])
            }),
            table::age_column(),
        ]))
    }
    fn subresources(&self) -> &'static [Subresource] {
        &[Subresource {
            name: "finalize",
            verbs: &["update"],
            response_kind: None,
        }]
    }
    fn prepare(&self, obj: &mut Value, old: Option<&Value>, _: &Admission) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !obj
            .pointer("/metadata/labels")
            .is_some_and(Value::is_object)
        {
            obj["metadata"]["labels"] = json!({});
        }
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        if old.is_none() {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
    }
}
