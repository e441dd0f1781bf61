//! ConfigMaps (core/v1).

use std::sync::LazyLock;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::Value;

use super::{Definition, KindStrategy, data_causes};
use crate::protobuf::{self, Message};
use crate::ssa::builtin::{self, GoStruct};
use crate::status::Cause;
use crate::table::{self, Printer};

pub struct ConfigMap;

static DATA_DOC: LazyLock<String> =
    LazyLock::new(|| table::description_of::<core::ConfigMap>("data"));

impl KindStrategy for ConfigMap {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["cm"],
            ..Definition::namespaced("", "v1", "ConfigMap", "configmaps")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::CONFIG_MAP)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&protobuf::CONFIG_MAP)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<core::ConfigMap>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::new(vec![
            table::name_column(),
            table::text_column("Data", &DATA_DOC, |o, _| {
                Value::from(table::len_at(o, "data") + table::len_at(o, "binaryData"))
            }),
            table::age_column(),
        ]))
    }
    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        data_causes(obj, old)
    }
}
