//! `metadata.managedFields` in memory and on the wire: one entry per manager identifier, the
//! identifier being what the real server uses (the JSON of manager, operation, apiVersion for
//! updaters, and subresource), entries sorted as the real server sorts them, and the cap on the
//! number of updaters.

use super::fieldpath::Set;
use emulator_common::{gofmt, gojson};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The fields one manager owns.
#[derive(Clone, Debug)]
pub struct Entry {
    pub set: Set,
    pub api_version: String,
    /// True for an `Apply` entry.
    pub applied: bool,
    /// `time` as written (RFC 3339), if any.
    pub time: Option<String>,
}

/// Entries by manager identifier.
pub type Managers = BTreeMap<String, Entry>;

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

/// The manager identifier (`BuildManagerIdentifier`): the JSON of a ManagedFieldsEntry with only
/// manager, operation, apiVersion (updaters only) and subresource, in the Go field order.
pub fn identifier(manager: &str, operation: &str, api_version: &str, subresource: &str) -> String {
    let mut s = format!(
        "{{\"manager\":{},\"operation\":{}",
        gojson::json_string(manager),
        gojson::json_string(operation)
    );
    if operation != APPLY && !api_version.is_empty() {
        s.push_str(&format!(
            ",\"apiVersion\":{}",
            gojson::json_string(api_version)
        ));
    }
    if !subresource.is_empty() {
        s.push_str(&format!(
            ",\"subresource\":{}",
            gojson::json_string(subresource)
        ));
    }
    s.push('}');
    s
}

/// The parts of an identifier: manager, operation, apiVersion, subresource.
pub struct IdentifierParts {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
}

pub fn parse_identifier(id: &str) -> Option<IdentifierParts> {
    let v: Value = serde_json::from_str(id).ok()?;
    let obj = v.as_object()?;
    let field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some(IdentifierParts {
        manager: field("manager"),
        operation: field("operation"),
        api_version: field("apiVersion"),
        subresource: field("subresource"),
    })
}

/// `metadata.managedFields` of an object; `None` when the field is absent or null.
pub fn field_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?
        .get("managedFields")
        .filter(|v| !v.is_null())
}

/// `DecodeManagedFields`: fails on an entry the real server would refuse to decode.
pub fn decode(entries: Option<&Value>) -> Result<Managers, String> {
    let mut managers = Managers::new();
    let Some(entries) = entries else {
        return Ok(managers);
    };
    let Value::Array(entries) = entries else {
        return Err("managedFields is not a list".to_string());
    };
    for (i, e) in entries.iter().enumerate() {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let operation = text("operation");
        if operation != APPLY && operation != UPDATE {
            return Err("operation must be `Apply` or `Update`".to_string());
        }
        let api_version = text("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match text("fieldsType") {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    gofmt::quote(other)
                ));
            }
        }
        let id = identifier(text("manager"), operation, api_version, text("subresource"));
        let set = e
            .get("fieldsV1")
            .map(Set::from_fields_v1)
            .unwrap_or_default();
        managers.insert(
            id,
            Entry {
                set,
                api_version: api_version.to_string(),
                applied: operation == APPLY,
                time: e.get("time").and_then(Value::as_str).map(str::to_string),
            },
        );
    }
    Ok(managers)
}

/// Whether a request's managedFields asks to clear them: `[]` or `[{}]`.
pub fn is_reset(entries: Option<&Value>) -> bool {
    match entries {
        Some(Value::Array(items)) if items.is_empty() => true,
        Some(Value::Array(items)) if items.len() == 1 => match &items[0] {
            Value::Object(m) => m.values().all(|v| match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            }),
            _ => false,
        },
        _ => false,
    }
}

/// Sets (or removes, when there are no entries) `metadata.managedFields`, sorted like the real
/// server: Apply before Update, then by time (to the second), manager, apiVersion, subresource.
pub fn encode_into(obj: &mut Value, managers: &Managers) {
    let mut entries: Vec<(&String, &Entry, IdentifierParts)> = managers
        .iter()
        .filter_map(|(id, e)| parse_identifier(id).map(|p| (id, e, p)))
        .collect();
    entries.sort_by(|(_, a, pa), (_, b, pb)| {
        let op = |e: &Entry| if e.applied { APPLY } else { UPDATE };
        op(a)
            .cmp(op(b))
            .then_with(|| seconds(a.time.as_deref()).cmp(&seconds(b.time.as_deref())))
            .then_with(|| pa.manager.cmp(&pb.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| pa.subresource.cmp(&pb.subresource))
    });
    let list: Vec<Value> = entries
        .into_iter()
        .map(|(_, e, parts)| {
            // Go struct order; serialisers that keep insertion order show it as the server does.
            let mut m = Map::new();
            m.insert("manager".into(), json!(parts.manager));
            m.insert(
                "operation".into(),
                json!(if e.applied { APPLY } else { UPDATE }),
            );
            m.insert("apiVersion".into(), json!(e.api_version));
            if let Some(t) = &e.time {
                m.insert("time".into(), json!(t));
            }
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), e.set.to_fields_v1());
            if !parts.subresource.is_empty() {
                m.insert("subresource".into(), json!(parts.subresource));
            }
            Value::Object(m)
        })
        .collect();
    let Some(obj) = obj.as_object_mut() else {
        return;
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Removes `metadata.managedFields` from an object.
pub fn strip(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// Unix seconds of an RFC 3339 time; 0 when absent or unreadable (as a nil time sorts).
pub fn seconds(t: Option<&str>) -> i64 {
    t.and_then(parse_rfc3339).unwrap_or(0)
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { t.get(r)?.parse().ok() };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + s - offset)
}

/// At most `max` Update entries: the oldest are merged into one `ancient-changes` entry per
/// apiVersion (`capUpdateManagers`).
pub fn cap_updaters(managers: &mut Managers, max: usize) {
    let mut updaters: Vec<String> = managers
        .iter()
        .filter(|(_, e)| !e.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= max {
        return;
    }
    updaters.sort_by(|a, b| {
        let t = |id: &String| seconds(managers[id].time.as_deref());
        t(a).cmp(&t(b)).then_with(|| a.cmp(b))
    });
    let mut first_of_version: BTreeMap<String, String> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= max {
            break;
        }
        let Some(entry) = managers.get(&id).cloned() else {
            continue;
        };
        let bucket = identifier("ancient-changes", UPDATE, &entry.api_version, "");
        match first_of_version.get(&entry.api_version) {
            Some(first) => {
                if !managers.contains_key(&bucket)
                    && let Some(moved) = managers.remove(first)
                {
                    managers.insert(bucket.clone(), moved);
                }
                let previous = managers
                    .get(&bucket)
                    .map(|b| b.set.clone())
                    .unwrap_or_default();
                managers.insert(
                    bucket,
                    Entry {
                        set: entry.set.union(&previous),
                        api_version: entry.api_version.clone(),
                        applied: entry.applied,
                        time: entry.time.clone(),
                    },
                );
                managers.remove(&id);
                length -= 1;
            }
            None => {
                first_of_version.insert(entry.api_version.clone(), id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_match_the_go_encoding() {
        assert_eq!(
            identifier("alice", APPLY, "demo.example.com/v1", ""),
            r#"{"manager":"alice","operation":"Apply"}"#
        );
        assert_eq!(
            identifier("kubectl-patch", UPDATE, "demo.example.com/v1", "status"),
            r#"{"manager":"kubectl-patch","operation":"Update","apiVersion":"demo.example.com/v1","subresource":"status"}"#
        );
    }

    #[test]
    fn rfc3339_seconds() {
        assert_eq!(seconds(Some("1970-01-01T00:00:00Z")), 0);
        assert_eq!(seconds(Some("2026-11-28T07:08:12Z")), 1_795_849_692);
        assert_eq!(seconds(Some("2026-11-28T08:08:12.5+01:00")), 1_795_849_692);
        assert_eq!(seconds(None), 0);
    }

    #[test]
    fn decode_refuses_unknown_operations() {
        let bad = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
        assert!(decode(Some(&bad)).is_err());
        assert!(is_reset(Some(&json!([{}]))));
        assert!(is_reset(Some(&json!([]))));
        assert!(!is_reset(None));
    }

    #[test]
    fn cap_merges_the_oldest_updaters() {
        let mut managers = Managers::new();
        for i in 0..12 {
            let mut set = Set::new();
            set.insert(&[super::super::fieldpath::PathElement::Field(format!("f{i}"))]);
            managers.insert(
                identifier(&format!("m{i:02}"), UPDATE, "v1", ""),
                Entry {
                    set,
                    api_version: "v1".into(),
                    applied: false,
                    time: Some(format!("2026-01-01T00:00:{i:02}Z")),
                },
            );
        }
        cap_updaters(&mut managers, 10);
        assert_eq!(managers.len(), 10);
        let bucket = &managers[&identifier("ancient-changes", UPDATE, "v1", "")];
        assert_eq!(bucket.set.paths().len(), 3);
        assert!(!managers.contains_key(&identifier("m00", UPDATE, "v1", "")));
    }
}
