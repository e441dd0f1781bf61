//! CEL types as the checker sees them, and the overloads of the functions and operators the
//! Kubernetes CEL environment declares (standard library, strings, lists, regex, optionals).

use std::sync::Arc;

use super::decl::{Decl, DeclKind};

#[derive(Clone, Debug)]
pub enum Ty {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Null,
    Dyn,
    Type,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    /// A schema object with its declared properties.
    Object(Arc<Decl>),
    Optional(Box<Ty>),
}

impl Ty {
    pub fn of(decl: &Arc<Decl>) -> Ty {
        match &decl.kind {
            DeclKind::Bool => Ty::Bool,
            DeclKind::Int => Ty::Int,
            DeclKind::Double => Ty::Double,
            DeclKind::String => Ty::String,
            DeclKind::Dyn => Ty::Dyn,
            DeclKind::Object(_) => Ty::Object(decl.clone()),
            DeclKind::Map(v) => Ty::Map(Box::new(Ty::String), Box::new(Ty::of(v))),
            DeclKind::List(e) => Ty::List(Box::new(Ty::of(e))),
        }
    }

    /// The type's name as cel-go prints it in checker errors.
    pub fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Uint => "uint".into(),
            Ty::Double => "double".into(),
            Ty::String => "string".into(),
            Ty::Bytes => "bytes".into(),
            Ty::Null => "null_type".into(),
            Ty::Dyn => "dyn".into(),
            Ty::Type => "type".into(),
            Ty::List(e) => format!("list({})", e.name()),
            Ty::Map(k, v) => format!("map({}, {})", k.name(), v.name()),
            Ty::Object(d) => d.type_name(),
            Ty::Optional(t) => format!("optional_type({})", t.name()),
        }
    }

    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Uint | Ty::Double | Ty::Dyn)
    }

    /// `self` is of the simple type `want`, or dynamic.
    fn is(&self, want: &Ty) -> bool {
        self.is_dyn() || std::mem::discriminant(self) == std::mem::discriminant(want)
    }

    pub fn is_string(&self) -> bool {
        self.is(&Ty::String)
    }

    /// The element type when `self` is a list (or dynamic).
    pub fn list_elem(&self) -> Option<Ty> {
        match self {
            Ty::List(e) => Some((**e).clone()),
            Ty::Dyn => Some(Ty::Dyn),
            _ => None,
        }
    }
}

/// Whether values of the two types may be compared for equality (type parameters unify).
pub fn compatible(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn, _) | (_, Ty::Dyn) => true,
        (Ty::Null, Ty::Object(_) | Ty::Map(..) | Ty::Optional(_) | Ty::Null) => true,
        (Ty::Object(_) | Ty::Map(..) | Ty::Optional(_), Ty::Null) => true,
        (Ty::List(x), Ty::List(y)) => compatible(x, y),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => compatible(k1, k2) && compatible(v1, v2),
        (Ty::Object(_), Ty::Map(..)) | (Ty::Map(..), Ty::Object(_)) => false,
        (Ty::Optional(x), Ty::Optional(y)) => compatible(x, y),
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// The more specific of two compatible types (for list literals, `+` and `?:`).
pub fn join(a: &Ty, b: &Ty) -> Ty {
    if a.is_dyn() { b.clone() } else { a.clone() }
}

fn comparable(a: &Ty, b: &Ty) -> bool {
    (a.is_numeric() && b.is_numeric())
        || [Ty::String, Ty::Bytes, Ty::Bool]
            .iter()
            .any(|t| a.is(t) && b.is(t))
}

fn same_numeric(a: &Ty, b: &Ty) -> Option<Ty> {
    (a.is_numeric() && b.is_numeric() && (a.is_dyn() || b.is_dyn() || compatible(a, b)))
        .then(|| join(a, b))
}

/// The result of a call, when an overload of `name` takes these arguments (the receiver of a
/// member call first). `None` when no overload matches.
pub fn resolve(name: &str, member: bool, all: &[Ty]) -> Option<Ty> {
    use Ty::*;
    let str_all = |n: usize| all.len() == n && all.iter().all(Ty::is_string);
    let ok = |c: bool, t: Ty| c.then_some(t);
    match (name, member, all) {
        ("_==_" | "_!=_", false, [a, b]) => ok(compatible(a, b), Bool),
        ("_<_" | "_<=_" | "_>_" | "_>=_", false, [a, b]) => ok(comparable(a, b), Bool),
        ("_+_", false, [a, b]) => add(a, b),
        ("_-_" | "_*_" | "_/_", false, [a, b]) => same_numeric(a, b),
        ("_%_", false, [a, b]) => {
            same_numeric(a, b).filter(|t| matches!(t, Int | Uint | Dyn) && !a.is(&Double))
        }
        ("-_", false, [a]) => ok(a.is(&Int) || a.is(&Double), a.clone()),
        ("!_" | "@not_strictly_false", false, [a]) => ok(a.is(&Bool), Bool),
        ("@in", false, [a, c]) => match c {
            List(e) => ok(compatible(a, e), Bool),
            Map(k, _) => ok(compatible(a, k), Bool),
            Object(_) => ok(a.is_string(), Bool),
            Dyn => Some(Bool),
            _ => None,
        },
        ("_[_]", false, [c, i]) => index(c, i),
        ("_[?_]", false, [c, i]) => index(c, i).map(|t| Optional(Box::new(t))),
        ("size", _, [a]) => ok(
            matches!(a, String | Bytes | List(_) | Map(..) | Object(_) | Dyn),
            Int,
        ),
        ("contains" | "startsWith" | "endsWith" | "matches", true, _) => ok(str_all(2), Bool),
        ("matches", false, _) => ok(str_all(2), Bool),
        ("int", false, [a]) => ok(!matches!(a, List(_) | Map(..) | Object(_)), Int),
        ("uint", false, [a]) => ok(!matches!(a, List(_) | Map(..) | Object(_)), Uint),
        ("double", false, [a]) => ok(!matches!(a, List(_) | Map(..) | Object(_)), Double),
        ("string", false, [a]) => ok(!matches!(a, List(_) | Map(..) | Object(_)), String),
        ("bytes", false, [a]) => ok(a.is(&String) || a.is(&Bytes), Bytes),
        ("bool", false, [a]) => ok(a.is(&String) || a.is(&Bool), Bool),
        ("type", false, [_]) => Some(Type),
        ("dyn", false, [_]) => Some(Dyn),
        _ => resolve_ext(name, member, all),
    }
}

/// The strings, lists, regex and optional libraries.
fn resolve_ext(name: &str, member: bool, all: &[Ty]) -> Option<Ty> {
    use Ty::*;
    let ok = |c: bool, t: Ty| c.then_some(t);
    let s = |i: usize| all.get(i).is_some_and(Ty::is_string);
    let int = |i: usize| all.get(i).is_some_and(|t| t.is(&Int));
    let n = all.len();
    match (name, member) {
        ("charAt", true) => ok(n == 2 && s(0) && int(1), String),
        ("indexOf" | "lastIndexOf", true) => match all.first() {
            Some(List(e)) => ok(n == 2 && compatible(e, &all[1]), Int),
            _ => ok(s(0) && s(1) && (n == 2 || (n == 3 && int(2))), Int),
        },
        ("lowerAscii" | "upperAscii" | "trim", true) => ok(n == 1 && s(0), String),
        ("replace", true) => ok(
            (n == 3 || (n == 4 && int(3))) && s(0) && s(1) && s(2),
            String,
        ),
        ("split", true) => ok(
            (n == 2 || (n == 3 && int(2))) && s(0) && s(1),
            List(Box::new(String)),
        ),
        ("substring", true) => ok((n == 2 || (n == 3 && int(2))) && s(0) && int(1), String),
        ("join", true) => ok(
            (n == 1 || (n == 2 && s(1))) && all[0].list_elem().is_some_and(|e| e.is_string()),
            String,
        ),
        ("format", true) => ok(n == 2 && s(0) && all[1].list_elem().is_some(), String),
        ("strings.quote", false) => ok(n == 1 && s(0), String),
        ("reverse", true) if n == 1 && matches!(all[0], String) => Some(String),
        ("reverse" | "distinct" | "sort" | "flatten", true) => {
            ok(n == 1 && all[0].list_elem().is_some(), all[0].clone())
        }
        ("slice", true) => ok(
            n == 3 && all[0].list_elem().is_some() && int(1) && int(2),
            all[0].clone(),
        ),
        ("isSorted", true) => ok(n == 1 && all[0].list_elem().is_some(), Bool),
        ("sum" | "min" | "max", true) => all[0].list_elem().filter(|_| n == 1),
        ("find", true) => ok(n == 2 && s(0) && s(1), String),
        ("findAll", true) => ok(
            (n == 2 || (n == 3 && int(2))) && s(0) && s(1),
            List(Box::new(String)),
        ),
        ("hasValue", true) => ok(n == 1 && optional(&all[0]).is_some(), Bool),
        ("value", true) => optional(&all[0]).filter(|_| n == 1),
        ("orValue", true) => optional(&all[0]).filter(|t| n == 2 && compatible(t, &all[1])),
        ("or", true) => ok(n == 2 && optional(&all[1]).is_some(), all[0].clone())
            .filter(|_| optional(&all[0]).is_some()),
        ("optional.of" | "optional.ofNonZeroValue", false) if n == 1 => {
            Some(Optional(Box::new(all[0].clone())))
        }
        ("optional.none", false) => ok(n == 0, Optional(Box::new(Dyn))),
        ("isURL" | "isIP" | "isCIDR" | "isQuantity", false) => ok(n == 1 && s(0), Bool),
        _ => None,
    }
}

/// Function names the environment declares: a call to any other is an undeclared reference.
pub const FUNCTIONS: &[&str] = &[
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "-_",
    "!_",
    "@not_strictly_false",
    "@in",
    "_[_]",
    "_[?_]",
    "_?._",
    "_&&_",
    "_||_",
    "_?_:_",
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "type",
    "dyn",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "join",
    "format",
    "strings.quote",
    "reverse",
    "distinct",
    "sort",
    "flatten",
    "slice",
    "isSorted",
    "sum",
    "min",
    "max",
    "find",
    "findAll",
    "hasValue",
    "value",
    "orValue",
    "or",
    "optional.of",
    "optional.ofNonZeroValue",
    "optional.none",
];

fn optional(t: &Ty) -> Option<Ty> {
    match t {
        Ty::Optional(inner) => Some((**inner).clone()),
        Ty::Dyn => Some(Ty::Dyn),
        _ => None,
    }
}

fn add(a: &Ty, b: &Ty) -> Option<Ty> {
    match (a, b) {
        (Ty::List(x), Ty::List(y)) => compatible(x, y).then(|| Ty::List(Box::new(join(x, y)))),
        (Ty::String, Ty::String) | (Ty::Bytes, Ty::Bytes) => Some(a.clone()),
        (Ty::Dyn, other) | (other, Ty::Dyn) => {
            matches!(other, Ty::String | Ty::Bytes | Ty::List(_) | Ty::Dyn)
                .then(|| other.clone())
                .or_else(|| other.is_numeric().then(|| other.clone()))
        }
        _ => same_numeric(a, b),
    }
}

fn index(c: &Ty, i: &Ty) -> Option<Ty> {
    match c {
        Ty::List(e) => (i.is(&Ty::Int) || i.is(&Ty::Uint)).then(|| (**e).clone()),
        Ty::Map(k, v) => compatible(k, i).then(|| (**v).clone()),
        Ty::Dyn => Some(Ty::Dyn),
        _ => None,
    }
}
