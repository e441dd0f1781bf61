//! Leases (coordination.k8s.io/v1).

use std::sync::LazyLock;

use k8s_openapi::api::coordination::v1 as coordination;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::Value;

use super::{Definition, KindStrategy, time_fields_error};
use crate::protobuf::{self, Message};
use crate::ssa::builtin::{self, GoStruct};
use crate::table::{self, Printer};

pub struct Lease;

static HOLDER_DOC: LazyLock<String> =
    LazyLock::new(|| table::description_of::<coordination::LeaseSpec>("holderIdentity"));

impl KindStrategy for Lease {
    fn definition(&self) -> Definition {
        Definition {
            unconditional_update: false,
            ..Definition::namespaced("coordination.k8s.io", "v1", "Lease", "leases")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&builtin::LEASE)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&protobuf::LEASE)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<coordination::Lease>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::new(vec![
            table::name_column(),
            table::text_column("Holder", &HOLDER_DOC, |o, _| {
                table::str_at(o, &["spec", "holderIdentity"])
            }),
            table::age_column(),
        ]))
    }
    fn decode_checks(&self, obj: &Value) -> Result<(), String> {
        time_fields_error(obj, &["/spec/acquireTime", "/spec/renewTime"], &[])
    }
}
