//! The CEL environment of CRD rules: cel-rust's standard library with its strings and lists
//! extensions, plus the Kubernetes list and regex functions (k8s.io/apiserver/pkg/cel/library)
//! that cel-rust does not have, and the predicates `isURL`, `isIP`, `isCIDR`, `isQuantity`. The
//! `url`, `quantity`, `ip`, `cidr` values, `format` and `authz` are not declared, so a rule
//! naming them is refused as an undeclared reference.

use std::cmp::Ordering;

use ::cel::common::types::{DYN_TYPE, INT_TYPE, LIST_TYPE, STRING_TYPE};
use ::cel::common::value::{CowVal, Val};
use ::cel::{Env, ExecutionError, Value, extensions};

pub fn env() -> Env {
    let mut env = Env::stdlib();
    // Declaring a fixed set of overloads cannot conflict; a failure is a bug in this list.
    let declared = env
        .add_extension(extensions::strings)
        .and_then(|()| env.add_extension(extensions::lists))
        .and_then(|()| kubernetes(&mut env));
    if let Err(e) = declared {
        tracing::error!("CEL environment is missing functions: {e}");
    }
    env
}

fn kubernetes(env: &mut Env) -> Result<(), ::cel::DeclarationError> {
    env.add_member_overload("isSorted", "list_is_sorted", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list_sum", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list_min", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "list_max", LIST_TYPE, vec![], max)?;
    env.add_member_overload(
        "indexOf",
        "list_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    env.add_member_overload("find", "string_find", STRING_TYPE, vec![STRING_TYPE], find)?;
    env.add_member_overload(
        "findAll",
        "string_find_all",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all,
    )?;
    env.add_member_overload(
        "findAll",
        "string_find_all_n",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all,
    )?;
    env.add_overload("isURL", "is_url_string", vec![STRING_TYPE], is_url)?;
    env.add_overload("isIP", "is_ip_string", vec![STRING_TYPE], is_ip)?;
    env.add_overload("isCIDR", "is_cidr_string", vec![STRING_TYPE], is_cidr)?;
    env.add_overload(
        "isQuantity",
        "is_quantity_string",
        vec![STRING_TYPE],
        is_quantity,
    )?;
    Ok(())
}

/// An overload written over plain `Value`s.
macro_rules! over_values {
    ($name:ident, $body:expr) => {
        fn $name<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
            let values = args
                .iter()
                .map(|a| Value::try_from(&**a))
                .collect::<Result<Vec<_>, _>>()?;
            let out: Value = $body(values.as_slice())?;
            Ok(CowVal::Owned(Box::<dyn Val>::try_from(out)?))
        }
    };
}

over_values!(is_sorted, |a: &[Value]| {
    let items = list(a, "isSorted")?;
    let mut sorted = true;
    for w in items.windows(2) {
        sorted &= compare(&w[0], &w[1], "isSorted")? != Ordering::Greater;
    }
    Ok::<_, ExecutionError>(Value::Bool(sorted))
});

over_values!(sum, |a: &[Value]| {
    let items = list(a, "sum")?;
    let mut total = match items.first() {
        Some(Value::Float(_)) => Value::Float(0.0),
        Some(Value::UInt(_)) => Value::UInt(0),
        _ => Value::Int(0),
    };
    for item in items {
        total = match (&total, item) {
            (Value::Int(x), Value::Int(y)) => Value::Int(
                x.checked_add(*y)
                    .ok_or_else(|| ExecutionError::function_error("sum", "integer overflow"))?,
            ),
            (Value::UInt(x), Value::UInt(y)) => Value::UInt(x.wrapping_add(*y)),
            (Value::Float(x), Value::Float(y)) => Value::Float(x + y),
            _ => return Err(ExecutionError::function_error("sum", "no such overload")),
        };
    }
    Ok::<_, ExecutionError>(total)
});

over_values!(min, |a: &[Value]| extreme(a, "min", Ordering::Less));
over_values!(max, |a: &[Value]| extreme(a, "max", Ordering::Greater));

over_values!(index_of, |a: &[Value]| {
    let items = list(a, "indexOf")?;
    let pos = items.iter().position(|x| Some(x) == a.get(1));
    Ok::<_, ExecutionError>(Value::Int(pos.map_or(-1, |p| p as i64)))
});

over_values!(last_index_of, |a: &[Value]| {
    let items = list(a, "lastIndexOf")?;
    let pos = items.iter().rposition(|x| Some(x) == a.get(1));
    Ok::<_, ExecutionError>(Value::Int(pos.map_or(-1, |p| p as i64)))
});

over_values!(find, |a: &[Value]| {
    let (s, re) = string_and_regex(a, "find")?;
    let found = re
        .find(&s)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    Ok::<_, ExecutionError>(Value::String(found.into()))
});

over_values!(find_all, |a: &[Value]| {
    let (s, re) = string_and_regex(a, "findAll")?;
    let limit = match a.get(2) {
        Some(Value::Int(n)) if *n >= 0 => *n as usize,
        _ => usize::MAX,
    };
    let found: Vec<Value> = re
        .find_iter(&s)
        .take(limit)
        .map(|m| Value::String(m.as_str().to_string().into()))
        .collect();
    Ok::<_, ExecutionError>(Value::List(found.into()))
});

fn list<'a>(args: &'a [Value], function: &str) -> Result<&'a [Value], ExecutionError> {
    match args.first() {
        Some(Value::List(items)) => Ok(items.as_slice()),
        _ => Err(ExecutionError::function_error(function, "no such overload")),
    }
}

fn compare(a: &Value, b: &Value, function: &str) -> Result<Ordering, ExecutionError> {
    a.partial_cmp(b)
        .ok_or_else(|| ExecutionError::function_error(function, "no such overload"))
}

fn extreme(args: &[Value], function: &str, keep: Ordering) -> Result<Value, ExecutionError> {
    let items = list(args, function)?;
    let mut best = items.first().cloned().ok_or_else(|| {
        ExecutionError::function_error(
            function,
            format!("{function}(list) called on an empty list"),
        )
    })?;
    for item in &items[1..] {
        if compare(item, &best, function)? == keep {
            best = item.clone();
        }
    }
    Ok(best)
}

fn string_and_regex(
    args: &[Value],
    function: &str,
) -> Result<(String, regex::Regex), ExecutionError> {
    match (args.first(), args.get(1)) {
        (Some(Value::String(s)), Some(Value::String(r))) => {
            let re =
                regex::Regex::new(r).map_err(|e| ExecutionError::function_error(function, e))?;
            Ok((s.to_string(), re))
        }
        _ => Err(ExecutionError::function_error(function, "no such overload")),
    }
}

/// A predicate over one string argument.
fn string_predicate(args: &[Value], test: fn(&str) -> bool) -> Result<Value, ExecutionError> {
    match args.first() {
        Some(Value::String(s)) => Ok(Value::Bool(test(s))),
        _ => Err(ExecutionError::function_error("is", "no such overload")),
    }
}

over_values!(is_url, |a: &[Value]| string_predicate(a, request_uri));
over_values!(is_ip, |a: &[Value]| string_predicate(a, |s| s
    .parse::<std::net::IpAddr>()
    .is_ok()));
over_values!(is_cidr, |a: &[Value]| string_predicate(a, cidr));
over_values!(is_quantity, |a: &[Value]| string_predicate(a, quantity));

/// Go's `url.ParseRequestURI` accepts it: an absolute path, or a scheme followed by `:`, with
/// no spaces or control characters and only well-formed `%` escapes.
fn request_uri(s: &str) -> bool {
    let clean = !s.chars().any(|c| c.is_control() || c == ' ');
    let bytes = s.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    let scheme = s.split_once(':').is_some_and(|(scheme, _)| {
        scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    clean && escapes_ok && (s.starts_with('/') || scheme)
}

/// `netip.ParsePrefix`: an address, `/`, and a prefix length within its size.
fn cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return false,
    };
    let canonical =
        bits == "0" || (!bits.starts_with('0') && bits.chars().all(|c| c.is_ascii_digit()));
    canonical && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

/// `resource.ParseQuantity`: a signed decimal with a binary, decimal-SI or exponent suffix.
fn quantity(s: &str) -> bool {
    static QUANTITY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
            .expect("the quantity pattern compiles")
    });
    QUANTITY.is_match(s)
}
