//! The Go types of the built-in kinds the emulator serves, reduced to what merging needs: struct
//! fields with their JSON names, `+listType`/`+listMapKey`/`+structType` markers (server-side
//! apply) and `patchStrategy`/`patchMergeKey` tags (strategic merge patch). One table serves both
//! because the real server derives both from these same Go types; transcribed from
//! k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver.

/// A Go type as seen through its JSON encoding.
#[derive(Debug)]
pub enum GoType {
    /// Strings, numbers, booleans, `[]byte`, `metav1.Time`: one JSON scalar, of the kind the
    /// decoder takes (`Json::Any` where the table does not say).
    Scalar(Json),
    Struct(&'static GoStruct),
    /// `map[string]T`.
    Map(&'static GoType),
    /// `[]T`.
    Slice(&'static GoType),
    /// `runtime.RawExtension`, `JSON`: anything, treated as one value.
    Raw,
}

/// The JSON a scalar Go type decodes from (what `encoding/json` refuses otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Json {
    Any,
    String,
    Bool,
    Int32,
    Int64,
    Float64,
    /// `intstr.IntOrString`: a string or an int32.
    IntOrString,
    /// `resource.Quantity`: a string or number in quantity syntax.
    Quantity,
}

#[derive(Debug)]
pub struct GoStruct {
    /// The Go type name, as in `unable to find api field in struct ObjectMeta ...`.
    pub name: &'static str,
    /// `+structType=atomic`.
    pub atomic: bool,
    pub fields: &'static [GoField],
}

#[derive(Debug)]
pub struct GoField {
    pub json: &'static str,
    pub ty: GoType,
    /// `+listType` (with `+listMapKey`); `None` when the marker is absent.
    pub list: Option<ListType>,
    /// The `patchStrategy` tag (`""` when absent).
    pub strategy: &'static str,
    /// The `patchMergeKey` tag (`""` when absent).
    pub merge_key: &'static str,
    /// What the field holds in a zero Go object, as structured-merge-diff reads it.
    pub zero: Zero,
    /// `+mapType=atomic` on a map field: server-side apply replaces it whole.
    pub map_atomic: bool,
    /// `+default=` of a string field (published in OpenAPI; server-side apply fills list-map
    /// keys an item leaves out from it, e.g. a port's `protocol`).
    pub default: Option<&'static str>,
}

/// A field of a zero-valued Go struct seen through reflection: `omitempty` scalars, maps,
/// slices and nil pointers are absent; plain structs are there (even with `omitempty`), as
/// are strings without `omitempty` (`""`) and nil slices or `metav1.Time` (null).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zero {
    Absent,
    Null,
    EmptyString,
    Struct,
}

#[derive(Debug, Clone, Copy)]
pub enum ListType {
    Atomic,
    Set,
    Map(&'static [&'static str]),
}

const fn f(json: &'static str, ty: GoType) -> GoField {
    GoField {
        json,
        ty,
        list: None,
        strategy: "",
        merge_key: "",
        zero: Zero::Absent,
        map_atomic: false,
        default: None,
    }
}

/// A field present in the zero object (see [`Zero`]).
const fn z(field: GoField, zero: Zero) -> GoField {
    GoField { zero, ..field }
}

/// A non-pointer struct field.
pub(crate) const fn st(json: &'static str, ty: &'static GoStruct) -> GoField {
    z(f(json, GoType::Struct(ty)), Zero::Struct)
}

pub(crate) const fn s(json: &'static str) -> GoField {
    f(json, GoType::Scalar(Json::Any))
}

pub(crate) const fn atomic_list(json: &'static str, elem: &'static GoType) -> GoField {
    GoField {
        list: Some(ListType::Atomic),
        ..f(json, GoType::Slice(elem))
    }
}

pub(crate) const fn keyed_list(
    json: &'static str,
    elem: &'static GoType,
    keys: &'static [&'static str],
    strategy: &'static str,
    merge_key: &'static str,
) -> GoField {
    GoField {
        list: Some(ListType::Map(keys)),
        strategy,
        merge_key,
        ..f(json, GoType::Slice(elem))
    }
}

const SCALAR: GoType = GoType::Scalar(Json::Any);
const STRING_MAP: GoType = GoType::Map(&SCALAR);

// --- apimachinery meta/v1 ---

pub static OWNER_REFERENCE: GoStruct = GoStruct {
    name: "OwnerReference",
    atomic: true,
    fields: &[
        s("apiVersion"),
        s("kind"),
        s("name"),
        s("uid"),
        s("controller"),
        s("blockOwnerDeletion"),
    ],
};

static MANAGED_FIELDS_ENTRY: GoStruct = GoStruct {
    name: "ManagedFieldsEntry",
    atomic: false,
    fields: &[
        s("manager"),
        s("operation"),
        s("apiVersion"),
        s("time"),
        s("fieldsType"),
        // FieldsV1 holds raw JSON (`f:`/`k:` keys).
        f("fieldsV1", GoType::Raw),
        s("subresource"),
    ],
};

pub static OBJECT_META: GoStruct = GoStruct {
    name: "ObjectMeta",
    atomic: false,
    fields: &[
        s("name"),
        s("generateName"),
        s("namespace"),
        s("selfLink"),
        s("uid"),
        s("resourceVersion"),
        s("generation"),
        s("creationTimestamp"),
        s("deletionTimestamp"),
        s("deletionGracePeriodSeconds"),
        f("labels", STRING_MAP),
        f("annotations", STRING_MAP),
        keyed_list(
            "ownerReferences",
            &GoType::Struct(&OWNER_REFERENCE),
            &["uid"],
            "merge",
            "uid",
        ),
        GoField {
            list: Some(ListType::Set),
            strategy: "merge",
            ..f("finalizers", GoType::Slice(&SCALAR))
        },
        atomic_list("managedFields", &GoType::Struct(&MANAGED_FIELDS_ENTRY)),
    ],
};

/// Joins `TypeMeta` and `metadata` (embedded in every kind) with a kind's own fields.
macro_rules! kind_fields {
    ($($field:expr),* $(,)?) => {
        &[
            $crate::ssa::builtin::s("apiVersion"),
            $crate::ssa::builtin::s("kind"),
            $crate::ssa::builtin::st("metadata", &$crate::ssa::builtin::OBJECT_META),
            $($field),*
        ]
    };
}
pub(crate) use kind_fields;

// --- core/v1 ---

pub(crate) static OBJECT_REFERENCE: GoStruct = GoStruct {
    name: "ObjectReference",
    atomic: true,
    fields: &[
        s("kind"),
        s("namespace"),
        s("name"),
        s("uid"),
        s("apiVersion"),
        s("resourceVersion"),
        s("fieldPath"),
    ],
};

pub(crate) static LOCAL_OBJECT_REFERENCE: GoStruct = GoStruct {
    name: "LocalObjectReference",
    atomic: true,
    fields: &[s("name")],
};

static EVENT_SOURCE: GoStruct = GoStruct {
    name: "EventSource",
    atomic: false,
    fields: &[s("component"), s("host")],
};

static EVENT_SERIES: GoStruct = GoStruct {
    name: "EventSeries",
    atomic: false,
    fields: &[s("count"), s("lastObservedTime")],
};

static NAMESPACE_SPEC: GoStruct = GoStruct {
    name: "NamespaceSpec",
    atomic: false,
    fields: &[atomic_list("finalizers", &SCALAR)],
};

static NAMESPACE_CONDITION: GoStruct = GoStruct {
    name: "NamespaceCondition",
    atomic: false,
    fields: &[
        s("type"),
        s("status"),
        s("lastTransitionTime"),
        s("reason"),
        s("message"),
    ],
};

static NAMESPACE_STATUS: GoStruct = GoStruct {
    name: "NamespaceStatus",
    atomic: false,
    fields: &[
        s("phase"),
        keyed_list(
            "conditions",
            &GoType::Struct(&NAMESPACE_CONDITION),
            &["type"],
            "merge",
            "type",
        ),
    ],
};

pub static NAMESPACE: GoStruct = GoStruct {
    name: "Namespace",
    atomic: false,
    fields: kind_fields![st("spec", &NAMESPACE_SPEC), st("status", &NAMESPACE_STATUS),],
};

pub static SECRET: GoStruct = GoStruct {
    name: "Secret",
    atomic: false,
    fields: kind_fields![
        s("immutable"),
        f("data", STRING_MAP),
        f("stringData", STRING_MAP),
        s("type"),
    ],
};

pub static CONFIG_MAP: GoStruct = GoStruct {
    name: "ConfigMap",
    atomic: false,
    fields: kind_fields![
        s("immutable"),
        f("data", STRING_MAP),
        f("binaryData", STRING_MAP),
    ],
};

pub static EVENT: GoStruct = GoStruct {
    name: "Event",
    atomic: false,
    fields: kind_fields![
        st("involvedObject", &OBJECT_REFERENCE),
        s("reason"),
        s("message"),
        st("source", &EVENT_SOURCE),
        z(s("firstTimestamp"), Zero::Null),
        z(s("lastTimestamp"), Zero::Null),
        s("count"),
        s("type"),
        z(s("eventTime"), Zero::Null),
        f("series", GoType::Struct(&EVENT_SERIES)),
        s("action"),
        f("related", GoType::Struct(&OBJECT_REFERENCE)),
        z(s("reportingComponent"), Zero::EmptyString),
        z(s("reportingInstance"), Zero::EmptyString),
    ],
};

// --- events.k8s.io/v1 ---

pub static EVENTS_V1_EVENT: GoStruct = GoStruct {
    name: "Event",
    atomic: false,
    fields: kind_fields![
        z(s("eventTime"), Zero::Null),
        f("series", GoType::Struct(&EVENT_SERIES)),
        s("reportingController"),
        s("reportingInstance"),
        s("action"),
        s("reason"),
        st("regarding", &OBJECT_REFERENCE),
        f("related", GoType::Struct(&OBJECT_REFERENCE)),
        s("note"),
        s("type"),
        st("deprecatedSource", &EVENT_SOURCE),
        z(s("deprecatedFirstTimestamp"), Zero::Null),
        z(s("deprecatedLastTimestamp"), Zero::Null),
        s("deprecatedCount"),
    ],
};

// --- coordination.k8s.io/v1 ---

static LEASE_SPEC: GoStruct = GoStruct {
    name: "LeaseSpec",
    atomic: false,
    fields: &[
        s("holderIdentity"),
        s("leaseDurationSeconds"),
        s("acquireTime"),
        s("renewTime"),
        s("leaseTransitions"),
        s("strategy"),
        s("preferredHolder"),
    ],
};

pub static LEASE: GoStruct = GoStruct {
    name: "Lease",
    atomic: false,
    fields: kind_fields![st("spec", &LEASE_SPEC)],
};

// --- apiextensions.k8s.io/v1 ---

static CRD_NAMES: GoStruct = GoStruct {
    name: "CustomResourceDefinitionNames",
    atomic: false,
    fields: &[
        z(s("plural"), Zero::EmptyString),
        s("singular"),
        atomic_list("shortNames", &SCALAR),
        z(s("kind"), Zero::EmptyString),
        s("listKind"),
        atomic_list("categories", &SCALAR),
    ],
};

static CRD_VALIDATION: GoStruct = GoStruct {
    name: "CustomResourceValidation",
    atomic: false,
    fields: &[f("openAPIV3Schema", GoType::Raw)],
};

static CRD_SUBRESOURCES: GoStruct = GoStruct {
    name: "CustomResourceSubresources",
    atomic: false,
    fields: &[f("status", GoType::Raw), f("scale", GoType::Raw)],
};

static CRD_VERSION: GoStruct = GoStruct {
    name: "CustomResourceDefinitionVersion",
    atomic: false,
    fields: &[
        s("name"),
        s("served"),
        s("storage"),
        s("deprecated"),
        s("deprecationWarning"),
        f("schema", GoType::Struct(&CRD_VALIDATION)),
        f("subresources", GoType::Struct(&CRD_SUBRESOURCES)),
        atomic_list("additionalPrinterColumns", &GoType::Raw),
        atomic_list("selectableFields", &GoType::Raw),
    ],
};

static SERVICE_REFERENCE: GoStruct = GoStruct {
    name: "ServiceReference",
    atomic: false,
    fields: &[s("namespace"), s("name"), s("path"), s("port")],
};

static WEBHOOK_CLIENT_CONFIG: GoStruct = GoStruct {
    name: "WebhookClientConfig",
    atomic: false,
    fields: &[
        s("url"),
        f("service", GoType::Struct(&SERVICE_REFERENCE)),
        s("caBundle"),
    ],
};

static WEBHOOK_CONVERSION: GoStruct = GoStruct {
    name: "WebhookConversion",
    atomic: false,
    fields: &[
        f("clientConfig", GoType::Struct(&WEBHOOK_CLIENT_CONFIG)),
        atomic_list("conversionReviewVersions", &SCALAR),
    ],
};

static CRD_CONVERSION: GoStruct = GoStruct {
    name: "CustomResourceConversion",
    atomic: false,
    fields: &[
        s("strategy"),
        f("webhook", GoType::Struct(&WEBHOOK_CONVERSION)),
    ],
};

static CRD_SPEC: GoStruct = GoStruct {
    name: "CustomResourceDefinitionSpec",
    atomic: false,
    fields: &[
        z(s("group"), Zero::EmptyString),
        st("names", &CRD_NAMES),
        z(s("scope"), Zero::EmptyString),
        z(
            atomic_list("versions", &GoType::Struct(&CRD_VERSION)),
            Zero::Null,
        ),
        f("conversion", GoType::Struct(&CRD_CONVERSION)),
        s("preserveUnknownFields"),
    ],
};

static CRD_CONDITION: GoStruct = GoStruct {
    name: "CustomResourceDefinitionCondition",
    atomic: false,
    fields: &[
        s("type"),
        s("status"),
        s("lastTransitionTime"),
        s("reason"),
        s("message"),
        s("observedGeneration"),
    ],
};

static CRD_STATUS: GoStruct = GoStruct {
    name: "CustomResourceDefinitionStatus",
    atomic: false,
    fields: &[
        // +listType=map but no patch strategy: strategic merge patches replace it whole.
        z(
            keyed_list(
                "conditions",
                &GoType::Struct(&CRD_CONDITION),
                &["type"],
                "",
                "",
            ),
            Zero::Null,
        ),
        st("acceptedNames", &CRD_NAMES),
        z(atomic_list("storedVersions", &SCALAR), Zero::Null),
        s("observedGeneration"),
    ],
};

pub static CUSTOM_RESOURCE_DEFINITION: GoStruct = GoStruct {
    name: "CustomResourceDefinition",
    atomic: false,
    fields: kind_fields![st("spec", &CRD_SPEC), st("status", &CRD_STATUS),],
};

/// A kind the table does not describe: only its metadata is known.
pub static UNKNOWN_KIND: GoStruct = GoStruct {
    name: "Unknown",
    atomic: false,
    fields: kind_fields![],
};

/// The Go type of a built-in kind, by API group and kind (its strategy's); `None` for kinds the
/// emulator does not serve.
pub fn kind_struct(group: &str, kind: &str) -> Option<&'static GoStruct> {
    crate::kinds::builtin(group, kind).and_then(|s| s.go_type())
}

impl GoStruct {
    /// The zero value of the struct as the field manager sees it (the object a create starts
    /// from, which decides whether a new struct shows up as `"."` in managedFields).
    pub fn zero_value(&'static self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for field in self.fields {
            let v = match (field.zero, &field.ty) {
                (Zero::Absent, _) => continue,
                (Zero::Null, _) => serde_json::Value::Null,
                (Zero::EmptyString, _) => serde_json::Value::String(String::new()),
                (Zero::Struct, GoType::Struct(inner)) => inner.zero_value(),
                (Zero::Struct, _) => serde_json::Value::Object(Default::default()),
            };
            out.insert(field.json.to_string(), v);
        }
        serde_json::Value::Object(out)
    }

    /// Removes what decoding into the Go type drops, fields the type does not have (matched
    /// case-sensitively, as the server's decoder does), and returns their paths as its strict
    /// mode names them: `spec.template.spec.containers[0].bogus`.
    pub fn prune_unknown(&'static self, value: &mut serde_json::Value) -> Vec<String> {
        let mut unknown = Vec::new();
        prune_struct(self, value, "", &mut unknown);
        unknown
    }

    /// The field the JSON decoder would fill for `key`: an exact match, else a case-insensitive
    /// one (as `encoding/json` does).
    pub fn field(&'static self, key: &str) -> Option<&'static GoField> {
        self.fields.iter().find(|f| f.json == key).or_else(|| {
            self.fields
                .iter()
                .find(|f| f.json.eq_ignore_ascii_case(key))
        })
    }
}

fn prune_struct(
    s: &'static GoStruct,
    value: &mut serde_json::Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    let mut unknown = Vec::new();
    for (key, v) in map.iter_mut() {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match s.fields.iter().find(|f| f.json == key) {
            Some(field) => prune_type(&field.ty, v, &path, out),
            None => {
                out.push(path);
                unknown.push(key.clone());
            }
        }
    }
    for key in unknown {
        map.remove(&key);
    }
}

fn prune_type(ty: &'static GoType, value: &mut serde_json::Value, at: &str, out: &mut Vec<String>) {
    match (ty, value) {
        (GoType::Struct(s), v) => prune_struct(s, v, at, out),
        (GoType::Slice(elem), serde_json::Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                prune_type(elem, item, &format!("{at}[{i}]"), out);
            }
        }
        (GoType::Map(elem), serde_json::Value::Object(map)) => {
            for (key, item) in map.iter_mut() {
                prune_type(elem, item, &format!("{at}[{key}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_embed_type_meta_and_object_meta() {
        for kind in [&SECRET, &NAMESPACE, &LEASE, &CUSTOM_RESOURCE_DEFINITION] {
            assert!(kind.field("apiVersion").is_some());
            let Some(GoField {
                ty: GoType::Struct(meta),
                ..
            }) = kind.field("metadata")
            else {
                panic!("{} has no metadata struct", kind.name);
            };
            assert_eq!(meta.name, "ObjectMeta");
        }
        let owner_refs = OBJECT_META.field("ownerReferences").unwrap();
        assert_eq!(
            (owner_refs.strategy, owner_refs.merge_key),
            ("merge", "uid")
        );
        assert!(
            kind_struct("", "ServiceAccount")
                .unwrap()
                .field("imagepullsecrets")
                .is_some()
        );
    }

    #[test]
    fn zero_values_keep_plain_structs_and_required_strings() {
        assert_eq!(
            CUSTOM_RESOURCE_DEFINITION.zero_value(),
            serde_json::json!({
                "metadata": {},
                "spec": {"group": "", "names": {"plural": "", "kind": ""}, "scope": "", "versions": null},
                "status": {"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": null}
            })
        );
        assert_eq!(SECRET.zero_value(), serde_json::json!({"metadata": {}}));
    }
}
