//! Text the real server produces with Go's formatting: `encoding/json` (HTML-safe escaping,
//! Go float layout), `%q` quoting and `%v` of decoded JSON values. Field-path keys in
//! managedFields, the last-applied annotation and error messages all go through these, so the
//! bytes match what kube-apiserver sends.

use serde_json::Value;
use std::fmt::Write;

/// `json.Marshal` of a decoded JSON value: object keys sorted, `<`, `>`, `&`, U+2028 and U+2029
/// escaped, floats laid out as Go does.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&json_number(n)),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, &map[k]);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal escaped like Go's `encoding/json` (HTML-safe).
pub fn json_string(s: &str) -> String {
    let mut out = String::new();
    write_json_string(&mut out, s);
    out
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as `encoding/json` writes it: integers as is, floats in the shortest form, with an
/// exponent only below 1e-6 or from 1e21 on.
pub fn json_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives the shortest mantissa; Go writes the exponent with a sign.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if exp.starts_with('-') => format!("{mantissa}e{exp}"),
            Some((mantissa, exp)) => format!("{mantissa}e+{exp}"),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// Go's `%q` of a string (`strconv.Quote`).
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a value decoded into `interface{}` (`map[k:v]`, `[a b]`, `<nil>`), as it
/// appears in the strategic merge patch error messages.
pub fn sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => float_v(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(sprint).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", sprint(&map[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// `%v` of a float64: `%g` with the shortest digits, so the exponent form from 1e6 on or
/// below 1e-4.
fn float_v(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e6).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', e),
                };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// The name `reflect.TypeOf` gives a decoded JSON value, as in `expected a map[string]interface
/// {}, but received a string`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_escapes_html_and_sorts_keys() {
        assert_eq!(
            to_json(&json!({"b": "<a&b>", "a": [1, 2.5, null, true]})),
            r#"{"a":[1,2.5,null,true],"b":"\u003ca\u0026b\u003e"}"#
        );
    }

    #[test]
    fn floats_use_go_layout() {
        assert_eq!(to_json(&json!(1e21)), "1e+21");
        assert_eq!(to_json(&json!(1.5e-7)), "1.5e-7");
        assert_eq!(to_json(&json!(100000.0)), "100000");
        assert_eq!(sprint(&json!(123456.0)), "123456");
        assert_eq!(sprint(&json!(1e6)), "1e+06");
        assert_eq!(sprint(&json!(2.5e-5)), "2.5e-05");
    }

    #[test]
    fn sprint_matches_go_v() {
        assert_eq!(
            sprint(&json!({"name": "a", "x": [1, "b"], "n": null})),
            "map[n:<nil> name:a x:[1 b]]"
        );
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
    }
}
