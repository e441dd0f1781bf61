//! Label and field selectors as the real server parses and applies them.

use serde_json::Value;

use crate::status::ApiError;

/// The object a fieldSelector names with `metadata.name=<name>` (or `==`), as the API server
/// reads it to authorize a list or watch of one object (`RequestInfoFactory`); only names that
/// are valid path segments count.
pub fn exact_name(field_selector: &str) -> Option<String> {
    let name = field_selector.split(',').find_map(|term| {
        let term = term.trim();
        term.strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))
    })?;
    let valid = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%']);
    valid.then(|| name.to_string())
}

/// Whether a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`) selects these
/// labels; an empty one selects everything.
pub fn selects(selector: &Value, labels: Option<&serde_json::Map<String, Value>>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let by_expressions = selector["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e["operator"].as_str().unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
    });
    by_labels && by_expressions
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Equals,
    NotEquals,
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Greater(i64),
    Less(i64),
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    value: String,
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Comma,
    Open,
    Close,
    Eq,
    DoubleEq,
    NotEq,
    Not,
    Gt,
    Lt,
}

fn describe(t: &Token) -> String {
    match t {
        Token::Ident(s) => s.clone(),
        Token::Comma => ",".into(),
        Token::Open => "(".into(),
        Token::Close => ")".into(),
        Token::Eq => "=".into(),
        Token::DoubleEq => "==".into(),
        Token::NotEq => "!=".into(),
        Token::Not => "!".into(),
        Token::Gt => ">".into(),
        Token::Lt => "<".into(),
    }
}

fn tokenize(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            '=' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Token::DoubleEq);
                    i += 2
                } else {
                    out.push(Token::Eq);
                    i += 1
                }
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Token::NotEq);
                    i += 2
                } else {
                    out.push(Token::Not);
                    i += 1
                }
            }
            '>' => {
                out.push(Token::Gt);
                i += 1
            }
            '<' => {
                out.push(Token::Lt);
                i += 1
            }
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r,()=!<>".contains(chars[i]) {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
        }
    }
    out
}

fn parse_error(detail: String) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {detail}"))
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<LabelSelector, ApiError> {
        let tokens = tokenize(input);
        let mut pos = 0;
        let mut requirements = Vec::new();
        if tokens.is_empty() {
            return Ok(LabelSelector::default());
        }
        loop {
            let (req, next) = parse_requirement(&tokens, pos)?;
            requirements.push(req);
            pos = next;
            match tokens.get(pos) {
                None => break,
                Some(Token::Comma) => {
                    pos += 1;
                    if pos >= tokens.len() {
                        return Err(parse_error(
                            "found '', expected: identifier after ','".into(),
                        ));
                    }
                }
                Some(t) => {
                    return Err(parse_error(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        describe(t)
                    )));
                }
            }
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with these labels matches.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match (&r.op, value) {
                (Op::Exists, v) => v.is_some(),
                (Op::DoesNotExist, v) => v.is_none(),
                (Op::Equals, Some(v)) => v == r.value,
                (Op::Equals, None) => false,
                (Op::NotEquals, v) => v != Some(r.value.as_str()),
                (Op::In(vals), Some(v)) => vals.iter().any(|x| x == v),
                (Op::In(_), None) => false,
                (Op::NotIn(vals), v) => v.is_none_or(|v| !vals.iter().any(|x| x == v)),
                (Op::Greater(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x > *n),
                (Op::Less(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x < *n),
                (Op::Greater(_) | Op::Less(_), None) => false,
            }
        })
    }
}

fn ident(tokens: &[Token], pos: usize) -> Option<String> {
    match tokens.get(pos) {
        Some(Token::Ident(s)) => Some(s.clone()),
        _ => None,
    }
}

fn parse_requirement(tokens: &[Token], pos: usize) -> Result<(Requirement, usize), ApiError> {
    if tokens.get(pos) == Some(&Token::Not) {
        let key = ident(tokens, pos + 1)
            .ok_or_else(|| parse_error("found '', expected: identifier after '!'".to_string()))?;
        return Ok((
            Requirement {
                key,
                op: Op::DoesNotExist,
                value: String::new(),
            },
            pos + 2,
        ));
    }
    let key = match tokens.get(pos) {
        Some(Token::Ident(s)) => s.clone(),
        Some(t) => {
            return Err(parse_error(format!(
                "found '{}', expected: !, identifier, or 'end of string'",
                describe(t)
            )));
        }
        None => return Err(parse_error("found '', expected: identifier".into())),
    };
    let pos = pos + 1;
    let op_token = tokens.get(pos);
    let exists = Requirement {
        key: key.clone(),
        op: Op::Exists,
        value: String::new(),
    };
    match op_token {
        None | Some(Token::Comma) => Ok((exists, pos)),
        Some(Token::Eq) | Some(Token::DoubleEq) | Some(Token::NotEq) => {
            let value = ident(tokens, pos + 1).unwrap_or_default();
            let consumed = if ident(tokens, pos + 1).is_some() {
                2
            } else {
                1
            };
            let op = if op_token == Some(&Token::NotEq) {
                Op::NotEquals
            } else {
                Op::Equals
            };
            Ok((Requirement { key, op, value }, pos + consumed))
        }
        Some(Token::Gt) | Some(Token::Lt) => {
            let raw = ident(tokens, pos + 1).unwrap_or_default();
            let n: i64 = raw.parse().map_err(|_| {
                parse_error("for 'Gt', 'Lt' operators, the value must be an integer".to_string())
            })?;
            let op = if op_token == Some(&Token::Gt) {
                Op::Greater(n)
            } else {
                Op::Less(n)
            };
            Ok((
                Requirement {
                    key,
                    op,
                    value: raw,
                },
                pos + 2,
            ))
        }
        Some(Token::Ident(word)) if word == "in" || word == "notin" => {
            let mut p = pos + 1;
            if tokens.get(p) != Some(&Token::Open) {
                return Err(parse_error(format!(
                    "found '{}', expected: '('",
                    tokens.get(p).map(describe).unwrap_or_default()
                )));
            }
            p += 1;
            let mut values = Vec::new();
            loop {
                match tokens.get(p) {
                    Some(Token::Ident(v)) => {
                        values.push(v.clone());
                        p += 1;
                    }
                    Some(Token::Comma) => p += 1,
                    Some(Token::Close) => {
                        p += 1;
                        break;
                    }
                    other => {
                        return Err(parse_error(format!(
                            "found '{}', expected: ',', ')' or identifier",
                            other.map(describe).unwrap_or_default()
                        )));
                    }
                }
            }
            let op = if word == "in" {
                Op::In(values)
            } else {
                Op::NotIn(values)
            };
            Ok((
                Requirement {
                    key,
                    op,
                    value: String::new(),
                },
                p,
            ))
        }
        Some(t) => Err(parse_error(format!(
            "found '{}', expected: in, notin, =, ==, !=, gt, lt",
            describe(t)
        ))),
    }
}

/// A parsed `fieldSelector`: `field=value`, `field==value`, `field!=value`, comma separated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses and checks each field against the ones the kind supports.
    pub fn parse(input: &str, supported: &[&str]) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let actual = field_value(object, field);
            (actual == *value) == *equal
        })
    }
}

/// The string value of a selectable field (`metadata.name`, `type`, `involvedObject.kind`...).
fn field_value(object: &Value, field: &str) -> String {
    let mut current = object;
    for part in field.split('.') {
        match current.get(part) {
            Some(v) => current = v,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn all_label_operators() {
        let l = labels(json!({"idx": "3", "pg": "yes"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(m("idx=3"));
        assert!(m("idx==3"));
        assert!(!m("idx!=3"));
        assert!(m("idx in (1,3)"));
        assert!(!m("idx notin (1,3)"));
        assert!(m("idx"));
        assert!(!m("!idx"));
        assert!(m("!other"));
        assert!(m("idx>2"));
        assert!(!m("idx<2"));
        assert!(m("idx!=1,pg=yes"));
        assert!(LabelSelector::parse("").unwrap().matches(None));
    }

    #[test]
    fn bad_selector_message_matches_the_real_server() {
        let err = LabelSelector::parse("bad label =").unwrap_err();
        assert_eq!(
            err.message,
            "unable to parse requirement: found 'label', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err.code, 400);
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "page-2", "namespace": "ns"}, "type": "Opaque"});
        let sup = ["metadata.name", "metadata.namespace"];
        assert!(
            FieldSelector::parse("metadata.name=page-2", &sup)
                .unwrap()
                .matches(&obj)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=page-2", &sup)
                .unwrap()
                .matches(&obj)
        );
        assert!(
            FieldSelector::parse("metadata.name!=x,metadata.namespace==ns", &sup)
                .unwrap()
                .matches(&obj)
        );
        let err = FieldSelector::parse("spec.size=2", &sup).unwrap_err();
        assert_eq!(err.message, "field label not supported: spec.size");
    }
}
