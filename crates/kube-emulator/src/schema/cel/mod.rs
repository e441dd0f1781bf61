//! CRD validation rules (`x-kubernetes-validations`, CEL) as kube-apiserver 1.36 compiles and
//! enforces them, on cel-rust: [`compile`] types the rules against the schema and estimates
//! their cost (refusing a CRD as the server does), [`eval`] runs them on each write.

mod check;
mod compile;
mod decl;
mod eval;
mod library;
mod names;
mod rule;
mod types;
mod value;

use serde_json::Value;

use super::FieldError;

pub use compile::{CRD_COST_LIMIT, RULE_COST_LIMIT};
pub use eval::Outcome;

/// The rules of one CRD version's schema, compiled when the CRD is stored.
#[derive(Debug, Default)]
pub struct Rules {
    root: Option<compile::RuleNode>,
}

impl Rules {
    /// Compiles the rules of `schema`; rules that do not compile are left out (the CRD that
    /// carries them was refused by [`crd_errors`]).
    pub fn compile(schema: &Value) -> Rules {
        Rules {
            root: compile::compile(schema, "").root,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Runs the rules on a created (`old` is None) or updated object.
    pub fn validate(&self, new: &Value, old: Option<&Value>) -> Outcome {
        match &self.root {
            Some(root) => eval::validate(root, new, old),
            None => Outcome::default(),
        }
    }
}

/// What the server says of a CRD schema's rules, with paths under `base`
/// (`spec.validation.openAPIV3Schema`): compile errors, wrong result types, cost over budget.
pub fn crd_errors(schema: &Value, base: &str) -> Vec<FieldError> {
    compile::compile(schema, base).errors
}

/// Schema errors after which the server does not run the rules (`hasBlockingErr`).
pub fn is_blocking(cause: &FieldError) -> bool {
    matches!(
        cause.reason.as_str(),
        "FieldValueNotSupported"
            | "FieldValueRequired"
            | "FieldValueTooLong"
            | "FieldValueTooMany"
            | "FieldValueTypeInvalid"
    )
}

/// The cause the server adds instead of running the rules after a blocking error.
pub fn not_checked_cause() -> FieldError {
    FieldError {
        reason: "FieldValueInvalid".into(),
        field: "<nil>".into(),
        message: "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
    }
}

#[cfg(test)]
mod tests;
