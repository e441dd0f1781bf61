//! The four RBAC kinds (rbac.authorization.k8s.io/v1): Roles and ClusterRoles always write
//! their `rules`, bindings get their API group defaults; names are path segments. A namespaced
//! kind and its cluster-wide twin share one strategy.

use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::Value;

use super::{Admission, Definition, KindStrategy};
use crate::ssa::builtin::GoStruct;
use crate::table::{Printer, workloads};
use crate::validation::NameRule;

const GROUP: &str = "rbac.authorization.k8s.io";

/// Role, or with `cluster` ClusterRole.
pub struct Role {
    cluster: bool,
}

/// RoleBinding, or with `cluster` ClusterRoleBinding.
pub struct Binding {
    cluster: bool,
}

pub static ROLE: Role = Role { cluster: false };
pub static CLUSTER_ROLE: Role = Role { cluster: true };
pub static ROLE_BINDING: Binding = Binding { cluster: false };
pub static CLUSTER_ROLE_BINDING: Binding = Binding { cluster: true };

const fn definition(kind: &'static str, plural: &'static str, cluster: bool) -> Definition {
    Definition {
        namespaced: !cluster,
        name_rule: NameRule::PathSegment,
        ..Definition::namespaced(GROUP, "v1", kind, plural)
    }
}

impl KindStrategy for Role {
    fn definition(&self) -> Definition {
        match self.cluster {
            false => definition("Role", "roles", false),
            true => definition("ClusterRole", "clusterroles", true),
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct(GROUP, self.definition().kind)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        match self.cluster {
            false => crate::openapi::add::<rbac::Role>(generator),
            true => crate::openapi::add::<rbac::ClusterRole>(generator),
        }
    }
    /// `rules` is not `omitempty` in Go.
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        if let Some(map) = obj.as_object_mut() {
            map.entry("rules").or_insert(Value::Null);
        }
    }
}

impl KindStrategy for Binding {
    fn definition(&self) -> Definition {
        match self.cluster {
            false => definition("RoleBinding", "rolebindings", false),
            true => definition("ClusterRoleBinding", "clusterrolebindings", true),
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct(GROUP, self.definition().kind)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        match self.cluster {
            false => crate::openapi::add::<rbac::RoleBinding>(generator),
            true => crate::openapi::add::<rbac::ClusterRoleBinding>(generator),
        }
    }
    fn printer(&self) -> Option<Printer> {
        Some(workloads::binding(self.cluster))
    }
    fn prepare(&self, obj: &mut Value, _: Option<&Value>, _: &Admission) {
        crate::defaults::binding(obj);
    }
}
