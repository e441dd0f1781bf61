//! Secrets (core/v1): base64 `data`, `stringData` merged into it, the `Opaque` default type and
//! the keys each type requires.

use std::sync::LazyLock;

use base64::Engine;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy, data_causes};
use crate::protobuf::{self, Message};
use crate::ssa::builtin::{self, GoStruct};
use crate::status::Cause;
use crate::table::{self, Printer};

pub struct Secret;

static TYPE_DOC: LazyLock<String> = LazyLock::new(|| table::description_of::<core::Secret>("type"));
static DATA_DOC: LazyLock<String> = LazyLock::new(|| table::description_of::<core::Secret>("data"));

impl KindStrategy for Secret {
    fn definition(&self) -> Definition {
        Definition {
            extra_field_selectors: &["type"],
            ..Definition::namespaced("", "v1", "Secret", "secrets")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::SECRET)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&protobuf::SECRET)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<core::Secret>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::new(vec![
            table::name_column(),
            table::text_column("Type", &TYPE_DOC, |o, _| table::str_at(o, &["type"])),
            table::text_column("Data", &DATA_DOC, |o, _| {
                Value::from(table::len_at(o, "data"))
            }),
            table::age_column(),
        ]))
    }
    fn decode_checks(&self, obj: &Value) -> Result<(), String> {
        let Some(data) = obj.get("data").and_then(Value::as_object) else {
            return Ok(());
        };
        for v in data.values() {
            if let Some(s) = v.as_str()
                && let Some(offset) = base64_error_offset(s)
            {
                return Err(format!("illegal base64 data at input byte {offset}"));
            }
        }
        Ok(())
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        if let Some(Value::Object(string_data)) =
            obj.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            let data = obj
                .as_object_mut()
                .map(|o| o.entry("data").or_insert_with(|| json!({})))
                .filter(|d| d.is_object());
            if let Some(Value::Object(data)) = data {
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or_default();
                    data.insert(
                        k,
                        json!(base64::engine::general_purpose::STANDARD.encode(text)),
                    );
                }
            }
        }
        if obj
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            obj["type"] = json!("Opaque");
        }
    }
    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes = data_causes(obj, old);
        causes.extend(type_causes(obj, old));
        causes
    }
}

/// Byte offset Go's base64 decoder reports for invalid input, if the input is invalid.
fn base64_error_offset(s: &str) -> Option<usize> {
    let cleaned: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    if let Some(pos) = cleaned
        .bytes()
        .position(|c| !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='))
    {
        return Some(pos);
    }
    match base64::engine::general_purpose::STANDARD.decode(&cleaned) {
        Ok(_) => None,
        Err(base64::DecodeError::InvalidByte(pos, _)) => Some(pos),
        Err(base64::DecodeError::InvalidLastSymbol(pos, _)) => Some(pos),
        Err(_) => Some(cleaned.len() / 4 * 4),
    }
}

/// The type is immutable, and each type requires its keys.
fn type_causes(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    if let Some(old_ty) = old.and_then(|o| o.get("type")).and_then(Value::as_str)
        && old_ty != ty
    {
        causes.push(Cause::invalid("type", &json!(ty), "field is immutable"));
    }
    let has = |k: &str| {
        obj.pointer(&format!(
            "/data/{}",
            k.replace('~', "~0").replace('/', "~1")
        ))
        .is_some()
    };
    let required: &[&str] = match ty {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    };
    for k in required {
        if !has(k) {
            causes.push(Cause::required(&format!("data[{k}]"), ""));
        }
    }
    if ty == "kubernetes.io/service-account-token"
        && obj
            .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
            .is_none()
    {
        causes.push(Cause::required(
            "metadata.annotations[kubernetes.io/service-account.name]",
            "",
        ));
    }
    if ty == "kubernetes.io/basic-auth" && !has("username") && !has("password") {
        causes.push(Cause::required("data[username]", ""));
        causes.push(Cause::required("data[password]", ""));
    }
    causes
}
