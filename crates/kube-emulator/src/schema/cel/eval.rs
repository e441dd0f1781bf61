//! Running a CRD's compiled rules on a create or update, as the real server's CEL validator
//! does: rules of a node before its descendants, `oldSelf` only where an old value correlates
//! (or as an optional), and ratcheting - a failure on a value that did not change is a warning.

use std::sync::Arc;

use ::cel::objects::OptionalValue;
use ::cel::{Context, ExecutionError, Value as Cel};
use serde_json::Value;

use super::super::{FieldError, bad_value};
use super::compile::{ENV, RuleNode};
use super::rule::CompiledRule;
use super::value::to_cel;

/// The failures of a write's rules: errors refuse it, warnings are ratcheted failures.
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: Vec<FieldError>,
    /// `<field>: <message>` of each failure on an unchanged value.
    pub warnings: Vec<String>,
}

pub fn validate(root: &RuleNode, new: &Value, old: Option<&Value>) -> Outcome {
    let mut out = Outcome::default();
    walk(root, new, old, "", &mut out);
    out
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn walk(node: &RuleNode, new: &Value, old: Option<&Value>, path: &str, out: &mut Outcome) {
    if new.is_null() {
        return;
    }
    let unchanged = old == Some(new);
    for rule in &node.rules {
        if let Some(err) = run(node, rule, new, old, path) {
            if unchanged && !rule.uses_old_self {
                out.warnings.push(err.summary());
            } else {
                out.errors.push(err);
            }
        }
    }
    let Value::Object(map) = new else {
        if let (Value::Array(items), Some(item_node)) = (new, &node.items) {
            for (i, item) in items.iter().enumerate() {
                let old_item = old.and_then(|o| correlate(node, item, o));
                walk(item_node, item, old_item, &format!("{path}[{i}]"), out);
            }
        }
        return;
    };
    for (name, child) in &node.properties {
        if let Some(v) = map.get(name) {
            walk(
                child,
                v,
                old.and_then(|o| o.get(name)),
                &child_path(path, name),
                out,
            );
        }
    }
    if let Some(child) = &node.additional {
        for (key, v) in map {
            walk(
                child,
                v,
                old.and_then(|o| o.get(key)),
                &format!("{path}[{key}]"),
                out,
            );
        }
    }
}

/// The old item a new list item is compared with: by key for `map` lists, by value for `set`s.
fn correlate<'a>(node: &RuleNode, item: &Value, old: &'a Value) -> Option<&'a Value> {
    let olds = old.as_array()?;
    match node.list_type.as_deref() {
        Some("map") => olds
            .iter()
            .find(|o| node.list_map_keys.iter().all(|k| o.get(k) == item.get(k))),
        Some("set") => olds.iter().find(|o| *o == item),
        _ => None,
    }
}

/// The failure of one rule on one value, if it fails.
fn run(
    node: &RuleNode,
    rule: &CompiledRule,
    new: &Value,
    old: Option<&Value>,
    path: &str,
) -> Option<FieldError> {
    let optional = rule.spec.optional_old_self == Some(true);
    if rule.uses_old_self && old.is_none() && !optional {
        return None;
    }
    let mut ctx = Context::with_env(Arc::clone(&ENV));
    ctx.add_variable_from_value("self", to_cel(new, &node.decl));
    if rule.uses_old_self {
        let old_value = old.map(|o| to_cel(o, &node.decl));
        let old_var = match (optional, old_value) {
            (true, Some(v)) => Cel::Opaque(Arc::new(OptionalValue::of(v))),
            (true, None) => Cel::Opaque(Arc::new(OptionalValue::none())),
            (false, v) => v.unwrap_or(Cel::Null),
        };
        ctx.add_variable_from_value("oldSelf", old_var);
    }
    match rule.program.execute(&ctx) {
        Ok(Cel::Bool(true)) => None,
        Ok(Cel::Bool(false)) => Some(rule_failure(rule, new, path, &ctx)),
        Ok(_) => Some(eval_failure(node, rule, "no such overload", path)),
        Err(e) => Some(eval_failure(node, rule, &error_text(&e), path)),
    }
}

/// `fieldErrorForReason`: the rule's message (or messageExpression) under its reason; objects
/// and lists show no value.
fn rule_failure(rule: &CompiledRule, new: &Value, path: &str, ctx: &Context) -> FieldError {
    let text = rule
        .message_program
        .as_ref()
        .and_then(|p| match p.execute(ctx) {
            Ok(Cel::String(s)) if !s.trim().is_empty() && !s.contains('\n') => Some(s.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| rule.spec.message_or_default());
    let field = match (path.is_empty(), rule.field_path.is_empty()) {
        (_, true) => shown_path(path),
        (true, false) => rule.field_path.clone(),
        (false, false) => format!("{path}.{}", rule.field_path),
    };
    let shown = match new {
        Value::Object(_) | Value::Array(_) => None,
        v => Some(bad_value(v)),
    };
    let (reason, message) = match rule.spec.reason.as_deref() {
        Some("FieldValueForbidden") => ("FieldValueForbidden", format!("Forbidden: {text}")),
        Some("FieldValueRequired") => ("FieldValueRequired", format!("Required value: {text}")),
        Some("FieldValueDuplicate") => (
            "FieldValueDuplicate",
            shown.map_or("Duplicate value".into(), |v| {
                format!("Duplicate value: {v}")
            }),
        ),
        _ => (
            "FieldValueInvalid",
            match shown {
                Some(v) => format!("Invalid value: {v}: {text}"),
                None => format!("Invalid value: {text}"),
            },
        ),
    };
    FieldError {
        reason: reason.into(),
        field,
        message,
    }
}

/// A rule that could not be evaluated: reported at its own node, whatever its reason and
/// fieldPath, with the schema type as the value.
fn eval_failure(node: &RuleNode, rule: &CompiledRule, error: &str, path: &str) -> FieldError {
    FieldError {
        reason: "FieldValueInvalid".into(),
        field: shown_path(path),
        message: format!(
            "Invalid value: {}: {error} evaluating rule: {}",
            emulator_common::gofmt::quote(&node.schema_type),
            rule.spec.message_or_default()
        ),
    }
}

/// The root's path prints as Go prints a nil `*field.Path`.
fn shown_path(path: &str) -> String {
    if path.is_empty() {
        "<nil>".into()
    } else {
        path.to_string()
    }
}

/// cel-go's wording of an evaluation error.
fn error_text(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::NoSuchOverload(_) | ExecutionError::UnsupportedBinaryOperator(..) => {
            "no such overload".into()
        }
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".into(),
        ExecutionError::Overflow(..) => "integer overflow".into(),
        ExecutionError::IndexOutOfBounds(i) => format!("index out of range: {i:?}"),
        ExecutionError::FunctionError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
