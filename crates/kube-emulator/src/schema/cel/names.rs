//! How property names appear in CEL (k8s.io/apiserver/pkg/cel escaping): reserved words as
//! `__name__`, and `__`, `.`, `-`, `/` spelled `__underscores__`, `__dot__`, `__dash__`,
//! `__slash__`. Names that cannot be escaped are not visible to rules.

const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

const ESCAPES: &[(&str, &str)] = &[
    ("__", "__underscores__"),
    (".", "__dot__"),
    ("-", "__dash__"),
    ("/", "__slash__"),
];

/// The identifier a rule uses for the property `name`, if it has one.
pub fn escape(name: &str) -> Option<String> {
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    'outer: while !rest.is_empty() {
        for (raw, escaped) in ESCAPES {
            if let Some(tail) = rest.strip_prefix(raw) {
                out.push_str(escaped);
                rest = tail;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The property a rule's identifier names.
pub fn unescape(ident: &str) -> Option<String> {
    if let Some(word) = ident.strip_prefix("__").and_then(|s| s.strip_suffix("__"))
        && RESERVED.contains(&word)
    {
        return Some(word.to_string());
    }
    let mut out = String::with_capacity(ident.len());
    let mut rest = ident;
    'outer: while !rest.is_empty() {
        for (raw, escaped) in ESCAPES {
            if let Some(tail) = rest.strip_prefix(escaped) {
                out.push_str(raw);
                rest = tail;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (escape(&out).as_deref() == Some(ident)).then_some(out)
}
