//! The Go types of Deployment, Service, the four RBAC kinds and PodDisruptionBudget, built once
//! from k8s-openapi's schemas (every field with its JSON shape, Kubernetes 1.33) plus the Go
//! markers those schemas leave out: `+listType`/`+listMapKey`, the `patchStrategy` and
//! `patchMergeKey` tags, `+mapType=atomic`, `+structType=atomic`, the `+default` of list-map
//! keys and what a zero object holds. A pod template alone spans over a hundred structs, so
//! only the markers are transcribed (from k8s.io/api, k8s.io/apimachinery); the hand-written
//! tables of [`super::builtin`] cover the smaller kinds.

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value};

use super::builtin::{GoField, GoStruct, GoType, Json, ListType, OBJECT_META, Zero};

/// The markers of one field of one Go struct (named as in the schemas, e.g. `PodSpec`).
struct Mark {
    on: &'static str,
    field: &'static str,
    list: Option<ListType>,
    strategy: &'static str,
    merge_key: &'static str,
    map_atomic: bool,
    default: Option<&'static str>,
    zero: Zero,
}

const fn mark(on: &'static str, field: &'static str) -> Mark {
    Mark {
        on,
        field,
        list: None,
        strategy: "",
        merge_key: "",
        map_atomic: false,
        default: None,
        zero: Zero::Absent,
    }
}

/// `+listType=atomic`.
const fn atomic(on: &'static str, field: &'static str) -> Mark {
    Mark {
        list: Some(ListType::Atomic),
        ..mark(on, field)
    }
}

/// `+listType=set`.
const fn set(on: &'static str, field: &'static str) -> Mark {
    Mark {
        list: Some(ListType::Set),
        ..mark(on, field)
    }
}

/// `+listType=map` with its `+listMapKey`s and patch tags.
const fn keyed(
    on: &'static str,
    field: &'static str,
    keys: &'static [&'static str],
    strategy: &'static str,
    merge_key: &'static str,
) -> Mark {
    Mark {
        list: Some(ListType::Map(keys)),
        strategy,
        merge_key,
        ..mark(on, field)
    }
}

/// A `patchStrategy` tag on a non-list field (`retainKeys`, `replace`).
const fn strategy(on: &'static str, field: &'static str, strategy: &'static str) -> Mark {
    Mark {
        strategy,
        ..mark(on, field)
    }
}

/// `+mapType=atomic`.
const fn atomic_map(on: &'static str, field: &'static str) -> Mark {
    Mark {
        map_atomic: true,
        ..mark(on, field)
    }
}

/// What the field holds in a zero object (only fields a kind's zero object reaches matter).
const fn zero(m: Mark, zero: Zero) -> Mark {
    Mark { zero, ..m }
}

const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];

static MARKS: &[Mark] = &[
    // apps/v1
    zero(mark("Deployment", "spec"), Zero::Struct),
    zero(mark("Deployment", "status"), Zero::Struct),
    zero(mark("DeploymentSpec", "template"), Zero::Struct),
    zero(
        strategy("DeploymentSpec", "strategy", "retainKeys"),
        Zero::Struct,
    ),
    keyed("DeploymentStatus", "conditions", TYPE, "merge", "type"),
    // core/v1 pod template
    zero(mark("PodTemplateSpec", "spec"), Zero::Struct),
    keyed("PodSpec", "volumes", NAME, "merge,retainKeys", "name"),
    keyed("PodSpec", "initContainers", NAME, "merge", "name"),
    zero(
        keyed("PodSpec", "containers", NAME, "merge", "name"),
        Zero::Null,
    ),
    keyed("PodSpec", "ephemeralContainers", NAME, "merge", "name"),
    atomic_map("PodSpec", "nodeSelector"),
    keyed("PodSpec", "imagePullSecrets", NAME, "merge", "name"),
    atomic("PodSpec", "tolerations"),
    keyed("PodSpec", "hostAliases", &["ip"], "merge", "ip"),
    atomic("PodSpec", "readinessGates"),
    keyed(
        "PodSpec",
        "topologySpreadConstraints",
        &["topologyKey", "whenUnsatisfiable"],
        "merge",
        "topologyKey",
    ),
    keyed("PodSpec", "schedulingGates", NAME, "merge", "name"),
    keyed(
        "PodSpec",
        "resourceClaims",
        NAME,
        "merge,retainKeys",
        "name",
    ),
    atomic("Container", "command"),
    atomic("Container", "args"),
    keyed(
        "Container",
        "ports",
        &["containerPort", "protocol"],
        "merge",
        "containerPort",
    ),
    atomic("Container", "envFrom"),
    keyed("Container", "env", NAME, "merge", "name"),
    atomic("Container", "resizePolicy"),
    keyed(
        "Container",
        "volumeMounts",
        &["mountPath"],
        "merge",
        "mountPath",
    ),
    keyed(
        "Container",
        "volumeDevices",
        &["devicePath"],
        "merge",
        "devicePath",
    ),
    // EphemeralContainer embeds the same fields (EphemeralContainerCommon).
    atomic("EphemeralContainer", "command"),
    atomic("EphemeralContainer", "args"),
    keyed(
        "EphemeralContainer",
        "ports",
        &["containerPort", "protocol"],
        "merge",
        "containerPort",
    ),
    atomic("EphemeralContainer", "envFrom"),
    keyed("EphemeralContainer", "env", NAME, "merge", "name"),
    atomic("EphemeralContainer", "resizePolicy"),
    keyed(
        "EphemeralContainer",
        "volumeMounts",
        &["mountPath"],
        "merge",
        "mountPath",
    ),
    keyed(
        "EphemeralContainer",
        "volumeDevices",
        &["devicePath"],
        "merge",
        "devicePath",
    ),
    Mark {
        default: Some("TCP"),
        ..mark("ContainerPort", "protocol")
    },
    keyed("ResourceRequirements", "claims", NAME, "", ""),
    set("VolumeMount", "bindMountOptions"),
    atomic("ExecAction", "command"),
    atomic("HTTPGetAction", "httpHeaders"),
    atomic("Capabilities", "add"),
    atomic("Capabilities", "drop"),
    atomic("PodSecurityContext", "supplementalGroups"),
    atomic("PodSecurityContext", "sysctls"),
    atomic(
        "NodeAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
    ),
    atomic("NodeSelector", "nodeSelectorTerms"),
    atomic("NodeSelectorTerm", "matchExpressions"),
    atomic("NodeSelectorTerm", "matchFields"),
    atomic("NodeSelectorRequirement", "values"),
    atomic(
        "PodAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ),
    atomic(
        "PodAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
    ),
    atomic(
        "PodAntiAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ),
    atomic(
        "PodAntiAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
    ),
    atomic("PodAffinityTerm", "namespaces"),
    atomic("PodAffinityTerm", "matchLabelKeys"),
    atomic("PodAffinityTerm", "mismatchLabelKeys"),
    atomic("HostAlias", "hostnames"),
    atomic("PodDNSConfig", "nameservers"),
    atomic("PodDNSConfig", "searches"),
    atomic("PodDNSConfig", "options"),
    atomic("TopologySpreadConstraint", "matchLabelKeys"),
    // core/v1 volumes
    atomic("SecretVolumeSource", "items"),
    atomic("ConfigMapVolumeSource", "items"),
    atomic("DownwardAPIVolumeSource", "items"),
    atomic("ProjectedVolumeSource", "sources"),
    atomic("SecretProjection", "items"),
    atomic("ConfigMapProjection", "items"),
    atomic("DownwardAPIProjection", "items"),
    atomic("ISCSIVolumeSource", "portals"),
    atomic("RBDVolumeSource", "monitors"),
    atomic("CephFSVolumeSource", "monitors"),
    atomic("FCVolumeSource", "targetWWNs"),
    atomic("FCVolumeSource", "wwids"),
    atomic("PersistentVolumeClaimSpec", "accessModes"),
    // core/v1 Service
    zero(mark("Service", "spec"), Zero::Struct),
    zero(mark("Service", "status"), Zero::Struct),
    keyed(
        "ServiceSpec",
        "ports",
        &["port", "protocol"],
        "merge",
        "port",
    ),
    atomic_map("ServiceSpec", "selector"),
    atomic("ServiceSpec", "clusterIPs"),
    atomic("ServiceSpec", "externalIPs"),
    atomic("ServiceSpec", "loadBalancerSourceRanges"),
    atomic("ServiceSpec", "ipFamilies"),
    Mark {
        default: Some("TCP"),
        ..mark("ServicePort", "protocol")
    },
    zero(mark("ServiceStatus", "loadBalancer"), Zero::Struct),
    keyed("ServiceStatus", "conditions", TYPE, "merge", "type"),
    atomic("LoadBalancerStatus", "ingress"),
    atomic("LoadBalancerIngress", "ports"),
    // rbac.authorization.k8s.io/v1: rules and subjects are replaced whole.
    zero(atomic("ClusterRole", "rules"), Zero::Null),
    zero(atomic("Role", "rules"), Zero::Null),
    atomic("PolicyRule", "verbs"),
    atomic("PolicyRule", "apiGroups"),
    atomic("PolicyRule", "resources"),
    atomic("PolicyRule", "resourceNames"),
    atomic("PolicyRule", "nonResourceURLs"),
    atomic("AggregationRule", "clusterRoleSelectors"),
    atomic("ClusterRoleBinding", "subjects"),
    zero(mark("ClusterRoleBinding", "roleRef"), Zero::Struct),
    atomic("RoleBinding", "subjects"),
    zero(mark("RoleBinding", "roleRef"), Zero::Struct),
    zero(mark("RoleRef", "apiGroup"), Zero::EmptyString),
    zero(mark("RoleRef", "kind"), Zero::EmptyString),
    zero(mark("RoleRef", "name"), Zero::EmptyString),
    // policy/v1
    zero(mark("PodDisruptionBudget", "spec"), Zero::Struct),
    zero(mark("PodDisruptionBudget", "status"), Zero::Struct),
    strategy("PodDisruptionBudgetSpec", "selector", "replace"),
    keyed(
        "PodDisruptionBudgetStatus",
        "conditions",
        TYPE,
        "merge",
        "type",
    ),
    // meta/v1
    atomic("LabelSelector", "matchExpressions"),
    atomic("LabelSelectorRequirement", "values"),
];

/// `+structType=atomic` structs: replaced whole by server-side apply.
const ATOMIC_STRUCTS: &[&str] = &[
    "LabelSelector",
    "LocalObjectReference",
    "ObjectFieldSelector",
    "ResourceFieldSelector",
    "ConfigMapKeySelector",
    "SecretKeySelector",
    "NodeSelector",
    "NodeSelectorTerm",
    "TypedLocalObjectReference",
    "Subject",
    "RoleRef",
];

/// The kinds built here: (group, kind) and their definition name.
const KINDS: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "io.k8s.api.apps.v1.Deployment"),
    ("", "Service", "io.k8s.api.core.v1.Service"),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "io.k8s.api.rbac.v1.ClusterRole",
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
    ),
    (
        "rbac.authorization.k8s.io",
        "Role",
        "io.k8s.api.rbac.v1.Role",
    ),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "io.k8s.api.rbac.v1.RoleBinding",
    ),
    (
        "policy",
        "PodDisruptionBudget",
        "io.k8s.api.policy.v1.PodDisruptionBudget",
    ),
];

const OBJECT_META_DEFINITION: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The schemas of the kinds, by definition name, as k8s-openapi generates them.
pub fn definitions() -> &'static Map<String, Value> {
    static DEFINITIONS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
        use k8s_openapi::api::rbac::v1 as rbac;
        use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, policy::v1 as policy};
        let mut generator = SchemaSettings::openapi3()
            .with(|s| s.meta_schema = None)
            .into_generator();
        fn add<T: JsonSchema>(g: &mut SchemaGenerator) {
            g.subschema_for::<T>();
        }
        add::<apps::Deployment>(&mut generator);
        add::<core::Service>(&mut generator);
        add::<rbac::ClusterRole>(&mut generator);
        add::<rbac::ClusterRoleBinding>(&mut generator);
        add::<rbac::Role>(&mut generator);
        add::<rbac::RoleBinding>(&mut generator);
        add::<policy::PodDisruptionBudget>(&mut generator);
        generator.take_definitions(true).into_iter().collect()
    });
    &DEFINITIONS
}

/// The Go type of one of the kinds built here.
pub fn kind_struct(group: &str, kind: &str) -> Option<&'static GoStruct> {
    static KIND_STRUCTS: LazyLock<HashMap<(&str, &str), &'static GoStruct>> = LazyLock::new(|| {
        let mut builder = Builder {
            definitions: definitions(),
            built: HashMap::new(),
            building: Vec::new(),
        };
        KINDS
            .iter()
            .filter_map(|(g, k, def)| Some(((*g, *k), builder.build(def)?)))
            .collect()
    });
    KIND_STRUCTS.get(&(group, kind)).copied()
}

/// The definition a property refers to: `$ref`, or `allOf: [{$ref}]` with a description.
pub fn referenced(schema: &Value) -> Option<&str> {
    let reference = schema
        .get("$ref")
        .or_else(|| schema.pointer("/allOf/0/$ref"))?
        .as_str()?;
    reference.rsplit('/').next()
}

/// The Go name of a definition (`io.k8s.api.core.v1.PodSpec` → `PodSpec`).
pub fn short_name(definition: &str) -> &str {
    definition.rsplit('.').next().unwrap_or(definition)
}

struct Builder {
    definitions: &'static Map<String, Value>,
    built: HashMap<String, &'static GoStruct>,
    /// Definitions being built (a reference back to one is a cycle, taken as raw JSON).
    building: Vec<String>,
}

impl Builder {
    /// The struct of a definition with properties; built structs live for the whole process
    /// (a bounded set, built once).
    fn build(&mut self, definition: &str) -> Option<&'static GoStruct> {
        if definition == OBJECT_META_DEFINITION {
            return Some(&OBJECT_META);
        }
        if let Some(s) = self.built.get(definition) {
            return Some(s);
        }
        let schema = self.definitions.get(definition)?;
        let properties = schema.get("properties")?.as_object()?;
        if self.building.iter().any(|d| d == definition) {
            return None;
        }
        self.building.push(definition.to_string());
        let name = short_name(definition);
        let fields: Vec<GoField> = properties
            .iter()
            .map(|(json, property)| self.field(name, json, property))
            .collect();
        self.building.pop();
        let built: &'static GoStruct = Box::leak(Box::new(GoStruct {
            name: Box::leak(name.to_string().into_boxed_str()),
            atomic: ATOMIC_STRUCTS.contains(&name),
            fields: Box::leak(fields.into_boxed_slice()),
        }));
        self.built.insert(definition.to_string(), built);
        Some(built)
    }

    fn field(&mut self, on: &str, json: &str, property: &Value) -> GoField {
        let ty = self.go_type(property);
        let zero_meta = matches!(ty, GoType::Struct(s) if std::ptr::eq(s, &OBJECT_META));
        let found = MARKS.iter().find(|m| m.on == on && m.field == json);
        GoField {
            json: Box::leak(json.to_string().into_boxed_str()),
            ty,
            list: found.and_then(|m| m.list),
            strategy: found.map_or("", |m| m.strategy),
            merge_key: found.map_or("", |m| m.merge_key),
            // ObjectMeta is always embedded as a plain struct.
            zero: if zero_meta {
                Zero::Struct
            } else {
                found.map_or(Zero::Absent, |m| m.zero)
            },
            map_atomic: found.is_some_and(|m| m.map_atomic),
            default: found.and_then(|m| m.default),
        }
    }

    fn go_type(&mut self, schema: &Value) -> GoType {
        if let Some(definition) = referenced(schema) {
            let definition = definition.to_string();
            return match self.build(&definition) {
                Some(s) => GoType::Struct(s),
                None => match self.definitions.get(&definition) {
                    // A struct seen again while being built, or an object without properties
                    // (RawExtension): kept as it comes.
                    Some(d) if d.get("properties").is_some() || d["type"] == "object" => {
                        GoType::Raw
                    }
                    // IntOrString, Quantity, Time, MicroTime: one JSON scalar.
                    // Quantity's schema says int-or-string too.
                    _ if short_name(&definition) == "Quantity" => GoType::Scalar(Json::Quantity),
                    Some(d) if d.get("x-kubernetes-int-or-string").is_some() => {
                        GoType::Scalar(Json::IntOrString)
                    }
                    Some(d) => GoType::Scalar(scalar_json(d)),
                    None => GoType::Scalar(Json::Any),
                },
            };
        }
        let leak = |t: GoType| -> &'static GoType { Box::leak(Box::new(t)) };
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let elem = schema
                    .get("items")
                    .map(|items| self.go_type(items))
                    .unwrap_or(GoType::Raw);
                GoType::Slice(leak(elem))
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(elem @ Value::Object(_)) => GoType::Map(leak(self.go_type(elem))),
                _ => GoType::Raw,
            },
            _ => GoType::Scalar(scalar_json(schema)),
        }
    }
}

/// The JSON a scalar schema takes (`type` and `format`, as the Go types map to them).
fn scalar_json(schema: &Value) -> Json {
    match (
        schema.get("type").and_then(Value::as_str),
        schema.get("format").and_then(Value::as_str),
    ) {
        (Some("string"), _) => Json::String,
        (Some("boolean"), _) => Json::Bool,
        (Some("integer"), Some("int32")) => Json::Int32,
        (Some("integer"), _) => Json::Int64,
        (Some("number"), _) => Json::Float64,
        _ => Json::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &'static GoStruct, path: &[&str]) -> &'static GoField {
        let mut s = s;
        let (last, inner) = path.split_last().unwrap();
        for name in inner {
            s = match &s.field(name).unwrap().ty {
                GoType::Struct(inner) => inner,
                GoType::Slice(GoType::Struct(inner)) => inner,
                other => panic!("{name} is {other:?}"),
            };
        }
        s.field(last).unwrap()
    }

    #[test]
    fn deployment_has_the_patch_strategies_of_its_go_type() {
        let d = kind_struct("apps", "Deployment").unwrap();
        let containers = field(d, &["spec", "template", "spec", "containers"]);
        assert_eq!(
            (containers.strategy, containers.merge_key),
            ("merge", "name")
        );
        let ports = field(d, &["spec", "template", "spec", "containers", "ports"]);
        assert!(matches!(
            ports.list,
            Some(ListType::Map(["containerPort", "protocol"]))
        ));
        let protocol = field(
            d,
            &[
                "spec",
                "template",
                "spec",
                "containers",
                "ports",
                "protocol",
            ],
        );
        assert_eq!(protocol.default, Some("TCP"));
        let volumes = field(d, &["spec", "template", "spec", "volumes"]);
        assert_eq!(volumes.strategy, "merge,retainKeys");
        assert!(field(d, &["spec", "template", "spec", "nodeSelector"]).map_atomic);
        let GoType::Struct(selector) = &field(d, &["spec", "selector"]).ty else {
            panic!("selector is a struct");
        };
        assert!(selector.atomic, "LabelSelector is +structType=atomic");
        let GoType::Struct(meta) = &field(d, &["spec", "template", "metadata"]).ty else {
            panic!("template metadata is a struct");
        };
        assert!(std::ptr::eq(*meta, &OBJECT_META));
        // Quantities and int-or-strings are scalars.
        let limits = field(
            d,
            &[
                "spec",
                "template",
                "spec",
                "containers",
                "resources",
                "limits",
            ],
        );
        assert!(matches!(
            limits.ty,
            GoType::Map(GoType::Scalar(Json::Quantity))
        ));
    }

    #[test]
    fn zero_objects_hold_plain_structs_and_required_fields() {
        let d = kind_struct("apps", "Deployment").unwrap();
        assert_eq!(
            d.zero_value(),
            serde_json::json!({
                "metadata": {},
                "spec": {"template": {"metadata": {}, "spec": {"containers": null}}, "strategy": {}},
                "status": {}
            })
        );
        let binding = kind_struct("rbac.authorization.k8s.io", "RoleBinding").unwrap();
        assert_eq!(
            binding.zero_value(),
            serde_json::json!({"metadata": {}, "roleRef": {"apiGroup": "", "kind": "", "name": ""}})
        );
        let subjects = binding.field("subjects").unwrap();
        assert!(matches!(subjects.list, Some(ListType::Atomic)));
    }

    #[test]
    fn every_mark_names_a_field_of_a_built_struct_or_a_newer_one() {
        // Marks may name fields newer than the schemas (harmless); each struct must exist.
        let known: Vec<&str> = definitions().keys().map(|d| short_name(d)).collect();
        for m in MARKS {
            assert!(known.contains(&m.on), "no definition for {}", m.on);
        }
        for s in ATOMIC_STRUCTS {
            assert!(known.contains(s), "no definition for {s}");
        }
    }
}
