//! The schema of `spec.meta` (the Consul peering `Meta`), shared by both kinds.
//!
//! The apiserver enforces the pair count, value length, key length and the reserved prefixes
//! (Consul's for both kinds, the operator's own for a dialer). The key character set is not in
//! the schema: a CEL `matches()` over map keys of unbounded length exceeds the apiserver's CEL
//! cost budget, so `validate()` checks it and the controller reports it as `InvalidSpec`.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use super::validation::{
    CONSUL_META_PREFIX, META_KEY_MAX_LENGTH, META_MAX_PAIRS, META_VALUE_MAX_LENGTH,
    OPERATOR_META_PREFIX,
};

/// A PeeringAcceptor's `spec.meta`.
pub(crate) fn meta_schema(_: &mut SchemaGenerator) -> Schema {
    schema_with_rules(Vec::new())
}

/// A PeeringDialer's `spec.meta`: also none of the keys the operator writes on its peering
/// (see `validation::validate_dialer_meta`).
pub(crate) fn dialer_meta_schema(_: &mut SchemaGenerator) -> Schema {
    schema_with_rules(vec![json!({
        "rule": format!("self.all(k, !k.startsWith('{OPERATOR_META_PREFIX}'))"),
        "message": format!(
            "meta keys must not start with \"{OPERATOR_META_PREFIX}\" (the operator writes those keys on the dialer's peering)"
        ),
    })])
}

fn schema_with_rules(extra_rules: Vec<Value>) -> Schema {
    let mut rules = vec![
        json!({
            "rule": format!("self.all(k, size(k) >= 1 && size(k) <= {META_KEY_MAX_LENGTH})"),
            "message": format!("meta keys must be 1 to {META_KEY_MAX_LENGTH} characters long"),
        }),
        json!({
            "rule": format!("self.all(k, !k.startsWith('{CONSUL_META_PREFIX}'))"),
            "message": format!("meta keys must not start with \"{CONSUL_META_PREFIX}\" (reserved by Consul)"),
        }),
    ];
    rules.extend(extra_rules);
    json_schema!({
        "type": "object",
        "nullable": true,
        "maxProperties": META_MAX_PAIRS,
        "additionalProperties": {
            "type": "string",
            "maxLength": META_VALUE_MAX_LENGTH,
        },
        "x-kubernetes-validations": rules,
    })
}
