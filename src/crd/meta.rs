//! The schema of `spec.meta` (the Consul peering `Meta`), shared by both kinds.
//!
//! The apiserver enforces the pair count, value length, key length and the reserved prefix.
//! The key character set is not in the schema: a CEL `matches()` over map keys of unbounded
//! length exceeds the apiserver's CEL cost budget, so `validate()` checks it and the controller
//! reports it as `InvalidSpec`.

use schemars::{Schema, SchemaGenerator, json_schema};

use super::validation::{
    META_KEY_MAX_LENGTH, META_MAX_PAIRS, META_RESERVED_PREFIX, META_VALUE_MAX_LENGTH,
};

pub(crate) fn meta_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "nullable": true,
        "maxProperties": META_MAX_PAIRS,
        "additionalProperties": {
            "type": "string",
            "maxLength": META_VALUE_MAX_LENGTH,
        },
        "x-kubernetes-validations": [
            {
                "rule": format!("self.all(k, size(k) >= 1 && size(k) <= {META_KEY_MAX_LENGTH})"),
                "message": format!("meta keys must be 1 to {META_KEY_MAX_LENGTH} characters long"),
            },
            {
                "rule": format!("self.all(k, !k.startsWith('{META_RESERVED_PREFIX}'))"),
                "message": format!("meta keys must not start with \"{META_RESERVED_PREFIX}\" (reserved by Consul)"),
            },
        ],
    })
}
