//! JSON output as Go's `json.Marshal` / `json.MarshalIndent(v, "", "    ")` writes it: struct
//! fields in declaration order (the serde derive order), map keys sorted, and `<`, `>`, `&`,
//! U+2028 and U+2029 escaped as `\u003c` and so on. `?pretty` output ends with a newline, as
//! Consul appends one.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// Marshals `value` as Consul's HTTP layer does (`pretty` for `?pretty`).
pub fn marshal<T: Serialize>(value: &T, pretty: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let result = if pretty {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            GoEscape(PrettyFormatter::with_indent(b"    ")),
        );
        value.serialize(&mut ser)
    } else {
        let mut ser = serde_json::Serializer::with_formatter(&mut out, GoEscape(CompactFormatter));
        value.serialize(&mut ser)
    };
    result.expect("the emulator's response types always serialize");
    if pretty {
        out.push(b'\n');
    }
    out
}

/// Wraps a formatter and adds Go's HTML-safe escapes to string fragments.
struct GoEscape<F>(F);

impl<F: Formatter> Formatter for GoEscape<F> {
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
    use super::marshal;
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
}
