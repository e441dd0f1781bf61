//! Go's `fmt` output the emulated servers' messages are built with: `%q` (`strconv.Quote`),
//! `%v` of floats and of decoded JSON values, and the type names `reflect` gives them.

use serde_json::Value;

/// `strconv.Quote` / `%q`: double-quoted with Go escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space; not controls, other spaces and separators, format characters, private use,
/// surrogates or noncharacters.
pub fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let code = c as u32;
    let format_or_separator = code == 0xad
        || (0x2000..=0x200f).contains(&code)
        || (0x2028..=0x202f).contains(&code)
        || (0x205f..=0x206f).contains(&code)
        || code == 0xfeff
        || (0xfff9..=0xfffb).contains(&code)
        || code == 0xfffe
        || code == 0xffff;
    let private_use = (0xe000..=0xf8ff).contains(&code) || code >= 0xf0000;
    !(c.is_control() || c.is_whitespace() || format_or_separator || private_use)
}

/// `%v` of a float64: shortest representation, exponent form when the exponent is below -4 or
/// at least 6 (e.g. `1e+06`, `1.5e-05`, `0.5`, `123456`).
pub fn float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
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
    fn quote_escapes_like_go() {
        assert_eq!(quote("purple"), "\"purple\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("tab\there\n"), "\"tab\\there\\n\"");
        assert_eq!(quote("\u{1}"), "\"\\x01\"");
        assert_eq!(quote("grüße"), "\"grüße\"");
        assert_eq!(quote("\u{a0}"), "\"\\u00a0\"");
    }

    #[test]
    fn floats_print_like_percent_v() {
        assert_eq!(float_v(10.0), "10");
        assert_eq!(float_v(1.5), "1.5");
        assert_eq!(float_v(123456.0), "123456");
        assert_eq!(float_v(1_000_000.0), "1e+06");
        assert_eq!(float_v(1_234_567.0), "1.234567e+06");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_v(2.5e-5), "2.5e-05");
        assert_eq!(float_v(-2.5), "-2.5");
    }

    #[test]
    fn sprint_matches_go_v() {
        assert_eq!(
            sprint(&json!({"name": "a", "x": [1, "b"], "n": null})),
            "map[n:<nil> name:a x:[1 b]]"
        );
        assert_eq!(sprint(&json!(123456.0)), "123456");
        assert_eq!(sprint(&json!(1e6)), "1e+06");
        assert_eq!(type_name(&json!([1])), "[]interface {}");
    }
}
