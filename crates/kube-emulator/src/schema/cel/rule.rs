//! One `x-kubernetes-validations` entry as written, and as compiled.

use serde_json::Value;

/// The rule reasons a CRD may name (`supportedValidationReason`).
pub const REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// An `x-kubernetes-validations` entry as the CRD spells it.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    pub rule: String,
    pub message: String,
    pub message_expression: String,
    pub reason: Option<String>,
    pub field_path: String,
    pub optional_old_self: Option<bool>,
}

impl RuleSpec {
    pub fn parse(v: &Value) -> RuleSpec {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        RuleSpec {
            rule: s("rule"),
            message: s("message"),
            message_expression: s("messageExpression"),
            reason: v.get("reason").and_then(Value::as_str).map(String::from),
            field_path: s("fieldPath"),
            optional_old_self: v.get("optionalOldSelf").and_then(Value::as_bool),
        }
    }

    /// How the server prints the rule as the bad value of a CRD error: the Go struct as JSON,
    /// with its Go field names and HTML-safe escapes.
    pub fn go_json(&self) -> String {
        let s = |x: &str| emulator_common::gojson::to_json(&Value::String(x.to_string()));
        let reason = self.reason.as_deref().map_or("null".to_string(), s);
        let old = self
            .optional_old_self
            .map_or("null".to_string(), |b| b.to_string());
        format!(
            "{{\"Rule\":{},\"Message\":{},\"MessageExpression\":{},\"Reason\":{reason},\"FieldPath\":{},\"OptionalOldSelf\":{old}}}",
            s(&self.rule),
            s(&self.message),
            s(&self.message_expression),
            s(&self.field_path),
        )
    }

    /// The rule's `message`, else `failed rule: <rule>`.
    pub fn message_or_default(&self) -> String {
        if self.message.trim().is_empty() {
            format!("failed rule: {}", self.rule.trim())
        } else {
            self.message.trim().to_string()
        }
    }
}

/// A rule ready to run: compiled once when the CRD is stored.
pub struct CompiledRule {
    pub spec: RuleSpec,
    pub program: ::cel::Program,
    pub message_program: Option<::cel::Program>,
    pub uses_old_self: bool,
    /// The normalised `fieldPath` (`sharedWith`, `a.b`), empty when none.
    pub field_path: String,
}

impl std::fmt::Debug for CompiledRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRule")
            .field("spec", &self.spec)
            .finish()
    }
}
