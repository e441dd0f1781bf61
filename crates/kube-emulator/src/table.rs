//! `meta.k8s.io/v1` Table responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`),
//! as `kubectl get` asks for them: the real server's columns for the built-in kinds (its
//! printers always run "wide"; kubectl hides `priority > 0` columns unless `-o wide`), and for
//! custom resources `Name` plus the CRD's `additionalPrinterColumns` evaluated as Kubernetes
//! JSONPath (or `Age` when the CRD declares none). Ages are rendered by the server, like
//! `"5s"`/`"14m"`; the CRD kind itself prints `Created At` as an RFC 3339 timestamp.

use std::sync::LazyLock;
use std::time::SystemTime;

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::resource::{PrinterColumn, ResourceKind};

/// `?includeObject=`: what each row's `object` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `"object": null`.
    None,
    /// A `PartialObjectMetadata` (what kubectl asks for by default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter; `None` for a value the server refuses with 400
    /// (`unrecognized includeObject value: "<v>"`).
    pub fn parse(value: Option<&str>) -> Option<IncludeObject> {
        match value.unwrap_or("") {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// A Table of `objects` (already filtered and ordered) of `kind`. Only the first event of a
/// watch carries column definitions (`with_column_definitions = false` gives
/// `"columnDefinitions": null`, as the server does). Add `remainingItemCount` to `metadata`
/// yourself when the list has one.
pub fn table(
    kind: &ResourceKind,
    objects: &[Value],
    with_column_definitions: bool,
    include_object: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    table_at(
        kind,
        objects,
        with_column_definitions,
        include_object,
        resource_version,
        continue_token,
        SystemTime::now(),
    )
}

/// [`table`] with ages computed against `now`.
pub fn table_at(
    kind: &ResourceKind,
    objects: &[Value],
    with_column_definitions: bool,
    include_object: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
    now: SystemTime,
) -> Value {
    let printer = Printer::for_kind(kind);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": printer.cells(o, now),
                "object": row_object(o, include_object),
            })
        })
        .collect();
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), resource_version.into());
    }
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".into(), token.into());
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": if with_column_definitions { Value::Array(printer.columns.iter().map(Column::definition).collect()) } else { Value::Null },
        "rows": rows,
    })
}

fn row_object(object: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => object.clone(),
        IncludeObject::Metadata => {
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            })
        }
    }
}

/// One column definition plus how its cell is computed.
pub(crate) struct Column {
    name: String,
    type_: String,
    format: String,
    description: String,
    priority: i32,
    cell: Cell,
}

enum Cell {
    Name,
    /// An age from a timestamp field of the object (`translateTimestampSince`).
    AgeOf(&'static [&'static str]),
    /// `creationTimestamp` as RFC 3339 (the default table convertor).
    CreatedAt,
    /// A CRD column: its JSONPath, or `None` when it did not parse.
    Path(Box<JpQuery>),
    Builtin(fn(&Value, SystemTime) -> Value),
    /// A cell of the Event printer, which computes the whole row at once.
    Event,
}

impl Column {
    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// A kind's table convertor: its columns and how each row is computed.
pub(crate) struct Printer {
    columns: Vec<Column>,
    /// Events: which API group's field names the objects use.
    event_shape: Option<EventShape>,
}

#[derive(Clone, Copy)]
enum EventShape {
    Core,
    EventsV1,
}

/// Descriptions the real printers take from the API types' documentation.
struct Docs {
    name: String,
    creation_timestamp: String,
    event: Map<String, Value>,
    field_path: String,
}

pub(crate) fn properties_of<T: JsonSchema>() -> Map<String, Value> {
    let schema = SchemaGenerator::default().into_root_schema_for::<T>();
    schema
        .as_value()
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn description(props: &Map<String, Value>, field: &str) -> String {
    props
        .get(field)
        .and_then(|p| p.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

static DOCS: LazyLock<Docs> = LazyLock::new(|| {
    use k8s_openapi::api::core::v1::{Event, ObjectReference};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let meta = properties_of::<ObjectMeta>();
    Docs {
        name: description(&meta, "name"),
        creation_timestamp: description(&meta, "creationTimestamp"),
        event: properties_of::<Event>(),
        field_path: description(&properties_of::<ObjectReference>(), "fieldPath"),
    }
});

fn column(
    name: &str,
    type_: &str,
    format: &str,
    description: &str,
    priority: i32,
    cell: Cell,
) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: format.into(),
        description: description.into(),
        priority,
        cell,
    }
}

/// The description of one field of an API type, as the printers take it from its documentation.
pub(crate) fn description_of<T: JsonSchema>(field: &str) -> String {
    description(&properties_of::<T>(), field)
}

/// The `Name` column every printer starts with.
pub(crate) fn name_column() -> Column {
    column("Name", "string", "name", &DOCS.name, 0, Cell::Name)
}

/// The `Age` column (from `creationTimestamp`).
pub(crate) fn age_column() -> Column {
    column(
        "Age",
        "string",
        "",
        &DOCS.creation_timestamp,
        0,
        Cell::AgeOf(&["metadata", "creationTimestamp"]),
    )
}

/// A string column (shown without `-o wide`) computed from the object.
pub(crate) fn text_column(
    name: &str,
    description: &str,
    cell: fn(&Value, SystemTime) -> Value,
) -> Column {
    column(name, "string", "", description, 0, Cell::Builtin(cell))
}

impl Printer {
    /// A printer of these columns.
    pub(crate) fn new(columns: Vec<Column>) -> Printer {
        Printer {
            columns,
            event_shape: None,
        }
    }

    /// The Event printer, reading core/v1 Events.
    pub(crate) fn core_events() -> Printer {
        Printer {
            columns: event_columns(&DOCS),
            event_shape: Some(EventShape::Core),
        }
    }

    /// The Event printer, reading events.k8s.io/v1 Events.
    pub(crate) fn events_v1() -> Printer {
        Printer {
            columns: event_columns(&DOCS),
            event_shape: Some(EventShape::EventsV1),
        }
    }

    /// A kind's printer: a CRD's columns, a built-in kind's own printer, or the default
    /// `Name` and `Created At`.
    fn for_kind(kind: &ResourceKind) -> Printer {
        if kind.custom {
            return Printer::for_crd(&kind.printer_columns);
        }
        let own = crate::kinds::builtin(&kind.group, &kind.kind).and_then(|s| s.printer());
        own.unwrap_or_else(|| {
            Printer::new(vec![
                name_column(),
                column(
                    "Created At",
                    "date",
                    "",
                    &DOCS.creation_timestamp,
                    0,
                    Cell::CreatedAt,
                ),
            ])
        })
    }

    /// The CRD table convertor: `Name`, then the declared columns (or the default `Age`). A
    /// column whose JSONPath does not parse ends the list, as the server's convertor does.
    fn for_crd(declared: &[PrinterColumn]) -> Printer {
        let d = &*DOCS;
        let mut columns = vec![column("Name", "string", "name", &d.name, 0, Cell::Name)];
        let default_age = [PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: None,
            description: Some(d.creation_timestamp.clone()),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }];
        let declared = if declared.is_empty() {
            &default_age[..]
        } else {
            declared
        };
        for c in declared {
            let Some(query) = compile_path(&c.json_path) else {
                break;
            };
            let description = match c.description.as_deref() {
                Some(text) if !text.is_empty() => text.to_string(),
                _ => format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    c.json_path
                ),
            };
            columns.push(Column {
                name: c.name.clone(),
                type_: c.type_.clone(),
                format: c.format.clone().unwrap_or_default(),
                description,
                priority: c.priority,
                cell: Cell::Path(Box::new(query)),
            });
        }
        Printer {
            columns,
            event_shape: None,
        }
    }

    fn cells(&self, object: &Value, now: SystemTime) -> Vec<Value> {
        if let Some(shape) = self.event_shape {
            let view = match shape {
                EventShape::Core => EventView::core(object),
                EventShape::EventsV1 => EventView::new_api(object),
            };
            return event_cells(&view, now).to_vec();
        }
        self.columns
            .iter()
            .map(|c| match &c.cell {
                Cell::Name => str_at(object, &["metadata", "name"]),
                Cell::AgeOf(path) => Value::String(age_since(get_str(object, path), now)),
                Cell::CreatedAt => Value::String(created_at(get_str(
                    object,
                    &["metadata", "creationTimestamp"],
                ))),
                Cell::Path(query) => crd_cell(query, &c.type_, object, now),
                Cell::Builtin(f) => f(object, now),
                Cell::Event => Value::Null,
            })
            .collect()
    }
}

fn get<'a>(o: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(o, |v, k| v.get(k))
}

fn get_str<'a>(o: &'a Value, path: &[&str]) -> &'a str {
    get(o, path).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn str_at(o: &Value, path: &[&str]) -> Value {
    Value::String(get_str(o, path).to_string())
}

pub(crate) fn len_at(o: &Value, key: &str) -> i64 {
    match o.get(key) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// The core printer for Events (both API groups serve the same objects; the server prints
/// them from the same internal type). Always "wide".
fn event_columns(d: &Docs) -> Vec<Column> {
    let e = |f: &str| description(&d.event, f);
    let specs: [(&str, String, &str, i32); 10] = [
        ("Last Seen", e("lastTimestamp"), "", 0),
        ("Type", e("type"), "", 0),
        ("Reason", e("reason"), "", 0),
        ("Object", e("involvedObject"), "", 0),
        ("Subobject", d.field_path.clone(), "", 1),
        ("Source", e("source"), "", 1),
        ("Message", e("message"), "", 0),
        ("First Seen", e("firstTimestamp"), "", 1),
        ("Count", e("count"), "", 1),
        ("Name", d.name.clone(), "name", 1),
    ];
    specs
        .into_iter()
        .map(|(name, desc, format, priority)| {
            column(name, "string", format, &desc, priority, Cell::Event)
        })
        .collect()
}

/// The fields of an Event the printer reads, from either API group's shape.
struct EventView<'a> {
    first_timestamp: &'a str,
    last_timestamp: &'a str,
    event_time: &'a str,
    count: i64,
    series: Option<(i64, &'a str)>,
    involved: Option<&'a Value>,
    source_component: &'a str,
    source_host: &'a str,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
    reason: &'a str,
    type_: &'a str,
    name: &'a str,
}

impl<'a> EventView<'a> {
    fn core(o: &'a Value) -> Self {
        EventView {
            first_timestamp: get_str(o, &["firstTimestamp"]),
            last_timestamp: get_str(o, &["lastTimestamp"]),
            event_time: get_str(o, &["eventTime"]),
            count: get(o, &["count"]).and_then(Value::as_i64).unwrap_or(0),
            series: series(o),
            involved: o.get("involvedObject"),
            source_component: get_str(o, &["source", "component"]),
            source_host: get_str(o, &["source", "host"]),
            reporting_controller: get_str(o, &["reportingComponent"]),
            reporting_instance: get_str(o, &["reportingInstance"]),
            message: get_str(o, &["message"]),
            reason: get_str(o, &["reason"]),
            type_: get_str(o, &["type"]),
            name: get_str(o, &["metadata", "name"]),
        }
    }

    fn new_api(o: &'a Value) -> Self {
        EventView {
            first_timestamp: get_str(o, &["deprecatedFirstTimestamp"]),
            last_timestamp: get_str(o, &["deprecatedLastTimestamp"]),
            event_time: get_str(o, &["eventTime"]),
            count: get(o, &["deprecatedCount"])
                .and_then(Value::as_i64)
                .unwrap_or(0),
            series: series(o),
            involved: o.get("regarding"),
            source_component: get_str(o, &["deprecatedSource", "component"]),
            source_host: get_str(o, &["deprecatedSource", "host"]),
            reporting_controller: get_str(o, &["reportingController"]),
            reporting_instance: get_str(o, &["reportingInstance"]),
            message: get_str(o, &["note"]),
            reason: get_str(o, &["reason"]),
            type_: get_str(o, &["type"]),
            name: get_str(o, &["metadata", "name"]),
        }
    }
}

fn series(o: &Value) -> Option<(i64, &str)> {
    let s = o.get("series")?;
    if s.is_null() {
        return None;
    }
    Some((
        s.get("count").and_then(Value::as_i64).unwrap_or(0),
        s.get("lastObservedTime")
            .and_then(Value::as_str)
            .unwrap_or(""),
    ))
}

/// `printEvent` (wide).
fn event_cells(e: &EventView, now: SystemTime) -> [Value; 10] {
    let first = if e.first_timestamp.is_empty() {
        age_since(e.event_time, now)
    } else {
        age_since(e.first_timestamp, now)
    };
    let mut last = if e.last_timestamp.is_empty() {
        first.clone()
    } else {
        age_since(e.last_timestamp, now)
    };
    let mut count = e.count;
    if let Some((series_count, observed)) = e.series {
        last = age_since(observed, now);
        count = series_count;
    } else if count == 0 {
        count = 1;
    }
    let kind = e
        .involved
        .map(|i| get_str(i, &["kind"]))
        .unwrap_or("")
        .to_lowercase();
    let involved_name = e.involved.map(|i| get_str(i, &["name"])).unwrap_or("");
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let component = if e.source_component.is_empty() {
        e.reporting_controller
    } else {
        e.source_component
    };
    let instance = if e.source_host.is_empty() {
        e.reporting_instance
    } else {
        e.source_host
    };
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    [
        Value::String(last),
        e.type_.into(),
        e.reason.into(),
        Value::String(target),
        e.involved
            .map(|i| get_str(i, &["fieldPath"]))
            .unwrap_or("")
            .into(),
        Value::String(source),
        e.message.trim().into(),
        Value::String(first),
        Value::from(count),
        e.name.into(),
    ]
}

/// Parses an RFC 3339 timestamp (metav1.Time / MicroTime); `None` for "" or "null".
fn parse_time(s: &str) -> Option<Result<SystemTime, ()>> {
    if s.is_empty() || s == "null" {
        return None;
    }
    Some(
        s.parse::<jiff::Timestamp>()
            .map(SystemTime::from)
            .map_err(|_| ()),
    )
}

/// `translateTimestampSince`: `<unknown>` for a missing time.
fn age_since(timestamp: &str, now: SystemTime) -> String {
    match parse_time(timestamp) {
        None => "<unknown>".into(),
        Some(Ok(t)) => human_duration(signed_seconds(now, t)),
        Some(Err(())) => "<invalid>".into(),
    }
}

fn created_at(timestamp: &str) -> String {
    match parse_time(timestamp) {
        Some(Ok(t)) => jiff::Timestamp::try_from(t)
            .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default(),
        _ => "0001-01-01T00:00:00Z".into(),
    }
}

/// `now - t` in fractional seconds (negative for a time in the future).
fn signed_seconds(now: SystemTime, t: SystemTime) -> f64 {
    match now.duration_since(t) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// apimachinery's `duration.HumanDuration`.
pub fn human_duration(seconds_f: f64) -> String {
    let seconds = seconds_f.trunc() as i64;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Translates a Kubernetes JSONPath (`.spec.size`, `{.status.conditions[?(@.type=="Ready")].status}`,
/// `.metadata.labels.app\.kubernetes\.io/name` is not Kubernetes syntax; keys with dashes or
/// slashes work as `.a-b` or `['a/b']`) to RFC 9535 and parses it.
pub(crate) fn compile_path(k8s: &str) -> Option<JpQuery> {
    let mut p = k8s.trim();
    if let Some(inner) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        p = inner.trim();
    }
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut out = String::from("$");
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let recursive = chars.get(i + 1) == Some(&'.');
                i += if recursive { 2 } else { 1 };
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                out.push_str(if recursive { ".." } else { "" });
                if name == "*" {
                    out.push_str(if recursive { "*" } else { ".*" });
                } else if !name.is_empty() {
                    out.push_str(&format!("[{}]", single_quote(&name)));
                }
            }
            '[' => {
                // Copy a bracket segment as is, honouring quotes and nesting.
                let start = i;
                let mut depth = 0;
                let mut quote: Option<char> = None;
                while i < chars.len() {
                    let c = chars[i];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == '\'' || c == '"' => quote = Some(c),
                        None if c == '[' => depth += 1,
                        None if c == ']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        None => {}
                    }
                    i += 1;
                }
                out.extend(&chars[start..i]);
            }
            _ => return None,
        }
    }
    parse_json_path(&out).ok()
}

fn single_quote(name: &str) -> String {
    format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The CRD convertor's cell: the first match, printed per the column type.
fn crd_cell(query: &JpQuery, type_: &str, object: &Value, now: SystemTime) -> Value {
    let first = match js_path_process(query, object) {
        Ok(found) => match found.into_iter().next() {
            Some(r) => r.val().clone(),
            None => return Value::Null,
        },
        Err(_) => return Value::Null,
    };
    if type_ == "string" {
        return Value::String(match &first {
            Value::String(s) => s.clone(),
            Value::Null => "<no value>".into(),
            Value::Number(n) => match n.as_i64() {
                Some(i) => i.to_string(),
                None => crate::schema::go_float_v(n.as_f64().unwrap_or(0.0)),
            },
            Value::Bool(b) => b.to_string(),
            other => crate::schema::go_json(other),
        });
    }
    match (type_, &first) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0).trunc() as i64),
        },
        ("number", Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(0.0);
            // Go encodes an integral float64 without a fraction.
            if f.fract() == 0.0 && f.abs() < 1e15 {
                Value::from(f as i64)
            } else {
                Value::from(f)
            }
        }
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => Value::String(age_since(s, now)),
        _ => Value::Null,
    }
}

pub(crate) mod workloads;

#[cfg(test)]
mod tests;
