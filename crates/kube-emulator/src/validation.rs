//! Object-metadata validation shared by every kind: names, labels, annotations,
//! ownerReferences, and the time formats of `Time` and `MicroTime` fields.

use serde_json::{Value, json};

use crate::status::Cause;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// How a kind's names are validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
    /// Services: an RFC 1035 label (starts with a letter).
    Dns1035Label,
    /// RBAC objects: anything usable as a URL path segment.
    PathSegment,
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_dns_label)
}

/// The messages `IsDNS1123Subdomain` / `IsDNS1123Label` return for a name.
pub fn name_errors(name: &str, rule: NameRule) -> Vec<String> {
    let mut out = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push("must be no more than 253 characters".to_string());
            }
            if !is_dns_subdomain(name) {
                out.push(SUBDOMAIN_MSG.to_string());
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".to_string());
            }
            if !is_dns_label(name) {
                out.push(LABEL_MSG.to_string());
            }
        }
        NameRule::Dns1035Label => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".to_string());
            }
            if !is_dns_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push(DNS1035_MSG.to_string());
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(format!("may not be '{name}'"));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    out.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    out
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Messages for a qualified name (label keys, annotation keys, finalizers).
pub fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else {
            for m in name_errors(p, NameRule::Subdomain) {
                out.push(format!("prefix part {m}"));
            }
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".to_string());
        }
        if !is_name_part(name) {
            out.push(NAME_PART_MSG.to_string());
        }
    }
    out
}

fn label_value_errors(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    if v.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !v.is_empty() && !is_name_part(v) {
        out.push(LABEL_VALUE_MSG.to_string());
    }
    out
}

/// Whether a ConfigMap/Secret data key is valid; the message otherwise.
pub fn config_key_errors(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if key.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        out.push(CONFIG_KEY_MSG.to_string());
    }
    if key == "." || key == ".." {
        out.push("must not be '.'".to_string());
    }
    out
}

/// Validates metadata the way `ValidateObjectMeta` does (name, labels, annotations,
/// ownerReferences, finalizers); the causes in the real server's order.
pub fn object_meta(meta: &Value, rule: NameRule) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in name_errors(name, rule) {
            causes.push(Cause::invalid("metadata.name", &json!(name), &m));
        }
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            for m in qualified_name_errors(k) {
                causes.push(Cause::invalid("metadata.labels", &json!(k), &m));
            }
            match v.as_str() {
                Some(s) => {
                    for m in label_value_errors(s) {
                        causes.push(Cause::invalid("metadata.labels", &json!(s), &m));
                    }
                }
                None => causes.push(Cause::invalid(
                    "metadata.labels",
                    v,
                    "label values must be strings",
                )),
            }
        }
    }
    if let Some(ann) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in ann {
            for m in qualified_name_errors(&k.to_lowercase()) {
                causes.push(Cause::invalid("metadata.annotations", &json!(k), &m));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            causes.push(Cause::new(
                "FieldValueTooLong",
                "metadata.annotations",
                format!("Too long: may not be more than {} bytes", 256 * 1024),
            ));
        }
    }
    causes.extend(owner_references(meta));
    causes
}

fn owner_references(meta: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) else {
        return causes;
    };
    let mut controllers = Vec::new();
    for r in refs {
        let get = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        if get("apiVersion").is_empty() {
            causes.push(Cause::invalid(
                "metadata.ownerReferences.apiVersion",
                &json!(""),
                "version must not be empty",
            ));
        }
        if get("kind").is_empty() {
            causes.push(Cause::invalid(
                "metadata.ownerReferences.kind",
                &json!(""),
                "kind must not be empty",
            ));
        }
        if get("name").is_empty() {
            causes.push(Cause::invalid(
                "metadata.ownerReferences.name",
                &json!(""),
                "name must not be empty",
            ));
        }
        if get("uid").is_empty() {
            causes.push(Cause::invalid(
                "metadata.ownerReferences.uid",
                &json!(""),
                "must not be empty",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers.push(format!("{}/{}", get("kind"), get("name")));
        }
    }
    if controllers.len() > 1 {
        causes.push(Cause::invalid(
            "metadata.ownerReferences",
            &Value::Array(refs.clone()),
            &format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        ));
    }
    causes
}

/// Checks a `MicroTime` string (exactly six fractional digits) and returns Go's parse error.
pub fn micro_time_error(value: &str) -> Option<String> {
    let layout = "2006-01-02T15:04:05.000000Z07:00";
    let bytes = value.as_bytes();
    let base_ok = bytes.len() >= 19 && time_prefix_ok(&bytes[..19]);
    if !base_ok {
        return Some(format!(
            "parsing time {value:?} as {layout:?}: cannot parse {:?} as \"2006\"",
            value
        ));
    }
    let rest = &value[19..];
    let frac_ok = rest.len() >= 7
        && rest.as_bytes()[0] == b'.'
        && rest.as_bytes()[1..7].iter().all(u8::is_ascii_digit);
    if !frac_ok {
        return Some(format!(
            "parsing time {value:?} as {layout:?}: cannot parse {rest:?} as \".000000\""
        ));
    }
    let zone = &rest[7..];
    if zone == "Z" || is_offset(zone) {
        None
    } else {
        Some(format!(
            "parsing time {value:?} as {layout:?}: cannot parse {zone:?} as \"Z07:00\""
        ))
    }
}

/// Checks an RFC 3339 `Time` string (whole seconds, fractions allowed and dropped).
pub fn time_error(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let layout = "2006-01-02T15:04:05Z07:00";
    if bytes.len() < 20 || !time_prefix_ok(&bytes[..19]) {
        return Some(format!(
            "parsing time {value:?} as {layout:?}: cannot parse {value:?} as \"2006\""
        ));
    }
    let mut rest = &value[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    if rest == "Z" || is_offset(rest) {
        None
    } else {
        Some(format!(
            "parsing time {value:?} as {layout:?}: cannot parse {rest:?} as \"Z07:00\""
        ))
    }
}

fn time_prefix_ok(b: &[u8]) -> bool {
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    digits.iter().all(|&i| b[i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
}

fn is_offset(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name_errors("good-name.x", NameRule::Subdomain).is_empty());
        assert_eq!(
            name_errors("Bad_Name", NameRule::Subdomain),
            vec![SUBDOMAIN_MSG]
        );
        assert_eq!(
            name_errors(&"a".repeat(254), NameRule::Subdomain),
            vec!["must be no more than 253 characters"]
        );
        assert_eq!(name_errors("Bad.NS", NameRule::Label), vec![LABEL_MSG]);
        assert!(name_errors("trace-ns", NameRule::Label).is_empty());
        assert_eq!(
            name_errors("1svc", NameRule::Dns1035Label),
            vec![DNS1035_MSG]
        );
        assert!(name_errors("svc-1", NameRule::Dns1035Label).is_empty());
        assert_eq!(
            name_errors("a/b%", NameRule::PathSegment),
            vec!["may not contain '/'", "may not contain '%'"]
        );
        assert!(name_errors("system:controller:x", NameRule::PathSegment).is_empty());
    }

    #[test]
    fn owner_reference_without_uid() {
        let causes = object_meta(
            &json!({"name": "dep-bad", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}]}),
            NameRule::Subdomain,
        );
        assert_eq!(causes.len(), 1);
        assert_eq!(
            causes[0].summary(),
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
        );
    }

    #[test]
    fn micro_time() {
        assert_eq!(micro_time_error("2026-11-28T07:09:39.123456Z"), None);
        assert_eq!(
            micro_time_error("2026-11-28T07:09:39Z").unwrap(),
            "parsing time \"2026-11-28T07:09:39Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
        );
        assert_eq!(time_error("2026-11-28T07:09:39Z"), None);
        assert!(time_error("yesterday").is_some());
    }
}
