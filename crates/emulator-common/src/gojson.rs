//! JSON as Go's `encoding/json` writes it, for the emulators' bytes to match the Go servers'
//! (kube-apiserver, Consul): struct fields in declaration order (the serde derive order), map
//! keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c` and so on, `\b` and `\f` as
//! such (Go 1.22 on), and floats laid out as Go does (`1e+21`, `1e-7`, `2` for 2.0).
//! `MarshalIndent(v, "", "    ")` output for Consul's `?pretty` ends with a newline, as Consul
//! appends one.

use std::io;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// `json.Marshal` of `value` (or `json.MarshalIndent` with four spaces and a final newline when
/// `pretty`).
pub fn marshal<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let result = if pretty {
        let formatter = GoFormatter(PrettyFormatter::with_indent(b"    "));
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out, formatter,
        ))
    } else {
        let formatter = GoFormatter(CompactFormatter);
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out, formatter,
        ))
    };
    result.expect("serializing into memory only fails for maps with non-string keys");
    if pretty {
        out.push(b'\n');
    }
    out
}

/// `json.Marshal` of a decoded JSON value (`interface{}`): compact, object keys sorted.
pub fn to_json(v: &Value) -> String {
    let bytes = marshal(&SortedKeys(v), false);
    String::from_utf8(bytes).expect("JSON output is UTF-8")
}

/// A JSON string literal, escaped as `encoding/json` does.
pub fn json_string(s: &str) -> String {
    to_json(&Value::String(s.to_string()))
}

/// A decoded JSON value serialized with its object keys in sorted order, as Go sorts map keys.
struct SortedKeys<'a>(&'a Value);

impl Serialize for SortedKeys<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&SortedKeys(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for k in keys {
                    out.serialize_entry(k, &SortedKeys(&map[k]))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// Go's JSON float layout: plain decimals from 1e-6 up to 1e21, the exponent form outside
/// (`1e+21`, `1.5e-7`: Go trims the exponent's leading zero).
pub fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
        let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
        if exp < 0 {
            format!("{mantissa}e-{}", exp.abs())
        } else {
            format!("{mantissa}e+{exp:02}")
        }
    } else if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

/// Wraps serde_json's formatters with Go's string escapes and float layout.
struct GoFormatter<F>(F);

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(json_float(value).as_bytes())
    }
    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn escapes_like_go_and_indents_with_four_spaces() {
        let mut m = BTreeMap::new();
        m.insert("b", "<a&b>\u{2028}\n");
        m.insert("a", "x");
        assert_eq!(
            String::from_utf8(marshal(&m, false)).unwrap(),
            r#"{"a":"x","b":"\u003ca\u0026b\u003e\u2028\n"}"#
        );
        assert_eq!(
            String::from_utf8(marshal(&m, true)).unwrap(),
            "{\n    \"a\": \"x\",\n    \"b\": \"\\u003ca\\u0026b\\u003e\\u2028\\n\"\n}\n"
        );
        let empty: Vec<String> = vec![];
        assert_eq!(String::from_utf8(marshal(&empty, true)).unwrap(), "[]\n");
    }

    #[test]
    fn values_sort_their_keys_and_escape_html() {
        assert_eq!(
            to_json(&json!({"b": "<a&b>", "a": [1, 2.5, null, true]})),
            r#"{"a":[1,2.5,null,true],"b":"\u003ca\u0026b\u003e"}"#
        );
        assert_eq!(
            to_json(&json!({"b": 1, "a": "<x&y>"})),
            r#"{"a":"\u003cx\u0026y\u003e","b":1}"#
        );
        assert_eq!(json_string("tab\tctl\u{1}"), r#""tab\tctl\u0001""#);
    }

    #[test]
    fn floats_use_go_layout() {
        assert_eq!(to_json(&json!([1.5, 2.0, null, true])), "[1.5,2,null,true]");
        assert_eq!(to_json(&json!(1e21)), "1e+21");
        assert_eq!(to_json(&json!(1.5e-7)), "1.5e-7");
        assert_eq!(to_json(&json!(100000.0)), "100000");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(0.5), "0.5");
    }
}
