//! A port of the order and messages of kube-openapi's `SchemaValidator` as the API server runs
//! it on custom resources: per value, the type check, `allOf`/`anyOf`/`oneOf`/`not`, string
//! limits, format, numeric limits, array limits, `enum`, then object keywords (which recurse).

use serde_json::Value;

use super::formats;
use super::node::{Additional, Node};
use super::openapi_errors::{Code, OpenApiError, invalid_type};
use emulator_common::gofmt;

/// Validates `data` at `path` (the validator's own spelling, "" for the root). `old` is the
/// correlated value of the object being updated: a value equal to it keeps its errors to itself
/// (the server's validation ratcheting).
pub fn validate(
    node: &Node,
    data: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OpenApiError>,
) {
    if old == Some(data) {
        return;
    }
    if data.is_null() {
        if !node.types.is_empty() && !node.types.iter().any(|t| t == "null") && !node.nullable {
            out.push(invalid_type(
                path,
                &node.types.join(","),
                Value::String("null".into()),
            ));
        }
        check_enum(node, data, path, out);
        return;
    }
    if !node.types.is_empty() || !node.format.is_empty() {
        check_type(node, data, path, out);
    }
    check_composition(node, data, old, path, out);
    if let Value::String(s) = data {
        check_string(node, s, path, out);
        if !node.format.is_empty() && !formats::is_valid(&node.format, s) {
            out.push(invalid_type(path, &node.format, data.clone()));
        }
    }
    if let Value::Number(_) = data {
        check_number(node, data, path, out);
    }
    if let Value::Array(items) = data {
        check_array(node, items, old, path, out);
    }
    check_enum(node, data, path, out);
    if let Value::Object(map) = data {
        check_object(node, map, old, path, out);
    }
}

/// The JSON type the validator infers for a decoded value (integers are int64, others float64).
fn json_type(data: &Value) -> &'static str {
    match data {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// swag.IsFloat64AJSONInteger.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    f.is_finite() && (-MAX..=MAX).contains(&f) && f.fract() == 0.0
}

fn check_type(node: &Node, data: &Value, path: &str, out: &mut Vec<OpenApiError>) {
    let sch_type = json_type(data);
    // The format the validator infers from a Go value: only numbers have one.
    let inferred_format = match sch_type {
        "integer" => "int64",
        "number" => "float64",
        _ => "",
    };
    let has = |t: &str| node.types.iter().any(|x| x == t);
    let is_float_int =
        sch_type == "number" && data.as_f64().is_some_and(is_json_integer) && has("integer");
    let is_int_float = sch_type == "integer" && has("number");
    let is_string_or_slice = matches!(data, Value::String(_) | Value::Array(_));
    let has_format = !node.format.is_empty();
    let type_accepted = has(sch_type) || is_float_int || is_int_float;
    let format_accepted = type_accepted || inferred_format == node.format;
    if has_format && !is_string_or_slice && !format_accepted {
        out.push(invalid_type(
            path,
            &node.format,
            Value::String(inferred_format.into()),
        ));
        return;
    }
    let numeric = has("number") || has("integer");
    if has_format && is_string_or_slice && !numeric {
        return;
    }
    if !type_accepted {
        out.push(invalid_type(
            path,
            &node.types.join(","),
            Value::String(sch_type.into()),
        ));
    }
}

/// Errors of one subschema, for the composition keywords.
fn sub_errors(node: &Node, data: &Value, old: Option<&Value>, path: &str) -> Vec<OpenApiError> {
    let mut errs = Vec::new();
    validate(node, data, old, path, &mut errs);
    errs
}

fn check_composition(
    node: &Node,
    data: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OpenApiError>,
) {
    if !node.any_of.is_empty() {
        let results: Vec<_> = node
            .any_of
            .iter()
            .map(|s| sub_errors(s, data, old, path))
            .collect();
        if !results.iter().any(Vec::is_empty) {
            out.push(OpenApiError::Plain(format!(
                "{} must validate at least one schema (anyOf)",
                gofmt::quote(path)
            )));
            // The real validator keeps the failures of the best-matching branch.
            if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                out.extend(best);
            }
        }
    }
    if !node.one_of.is_empty() {
        let results: Vec<_> = node
            .one_of
            .iter()
            .map(|s| sub_errors(s, data, old, path))
            .collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let detail = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            out.push(OpenApiError::Plain(format!(
                "{} must validate one and only one schema (oneOf). {detail}",
                gofmt::quote(path)
            )));
            if valid == 0
                && let Some(best) = results.into_iter().min_by_key(Vec::len)
            {
                out.extend(best);
            }
        }
    }
    if !node.all_of.is_empty() {
        let mut validated = 0;
        for sub in &node.all_of {
            let errs = sub_errors(sub, data, old, path);
            if errs.is_empty() {
                validated += 1;
            }
            out.extend(errs);
        }
        if validated != node.all_of.len() {
            let detail = if validated == 0 {
                ". None validated"
            } else {
                ""
            };
            out.push(OpenApiError::Plain(format!(
                "{} must validate all the schemas (allOf){detail}",
                gofmt::quote(path)
            )));
        }
    }
    if let Some(not) = &node.not
        && sub_errors(not, data, old, path).is_empty()
    {
        out.push(OpenApiError::Plain(format!(
            "{} must not validate the schema (not)",
            gofmt::quote(path)
        )));
    }
}

fn check_string(node: &Node, s: &str, path: &str, out: &mut Vec<OpenApiError>) {
    let value = || Some(Value::String(s.to_string()));
    let len = s.chars().count() as i64;
    if let Some(max) = node.max_length
        && len > max
    {
        out.push(
            OpenApiError::validation(
                Code::TooLong,
                path,
                value(),
                format!("{path} in body should be at most {max} chars long"),
            )
            .with_valid(max),
        );
        return;
    }
    if let Some(min) = node.min_length
        && len < min
    {
        out.push(OpenApiError::validation(
            Code::Other,
            path,
            value(),
            format!("{path} in body should be at least {min} chars long"),
        ));
        return;
    }
    if let Some(pattern) = &node.pattern {
        let shown = match &pattern.regex {
            Ok(re) if re.is_match(s) => return,
            Ok(_) => pattern.source.clone(),
            Err(e) => format!("{}, but pattern is invalid: {e}", pattern.source),
        };
        out.push(OpenApiError::validation(
            Code::Other,
            path,
            value(),
            format!("{path} in body should match '{shown}'"),
        ));
    }
}

/// A number as the Go validator holds it: int64 for integers, float64 otherwise.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn of(v: &Value) -> Num {
        match v.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(v.as_f64().unwrap_or(0.0)),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn value(self) -> Value {
        match self {
            Num::Int(i) => Value::from(i),
            Num::Float(f) => Value::from(f),
        }
    }
}

/// `%v` of the limit as Go holds it: an int64 limit for integer data, float64 otherwise.
fn show_limit(data: Num, limit: f64) -> String {
    match data {
        Num::Int(_) => (limit as i64).to_string(),
        Num::Float(_) => gofmt::float_v(limit),
    }
}

/// `IsValueValidAgainstRange`: whether a number fits the schema's single type and format.
fn range_error(n: Num, type_name: &str, format: &str, prefix: &str, path: &str) -> Option<String> {
    let ok = match (type_name, format) {
        ("integer", "int32") => match n {
            Num::Int(i) => i32::try_from(i).is_ok(),
            Num::Float(f) => {
                is_plain_integer(f) && (i32::MIN as f64..=i32::MAX as f64).contains(&f)
            }
        },
        ("integer", _) => match n {
            Num::Int(_) => true,
            Num::Float(f) => is_plain_integer(f) && (i64::MIN as f64..i64::MAX as f64).contains(&f),
        },
        (_, "float") => n.as_f64().abs() <= f32::MAX as f64,
        _ => true,
    };
    if ok {
        return None;
    }
    Some(if format.is_empty() {
        format!("{prefix} value must be of type {type_name} (default format) in {path}")
    } else {
        format!("{prefix} value must be of type {type_name} with format {format} in {path}")
    })
}

/// Whether Go's `strconv.FormatFloat(f, 'f', -1, 64)` yields a plain integer literal.
fn is_plain_integer(f: f64) -> bool {
    f.is_finite() && f.fract() == 0.0
}

fn check_number(node: &Node, data: &Value, path: &str, out: &mut Vec<OpenApiError>) {
    let n = Num::of(data);
    let (type_name, format) = match node.types.as_slice() {
        [t] if t == "integer" => ("integer", node.format.as_str()),
        [t] if t == "number" => ("number", node.format.as_str()),
        _ => ("", ""),
    };
    if let Some(e) = range_error(n, type_name, format, "Checked", path) {
        out.push(OpenApiError::Plain(e));
    }
    let mut multiple = Vec::new();
    if let Some(factor) = node.multiple_of {
        let native = match range_error(Num::Float(factor), type_name, format, "MultipleOf", path) {
            Some(e) => {
                multiple.push(OpenApiError::Plain(e));
                Num::Float(n.as_f64())
            }
            None => n,
        };
        if let Some(e) = multiple_of(native, factor, path) {
            multiple.push(e);
        }
    }
    let mut minimum = Vec::new();
    if let Some(min) = node.minimum {
        let native = match range_error(Num::Float(min), type_name, format, "Minimum boundary", path)
        {
            Some(e) => {
                minimum.push(OpenApiError::Plain(e));
                Num::Float(n.as_f64())
            }
            None => n,
        };
        let below = match native {
            Num::Int(i) => {
                let m = min as i64;
                if node.exclusive_minimum {
                    i <= m
                } else {
                    i < m
                }
            }
            Num::Float(f) => {
                if node.exclusive_minimum {
                    f <= min
                } else {
                    f < min
                }
            }
        };
        if below {
            let op = if node.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            minimum.push(OpenApiError::validation(
                Code::Other,
                path,
                Some(native.value()),
                format!("{path} in body should be {op} {}", show_limit(native, min)),
            ));
        }
    }
    let mut maximum = Vec::new();
    if let Some(max) = node.maximum {
        let native = match range_error(Num::Float(max), type_name, format, "Maximum boundary", path)
        {
            Some(e) => {
                maximum.push(OpenApiError::Plain(e));
                Num::Float(n.as_f64())
            }
            None => n,
        };
        let above = match native {
            Num::Int(i) => {
                let m = max as i64;
                if node.exclusive_maximum {
                    i >= m
                } else {
                    i > m
                }
            }
            Num::Float(f) => {
                if node.exclusive_maximum {
                    f >= max
                } else {
                    f > max
                }
            }
        };
        if above {
            let op = if node.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            maximum.push(OpenApiError::validation(
                Code::Other,
                path,
                Some(native.value()),
                format!("{path} in body should be {op} {}", show_limit(native, max)),
            ));
        }
    }
    out.extend(multiple);
    out.extend(minimum);
    out.extend(maximum);
}

fn multiple_of(n: Num, factor: f64, path: &str) -> Option<OpenApiError> {
    let positive = |shown: Value, text: String| {
        Some(OpenApiError::validation(
            Code::Other,
            path,
            Some(shown),
            format!("factor MultipleOf declared for {path} must be positive: {text}"),
        ))
    };
    match n {
        Num::Int(i) => {
            let f = factor as i64;
            if f <= 0 {
                return positive(Value::from(f), f.to_string());
            }
            (i % f != 0).then(|| {
                OpenApiError::validation(
                    Code::Other,
                    path,
                    Some(Value::from(i)),
                    format!("{path} in body should be a multiple of {f}"),
                )
            })
        }
        Num::Float(x) => {
            if factor <= 0.0 {
                return positive(Value::from(factor), gofmt::float_v(factor));
            }
            let mult = if factor < 1.0 {
                1.0 / factor * x
            } else {
                x / factor
            };
            (!is_json_integer(mult)).then(|| {
                OpenApiError::validation(
                    Code::Other,
                    path,
                    Some(Value::from(x)),
                    format!(
                        "{path} in body should be a multiple of {}",
                        gofmt::float_v(factor)
                    ),
                )
            })
        }
    }
}

/// The old item an array item correlates with: only `x-kubernetes-list-type: map` items do,
/// by their keys.
fn correlated_item<'a>(node: &Node, item: &Value, old: Option<&'a Value>) -> Option<&'a Value> {
    if node.list_type.as_deref() != Some("map") || node.list_map_keys.is_empty() {
        return None;
    }
    let key = |v: &Value| -> Vec<Option<Value>> {
        node.list_map_keys
            .iter()
            .map(|k| v.get(k).cloned())
            .collect()
    };
    let wanted = key(item);
    old?.as_array()?.iter().find(|o| key(o) == wanted)
}

fn check_array(
    node: &Node,
    items: &[Value],
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OpenApiError>,
) {
    if let Some(item_schema) = &node.items {
        for (i, item) in items.iter().enumerate() {
            let old_item = correlated_item(node, item, old);
            validate(item_schema, item, old_item, &format!("{path}[{i}]"), out);
        }
    }
    let size = items.len() as i64;
    if let Some(min) = node.min_items
        && size < min
    {
        out.push(OpenApiError::validation(
            Code::Other,
            path,
            Some(Value::from(size)),
            format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = node.max_items
        && size > max
    {
        out.push(
            OpenApiError::validation(
                Code::MaxItems,
                path,
                Some(Value::from(size)),
                format!("{path} in body should have at most {max} items"),
            )
            .with_valid(max),
        );
    }
    if node.unique_items {
        let duplicate = items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].iter().any(|b| a == b));
        if duplicate {
            out.push(OpenApiError::validation(
                Code::Other,
                path,
                None,
                format!("{path} in body shouldn't contain duplicates"),
            ));
        }
    }
}

/// Whether Go's enum check (`reflect` conversion to the enum value's type, then DeepEqual)
/// accepts `data` for `allowed`.
fn enum_matches(data: &Value, allowed: &Value) -> bool {
    match (data, allowed) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(d), Value::Number(a)) => match (Num::of(data), Num::of(allowed)) {
            (Num::Int(x), Num::Int(y)) => x == y,
            (Num::Int(x), Num::Float(y)) => x as f64 == y,
            // Go converts a float to the int64 enum type by truncation.
            (Num::Float(x), Num::Int(y)) => x.is_finite() && x.trunc() as i64 == y,
            (Num::Float(_), Num::Float(_)) => d.as_f64() == a.as_f64(),
        },
        // Go converts an int64 to a string as a rune.
        (Value::Number(_), Value::String(s)) => match Num::of(data) {
            Num::Int(i) => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                s.chars().eq(std::iter::once(c))
            }
            Num::Float(_) => false,
        },
        _ => data == allowed,
    }
}

fn check_enum(node: &Node, data: &Value, path: &str, out: &mut Vec<OpenApiError>) {
    if node.enum_values.is_empty() || node.enum_values.iter().any(|a| enum_matches(data, a)) {
        return;
    }
    out.push(
        OpenApiError::validation(
            Code::Enum,
            path,
            Some(data.clone()),
            format!("{path} in body should be one of {:?}", node.enum_values),
        )
        .with_values(node.enum_values.clone()),
    );
}

fn check_object(
    node: &Node,
    map: &serde_json::Map<String, Value>,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OpenApiError>,
) {
    let old_child = |key: &str| old.and_then(|o| o.get(key));
    let size = map.len() as i64;
    if let Some(min) = node.min_properties
        && size < min
    {
        out.push(OpenApiError::validation(
            Code::Other,
            path,
            Some(Value::from(size)),
            format!("{path} in body should have at least {min} properties"),
        ));
    }
    if let Some(max) = node.max_properties
        && size > max
    {
        out.push(
            OpenApiError::validation(
                Code::TooManyProperties,
                path,
                Some(Value::from(size)),
                format!("{path} in body should have at most {max} properties"),
            )
            .with_valid(max),
        );
    }
    match &node.additional {
        Some(Additional::Allows(false)) => {
            for key in map.keys().filter(|k| !node.properties.contains_key(*k)) {
                out.push(OpenApiError::validation(
                    Code::Other,
                    path,
                    Some(Value::String(key.clone())),
                    format!("{path}.{key} in body is a forbidden property"),
                ));
            }
        }
        Some(Additional::Schema(schema)) => {
            for (key, value) in map
                .iter()
                .filter(|(k, _)| !node.properties.contains_key(*k))
            {
                validate(schema, value, old_child(key), &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
    // The real server walks properties in Go map order (random); required ones go first here,
    // which reproduces the order captured in the spec.
    let (required, optional): (Vec<_>, Vec<_>) = node
        .properties
        .iter()
        .partition(|(name, _)| node.required.iter().any(|r| r == *name));
    for (name, schema) in required.into_iter().chain(optional) {
        if let Some(value) = map.get(name) {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            validate(schema, value, old_child(name), &child, out);
        }
    }
    for name in &node.required {
        if !map.contains_key(name) {
            let child = format!("{path}.{name}");
            out.push(OpenApiError::validation(
                Code::Required,
                &child,
                None,
                format!("{child} in body is required"),
            ));
        }
    }
}
