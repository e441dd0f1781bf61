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
    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
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
        // The server validates its internal (core) Event, so the note is `message` here.
        if s("note").len() > NOTE_LENGTH_LIMIT {
            let detail = format!("can have at most {NOTE_LENGTH_LIMIT} characters");
            causes.push(Cause::invalid("message", &json!(""), &detail));
        }
        causes.extend(series_causes(obj));
        if let Some(old) = old {
            causes.extend(immutable_causes(obj, &to_v1(old)));
        }
        causes
    }
}

/// The most bytes a note may have.
const NOTE_LENGTH_LIMIT: usize = 1024;

/// A series counts at least two and says when it was last seen.
fn series_causes(obj: &Value) -> Vec<Cause> {
    let Some(series) = obj.get("series").filter(|s| !s.is_null()) else {
        return Vec::new();
    };
    let mut causes = Vec::new();
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        causes.push(Cause::invalid(
            "series.count",
            &json!(""),
            "should be at least 2",
        ));
    }
    if series.get("lastObservedTime").is_none_or(Value::is_null) {
        causes.push(Cause::required("series.lastObservedTime", ""));
    }
    causes
}

/// (events.k8s.io/v1 name, the internal name errors use) of the fields an update through
/// events.k8s.io/v1 may not change; the note and the series may change.
const IMMUTABLE: [(&str, &str); 8] = [
    ("regarding", "involvedObject"),
    ("reason", "reason"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("action", "action"),
    ("related", "related"),
    ("reportingController", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

fn immutable_causes(new: &Value, old: &Value) -> Vec<Cause> {
    let field = |obj: &Value, name: &str| obj.get(name).cloned().unwrap_or(Value::Null);
    IMMUTABLE
        .iter()
        .filter(|(name, _)| field(new, name) != field(old, name))
        .map(|(name, path)| Cause::invalid(path, &field(new, name), "field is immutable"))
        .collect()
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
