//! A type checker and static cost estimator over cel-rust's parsed (macro-expanded) AST, for
//! the variables `self` and `oldSelf` typed from the schema. It reports what cel-go's checker
//! reports for CRD rules (undeclared references, undefined fields, no matching overload) and
//! estimates the worst-case cost the way cel-go's `checker.Cost` does with Kubernetes' size
//! estimates, so the same rules are refused for being too expensive.

use std::sync::Arc;

use ::cel::common::ast::{ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo};

use super::decl::{self, Decl, DeclKind};
use super::names;
use super::types::{FUNCTIONS, Ty, compatible, join, resolve};

/// `common.StringTraversalCostFactor`.
const STRING_TRAVERSAL: f64 = 0.1;
/// `common.RegexStringLengthCostFactor`.
const REGEX_LENGTH: f64 = 0.25;

/// A variable in scope while checking.
#[derive(Clone)]
pub struct Var {
    pub ty: Ty,
    pub decl: Option<Arc<Decl>>,
}

impl Var {
    pub fn of(decl: &Arc<Decl>) -> Var {
        Var {
            ty: Ty::of(decl),
            decl: Some(decl.clone()),
        }
    }
}

/// One checker error at a character offset of the source.
pub struct CheckError {
    pub offset: usize,
    pub message: String,
}

pub struct Checked {
    pub ty: Ty,
    /// The estimated worst-case cost of one evaluation.
    pub cost: u64,
    pub uses_old_self: bool,
}

/// What the checker knows of one expression.
struct Out {
    ty: Ty,
    decl: Option<Arc<Decl>>,
    /// The largest size() of the value when the expression itself bounds it.
    size: Option<u64>,
    cost: u64,
}

impl Out {
    fn new(ty: Ty, cost: u64) -> Out {
        Out {
            ty,
            decl: None,
            size: None,
            cost,
        }
    }

    /// The largest size() of the value: from the expression, the schema, or unknown.
    fn max_size(&self) -> u64 {
        if let Some(s) = self.size {
            return s;
        }
        match (&self.decl, &self.ty) {
            (Some(d), _)
                if !matches!(d.kind, DeclKind::Bool | DeclKind::Int | DeclKind::Double) =>
            {
                d.max_elements
            }
            (_, Ty::Bool | Ty::Int | Ty::Uint | Ty::Double | Ty::Null | Ty::Type) => 1,
            (Some(_), _) => 1,
            _ => u64::MAX,
        }
    }
}

pub fn check(
    expr: &IdedExpr,
    info: &SourceInfo,
    vars: Vec<(String, Var)>,
) -> Result<Checked, Vec<CheckError>> {
    let mut c = Checker {
        info,
        scopes: vars,
        errors: Vec::new(),
        uses_old_self: false,
    };
    let out = c.expr(expr);
    if !c.errors.is_empty() {
        c.errors.sort_by_key(|e| e.offset);
        return Err(c.errors);
    }
    Ok(Checked {
        ty: out.ty,
        cost: out.cost,
        uses_old_self: c.uses_old_self,
    })
}

struct Checker<'a> {
    info: &'a SourceInfo,
    scopes: Vec<(String, Var)>,
    errors: Vec<CheckError>,
    uses_old_self: bool,
}

fn cost_factor(size: u64, factor: f64) -> u64 {
    let f = (size as f64 * factor).ceil();
    if f >= u64::MAX as f64 {
        u64::MAX
    } else {
        f as u64
    }
}

impl Checker<'_> {
    fn error(&mut self, e: &IdedExpr, message: String) -> Out {
        let offset = self
            .info
            .offset_for(e.id)
            .map(|(s, _)| s as usize)
            .unwrap_or(0);
        self.errors.push(CheckError { offset, message });
        Out::new(Ty::Dyn, 0)
    }

    fn lookup(&self, name: &str) -> Option<Var> {
        self.scopes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn expr(&mut self, e: &IdedExpr) -> Out {
        match &e.expr {
            Expr::Literal(l) => literal(l),
            Expr::Ident(name) => self.ident(e, name),
            Expr::Select(s) => {
                let operand = self.expr(&s.operand);
                self.select(e, operand, &s.field, s.test)
            }
            Expr::Call(call) => self.call(e, &call.func_name, call.target.as_deref(), &call.args),
            Expr::Comprehension(comp) => self.comprehension(comp),
            Expr::List(list) => {
                let outs: Vec<Out> = list.elements.iter().map(|x| self.expr(x)).collect();
                let elem = outs.iter().fold(Ty::Dyn, |acc, o| join(&acc, &o.ty));
                let mut out = Out::new(Ty::List(Box::new(elem)), 10 + sum(&outs));
                out.size = Some(outs.len() as u64);
                out
            }
            Expr::Map(map) => {
                let mut cost = 30u64;
                let (mut kt, mut vt) = (Ty::Dyn, Ty::Dyn);
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        let k = self.expr(&me.key);
                        let v = self.expr(&me.value);
                        cost = cost.saturating_add(k.cost).saturating_add(v.cost);
                        kt = join(&kt, &k.ty);
                        vt = join(&vt, &v.ty);
                    }
                }
                let mut out = Out::new(Ty::Map(Box::new(kt), Box::new(vt)), cost);
                out.size = Some(map.entries.len() as u64);
                out
            }
            Expr::Struct(_) | Expr::Unspecified => {
                self.error(e, "message creation is not supported".into())
            }
        }
    }

    fn ident(&mut self, e: &IdedExpr, name: &str) -> Out {
        if name == "oldSelf" {
            self.uses_old_self = true;
        }
        match self.lookup(name) {
            Some(v) => Out {
                ty: v.ty,
                decl: v.decl,
                size: None,
                cost: 1,
            },
            None => self.error(
                e,
                format!("undeclared reference to '{name}' (in container '')"),
            ),
        }
    }

    fn select(&mut self, e: &IdedExpr, operand: Out, field: &str, test: bool) -> Out {
        let (ty, decl) = match &operand.ty {
            Ty::Object(d) => match (&d.kind, names::unescape(field)) {
                (DeclKind::Object(fields), Some(name)) if fields.contains_key(&name) => {
                    let f = &fields[&name];
                    (Ty::of(f), Some(f.clone()))
                }
                _ => return self.error(e, format!("undefined field '{field}'")),
            },
            Ty::Map(_, v) => (
                (**v).clone(),
                operand.decl.as_ref().and_then(|d| d.element().cloned()),
            ),
            Ty::Dyn => (Ty::Dyn, None),
            other => {
                let name = other.name();
                return self.error(e, format!("type '{name}' does not support field selection"));
            }
        };
        let selection = u64::from(matches!(operand.ty, Ty::Object(_) | Ty::Map(..)));
        if test {
            return Out::new(Ty::Bool, operand.cost.saturating_add(1));
        }
        Out {
            ty,
            decl,
            size: None,
            cost: operand.cost.saturating_add(selection),
        }
    }

    fn call(
        &mut self,
        e: &IdedExpr,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Out {
        // `optional.none()`, `strings.quote(s)`: a namespaced global function.
        if let Some(IdedExpr {
            expr: Expr::Ident(ns),
            ..
        }) = target
            && self.lookup(ns).is_none()
        {
            let qualified = format!("{ns}.{name}");
            return self.call(e, &qualified, None, args);
        }
        let target_out = target.map(|t| self.expr(t));
        let outs: Vec<Out> = args.iter().map(|a| self.expr(a)).collect();
        let arg_cost = sum(&outs).saturating_add(target_out.as_ref().map_or(0, |t| t.cost));
        match name {
            "_&&_" | "_||_" => {
                for o in &outs {
                    if !matches!(o.ty, Ty::Bool | Ty::Dyn) {
                        return self.no_overload(e, name, None, &outs);
                    }
                }
                return Out::new(Ty::Bool, arg_cost);
            }
            "_?_:_" if outs.len() == 3 => {
                if !matches!(outs[0].ty, Ty::Bool | Ty::Dyn)
                    || !compatible(&outs[1].ty, &outs[2].ty)
                {
                    return self.no_overload(e, name, None, &outs);
                }
                let mut out = Out::new(
                    join(&outs[1].ty, &outs[2].ty),
                    outs[0].cost.saturating_add(outs[1].cost.max(outs[2].cost)),
                );
                out.size = Some(outs[1].max_size().max(outs[2].max_size()));
                return out;
            }
            _ => {}
        }
        let mut all: Vec<Ty> = target_out.iter().map(|t| t.ty.clone()).collect();
        all.extend(outs.iter().map(|o| o.ty.clone()));
        let Some(ty) = resolve(name, target.is_some(), &all) else {
            if !FUNCTIONS.contains(&name) {
                return self.error(
                    e,
                    format!("undeclared reference to '{name}' (in container '')"),
                );
            }
            return self.no_overload(e, name, target_out.as_ref(), &outs);
        };
        let (cost, size) = call_cost(name, target_out.as_ref(), &outs);
        let mut out = Out::new(ty, arg_cost.saturating_add(cost));
        out.size = size;
        // `.value()`/`.orValue()` of oldSelf and `dyn(x)` keep the schema's size bounds.
        if matches!(name, "value" | "orValue" | "dyn" | "_[_]") {
            out.decl = match name {
                "_[_]" => outs[0].decl.as_ref().and_then(|d| d.element().cloned()),
                "dyn" => outs[0].decl.clone(),
                _ => target_out.and_then(|t| t.decl),
            };
        }
        out
    }

    fn no_overload(&mut self, e: &IdedExpr, name: &str, target: Option<&Out>, args: &[Out]) -> Out {
        let names: Vec<String> = args.iter().map(|o| o.ty.name()).collect();
        let signature = match target {
            Some(t) => format!("{}.({})", t.ty.name(), names.join(", ")),
            None => format!("({})", names.join(", ")),
        };
        self.error(
            e,
            format!("found no matching overload for '{name}' applied to '{signature}'"),
        )
    }

    fn comprehension(&mut self, comp: &ComprehensionExpr) -> Out {
        let range = self.expr(&comp.iter_range);
        let iter = match &range.ty {
            Ty::List(el) => Var {
                ty: (**el).clone(),
                decl: range.decl.as_ref().and_then(|d| d.element().cloned()),
            },
            Ty::Map(k, _) => Var {
                ty: (**k).clone(),
                decl: Some(decl::map_key()),
            },
            Ty::Dyn => Var {
                ty: Ty::Dyn,
                decl: None,
            },
            other => {
                let name = other.name();
                return self.error(
                    &comp.iter_range,
                    format!("expression of type '{name}' cannot be range of a comprehension (must be list, map, or dynamic)"),
                );
            }
        };
        let init = self.expr(&comp.accu_init);
        self.scopes.push((comp.iter_var.clone(), iter));
        self.scopes.push((
            comp.accu_var.clone(),
            Var {
                ty: init.ty.clone(),
                decl: None,
            },
        ));
        let cond = self.expr(&comp.loop_cond);
        let step = self.expr(&comp.loop_step);
        self.scopes.pop();
        self.scopes.pop();
        // `map`/`filter` start from `[]`: the result has the element type the step appends.
        let accu_ty = match (&init.ty, &step.ty) {
            (Ty::List(e), Ty::List(_)) if matches!(**e, Ty::Dyn) => step.ty.clone(),
            _ => init.ty.clone(),
        };
        self.scopes.push((
            comp.accu_var.clone(),
            Var {
                ty: accu_ty,
                decl: None,
            },
        ));
        let result = self.expr(&comp.result);
        self.scopes.pop();
        let per_item = step.cost.saturating_add(cond.cost);
        let cost = range
            .cost
            .saturating_add(init.cost)
            .saturating_add(result.cost)
            .saturating_add(range.max_size().saturating_mul(per_item));
        let mut out = Out::new(result.ty, cost);
        if matches!(comp.accu_init.expr, Expr::List(_) | Expr::Map(_)) {
            out.size = Some(range.max_size());
        }
        out
    }
}

fn literal(l: &LiteralValue) -> Out {
    let (ty, size) = match l {
        LiteralValue::Boolean(_) => (Ty::Bool, None),
        LiteralValue::Bytes(b) => (Ty::Bytes, Some(b.inner().len() as u64)),
        LiteralValue::Double(_) => (Ty::Double, None),
        LiteralValue::Int(_) => (Ty::Int, None),
        LiteralValue::Null => (Ty::Null, None),
        LiteralValue::String(s) => (Ty::String, Some(s.inner().chars().count() as u64)),
        LiteralValue::UInt(_) => (Ty::Uint, None),
    };
    let mut out = Out::new(ty, 0);
    out.size = size;
    out
}

fn sum(outs: &[Out]) -> u64 {
    outs.iter().fold(0u64, |acc, o| acc.saturating_add(o.cost))
}

/// The cost of the call itself (without its arguments) and the size of its result, as cel-go
/// and the Kubernetes library estimate them.
fn call_cost(name: &str, target: Option<&Out>, args: &[Out]) -> (u64, Option<u64>) {
    let recv = target.or(args.first());
    let rest: &[Out] = if target.is_some() {
        args
    } else {
        args.get(1..).unwrap_or(&[])
    };
    let size = |o: Option<&Out>| o.map_or(u64::MAX, Out::max_size);
    match name {
        "startsWith" | "endsWith" => (cost_factor(size(rest.first()), STRING_TRAVERSAL), None),
        "matches" | "find" | "findAll" => {
            let s = cost_factor(size(recv).saturating_add(1), STRING_TRAVERSAL);
            let r = cost_factor(size(rest.first()), REGEX_LENGTH);
            (s.saturating_mul(r), None)
        }
        "contains" if recv.is_some_and(|r| r.ty.is_string()) => {
            let s = cost_factor(size(recv), STRING_TRAVERSAL);
            (
                s.saturating_mul(cost_factor(size(rest.first()), STRING_TRAVERSAL)),
                None,
            )
        }
        "@in" => match rest.first().map(|c| &c.ty) {
            Some(Ty::List(_)) => (size(rest.first()), None),
            _ => (1, None),
        },
        "_+_" => {
            let total = size(recv).saturating_add(size(rest.first()));
            match recv.map(|r| &r.ty) {
                Some(Ty::String | Ty::Bytes) => (cost_factor(total, STRING_TRAVERSAL), Some(total)),
                Some(Ty::List(_)) => (1, Some(total)),
                _ => (1, None),
            }
        }
        "_==_" | "_!=_" => (equality_cost(size(recv), size(rest.first())), None),
        "_<_" | "_<=_" | "_>_" | "_>=_"
            if recv.is_some_and(|r| matches!(r.ty, Ty::String | Ty::Bytes)) =>
        {
            (equality_cost(size(recv), size(rest.first())), None)
        }
        "lowerAscii" | "upperAscii" | "substring" | "trim" | "charAt" | "replace" | "split"
        | "reverse"
            if recv.is_some_and(|r| r.ty.is_string()) =>
        {
            let s = size(recv);
            (cost_factor(s, STRING_TRAVERSAL), Some(s))
        }
        "indexOf" | "lastIndexOf" if recv.is_some_and(|r| r.ty.is_string()) => {
            (cost_factor(size(recv), STRING_TRAVERSAL), None)
        }
        "isSorted" | "sum" | "min" | "max" | "indexOf" | "lastIndexOf" => {
            let elem = recv.and_then(|r| r.decl.as_ref().and_then(|d| d.element().cloned()));
            let per = match elem {
                Some(d) if matches!(d.kind, DeclKind::String) => {
                    1 + cost_factor(d.max_elements, STRING_TRAVERSAL)
                }
                _ => 1,
            };
            (size(recv).saturating_mul(per), None)
        }
        "join" | "isURL" | "isIP" | "isCIDR" | "isQuantity" => {
            (cost_factor(size(recv), STRING_TRAVERSAL), None)
        }
        "string" if recv.is_some_and(|r| matches!(r.ty, Ty::String)) => (1, Some(size(recv))),
        _ => (1, None),
    }
}

fn equality_cost(a: u64, b: u64) -> u64 {
    let smallest = a.min(b);
    if smallest == 0 {
        0
    } else {
        cost_factor(smallest, STRING_TRAVERSAL)
    }
}
