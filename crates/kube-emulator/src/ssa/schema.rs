//! The structural types server-side apply merges by, as structured-merge-diff models them: a
//! struct or map (granular or atomic), a list (atomic, set, or map-list with key fields) or a
//! scalar. Built from a CRD's `openAPIV3Schema` the way kube-openapi's `schemaconv` does, or from
//! the Go type table of the built-in kinds.

use super::builtin::{self, GoField, GoStruct, GoType, ListType};
use super::fieldpath::{PathElement, Set};
use crate::resource::ResourceKind;
use emulator_common::gofmt;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

/// A type reference.
#[derive(Clone, Debug)]
pub enum Ty {
    Scalar,
    Map(Arc<MapTy>),
    List(Arc<ListTy>),
    /// A schema without `type` (e.g. int-or-string): a scalar, or the list or map it describes.
    Untyped {
        list: Arc<ListTy>,
        map: Arc<MapTy>,
    },
    /// `__untyped_deduced_`: whatever the value is; maps are granular, lists atomic.
    Deduced,
    /// `__untyped_atomic_`: whatever the value is, always replaced whole.
    UntypedAtomic,
}

/// A struct (named fields) or a map (element type), or both.
#[derive(Debug)]
pub struct MapTy {
    pub fields: BTreeMap<String, Ty>,
    /// `default` of fields, used for map-list keys a list item leaves out.
    pub defaults: BTreeMap<String, Value>,
    pub elem: Ty,
    pub atomic: bool,
}

#[derive(Debug)]
pub struct ListTy {
    pub elem: Ty,
    pub kind: ListKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    Atomic,
    /// `x-kubernetes-list-type: set`: items are identified by their value.
    Set,
    /// `x-kubernetes-list-type: map`: items are identified by these key fields.
    Map(Vec<String>),
}

/// What a type is for one value (`deduceAtom` + `handleAtom`).
#[derive(Clone, Copy, Debug)]
pub enum Atom<'a> {
    Scalar,
    Map(&'a MapTy),
    List(&'a ListTy),
}

impl Atom<'_> {
    /// Whether two sides resolve to the same type (`Atom.Equals`).
    pub fn same(&self, other: &Atom<'_>) -> bool {
        match (self, other) {
            (Atom::Scalar, Atom::Scalar) => true,
            (Atom::Map(a), Atom::Map(b)) => std::ptr::eq(*a, *b),
            (Atom::List(a), Atom::List(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

static DEDUCED_MAP: LazyLock<MapTy> = LazyLock::new(|| MapTy {
    fields: BTreeMap::new(),
    defaults: BTreeMap::new(),
    elem: Ty::Deduced,
    atomic: false,
});

static ATOMIC_MAP: LazyLock<MapTy> = LazyLock::new(|| MapTy {
    fields: BTreeMap::new(),
    defaults: BTreeMap::new(),
    elem: Ty::UntypedAtomic,
    atomic: true,
});

static ATOMIC_LIST: LazyLock<ListTy> = LazyLock::new(|| ListTy {
    elem: Ty::UntypedAtomic,
    kind: ListKind::Atomic,
});

enum Shape {
    Absent,
    Scalar,
    Map,
    List,
}

fn shape(v: Option<&Value>) -> Shape {
    match v {
        None | Some(Value::Null) => Shape::Absent,
        Some(Value::Object(_)) => Shape::Map,
        Some(Value::Array(_)) => Shape::List,
        Some(_) => Shape::Scalar,
    }
}

impl Ty {
    /// The type to handle `v` with. A value of the wrong shape for the schema is treated as a
    /// scalar (one opaque value): schema validation reports it, merging must not fail on it.
    pub fn atom(&self, v: Option<&Value>) -> Atom<'_> {
        let s = shape(v);
        match self {
            Ty::Scalar => Atom::Scalar,
            Ty::Map(m) => match s {
                Shape::Absent | Shape::Map => Atom::Map(m),
                _ => Atom::Scalar,
            },
            Ty::List(l) => match s {
                Shape::Absent | Shape::List => Atom::List(l),
                _ => Atom::Scalar,
            },
            Ty::Untyped { list, map } => match s {
                Shape::Absent | Shape::Map => Atom::Map(map),
                Shape::List => Atom::List(list),
                Shape::Scalar => Atom::Scalar,
            },
            Ty::Deduced => match s {
                Shape::Absent | Shape::Map => Atom::Map(&DEDUCED_MAP),
                Shape::List => Atom::List(&ATOMIC_LIST),
                Shape::Scalar => Atom::Scalar,
            },
            Ty::UntypedAtomic => match s {
                Shape::Absent | Shape::Map => Atom::Map(&ATOMIC_MAP),
                Shape::List => Atom::List(&ATOMIC_LIST),
                Shape::Scalar => Atom::Scalar,
            },
        }
    }

    /// The map side of the type, whatever the value (`Resolve(tr).Map`).
    pub fn map_schema(&self) -> Option<&MapTy> {
        match self {
            Ty::Map(m) => Some(m),
            Ty::Untyped { map, .. } => Some(map),
            Ty::Deduced => Some(&DEDUCED_MAP),
            Ty::UntypedAtomic => Some(&ATOMIC_MAP),
            Ty::Scalar | Ty::List(_) => None,
        }
    }

    /// The list side of the type, whatever the value (`Resolve(tr).List`).
    pub fn list_schema(&self) -> Option<&ListTy> {
        match self {
            Ty::List(l) => Some(l),
            Ty::Untyped { list, .. } => Some(list),
            Ty::Deduced | Ty::UntypedAtomic => Some(&ATOMIC_LIST),
            Ty::Scalar | Ty::Map(_) => None,
        }
    }
}

impl MapTy {
    pub fn field_ty(&self, name: &str) -> &Ty {
        self.fields.get(name).unwrap_or(&self.elem)
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }
}

impl ListTy {
    pub fn is_atomic(&self) -> bool {
        self.kind == ListKind::Atomic
    }

    /// The path element of one item of an associative list; `Err` with the real server's words
    /// when the item cannot be identified.
    pub fn item_element(&self, item: &Value) -> Result<PathElement, String> {
        match &self.kind {
            ListKind::Atomic => Err("invalid indexing of non-associative list".to_string()),
            ListKind::Set => match item {
                Value::Object(_) => Err(
                    "associative list without keys has an element that's a map type".to_string(),
                ),
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".to_string())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null"
                        .to_string(),
                ),
                v => Ok(PathElement::Value(v.clone())),
            },
            ListKind::Map(keys) => {
                let Value::Object(map) = item else {
                    return Err(match item {
                        Value::Null => {
                            "associative list with keys may not have a null element".to_string()
                        }
                        _ => "associative list with keys may not have non-map elements".to_string(),
                    });
                };
                let defaults = self.elem.map_schema().map(|m| &m.defaults);
                let mut fields: Vec<(String, Value)> = Vec::new();
                for key in keys {
                    if let Some(v) = map.get(key) {
                        fields.push((key.clone(), v.clone()));
                    } else if let Some(d) = defaults.and_then(|d| d.get(key)) {
                        fields.push((key.clone(), d.clone()));
                    }
                }
                if !keys.is_empty() && fields.is_empty() {
                    let quoted: Vec<String> = keys.iter().map(|k| gofmt::quote(k)).collect();
                    return Err(format!(
                        "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                        quoted.join(" ")
                    ));
                }
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(PathElement::Key(fields))
            }
        }
    }

    /// The path elements of all items, or `None` when one cannot be identified (the list is then
    /// handled as one value).
    pub fn item_elements(&self, items: &[Value]) -> Option<Vec<PathElement>> {
        items.iter().map(|i| self.item_element(i).ok()).collect()
    }
}

/// The type of a served kind's objects.
pub fn for_kind(kind: &ResourceKind) -> Ty {
    if kind.custom {
        custom_resource(kind.schema.as_ref())
    } else {
        let s = builtin::kind_struct(&kind.group, &kind.kind).unwrap_or(&builtin::UNKNOWN_KIND);
        go_struct(s)
    }
}

/// The fields the strategy of the endpoint resets, which nobody owns through it
/// (`GetResetFields`): `status` on the main resource of a kind with a status subresource;
/// everything but status on `/status` (custom resources also reset `metadata` there).
pub fn reset_fields(kind: &ResourceKind, subresource: Option<&str>) -> Set {
    let mut set = Set::new();
    let mut reset = |name: &str| set.insert(&[PathElement::Field(name.to_string())]);
    match subresource {
        None if kind.status_subresource => reset("status"),
        Some("status") => {
            reset("spec");
            if kind.custom {
                reset("metadata");
            }
        }
        _ => {}
    }
    set
}

/// The type of a custom resource: the CRD schema, with `apiVersion`, `kind` and a full
/// `ObjectMeta` as the apiserver's OpenAPI builder adds them.
pub fn custom_resource(schema: Option<&Value>) -> Ty {
    let mut root = match schema {
        Some(s) => {
            let preserve =
                s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            openapi_object(s, preserve)
        }
        None => MapTy {
            fields: BTreeMap::new(),
            defaults: BTreeMap::new(),
            elem: Ty::Deduced,
            atomic: false,
        },
    };
    root.fields.insert("apiVersion".into(), Ty::Scalar);
    root.fields.insert("kind".into(), Ty::Scalar);
    root.fields
        .insert("metadata".into(), go_struct(&builtin::OBJECT_META));
    Ty::Map(Arc::new(root))
}

/// `schemaconv`: one OpenAPI v3 schema node. `preserve` is inherited from
/// `x-kubernetes-preserve-unknown-fields` above.
fn openapi(s: &Value, preserve: bool) -> Ty {
    let preserve =
        preserve || s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match s.get("type").and_then(Value::as_str).unwrap_or("") {
        "" => Ty::Untyped {
            list: Arc::new(openapi_list(s, preserve)),
            map: Arc::new(openapi_object(s, preserve)),
        },
        "object" => Ty::Map(Arc::new(openapi_object(s, preserve))),
        "array" => Ty::List(Arc::new(openapi_list(s, preserve))),
        _ => Ty::Scalar,
    }
}

fn openapi_object(s: &Value, preserve: bool) -> MapTy {
    let mut fields = BTreeMap::new();
    let mut defaults = BTreeMap::new();
    if let Some(Value::Object(props)) = s.get("properties") {
        for (name, prop) in props {
            fields.insert(name.clone(), openapi(prop, preserve));
            if let Some(d) = prop.get("default") {
                defaults.insert(name.clone(), d.clone());
            }
        }
    }
    // A closed object (no additionalProperties, properties listed) has no element type in the
    // real schema; its unknown fields were pruned before merging, so deducing is equivalent.
    let elem = match s.get("additionalProperties") {
        Some(Value::Object(schema)) if !schema.is_empty() => {
            openapi(&Value::Object(schema.clone()), preserve)
        }
        _ => Ty::Deduced,
    };
    MapTy {
        fields,
        defaults,
        elem,
        atomic: s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
    }
}

fn openapi_list(s: &Value, preserve: bool) -> ListTy {
    let kind = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListKind::Set,
        Some("map") => ListKind::Map(
            s.get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => ListKind::Atomic,
    };
    let elem = match s.get("items") {
        Some(items @ Value::Object(_)) => openapi(items, preserve),
        _ => Ty::UntypedAtomic,
    };
    ListTy { elem, kind }
}

/// The type of a built-in Go struct (cached: the table is static).
pub fn go_struct(s: &'static GoStruct) -> Ty {
    static CACHE: LazyLock<Mutex<HashMap<usize, Ty>>> = LazyLock::new(Default::default);
    let key = s as *const GoStruct as usize;
    if let Some(ty) = CACHE.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return ty;
    }
    let fields = s
        .fields
        .iter()
        .map(|f| (f.json.to_string(), go_field(f)))
        .collect();
    let defaults = s
        .fields
        .iter()
        .filter_map(|f| Some((f.json.to_string(), Value::from(f.default?))))
        .collect();
    let ty = Ty::Map(Arc::new(MapTy {
        fields,
        defaults,
        elem: Ty::Deduced,
        atomic: s.atomic,
    }));
    if let Ok(mut c) = CACHE.lock() {
        c.insert(key, ty.clone());
    }
    ty
}

fn go_field(f: &'static GoField) -> Ty {
    match &f.ty {
        GoType::Slice(elem) => {
            // `+listType` wins; without it the patch strategy decides, as in `schemaconv`.
            let kind = match f.list {
                Some(ListType::Atomic) => ListKind::Atomic,
                Some(ListType::Set) => ListKind::Set,
                Some(ListType::Map(keys)) => {
                    ListKind::Map(keys.iter().map(|k| k.to_string()).collect())
                }
                None if f.strategy.split(',').any(|s| s == "merge") => {
                    if f.merge_key.is_empty() {
                        ListKind::Set
                    } else {
                        ListKind::Map(vec![f.merge_key.to_string()])
                    }
                }
                None => ListKind::Atomic,
            };
            Ty::List(Arc::new(ListTy {
                elem: go_type(elem),
                kind,
            }))
        }
        GoType::Map(elem) if f.map_atomic => Ty::Map(Arc::new(MapTy {
            fields: BTreeMap::new(),
            defaults: BTreeMap::new(),
            elem: go_type(elem),
            atomic: true,
        })),
        other => go_type(other),
    }
}

fn go_type(t: &'static GoType) -> Ty {
    match t {
        GoType::Scalar(_) => Ty::Scalar,
        GoType::Struct(s) => go_struct(s),
        GoType::Map(elem) => Ty::Map(Arc::new(MapTy {
            fields: BTreeMap::new(),
            defaults: BTreeMap::new(),
            elem: go_type(elem),
            atomic: false,
        })),
        GoType::Slice(elem) => Ty::List(Arc::new(ListTy {
            elem: go_type(elem),
            kind: ListKind::Atomic,
        })),
        GoType::Raw => Ty::UntypedAtomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_schema_list_types() {
        let ty = custom_resource(Some(&json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                        "items": {"type": "object", "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"}}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "blob": {"type": "object", "x-kubernetes-map-type": "atomic"}
                }}
            }
        })));
        let root = ty.map_schema().unwrap();
        let spec = root.field_ty("spec").map_schema().unwrap();
        assert!(spec.field_ty("tags").list_schema().unwrap().is_atomic());
        let ports = spec.field_ty("ports").list_schema().unwrap();
        assert_eq!(
            ports.item_element(&json!({"port": 80})).unwrap(),
            PathElement::Key(vec![
                ("port".into(), json!(80)),
                ("protocol".into(), json!("TCP"))
            ])
        );
        // A key the item leaves out comes from its default, if it has one.
        assert_eq!(
            ports.item_element(&json!({"name": "x"})).unwrap(),
            PathElement::Key(vec![("protocol".into(), json!("TCP"))])
        );
        let keyless = ListTy {
            elem: Ty::Deduced,
            kind: ListKind::Map(vec!["port".into(), "protocol".into()]),
        };
        assert!(keyless.item_element(&json!({"name": "x"})).unwrap_err().contains(
            "omits all key fields [\"port\" \"protocol\"] (and doesn't have default values for any key fields)"
        ));
        assert!(spec.field_ty("blob").map_schema().unwrap().atomic);
        assert!(matches!(
            spec.field_ty("labels").map_schema().unwrap().elem,
            Ty::Scalar
        ));
        let meta = root.field_ty("metadata").map_schema().unwrap();
        assert_eq!(
            meta.field_ty("finalizers").list_schema().unwrap().kind,
            ListKind::Set
        );
    }

    #[test]
    fn builtin_list_types_follow_markers() {
        let sa = go_struct(builtin::kind_struct("", "ServiceAccount").unwrap());
        let sa = sa.map_schema().unwrap();
        assert_eq!(
            sa.field_ty("secrets").list_schema().unwrap().kind,
            ListKind::Map(vec!["name".into()])
        );
        assert!(
            sa.field_ty("imagePullSecrets")
                .list_schema()
                .unwrap()
                .is_atomic()
        );
        let ns = go_struct(&builtin::NAMESPACE);
        let spec = ns
            .map_schema()
            .unwrap()
            .field_ty("spec")
            .map_schema()
            .unwrap();
        assert!(
            spec.field_ty("finalizers")
                .list_schema()
                .unwrap()
                .is_atomic()
        );
    }
}
