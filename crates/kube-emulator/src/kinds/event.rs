//! Events (core/v1), which events.k8s.io/v1 Events ([`super::events_v1`]) share storage with.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy, time_fields_error};
use crate::protobuf::{self, Message};
use crate::ssa::builtin::{self, GoStruct};
use crate::table::Printer;

pub struct Event;

impl KindStrategy for Event {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["ev"],
            extra_field_selectors: &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            ..Definition::namespaced("", "v1", "Event", "events")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::EVENT)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&protobuf::EVENT)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<core::Event>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::core_events())
    }
    fn decode_checks(&self, obj: &Value) -> Result<(), String> {
        time_fields_error(
            obj,
            &["/eventTime", "/series/lastObservedTime"],
            &["/firstTimestamp", "/lastTimestamp"],
        )
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        normalize(obj);
    }
}

/// The fields a core/v1 Event always serializes.
pub(super) fn normalize(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    o.entry("involvedObject").or_insert_with(|| json!({}));
    o.entry("source").or_insert_with(|| json!({}));
    o.entry("firstTimestamp").or_insert(Value::Null);
    o.entry("lastTimestamp").or_insert(Value::Null);
    o.entry("eventTime").or_insert(Value::Null);
    o.entry("reportingComponent").or_insert_with(|| json!(""));
    o.entry("reportingInstance").or_insert_with(|| json!(""));
}
