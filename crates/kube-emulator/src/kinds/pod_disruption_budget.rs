//! PodDisruptionBudgets (policy/v1).

use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::{Admission, Definition, KindStrategy, zero_status};
use crate::ssa::builtin::GoStruct;
use crate::table::{Printer, workloads};

pub struct PodDisruptionBudget;

impl KindStrategy for PodDisruptionBudget {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["pdb"],
            status_subresource: true,
            has_generation: true,
            ..Definition::namespaced(
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            )
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct("policy", "PodDisruptionBudget")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<policy::PodDisruptionBudget>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(workloads::pod_disruption_budget())
    }
    /// The status counters Go always serializes.
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        zero_status(
            obj,
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        );
    }
}
