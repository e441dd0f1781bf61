//! events.k8s.io/v1 Events: a view of the stored core/v1 Events with renamed fields and their
//! own validation.

use k8s_openapi::api::events::v1 as events;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

use super::{Definition, KindStrategy, time_fields_error};
use crate::protobuf::{self, Message};
use crate::registry::View;
use crate::ssa::builtin::{self, GoStruct};
use crate::status::Cause;
use crate::table::Printer;

pub struct EventsV1;

impl KindStrategy for EventsV1 {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["ev"],
            extra_field_selectors: &[
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "reason",
                "reportingController",
                "type",
            ],
            view: View::EventsV1,
            store: Some("/events"),
            ..Definition::namespaced("events.k8s.io", "v1", "Event", "events")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::EVENTS_V1_EVENT)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&protobuf::EVENTS_V1_EVENT)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<events::Event>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::events_v1())
    }
    fn decode_checks(&self, obj: &Value) -> Result<(), String> {
        time_fields_error(
            obj,
            &["/eventTime", "/series/lastObservedTime"],
            &["/deprecatedFirstTimestamp", "/deprecatedLastTimestamp"],
        )
    }
    fn to_stored(&self, obj: Value) -> Value {
        from_v1(&obj)
    }
    fn present(&self, stored: &Value) -> Value {
        to_v1(stored)
    }
    fn validate(&self, obj: &Value, _: Option<&Value>) -> Vec<Cause> {
        let mut causes = Vec::new();
        let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
        if obj.get("eventTime").is_none_or(Value::is_null) {
            causes.push(Cause::required("eventTime", ""));
        }
        for field in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
        ] {
            if s(field).is_empty() {
                causes.push(Cause::required(field, ""));
            }
        }
        let ty = s("type");
        if ty != "Normal" && ty != "Warning" {
            causes.push(Cause::not_supported("type", ty, &["Normal", "Warning"]));
        }
        causes
    }
}

/// (events.k8s.io/v1 name, core/v1 name) of the fields whose names differ.
const RENAMES: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// The fields of an object, renamed by `RENAMES` read as (from, to) through `direction`.
fn renamed(
    obj: &Value,
    direction: fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Option<Map<String, Value>> {
    let src = obj.as_object()?;
    let mut out = Map::new();
    for (k, v) in src {
        let name = RENAMES
            .iter()
            .map(|names| direction(*names))
            .find(|(from, _)| from == k)
            .map(|(_, to)| to)
            .unwrap_or(k.as_str());
        out.insert(name.to_string(), v.clone());
    }
    Some(out)
}

/// A stored core/v1 Event as events.k8s.io/v1 shows it.
pub fn to_v1(core: &Value) -> Value {
    let Some(mut out) = renamed(core, |(v1, core)| (core, v1)) else {
        return core.clone();
    };
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    for empty_dropped in ["reportingController", "reportingInstance", "note", "action"] {
        if out
            .get(empty_dropped)
            .is_some_and(|v| v.as_str() == Some(""))
        {
            out.remove(empty_dropped);
        }
    }
    if out
        .get("deprecatedCount")
        .is_some_and(|v| v.as_i64() == Some(0))
    {
        out.remove("deprecatedCount");
    }
    out.entry("eventTime").or_insert(Value::Null);
    out.entry("deprecatedSource").or_insert_with(|| json!({}));
    out.entry("deprecatedFirstTimestamp").or_insert(Value::Null);
    out.entry("deprecatedLastTimestamp").or_insert(Value::Null);
    Value::Object(out)
}

/// An events.k8s.io/v1 Event in its stored core/v1 form.
pub fn from_v1(v1: &Value) -> Value {
    let Some(mut out) = renamed(v1, |names| names) else {
        return v1.clone();
    };
    out.insert("apiVersion".into(), json!("v1"));
    let mut value = Value::Object(out);
    super::event::normalize(&mut value);
    value
}
