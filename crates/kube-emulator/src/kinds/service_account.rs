//! ServiceAccounts (core/v1), as pkg/registry/core/serviceaccount serves them: validated by
//! their ObjectMeta alone, with `secrets` references cut down to their names on every write,
//! and the `token` subresource (TokenRequest).

use std::sync::LazyLock;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy, Subresource};
use crate::protobuf::{self, Kind, Message, field};
use crate::ssa::builtin::{
    GoStruct, GoType, LOCAL_OBJECT_REFERENCE, OBJECT_REFERENCE, atomic_list, keyed_list,
    kind_fields, s,
};
use crate::table::{self, Printer};

pub struct ServiceAccount;

static SECRETS_DOC: LazyLock<String> =
    LazyLock::new(|| table::description_of::<core::ServiceAccount>("secrets"));

static GO_TYPE: GoStruct = GoStruct {
    name: "ServiceAccount",
    atomic: false,
    fields: kind_fields![
        keyed_list(
            "secrets",
            &GoType::Struct(&OBJECT_REFERENCE),
            &["name"],
            "merge",
            "name",
        ),
        atomic_list("imagePullSecrets", &GoType::Struct(&LOCAL_OBJECT_REFERENCE)),
        s("automountServiceAccountToken"),
    ],
};

static PROTOBUF: Message = Message {
    name: "ServiceAccount",
    fields: &[
        protobuf::METADATA,
        field(2, "secrets", Kind::RepMsg(&protobuf::OBJECT_REFERENCE)),
        field(
            3,
            "imagePullSecrets",
            Kind::RepMsg(&protobuf::LOCAL_OBJECT_REFERENCE),
        ),
        field(4, "automountServiceAccountToken", Kind::OptBool),
    ],
};

impl KindStrategy for ServiceAccount {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["sa"],
            ..Definition::namespaced("", "v1", "ServiceAccount", "serviceaccounts")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        Some(&GO_TYPE)
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&PROTOBUF)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<core::ServiceAccount>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(Printer::new(vec![
            table::name_column(),
            table::text_column("Secrets", &SECRETS_DOC, |o, _| {
                Value::from(table::len_at(o, "secrets"))
            }),
            table::age_column(),
        ]))
    }
    /// `kubectl create token` (see `service_account_tokens`).
    fn subresources(&self) -> &'static [Subresource] {
        &[Subresource {
            name: "token",
            verbs: &["create"],
            response_kind: Some(("authentication.k8s.io", "v1", "TokenRequest")),
        }]
    }
    /// PrepareForCreate and PrepareForUpdate: `cleanSecretReferences`.
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        let Some(secrets) = obj.get_mut("secrets").and_then(Value::as_array_mut) else {
            return;
        };
        for secret in secrets {
            *secret = match secret.get("name") {
                Some(name) if !name.as_str().unwrap_or("").is_empty() => json!({"name": name}),
                _ => json!({}),
            };
        }
    }
}
