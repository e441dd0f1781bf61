//! The four RBAC kinds (rbac.authorization.k8s.io/v1): Roles and ClusterRoles always write
//! their `rules`, bindings get their API group defaults; names are path segments.

use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::Value;

use super::{Admission, Definition, KindStrategy};
use crate::ssa::builtin::GoStruct;
use crate::table::{Printer, workloads};
use crate::validation::NameRule;

const GROUP: &str = "rbac.authorization.k8s.io";

pub struct Role;
pub struct ClusterRole;
pub struct RoleBinding;
pub struct ClusterRoleBinding;

const fn definition(kind: &'static str, plural: &'static str, namespaced: bool) -> Definition {
    Definition {
        namespaced,
        name_rule: NameRule::PathSegment,
        ..Definition::namespaced(GROUP, "v1", kind, plural)
    }
}

/// `rules` is not `omitempty` in Go.
fn rules_always_written(obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.entry("rules").or_insert(Value::Null);
    }
}

impl KindStrategy for Role {
    fn definition(&self) -> Definition {
        definition("Role", "roles", true)
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct(GROUP, "Role")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<rbac::Role>(generator)
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        rules_always_written(obj);
    }
}

impl KindStrategy for ClusterRole {
    fn definition(&self) -> Definition {
        definition("ClusterRole", "clusterroles", false)
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct(GROUP, "ClusterRole")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<rbac::ClusterRole>(generator)
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        rules_always_written(obj);
    }
}

impl KindStrategy for RoleBinding {
    fn definition(&self) -> Definition {
        definition("RoleBinding", "rolebindings", true)
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct(GROUP, "RoleBinding")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<rbac::RoleBinding>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(workloads::binding(false))
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        crate::defaults::binding(obj);
    }
}

impl KindStrategy for ClusterRoleBinding {
    fn definition(&self) -> Definition {
        definition("ClusterRoleBinding", "clusterrolebindings", false)
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct(GROUP, "ClusterRoleBinding")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<rbac::ClusterRoleBinding>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(workloads::binding(true))
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        crate::defaults::binding(obj);
    }
}
