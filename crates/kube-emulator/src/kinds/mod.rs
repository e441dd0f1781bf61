//! One strategy per built-in kind, as the API server's registry has one REST strategy per
//! resource: what a write of the kind decodes into, how it is prepared and defaulted, how it is
//! validated, how it is printed in a table, its protobuf message and OpenAPI schema. Each kind
//! is one file; [`BUILTINS`] registers them (in discovery order). Custom resources have no
//! strategy: their CRD's schema does that work.

mod config_map;
mod crd;
mod deployment;
mod event;
mod events_v1;
mod lease;
mod namespace;
mod pod_disruption_budget;
mod rbac;
mod secret;
mod self_subject_access_review;
mod service;
mod service_account;

use std::sync::Arc;

use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Value, json};

use crate::protobuf::Message;
use crate::registry::{Served, View};
use crate::ssa::builtin::GoStruct;
use crate::status::{ApiError, Cause};
use crate::table::Printer;
use crate::validation::{NameRule, config_key_errors, micro_time_error, time_error};

pub use crd::{
    established_status as crd_established_status,
    terminating_condition as crd_terminating_condition,
};

/// The built-in kinds, in discovery order. Adding a kind: one file here, one line below.
pub static BUILTINS: &[&dyn KindStrategy] = &[
    &config_map::ConfigMap,
    &event::Event,
    &namespace::Namespace,
    &secret::Secret,
    &service_account::ServiceAccount,
    &service::Service,
    &deployment::Deployment,
    &events_v1::EventsV1,
    &self_subject_access_review::SelfSubjectAccessReview,
    &pod_disruption_budget::PodDisruptionBudget,
    &rbac::CLUSTER_ROLE_BINDING,
    &rbac::CLUSTER_ROLE,
    &rbac::ROLE_BINDING,
    &rbac::ROLE,
    &lease::Lease,
    &crd::CustomResourceDefinition,
];

/// The strategy of a built-in kind, by API group and kind.
pub fn builtin(group: &str, kind: &str) -> Option<&'static dyn KindStrategy> {
    BUILTINS.iter().copied().find(|s| {
        let d = s.definition();
        d.group == group && d.kind == kind
    })
}

/// How the server treats one built-in kind: the parts of kube-apiserver's
/// `rest.RESTCreateStrategy`/`RESTUpdateStrategy` (scope, PrepareForCreate/Update, Validate,
/// ValidateUpdate), its defaulting, its `TableConvertor`, and the Go, protobuf and OpenAPI
/// types it is served with. Every method but [`KindStrategy::definition`] has a default that
/// does nothing.
pub trait KindStrategy: Sync {
    /// Names, scope and the generic behaviours the registry applies.
    fn definition(&self) -> Definition;

    /// The Go type bodies decode into (unknown fields, values of the wrong type, server-side
    /// apply's field sets, strategic merge patch); `None` keeps only metadata.
    fn go_type(&self) -> Option<&'static GoStruct> {
        None
    }

    /// The protobuf message kubectl may send for the kind; `None` takes JSON only.
    fn protobuf(&self) -> Option<&'static Message> {
        None
    }

    /// Registers the kind's OpenAPI schema (k8s-openapi's type) and returns its definition name.
    fn openapi(&self, generator: &mut SchemaGenerator) -> String;

    /// The server's table printer; `None` prints `Name` and `Created At`.
    fn printer(&self) -> Option<Printer> {
        None
    }

    /// Subresources besides `status` (which [`Definition::status_subresource`] declares).
    fn subresources(&self) -> &'static [Subresource] {
        &[]
    }

    /// What the decoder refuses before the Go type is filled in (its own words; see
    /// [`decode_error`] for the answer).
    fn decode_checks(&self, _obj: &Value) -> Result<(), String> {
        Ok(())
    }

    /// A body in the kind's own view turned into its stored form (two kinds may share storage).
    fn to_stored(&self, obj: Value) -> Value {
        obj
    }

    /// A stored object as the kind presents it.
    fn present(&self, stored: &Value) -> Value {
        stored.clone()
    }

    /// PrepareForCreate/PrepareForUpdate and defaulting: the server's own changes to a body
    /// (`old` is the stored object on an update).
    fn prepare(&self, _obj: &mut Value, _old: Option<&Value>, _admission: &Admission) {}

    /// Validate/ValidateUpdate: the kind's own 422 causes (ObjectMeta is checked for every kind).
    fn validate(&self, _obj: &Value, _old: Option<&Value>) -> Vec<Cause> {
        Vec::new()
    }
}

/// A subresource of a kind besides `status`: its name, the verbs discovery lists for it and the
/// kind its requests and answers carry (None: the kind itself). Its handler is routed in `http`.
pub struct Subresource {
    pub name: &'static str,
    pub verbs: &'static [&'static str],
    /// (group, version, kind).
    pub response_kind: Option<(&'static str, &'static str, &'static str)>,
}

/// Whether a built-in kind serves this subresource (besides `status`).
pub fn has_subresource(group: &str, kind: &str, name: &str) -> bool {
    builtin(group, kind).is_some_and(|s| s.subresources().iter().any(|sub| sub.name == name))
}

/// What a kind's preparation may look at besides the object.
pub struct Admission<'a> {
    /// `Some("status")` for a write to /status.
    pub subresource: Option<&'a str>,
    /// The stored objects of the kind (a Service's new cluster IP must be free).
    pub stored: &'a dyn Fn() -> Vec<Arc<Value>>,
}

/// The names and scope of a built-in kind and the generic rules the registry applies to it.
#[derive(Clone, Copy)]
pub struct Definition {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    pub status_subresource: bool,
    /// Whether objects carry `metadata.generation`.
    pub has_generation: bool,
    /// Whether PUT without `metadata.resourceVersion` is allowed.
    pub unconditional_update: bool,
    pub name_rule: NameRule,
    /// Field selectors besides `metadata.name` / `metadata.namespace`.
    pub extra_field_selectors: &'static [&'static str],
    /// Whether an annotation change also moves `metadata.generation`.
    pub annotations_bump_generation: bool,
    /// Whether `deletecollection` is served.
    pub delete_collection: bool,
    /// The verbs served when not all of them (a review is only created).
    pub verbs: Option<&'static [&'static str]>,
    /// How the kind presents its storage, and whose storage it is (None: its own).
    pub view: View,
    pub store: Option<&'static str>,
}

impl Definition {
    /// A namespaced kind with the defaults most kinds have.
    pub const fn namespaced(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Definition {
        Definition {
            group,
            version,
            kind,
            plural,
            short_names: &[],
            categories: &[],
            namespaced: true,
            status_subresource: false,
            has_generation: false,
            unconditional_update: true,
            name_rule: NameRule::Subdomain,
            extra_field_selectors: &[],
            annotations_bump_generation: false,
            delete_collection: true,
            verbs: None,
            view: View::Plain,
            store: None,
        }
    }

    /// A cluster-scoped kind with the defaults most kinds have.
    pub const fn cluster(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Definition {
        Definition {
            namespaced: false,
            ..Definition::namespaced(group, version, kind, plural)
        }
    }
}

/// Decode-time checks: what the real server rejects while turning the body into its Go type
/// (the kind's own checks, time formats, values of the wrong type). The error is the decoder's
/// own words; see [`decode_error`] for how the server answers it.
pub fn decode_checks(served: &Served, obj: &Value) -> Result<(), String> {
    if let Some(strategy) = served.strategy {
        strategy.decode_checks(obj)?;
    }
    if let Some(s) = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        && let Some(e) = time_error(s)
    {
        return Err(e);
    }
    if let Some(go) = served.strategy.and_then(|s| s.go_type())
        && let Some(e) = go.decode_error(obj)
    {
        return Err(e);
    }
    Ok(())
}

/// The first `metav1.MicroTime` (`micro`) or `metav1.Time` (`times`) field at these pointers
/// that does not parse.
fn time_fields_error(obj: &Value, micro: &[&str], times: &[&str]) -> Result<(), String> {
    let check = |fields: &[&str], error: fn(&str) -> Option<String>| {
        for f in fields {
            if let Some(s) = obj.pointer(f).and_then(Value::as_str)
                && let Some(e) = error(s)
            {
                return Err(e);
            }
        }
        Ok(())
    };
    check(micro, micro_time_error)?;
    check(times, time_error)
}

/// The answer to a body that does not decode: 400 for a create or update body, 422 naming
/// the patched object for a patch.
pub fn decode_error(served: &Served, detail: &str, patched: Option<&Value>) -> ApiError {
    let kind = &served.kind.kind;
    match patched {
        None => ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {detail}"
        )),
        Some(obj) => {
            let json = serde_json::to_string(obj).unwrap_or_default();
            ApiError::invalid(
                "",
                "",
                "",
                "",
                vec![Cause::invalid("patch", &json!(json), detail)],
            )
        }
    }
}

/// Server-side preparation and defaulting of a built-in object on create and update.
pub fn prepare(served: &Served, obj: &mut Value, old: Option<&Value>, admission: &Admission) {
    if let Some(strategy) = served.strategy {
        strategy.prepare(obj, old, admission);
    }
}

/// Kind-specific validation (422 causes).
pub fn validate(served: &Served, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    served
        .strategy
        .map(|s| s.validate(obj, old))
        .unwrap_or_default()
}

/// Removes the fields of a body that its kind does not have and returns their paths (for
/// fieldValidation): built-in kinds by their Go type, custom resources by `metadata` only (their
/// schema prunes the rest).
pub fn prune_unknown_fields(served: &Served, obj: &mut Value) -> Vec<String> {
    match served.strategy.and_then(|s| s.go_type()) {
        Some(s) => s.prune_unknown(obj),
        None => match obj.get_mut("metadata") {
            Some(meta) => crate::ssa::builtin::OBJECT_META
                .prune_unknown(meta)
                .into_iter()
                .map(|p| format!("metadata.{p}"))
                .collect(),
            None => Vec::new(),
        },
    }
}

/// Fields a Go type always serializes in its status (plain structs, non-`omitempty` fields),
/// so that a stored object reads back as the real server encodes it.
fn zero_status(obj: &mut Value, zero: Value) {
    let (Some(map), Value::Object(zero)) = (obj.as_object_mut(), zero) else {
        return;
    };
    if !map.get("status").is_some_and(Value::is_object) {
        map.insert("status".into(), json!({}));
    }
    if let Some(status) = map.get_mut("status").and_then(Value::as_object_mut) {
        for (k, v) in zero {
            status.entry(k).or_insert(v);
        }
    }
}

/// The rules ConfigMaps and Secrets share: valid keys in `data`/`binaryData`, and nothing of
/// them changes once `immutable` is set.
fn data_causes(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    for field in ["data", "binaryData"] {
        if let Some(map) = obj.get(field).and_then(Value::as_object) {
            for k in map.keys() {
                for m in config_key_errors(k) {
                    causes.push(Cause::invalid(&format!("{field}[{k}]"), &json!(k), &m));
                }
            }
        }
    }
    if let Some(old) = old
        && old.get("immutable").and_then(Value::as_bool) == Some(true)
    {
        for field in ["data", "binaryData"] {
            if obj.get(field) != old.get(field) {
                causes.push(Cause::forbidden(
                    field,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        if obj.get("immutable") != old.get("immutable") {
            causes.push(Cause::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtins;

    fn no_admission() -> Admission<'static> {
        Admission {
            subresource: None,
            stored: &Vec::new,
        }
    }

    fn served(plural: &str, group: &str) -> Served {
        builtins()
            .into_iter()
            .find(|s| s.kind.plural == plural && s.kind.group == group)
            .unwrap()
    }

    #[test]
    fn secret_string_data_merges_and_wins() {
        let s = served("secrets", "");
        let mut obj = json!({"data": {"a": "YWFh", "b": "YmJi"}, "stringData": {"b": "from-stringData", "c": "plain"}});
        prepare(&s, &mut obj, None, &no_admission());
        assert_eq!(
            obj,
            json!({"data": {"a": "YWFh", "b": "ZnJvbS1zdHJpbmdEYXRh", "c": "cGxhaW4="}, "type": "Opaque"})
        );
    }

    #[test]
    fn secret_base64_error_offset() {
        let s = served("secrets", "");
        let err = decode_checks(&s, &json!({"data": {"a": "not base64!!"}})).unwrap_err();
        assert_eq!(
            decode_error(&s, &err, None).message,
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
        );
    }

    #[test]
    fn tls_secret_requires_keys() {
        let s = served("secrets", "");
        let causes = validate(
            &s,
            &json!({"type": "kubernetes.io/tls", "data": {"x": "eA=="}}),
            None,
        );
        let sums: Vec<_> = causes.iter().map(Cause::summary).collect();
        assert_eq!(
            sums,
            vec![
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value"
            ]
        );
    }

    #[test]
    fn deployments_need_a_selector_matching_their_template_and_named_containers_with_images() {
        let d = served("deployments", "apps");
        let sums = |obj: Value| -> Vec<String> {
            validate(&d, &obj, None)
                .iter()
                .map(Cause::summary)
                .collect()
        };
        assert_eq!(
            sums(
                json!({"spec": {"template": {"metadata": {"labels": {"b": "2", "a": "1"}},
                "spec": {"containers": [{"name": "c"}]}}}})
            ),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: `selector` does not match template `labels`",
                "spec.template.spec.containers[0].image: Required value",
            ]
        );
        assert_eq!(
            sums(
                json!({"spec": {"replicas": -1, "selector": {"matchLabels": {"a": "2"}},
                "template": {"spec": {}}}})
            ),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`",
                "spec.template.spec.containers: Required value",
            ]
        );
        assert!(
            sums(json!({"spec": {"selector": {"matchLabels": {"a": "1"},
                    "matchExpressions": [{"key": "b", "operator": "In", "values": ["2", "3"]}]},
                "template": {"metadata": {"labels": {"a": "1", "b": "2"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
            .is_empty()
        );
    }

    #[test]
    fn event_views_round_trip() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "st1"}, "message": "m", "source": {"component": "c"}, "count": 2, "firstTimestamp": null, "lastTimestamp": null, "eventTime": null, "reportingComponent": "", "reportingInstance": ""});
        let v1 = events_v1::to_v1(&core);
        assert_eq!(v1["regarding"]["name"], "st1");
        assert_eq!(v1["note"], "m");
        assert_eq!(v1["deprecatedCount"], 2);
        assert!(v1.get("reportingController").is_none());
        assert_eq!(events_v1::from_v1(&v1), core);
    }
}
