//! Compiling a CRD schema's rules: the tree of nodes that carry rules (built once when the
//! CRD is stored) and the errors the real server gives a CRD whose rules do not compile, do not
//! return a bool, or are estimated to cost more than the budget.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use ::cel::Env;
use serde_json::Value;

use super::super::FieldError;
use super::check::{self, CheckError, Var};
use super::decl::{Decl, MAX_REQUEST_SIZE_BYTES};
use super::library;
use super::rule::{CompiledRule, REASONS, RuleSpec};
use super::types::Ty;

/// `StaticEstimatedCostLimit`: the most one rule may be estimated to cost.
pub const RULE_COST_LIMIT: u64 = 10_000_000;
/// `StaticEstimatedCRDCostLimit`: the most all rules of a schema may cost together.
pub const CRD_COST_LIMIT: u64 = 100_000_000;
/// How many of the most expensive rules are named when the total is over.
const MOST_EXPENSIVE: usize = 4;

/// The Kubernetes CEL environment, built once.
pub static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(library::env()));

/// A schema node that carries rules, or has descendants that do.
#[derive(Debug)]
pub struct RuleNode {
    pub decl: Arc<Decl>,
    /// The schema `type` (`object`, `string`, ...), the bad value of evaluation errors.
    pub schema_type: String,
    pub rules: Vec<CompiledRule>,
    pub properties: BTreeMap<String, RuleNode>,
    pub additional: Option<Box<RuleNode>>,
    pub items: Option<Box<RuleNode>>,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
}

/// What compiling a schema's rules found.
pub struct Compiled {
    pub root: Option<RuleNode>,
    pub errors: Vec<FieldError>,
}

#[derive(Default)]
struct Walk {
    schema_errors: Vec<FieldError>,
    cel_errors: Vec<FieldError>,
    /// (path, cost) of every rule and messageExpression.
    costs: Vec<(String, u64)>,
}

/// Compiles every rule of `schema`; `base` is the path CRD errors start with
/// (`spec.validation.openAPIV3Schema`).
pub fn compile(schema: &Value, base: &str) -> Compiled {
    let mut walk = Walk::default();
    let root = root_decl(schema).and_then(|decl| {
        let ctx = NodeCtx {
            path: base.to_string(),
            cardinality: Some(1),
            uncorrelatable: None,
        };
        walk.node(schema, decl, &ctx)
    });
    let mut errors = walk.schema_errors;
    errors.extend(walk.cel_errors);
    let total = walk
        .costs
        .iter()
        .fold(0u64, |a, (_, c)| a.saturating_add(*c));
    if total > CRD_COST_LIMIT {
        let mut costs = walk.costs;
        costs.sort_by_key(|c| std::cmp::Reverse(c.1));
        // Rules under 1% of the limit are not named (`TotalCost.ObserveExpressionCost`).
        let named = costs.iter().filter(|(_, c)| *c >= CRD_COST_LIMIT / 100);
        for (path, _) in named.take(MOST_EXPENSIVE) {
            errors.push(forbidden(path, "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema".into()));
        }
        let what = "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema";
        errors.push(forbidden(base, cost_message(what, total, CRD_COST_LIMIT)));
    }
    Compiled { root, errors }
}

/// The root is typed as a resource: `apiVersion`, `kind` and `metadata.name|generateName`.
fn root_decl(schema: &Value) -> Option<Arc<Decl>> {
    let mut root = schema.clone();
    if let Some(o) = root.as_object_mut() {
        o.insert("x-kubernetes-embedded-resource".into(), Value::Bool(true));
        if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
            props.remove("metadata");
            props.remove("apiVersion");
            props.remove("kind");
        }
    }
    Decl::of(&root)
}

struct NodeCtx {
    path: String,
    /// How many times the node can occur in one object; `None` when unbounded.
    cardinality: Option<u64>,
    /// The list above this node whose items cannot be matched to old ones.
    uncorrelatable: Option<String>,
}

fn forbidden(path: &str, detail: String) -> FieldError {
    FieldError {
        reason: "FieldValueForbidden".into(),
        field: path.to_string(),
        message: format!("Forbidden: {detail}"),
    }
}

fn invalid(path: &str, value: &str, detail: &str) -> FieldError {
    FieldError {
        reason: "FieldValueInvalid".into(),
        field: path.to_string(),
        message: format!("Invalid value: {value}: {detail}"),
    }
}

/// `getCostErrorMessage`.
pub fn cost_message(what: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let factor = if factor > 100.0 {
        "more than 100x".to_string()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!(
        "{what} exceeds budget by factor of {factor} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

impl Walk {
    fn node(&mut self, schema: &Value, decl: Arc<Decl>, ctx: &NodeCtx) -> Option<RuleNode> {
        let rules = self.rules(schema, &decl, ctx);
        let list_type = schema
            .get("x-kubernetes-list-type")
            .and_then(Value::as_str)
            .map(String::from);
        let mut node = RuleNode {
            schema_type: schema
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            decl: decl.clone(),
            rules,
            properties: BTreeMap::new(),
            additional: None,
            items: None,
            list_map_keys: schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            list_type: list_type.clone(),
        };
        let child =
            |path: String, factor: Option<Option<u64>>, uncorrelatable: Option<String>| NodeCtx {
                path,
                cardinality: match factor {
                    None => ctx.cardinality,
                    Some(f) => ctx.cardinality.zip(f).map(|(c, f)| c.saturating_mul(f)),
                },
                uncorrelatable: uncorrelatable.or_else(|| ctx.uncorrelatable.clone()),
            };
        let bound = |k: &str| schema.get(k).and_then(Value::as_u64);
        for (name, prop) in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let c = child(format!("{}.properties[{name}]", ctx.path), None, None);
            if let Some(n) = Decl::of(prop).and_then(|d| self.node(prop, d, &c)) {
                node.properties.insert(name.clone(), n);
            }
        }
        if let Some(ap) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            let c = child(
                format!("{}.additionalProperties", ctx.path),
                Some(bound("maxProperties")),
                None,
            );
            node.additional = Decl::of(ap)
                .and_then(|d| self.node(ap, d, &c))
                .map(Box::new);
        }
        if let Some(items) = schema.get("items").filter(|v| v.is_object()) {
            let uncorrelatable = (list_type.as_deref() != Some("map")).then(|| ctx.path.clone());
            let c = child(
                format!("{}.items", ctx.path),
                Some(bound("maxItems")),
                uncorrelatable,
            );
            node.items = Decl::of(items)
                .and_then(|d| self.node(items, d, &c))
                .map(Box::new);
        }
        let empty = node.rules.is_empty()
            && node.properties.is_empty()
            && node.additional.is_none()
            && node.items.is_none();
        (!empty).then_some(node)
    }

    fn rules(&mut self, schema: &Value, decl: &Arc<Decl>, ctx: &NodeCtx) -> Vec<CompiledRule> {
        let Some(list) = schema
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        let mut compiled = Vec::new();
        for (i, raw) in list.iter().enumerate() {
            let path = format!("{}.x-kubernetes-validations[{i}]", ctx.path);
            let spec = RuleSpec::parse(raw);
            if let Some(rule) = self.rule(spec, schema, decl, ctx, &path) {
                compiled.push(rule);
            }
        }
        compiled
    }

    fn rule(
        &mut self,
        spec: RuleSpec,
        schema: &Value,
        decl: &Arc<Decl>,
        ctx: &NodeCtx,
        path: &str,
    ) -> Option<CompiledRule> {
        if spec.rule.trim().is_empty() {
            self.schema_errors.push(FieldError {
                reason: "FieldValueRequired".into(),
                field: format!("{path}.rule"),
                message: "Required value: rule is not specified".into(),
            });
            return None;
        }
        self.check_fields(&spec, schema, path);
        let optional = spec.optional_old_self == Some(true);
        let vars = variables(decl, optional);
        let (program, checked) = match compile_expr(&spec.rule, vars.clone()) {
            Ok(p) => p,
            Err(detail) => {
                let detail = format!("compilation failed: {detail}");
                self.schema_errors
                    .push(invalid(&format!("{path}.rule"), &spec.go_json(), &detail));
                return None;
            }
        };
        if !matches!(checked.ty, Ty::Bool) {
            self.schema_errors.push(invalid(
                &format!("{path}.rule"),
                &spec.go_json(),
                "cel expression must evaluate to a bool",
            ));
            return None;
        }
        let cardinality = ctx
            .cardinality
            .unwrap_or(MAX_REQUEST_SIZE_BYTES / (decl.min_size + 1));
        let cost = checked.cost.saturating_mul(cardinality);
        if cost > RULE_COST_LIMIT {
            self.cel_errors.push(forbidden(
                &format!("{path}.rule"),
                cost_message("estimated rule cost", cost, RULE_COST_LIMIT),
            ));
        }
        self.costs.push((format!("{path}.rule"), cost));
        let message_program = self.message_expression(&spec, vars, path);
        if checked.uses_old_self {
            if let Some(list) = &ctx.uncorrelatable {
                let detail = format!(
                    "oldSelf cannot be used on the uncorrelatable portion of the schema within {list}"
                );
                let rule = emulator_common::gofmt::quote(&spec.rule);
                self.cel_errors
                    .push(invalid(&format!("{path}.rule"), &rule, &detail));
            }
        } else if optional {
            self.cel_errors.push(invalid(
                &format!("{path}.optionalOldSelf"),
                "true",
                "may not be set if oldSelf is not used in rule",
            ));
        }
        Some(CompiledRule {
            field_path: normalize_field_path(&spec.field_path),
            uses_old_self: checked.uses_old_self,
            program,
            message_program: message_program.flatten(),
            spec,
        })
    }

    /// `None` when the messageExpression is refused, `Some(None)` when there is none.
    fn message_expression(
        &mut self,
        spec: &RuleSpec,
        vars: Vec<(String, Var)>,
        path: &str,
    ) -> Option<Option<::cel::Program>> {
        if spec.message_expression.trim().is_empty() {
            return Some(None);
        }
        let field = format!("{path}.messageExpression");
        match compile_expr(&spec.message_expression, vars) {
            Err(detail) => {
                let detail = format!("messageExpression compilation failed: {detail}");
                self.cel_errors
                    .push(invalid(&field, &spec.go_json(), &detail));
                None
            }
            Ok((_, checked)) if !matches!(checked.ty, Ty::String) => {
                self.cel_errors.push(invalid(
                    &field,
                    &spec.go_json(),
                    "messageExpression must evaluate to a string",
                ));
                None
            }
            Ok((program, checked)) => {
                if checked.cost > RULE_COST_LIMIT {
                    self.cel_errors.push(forbidden(
                        &field,
                        cost_message(
                            "estimated messageExpression cost",
                            checked.cost,
                            RULE_COST_LIMIT,
                        ),
                    ));
                }
                self.costs.push((field, checked.cost));
                Some(Some(program))
            }
        }
    }

    /// The checks of `message`, `reason` and `fieldPath` that come before compiling.
    fn check_fields(&mut self, spec: &RuleSpec, schema: &Value, path: &str) {
        if let Some(reason) = &spec.reason
            && !REASONS.contains(&reason.as_str())
        {
            let supported: Vec<String> = REASONS
                .iter()
                .map(|r| emulator_common::gofmt::quote(r))
                .collect();
            self.schema_errors.push(FieldError {
                reason: "FieldValueNotSupported".into(),
                field: format!("{path}.reason"),
                message: format!(
                    "Unsupported value: {}: supported values: {}",
                    emulator_common::gofmt::quote(reason),
                    supported.join(", ")
                ),
            });
        }
        if !spec.field_path.is_empty() && !field_path_exists(schema, &spec.field_path) {
            let value = emulator_common::gofmt::quote(&spec.field_path);
            self.schema_errors.push(invalid(
                &format!("{path}.fieldPath"),
                &value,
                "must be a valid path",
            ));
        }
    }
}

/// `self` and `oldSelf` typed from the node's schema.
fn variables(decl: &Arc<Decl>, optional_old_self: bool) -> Vec<(String, Var)> {
    let this = Var::of(decl);
    let old = if optional_old_self {
        Var {
            ty: Ty::Optional(Box::new(this.ty.clone())),
            decl: Some(decl.clone()),
        }
    } else {
        this.clone()
    };
    vec![("self".into(), this), ("oldSelf".into(), old)]
}

/// Parses and checks one expression; the error is the server's `ERROR: <input>:l:c: ...` text.
fn compile_expr(
    source: &str,
    vars: Vec<(String, Var)>,
) -> Result<(::cel::Program, check::Checked), String> {
    let program = ENV.compile(source).map_err(|errs| {
        let list: Vec<String> = errs
            .errors
            .iter()
            .map(|e| {
                format_error(
                    source,
                    e.pos.0.max(1) as usize,
                    e.pos.1.max(1) as usize,
                    &e.msg,
                )
            })
            .collect();
        list.join("\n")
    })?;
    match check::check(program.expression(), program.source_info(), vars) {
        Ok(checked) => Ok((program, checked)),
        Err(errors) => Err(errors
            .iter()
            .map(|CheckError { offset, message }| {
                let (line, col) = line_col(source, *offset);
                format_error(source, line, col, message)
            })
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before: Vec<char> = source.chars().take(offset).collect();
    let line = before.iter().filter(|c| **c == '\n').count() + 1;
    let col = before.iter().rev().take_while(|c| **c != '\n').count() + 1;
    (line, col)
}

/// cel-go's error text: location, message, the source line and a caret under the column.
fn format_error(source: &str, line: usize, col: usize, message: &str) -> String {
    let text = source.split('\n').nth(line - 1).unwrap_or("");
    format!(
        "ERROR: <input>:{line}:{col}: {message}\n | {text}\n | {}^",
        ".".repeat(col - 1)
    )
}

/// The segments of a rule's `fieldPath` (`.a.b`, `.a['b.c']`) as property names.
fn field_path_segments(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(r[..end].to_string());
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(r[..end].to_string());
            rest = &r[end..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn field_path_exists(schema: &Value, path: &str) -> bool {
    let Some(segments) = field_path_segments(path) else {
        return false;
    };
    let mut node = schema;
    for seg in segments {
        let next = node
            .get("properties")
            .and_then(|p| p.get(&seg))
            .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()));
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

/// The field path as it is appended to the node's path (`sharedWith`, `a.b`).
fn normalize_field_path(path: &str) -> String {
    field_path_segments(path)
        .map(|s| s.join("."))
        .unwrap_or_default()
}
