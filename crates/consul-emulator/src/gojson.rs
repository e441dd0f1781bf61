//! Decoding JSON the way Go's `encoding/json` does, so that request bodies and peering tokens
//! are accepted and refused exactly as Consul accepts and refuses them, with Go's error texts.
//!
//! Two entry points mirror the two Go calls Consul makes:
//! * [`decode_body`]: `json.NewDecoder(body)` + `DisallowUnknownFields()` + `Decode` (request
//!   bodies, `lib.DecodeJSON`): only the first JSON value is read, an empty body is `EOF`, a
//!   truncated one `unexpected EOF`, and unknown fields are refused.
//! * [`unmarshal`]: `json.Unmarshal` (the decoded peering token): the whole input must be one
//!   value, unknown fields are ignored.
//!
//! Decoding happens in three steps: a syntax scan with Go's scanner messages, a tree build, and a
//! typed pass against a small schema that reports Go's `UnmarshalTypeError` texts.

use std::collections::BTreeMap;

/// Go's maximum nesting depth (`encoding/json` scanner).
const MAX_DEPTH: usize = 10_000;
/// Deeper than this the tree keeps only the kind of a value: nothing Consul decodes is nested
/// deeper, and it keeps the recursive builder's stack small.
const TREE_DEPTH: usize = 16;

/// A Go type in a decoding schema.
#[derive(Clone, Copy)]
pub enum Ty {
    Str,
    StrSlice,
    StrMap,
    Struct(&'static StructTy),
    /// A pointer to a struct (`*structs.Locality`).
    PtrStruct(&'static StructTy),
}

/// A Go struct: its qualified type name, its bare name (used in field error contexts) and
/// its fields in declaration order.
pub struct StructTy {
    pub qualified: &'static str,
    pub name: &'static str,
    pub fields: &'static [(&'static str, Ty)],
}

/// A decoded value of a schema type. Absent and `null` fields are `Unset`.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Unset,
    Str(String),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
    Struct(Fields),
}

/// Decoded struct fields by Go field name.
pub type Fields = BTreeMap<&'static str, Out>;

/// Convenience accessors used by the request decoders.
pub trait FieldsExt {
    fn string(&self, name: &str) -> String;
    fn list(&self, name: &str) -> Option<Vec<String>>;
    fn map(&self, name: &str) -> Option<BTreeMap<String, String>>;
    fn nested(&self, name: &str) -> Option<&Fields>;
}

impl FieldsExt for Fields {
    fn string(&self, name: &str) -> String {
        match self.get(name) {
            Some(Out::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }
    fn list(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name) {
            Some(Out::List(l)) => Some(l.clone()),
            _ => None,
        }
    }
    fn map(&self, name: &str) -> Option<BTreeMap<String, String>> {
        match self.get(name) {
            Some(Out::Map(m)) => Some(m.clone()),
            _ => None,
        }
    }
    fn nested(&self, name: &str) -> Option<&Fields> {
        match self.get(name) {
            Some(Out::Struct(f)) => Some(f),
            _ => None,
        }
    }
}

/// `json.NewDecoder(r).Decode(&out)` with unknown fields disallowed, into the struct `ty`.
/// A top-level `null` leaves the struct empty, as in Go.
pub fn decode_body(input: &[u8], ty: &'static StructTy) -> Result<Fields, String> {
    let end = scan(input, true)?;
    let tree = build(&input[..end]);
    decode_top(&tree, ty, true)
}

/// `json.Unmarshal(data, &out)` into the struct `ty` (unknown fields ignored).
pub fn unmarshal(input: &[u8], ty: &'static StructTy) -> Result<Fields, String> {
    let end = scan(input, false)?;
    let tree = build(&input[..end]);
    decode_top(&tree, ty, false)
}

// ---------------------------------------------------------------------------------------------
// Syntax scan

#[derive(Clone, Copy, PartialEq)]
enum Container {
    Object,
    Array,
}

/// Where the scanner is, in the terms of Go's scanner states.
#[derive(Clone, Copy, PartialEq)]
enum State {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    AfterKey,
    EndValue,
    Done,
}

/// Scans the first JSON value; returns the offset just past it. `decoder` selects the
/// `json.Decoder` behaviour (EOF errors, trailing data ignored) over `json.Unmarshal`'s.
fn scan(input: &[u8], decoder: bool) -> Result<usize, String> {
    let eof_err = |started: bool| -> String {
        if decoder {
            if started {
                "unexpected EOF".into()
            } else {
                "EOF".into()
            }
        } else {
            "unexpected end of JSON input".into()
        }
    };
    let mut stack: Vec<Container> = Vec::new();
    let mut state = State::BeginValue;
    let mut i = 0usize;
    let mut started = false;
    loop {
        if state == State::Done {
            if decoder {
                return Ok(i);
            }
            while i < input.len() && is_space(input[i]) {
                i += 1;
            }
            if i < input.len() {
                return Err(syntax(input[i], "after top-level value"));
            }
            return Ok(i);
        }
        // Skip whitespace between tokens.
        while i < input.len() && is_space(input[i]) {
            i += 1;
        }
        if i >= input.len() {
            return Err(eof_err(started));
        }
        let c = input[i];
        started = true;
        match state {
            State::BeginValue | State::BeginValueOrEmpty => {
                if state == State::BeginValueOrEmpty && c == b']' {
                    i += 1;
                    stack.pop();
                    state = after_value(&stack);
                    continue;
                }
                match c {
                    b'{' => {
                        if stack.len() >= MAX_DEPTH {
                            return Err("exceeded max depth".into());
                        }
                        stack.push(Container::Object);
                        state = State::BeginStringOrEmpty;
                        i += 1;
                    }
                    b'[' => {
                        if stack.len() >= MAX_DEPTH {
                            return Err("exceeded max depth".into());
                        }
                        stack.push(Container::Array);
                        state = State::BeginValueOrEmpty;
                        i += 1;
                    }
                    b'"' => {
                        i = scan_string(input, i + 1)
                            .map_err(|e| e.unwrap_or_else(|| eof_err(true)))?;
                        state = after_value(&stack);
                    }
                    b'-' | b'0'..=b'9' => {
                        let (next, complete) = scan_number(input, i)?;
                        i = next;
                        if i >= input.len() && !(stack.is_empty() && complete) {
                            return Err(eof_err(true));
                        }
                        state = after_value(&stack);
                    }
                    b't' => {
                        i = scan_literal(input, i, b"true")
                            .map_err(|e| e.unwrap_or_else(|| eof_err(true)))?;
                        state = after_value(&stack);
                    }
                    b'f' => {
                        i = scan_literal(input, i, b"false")
                            .map_err(|e| e.unwrap_or_else(|| eof_err(true)))?;
                        state = after_value(&stack);
                    }
                    b'n' => {
                        i = scan_literal(input, i, b"null")
                            .map_err(|e| e.unwrap_or_else(|| eof_err(true)))?;
                        state = after_value(&stack);
                    }
                    _ => return Err(syntax(c, "looking for beginning of value")),
                }
            }
            State::BeginStringOrEmpty | State::BeginString => {
                if state == State::BeginStringOrEmpty && c == b'}' {
                    i += 1;
                    stack.pop();
                    state = after_value(&stack);
                    continue;
                }
                if c != b'"' {
                    return Err(syntax(c, "looking for beginning of object key string"));
                }
                i = scan_string(input, i + 1).map_err(|e| e.unwrap_or_else(|| eof_err(true)))?;
                state = State::AfterKey;
            }
            State::AfterKey => {
                if c != b':' {
                    return Err(syntax(c, "after object key"));
                }
                i += 1;
                state = State::BeginValue;
            }
            State::EndValue => {
                let top = *stack.last().expect("EndValue only inside a container");
                match (top, c) {
                    (Container::Object, b',') => {
                        i += 1;
                        state = State::BeginString;
                    }
                    (Container::Object, b'}') | (Container::Array, b']') => {
                        i += 1;
                        stack.pop();
                        state = after_value(&stack);
                    }
                    (Container::Array, b',') => {
                        i += 1;
                        state = State::BeginValue;
                    }
                    (Container::Object, _) => {
                        return Err(syntax(c, "after object key:value pair"));
                    }
                    (Container::Array, _) => return Err(syntax(c, "after array element")),
                }
            }
            State::Done => unreachable!("handled above"),
        }
    }
}

fn after_value(stack: &[Container]) -> State {
    if stack.is_empty() {
        State::Done
    } else {
        State::EndValue
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Scans a string body starting after the opening quote. `Err(None)` means end of input.
fn scan_string(input: &[u8], mut i: usize) -> Result<usize, Option<String>> {
    loop {
        let Some(&c) = input.get(i) else {
            return Err(None);
        };
        match c {
            b'"' => return Ok(i + 1),
            b'\\' => {
                let Some(&e) = input.get(i + 1) else {
                    return Err(None);
                };
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        for k in 0..4 {
                            let Some(&h) = input.get(i + 2 + k) else {
                                return Err(None);
                            };
                            if !h.is_ascii_hexdigit() {
                                return Err(Some(syntax(h, "in \\u hexadecimal character escape")));
                            }
                        }
                        i += 6;
                    }
                    _ => return Err(Some(syntax(e, "in string escape code"))),
                }
            }
            c if c < 0x20 => return Err(Some(syntax(c, "in string literal"))),
            _ => i += 1,
        }
    }
}

/// Scans a number; returns the offset after it and whether it ended in a complete state.
fn scan_number(input: &[u8], mut i: usize) -> Result<(usize, bool), String> {
    let digit = |i: usize| input.get(i).is_some_and(|c| c.is_ascii_digit());
    if input[i] == b'-' {
        i += 1;
        match input.get(i) {
            None => return Ok((i, false)),
            Some(c) if c.is_ascii_digit() => {}
            Some(&c) => return Err(syntax(c, "in numeric literal")),
        }
    }
    if input[i] == b'0' {
        i += 1;
    } else {
        while digit(i) {
            i += 1;
        }
    }
    if input.get(i) == Some(&b'.') {
        i += 1;
        match input.get(i) {
            None => return Ok((i, false)),
            Some(c) if c.is_ascii_digit() => {}
            Some(&c) => return Err(syntax(c, "after decimal point in numeric literal")),
        }
        while digit(i) {
            i += 1;
        }
    }
    if matches!(input.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(input.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        match input.get(i) {
            None => return Ok((i, false)),
            Some(c) if c.is_ascii_digit() => {}
            Some(&c) => return Err(syntax(c, "in exponent of numeric literal")),
        }
        while digit(i) {
            i += 1;
        }
    }
    Ok((i, true))
}

fn scan_literal(input: &[u8], i: usize, word: &'static [u8]) -> Result<usize, Option<String>> {
    for (k, &expected) in word.iter().enumerate().skip(1) {
        let Some(&c) = input.get(i + k) else {
            return Err(None);
        };
        if c != expected {
            let what = format!(
                "in literal {} (expecting {})",
                std::str::from_utf8(word).expect("ASCII literal"),
                quote_char(expected)
            );
            return Err(Some(syntax(c, &what)));
        }
    }
    Ok(i + word.len())
}

fn syntax(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

/// Go's `quoteChar`: the byte is turned into the rune of the same value, then quoted with
/// `strconv.Quote` rules between single quotes.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        _ => format!("'{}'", go_quote_rune(char::from(c))),
    }
}

fn go_quote_rune(r: char) -> String {
    match r {
        '\x07' => r"\a".into(),
        '\x08' => r"\b".into(),
        '\x0c' => r"\f".into(),
        '\n' => r"\n".into(),
        '\r' => r"\r".into(),
        '\t' => r"\t".into(),
        '\x0b' => r"\v".into(),
        '\\' => r"\\".into(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
        // C1 controls, no-break space and soft hyphen are not printable for strconv.
        c if (0x80..=0xa0).contains(&(c as u32)) || c as u32 == 0xad => {
            format!("\\u{:04x}", c as u32)
        }
        c => c.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tree

#[derive(Debug)]
enum Node {
    Null,
    Bool,
    Number,
    Str(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    /// A container nested too deep to matter: only its kind is kept.
    Deep(&'static str),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool => "bool",
            Node::Number => "number",
            Node::Str(_) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
            Node::Deep(kind) => kind,
        }
    }
}

/// Builds the tree of an input already validated by [`scan`].
fn build(input: &[u8]) -> Node {
    let mut pos = 0;
    build_at(input, &mut pos, 0)
}

fn skip_ws(input: &[u8], pos: &mut usize) {
    while *pos < input.len() && is_space(input[*pos]) {
        *pos += 1;
    }
}

fn build_at(input: &[u8], pos: &mut usize, depth: usize) -> Node {
    skip_ws(input, pos);
    let c = input[*pos];
    match c {
        b'{' | b'[' if depth >= TREE_DEPTH => {
            skip_container(input, pos);
            Node::Deep(if c == b'{' { "object" } else { "array" })
        }
        b'{' => {
            *pos += 1;
            let mut members = Vec::new();
            loop {
                skip_ws(input, pos);
                if input[*pos] == b'}' {
                    *pos += 1;
                    return Node::Object(members);
                }
                if input[*pos] == b',' {
                    *pos += 1;
                    skip_ws(input, pos);
                }
                let key = read_string(input, pos);
                skip_ws(input, pos);
                *pos += 1; // ':'
                let value = build_at(input, pos, depth + 1);
                members.push((key, value));
            }
        }
        b'[' => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                skip_ws(input, pos);
                if input[*pos] == b']' {
                    *pos += 1;
                    return Node::Array(items);
                }
                if input[*pos] == b',' {
                    *pos += 1;
                }
                items.push(build_at(input, pos, depth + 1));
            }
        }
        b'"' => Node::Str(read_string(input, pos)),
        b't' => {
            *pos += 4;
            Node::Bool
        }
        b'f' => {
            *pos += 5;
            Node::Bool
        }
        b'n' => {
            *pos += 4;
            Node::Null
        }
        _ => {
            let (end, _) = scan_number(input, *pos).expect("validated number");
            *pos = end;
            Node::Number
        }
    }
}

/// Skips a validated container without recursion.
fn skip_container(input: &[u8], pos: &mut usize) {
    let mut depth = 0usize;
    while *pos < input.len() {
        match input[*pos] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    *pos += 1;
                    return;
                }
            }
            b'"' => {
                *pos = scan_string(input, *pos + 1).expect("validated string");
                continue;
            }
            _ => {}
        }
        *pos += 1;
    }
}

/// Reads a validated string at `pos` (on its opening quote), unescaping as Go does: invalid
/// UTF-8 bytes and unpaired surrogates become U+FFFD.
fn read_string(input: &[u8], pos: &mut usize) -> String {
    let mut out = String::new();
    let mut i = *pos + 1;
    loop {
        match input[i] {
            b'"' => {
                *pos = i + 1;
                return out;
            }
            b'\\' => {
                let e = input[i + 1];
                i += 2;
                match e {
                    b'b' => out.push('\x08'),
                    b'f' => out.push('\x0c'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let first = hex4(&input[i..i + 4]);
                        i += 4;
                        if (0xd800..0xe000).contains(&first) {
                            let pair = (input.get(i) == Some(&b'\\')
                                && input.get(i + 1) == Some(&b'u'))
                            .then(|| hex4(&input[i + 2..i + 6]));
                            match pair {
                                Some(second)
                                    if (0xd800..0xdc00).contains(&first)
                                        && (0xdc00..0xe000).contains(&second) =>
                                {
                                    let code =
                                        0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                    i += 6;
                                }
                                _ => out.push('\u{fffd}'),
                            }
                        } else {
                            out.push(char::from_u32(first).unwrap_or('\u{fffd}'));
                        }
                    }
                    other => out.push(char::from(other)),
                }
            }
            c if c < 0x80 => {
                out.push(char::from(c));
                i += 1;
            }
            _ => {
                let width = utf8_width(&input[i..]);
                match width {
                    Some(w) => {
                        out.push_str(std::str::from_utf8(&input[i..i + w]).expect("checked width"));
                        i += w;
                    }
                    None => {
                        out.push('\u{fffd}');
                        i += 1;
                    }
                }
            }
        }
    }
}

fn hex4(h: &[u8]) -> u32 {
    h.iter().fold(0, |acc, &c| {
        acc * 16 + (c as char).to_digit(16).expect("validated hex")
    })
}

/// The width of the valid UTF-8 character at the start of `s`, if there is one.
fn utf8_width(s: &[u8]) -> Option<usize> {
    (2..=4).find(|&w| s.len() >= w && std::str::from_utf8(&s[..w]).is_ok())
}

// ---------------------------------------------------------------------------------------------
// Typed decoding

struct Ctx<'a> {
    disallow_unknown: bool,
    first_error: &'a mut Option<String>,
}

impl Ctx<'_> {
    fn save(&mut self, err: String) {
        if self.first_error.is_none() {
            *self.first_error = Some(err);
        }
    }
}

/// The error context of Go's decoder: the innermost struct and the field path.
#[derive(Clone)]
struct Path {
    struct_name: Option<&'static str>,
    fields: Vec<&'static str>,
}

fn type_error(value: &str, go_type: &str, path: &Path) -> String {
    match path.struct_name {
        Some(s) => format!(
            "json: cannot unmarshal {value} into Go struct field {s}.{} of type {go_type}",
            path.fields.join(".")
        ),
        None => format!("json: cannot unmarshal {value} into Go value of type {go_type}"),
    }
}

fn decode_top(
    node: &Node,
    ty: &'static StructTy,
    disallow_unknown: bool,
) -> Result<Fields, String> {
    let mut first_error = None;
    let mut ctx = Ctx {
        disallow_unknown,
        first_error: &mut first_error,
    };
    let mut fields = Fields::new();
    let path = Path {
        struct_name: None,
        fields: Vec::new(),
    };
    match node {
        Node::Null => {}
        Node::Object(members) => decode_struct(members, ty, &mut fields, &path, &mut ctx),
        other => ctx.save(type_error(other.kind(), ty.qualified, &path)),
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(fields),
    }
}

fn decode_struct(
    members: &[(String, Node)],
    ty: &'static StructTy,
    fields: &mut Fields,
    path: &Path,
    ctx: &mut Ctx<'_>,
) {
    for (key, value) in members {
        let field = ty
            .fields
            .iter()
            .find(|(name, _)| *name == key)
            .or_else(|| ty.fields.iter().find(|(name, _)| equal_fold(name, key)));
        let Some((name, field_ty)) = field else {
            if ctx.disallow_unknown {
                ctx.save(format!(
                    "json: unknown field {}",
                    emulator_common::gofmt::quote(key)
                ));
            }
            continue;
        };
        let mut inner = path.clone();
        inner.struct_name = Some(ty.name);
        inner.fields.push(name);
        let slot = fields.entry(*name).or_insert(Out::Unset);
        decode_into(value, *field_ty, slot, &inner, ctx);
    }
}

fn decode_into(node: &Node, ty: Ty, slot: &mut Out, path: &Path, ctx: &mut Ctx<'_>) {
    if let Node::Null = node {
        // null leaves strings alone and clears slices, maps and pointers.
        if !matches!(ty, Ty::Str | Ty::Struct(_)) {
            *slot = Out::Unset;
        }
        return;
    }
    match ty {
        Ty::Str => match node {
            Node::Str(s) => *slot = Out::Str(s.clone()),
            other => ctx.save(type_error(other.kind(), "string", path)),
        },
        Ty::StrSlice => match node {
            Node::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    let mut element = Out::Unset;
                    decode_into(item, Ty::Str, &mut element, path, ctx);
                    list.push(match element {
                        Out::Str(s) => s,
                        _ => String::new(),
                    });
                }
                *slot = Out::List(list);
            }
            other => ctx.save(type_error(other.kind(), "[]string", path)),
        },
        Ty::StrMap => match node {
            Node::Object(members) => {
                // Go reuses an existing map, so a repeated key merges into it.
                let mut map = match std::mem::replace(slot, Out::Unset) {
                    Out::Map(m) => m,
                    _ => BTreeMap::new(),
                };
                for (key, value) in members {
                    let mut element = Out::Unset;
                    decode_into(value, Ty::Str, &mut element, path, ctx);
                    let text = match element {
                        Out::Str(s) => s,
                        _ => String::new(),
                    };
                    map.insert(key.clone(), text);
                }
                *slot = Out::Map(map);
            }
            other => ctx.save(type_error(other.kind(), "map[string]string", path)),
        },
        Ty::Struct(st) | Ty::PtrStruct(st) => match node {
            Node::Object(members) => {
                let mut fields = match std::mem::replace(slot, Out::Unset) {
                    Out::Struct(f) => f,
                    _ => Fields::new(),
                };
                decode_struct(members, st, &mut fields, path, ctx);
                *slot = Out::Struct(fields);
            }
            other => {
                if matches!(ty, Ty::PtrStruct(_)) && matches!(slot, Out::Unset) {
                    // Go allocates the pointer before it finds the type mismatch.
                    *slot = Out::Struct(Fields::new());
                }
                ctx.save(type_error(other.kind(), st.qualified, path))
            }
        },
    }
}

/// Go's case folding for field names (`strings.EqualFold` semantics for the names we use).
fn equal_fold(field: &str, key: &str) -> bool {
    let fold = |c: char| match c {
        '\u{212a}' => 'k',
        '\u{17f}' => 's',
        c => c.to_lowercase().next().unwrap_or(c),
    };
    field.chars().count() == key.chars().count()
        && field
            .chars()
            .zip(key.chars())
            .all(|(a, b)| fold(a) == fold(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    static INNER: StructTy = StructTy {
        qualified: "pkg.Inner",
        name: "Inner",
        fields: &[("Zone", Ty::Str)],
    };
    static REQ: StructTy = StructTy {
        qualified: "api.Req",
        name: "Req",
        fields: &[
            ("PeerName", Ty::Str),
            ("Meta", Ty::StrMap),
            ("Addrs", Ty::StrSlice),
            ("Inner", Ty::PtrStruct(&INNER)),
        ],
    };

    fn body(s: &str) -> Result<Fields, String> {
        decode_body(s.as_bytes(), &REQ)
    }

    #[test]
    fn decoder_errors_match_go() {
        assert_eq!(body("").unwrap_err(), "EOF");
        assert_eq!(body("  \n").unwrap_err(), "EOF");
        assert_eq!(body("{").unwrap_err(), "unexpected EOF");
        assert_eq!(body("{\"PeerName\":\"a").unwrap_err(), "unexpected EOF");
        assert_eq!(
            body("abc").unwrap_err(),
            "invalid character 'a' looking for beginning of value"
        );
        assert_eq!(
            body("{'a':1}").unwrap_err(),
            r"invalid character '\'' looking for beginning of object key string"
        );
        assert_eq!(
            body("{\"a\" 1}").unwrap_err(),
            "invalid character '1' after object key"
        );
        assert_eq!(
            body("{\"a\":1 \"b\"}").unwrap_err(),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(
            body("[1 2]").unwrap_err(),
            "invalid character '2' after array element"
        );
        assert_eq!(
            body("{\"a\":tru}").unwrap_err(),
            "invalid character '}' in literal true (expecting 'e')"
        );
        assert_eq!(
            body("{\"a\":-x}").unwrap_err(),
            "invalid character 'x' in numeric literal"
        );
        assert_eq!(
            body("{\"a\":\"\\x\"}").unwrap_err(),
            "invalid character 'x' in string escape code"
        );
        assert_eq!(
            body("{\"a\":\"\n\"}").unwrap_err(),
            r"invalid character '\n' in string literal"
        );
        assert_eq!(
            body("\u{e9}").unwrap_err(),
            "invalid character 'Ã' looking for beginning of value"
        );
    }

    #[test]
    fn decoder_reads_one_value_and_ignores_the_rest() {
        let f = body("{\"PeerName\":\"a\"} trailing garbage").unwrap();
        assert_eq!(f.string("PeerName"), "a");
        assert_eq!(body("null").unwrap(), Fields::new());
    }

    #[test]
    fn fields_match_case_insensitively_and_unknown_fields_fail() {
        let f = body(r#"{"peername":"x","META":{"k":"v"},"addrs":["a"]}"#).unwrap();
        assert_eq!(f.string("PeerName"), "x");
        assert_eq!(f.map("Meta").unwrap().get("k").unwrap(), "v");
        assert_eq!(f.list("Addrs").unwrap(), vec!["a".to_string()]);
        assert_eq!(
            body(r#"{"Datacenter":"dc1"}"#).unwrap_err(),
            r#"json: unknown field "Datacenter""#
        );
        let unknown_fields_ignored =
            unmarshal(br#"{"Datacenter":"dc1","PeerName":"p"}"#, &REQ).unwrap();
        assert_eq!(unknown_fields_ignored.string("PeerName"), "p");
    }

    #[test]
    fn type_errors_name_the_struct_and_field() {
        assert_eq!(
            body(r#"{"PeerName":5}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field Req.PeerName of type string"
        );
        assert_eq!(
            body(r#"{"Meta":{"a":true}}"#).unwrap_err(),
            "json: cannot unmarshal bool into Go struct field Req.Meta of type string"
        );
        assert_eq!(
            body(r#"{"Inner":{"Zone":[]}}"#).unwrap_err(),
            "json: cannot unmarshal array into Go struct field Inner.Inner.Zone of type string"
        );
        assert_eq!(
            body("[]").unwrap_err(),
            "json: cannot unmarshal array into Go value of type api.Req"
        );
        // The first error in document order wins.
        assert_eq!(
            body(r#"{"Nope":1,"PeerName":5}"#).unwrap_err(),
            r#"json: unknown field "Nope""#
        );
    }

    #[test]
    fn unmarshal_errors_match_go() {
        assert_eq!(
            unmarshal(b"", &REQ).unwrap_err(),
            "unexpected end of JSON input"
        );
        assert_eq!(
            unmarshal(b"{}x", &REQ).unwrap_err(),
            "invalid character 'x' after top-level value"
        );
    }

    #[test]
    fn strings_are_unescaped_like_go() {
        let f = body(r#"{"PeerName":"a\u00e9\ud83d\ude00\ud800z"}"#).unwrap();
        assert_eq!(f.string("PeerName"), "aé😀\u{fffd}z");
        let raw = b"{\"PeerName\":\"\xff\xc3\xa9\"}";
        assert_eq!(
            decode_body(raw, &REQ).unwrap().string("PeerName"),
            "\u{fffd}é"
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(body(&deep).unwrap_err(), "exceeded max depth");
        let nested = format!("{{\"X\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(body(&nested).unwrap_err(), r#"json: unknown field "X""#);
    }
}
