//! What the server's JSON decoder refuses when a body does not fit a built-in kind's Go type:
//! a value of the wrong JSON kind (`json: cannot unmarshal string into Go struct field
//! DeploymentSpec.spec.replicas of type int32`), an int-or-string that is neither, a quantity
//! that does not parse. The first such error is the one reported, as `encoding/json` does.
//! Go's named types (`v1.Protocol`) are printed as their underlying type (`string`); every
//! struct as `v1.<Name>` (all the packages these kinds come from are `v1`).

use serde_json::{Map, Value};

use super::builtin::{GoStruct, GoType, Json};

const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX: &str = "unable to parse quantity's suffix";

impl GoStruct {
    /// The decoder's error for an object of this type, if it has one.
    pub fn decode_error(&'static self, object: &Value) -> Option<String> {
        object
            .as_object()
            .and_then(|map| check_struct(self, map, ""))
    }
}

fn check_struct(s: &'static GoStruct, map: &Map<String, Value>, at: &str) -> Option<String> {
    map.iter().find_map(|(key, value)| {
        let field = s.fields.iter().find(|f| f.json == key)?;
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        check(&field.ty, value, &path, s.name)
    })
}

/// `value` decoded into `ty` at `path` (JSON field names from the root, no indices: Go's
/// `errorContext`), inside the struct named `owner`.
fn check(ty: &'static GoType, value: &Value, path: &str, owner: &str) -> Option<String> {
    let mismatch = || {
        Some(format!(
            "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {}",
            json_kind(value),
            type_name(ty)
        ))
    };
    match (ty, value) {
        // null decodes into anything (it leaves the zero value).
        (_, Value::Null) | (GoType::Raw, _) | (GoType::Scalar(Json::Any), _) => None,
        (GoType::Struct(s), Value::Object(map)) => check_struct(s, map, path),
        (GoType::Slice(elem), Value::Array(items)) => {
            items.iter().find_map(|item| check(elem, item, path, owner))
        }
        (GoType::Map(elem), Value::Object(map)) => {
            map.values().find_map(|item| check(elem, item, path, owner))
        }
        (GoType::Scalar(Json::String), Value::String(_))
        | (GoType::Scalar(Json::Bool), Value::Bool(_))
        | (GoType::Scalar(Json::Float64), Value::Number(_)) => None,
        (GoType::Scalar(Json::Int32 | Json::Int64), Value::Number(n)) => {
            let fits = match ty {
                GoType::Scalar(Json::Int32) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                _ => n.as_i64().is_some(),
            };
            (!fits).then(|| {
                format!(
                    "json: cannot unmarshal number {n} into Go struct field {owner}.{path} of type {}",
                    type_name(ty)
                )
            })
        }
        // IntOrString's own UnmarshalJSON decodes anything but a string into an int32.
        (GoType::Scalar(Json::IntOrString), Value::String(_)) => None,
        (GoType::Scalar(Json::IntOrString), Value::Number(n))
            if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) =>
        {
            None
        }
        (GoType::Scalar(Json::IntOrString), other) => Some(format!(
            "json: cannot unmarshal {} into Go value of type int32",
            match other {
                Value::Number(n) => format!("number {n}"),
                v => json_kind(v).to_string(),
            }
        )),
        (GoType::Scalar(Json::Quantity), Value::String(s)) => quantity_error(s.trim()),
        (GoType::Scalar(Json::Quantity), Value::Number(n)) => quantity_error(&n.to_string()),
        (GoType::Scalar(Json::Quantity), _) => Some(QUANTITY_FORMAT.to_string()),
        _ => mismatch(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_name(ty: &GoType) -> String {
    match ty {
        GoType::Struct(s) => format!("v1.{}", s.name),
        GoType::Slice(elem) => format!("[]{}", type_name(elem)),
        GoType::Map(elem) => format!("map[string]{}", type_name(elem)),
        GoType::Raw => "runtime.RawExtension".to_string(),
        GoType::Scalar(json) => match json {
            Json::Any | Json::String => "string",
            Json::Bool => "bool",
            Json::Int32 => "int32",
            Json::Int64 => "int64",
            Json::Float64 => "float64",
            Json::IntOrString => "intstr.IntOrString",
            Json::Quantity => "resource.Quantity",
        }
        .to_string(),
    }
}

/// `resource.ParseQuantity`'s refusal of `s`, if any. The syntax: a sign, digits with at most
/// one point, then a suffix of suffix letters, an optional sign and digits; the suffix must be a
/// binary (Ki..Ei) or decimal (n, u, m, "", k, M..E) one or an exponent (e/E and an integer).
fn quantity_error(s: &str) -> Option<String> {
    let rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let letters = suffix
        .find(|c: char| !"eEinumkKMGTP".contains(c))
        .unwrap_or(suffix.len());
    let tail = &suffix[letters..];
    let digits = tail.strip_prefix(['+', '-']).unwrap_or(tail);
    let well_formed = number.matches('.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit());
    if !well_formed {
        return Some(QUANTITY_FORMAT.to_string());
    }
    let known = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|exp| !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit()));
    (!known).then(|| QUANTITY_SUFFIX.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::builtin::kind_struct;
    use serde_json::json;

    #[test]
    fn wrong_json_kinds_are_named_like_the_go_decoder_names_them() {
        let d = kind_struct("apps", "Deployment").unwrap();
        assert_eq!(
            d.decode_error(&json!({"spec": {"replicas": "two"}})),
            Some("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32".into())
        );
        assert_eq!(
            d.decode_error(&json!({"spec": {"replicas": 1.5}})),
            Some("json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32".into())
        );
        assert_eq!(
            d.decode_error(&json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "ports": [{"containerPort": "80"}]}]}}}})),
            Some("json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32".into())
        );
        assert_eq!(
            d.decode_error(&json!({"spec": {"template": {"spec": {"containers": {"name": "a"}}}}})),
            Some("json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container".into())
        );
        assert_eq!(
            d.decode_error(&json!({"spec": {"replicas": null, "paused": true}})),
            None
        );
    }

    #[test]
    fn int_or_strings_and_quantities_parse_as_their_own_decoders_do() {
        let d = kind_struct("apps", "Deployment").unwrap();
        let resources = |limits: Value| json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "resources": {"limits": limits}}]}}}});
        assert_eq!(
            d.decode_error(&resources(
                json!({"cpu": "100m", "memory": "128Mi", "x": 2, "y": "1e3"})
            )),
            None
        );
        assert_eq!(
            d.decode_error(&resources(json!({"memory": "128 MiB"}))),
            Some(QUANTITY_FORMAT.into())
        );
        assert_eq!(
            d.decode_error(&resources(json!({"memory": "128iM"}))),
            Some(QUANTITY_SUFFIX.into())
        );
        assert_eq!(
            d.decode_error(&resources(json!({"memory": "1-Mi"}))),
            Some(QUANTITY_FORMAT.into())
        );
        assert_eq!(
            d.decode_error(&resources(json!({"memory": "lots"}))),
            Some(QUANTITY_FORMAT.into())
        );
        assert_eq!(
            d.decode_error(&resources(json!({"memory": true}))),
            Some(QUANTITY_FORMAT.into())
        );
        let pdb = kind_struct("policy", "PodDisruptionBudget").unwrap();
        assert_eq!(
            pdb.decode_error(&json!({"spec": {"minAvailable": "50%"}})),
            None
        );
        assert_eq!(
            pdb.decode_error(&json!({"spec": {"maxUnavailable": 1}})),
            None
        );
        assert_eq!(
            pdb.decode_error(&json!({"spec": {"minAvailable": true}})),
            Some("json: cannot unmarshal bool into Go value of type int32".into())
        );
    }
}
