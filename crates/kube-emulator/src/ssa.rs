//! Server-side apply and field ownership (`metadata.managedFields`), as kube-apiserver does it:
//! the field manager chain of k8s.io/apimachinery `managedfields` over a port of
//! sigs.k8s.io/structured-merge-diff.
//!
//! The HTTP layer calls [`apply`] for `application/apply-patch+yaml` PATCHes (after
//! [`check_applied`]) and [`record_update`] for every other write (create, update, JSON, merge
//! and strategic merge patches), then renders conflicts with [`conflict_message`] and
//! [`conflict_causes`].

pub mod builtin;
mod decode;
pub mod derived;
mod fieldpath;
mod managed;
pub mod schema;
mod typed;
mod updater;

use crate::resource::ResourceKind;
use emulator_common::{gofmt, gojson};
use fieldpath::{Path, PathElement, Set, path_string};
use managed::Managers;
use serde_json::{Map, Value, json};
use updater::Updater;

/// One field an apply would take from another manager.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The manager identifier as the real server keeps it: the JSON of manager, operation,
    /// apiVersion (for updaters) and subresource, e.g.
    /// `{"manager":"carol","operation":"Update","apiVersion":"demo.example.com/v1"}`.
    /// [`Conflict::manager_name`] gives the plain name.
    pub manager: String,
    /// The field path, e.g. `.spec.size` or `.status.conditions[type="Ready"]`.
    pub field: String,
}

impl Conflict {
    /// The `manager` of the conflicting entry.
    pub fn manager_name(&self) -> String {
        managed::parse_identifier(&self.manager)
            .map(|p| p.manager)
            .unwrap_or_else(|| self.manager.clone())
    }
}

/// The manager kubectl uses for `apply --server-side`; only it upgrades client-side apply.
const KUBECTL: &str = "kubectl";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The manager that takes the fields of an object that had no managedFields when first applied.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
/// The temporary manager of an update before it is merged into the real one.
const CURRENT_OPERATION: &str = "current-operation";
const MAX_UPDATE_MANAGERS: usize = 10;

/// Fields nobody owns: type and identity metadata the server sets (`stripMetaManager`).
fn strip_set() -> Set {
    let mut set = Set::new();
    let f = |s: &str| PathElement::Field(s.to_string());
    set.insert(&[f("apiVersion")]);
    set.insert(&[f("kind")]);
    set.insert(&[f("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[f("metadata"), f(name)]);
    }
    set
}

fn strip_meta(managers: &mut Managers, id: &str) {
    if let Some(entry) = managers.get_mut(id) {
        entry.set = entry.set.difference(&strip_set());
        if entry.set.is_empty() {
            managers.remove(id);
        }
    }
}

/// What the field manager needs to know about the endpoint.
struct Endpoint<'a> {
    ty: schema::Ty,
    ignored: Set,
    version: String,
    subresource: &'a str,
    now: &'a str,
}

impl<'a> Endpoint<'a> {
    fn new(kind: &ResourceKind, subresource: Option<&'a str>, now: &'a str) -> Self {
        Endpoint {
            ty: schema::for_kind(kind),
            ignored: schema::reset_fields(kind, subresource),
            version: kind.api_version(),
            subresource: subresource.unwrap_or(""),
            now,
        }
    }

    fn updater(&self) -> Updater<'_> {
        Updater {
            ty: &self.ty,
            ignored: &self.ignored,
            version: &self.version,
        }
    }

    /// An update by `manager` (`managedFieldsUpdater.Update` over `stripMetaManager`): the
    /// changed fields go to the manager's Update entry, whose time becomes now.
    fn record(&self, live: &Value, new: &Value, managers: &mut Managers, manager: &str) {
        self.updater()
            .update_ownership(live, new, managers, CURRENT_OPERATION);
        strip_meta(managers, CURRENT_OPERATION);
        if let Some(current) = managers.remove(CURRENT_OPERATION) {
            let id = managed::identifier(manager, managed::UPDATE, &self.version, self.subresource);
            let set = match managers.get(&id) {
                Some(previous) => current.set.union(&previous.set),
                None => current.set,
            };
            managers.insert(
                id,
                managed::Entry {
                    set,
                    api_version: current.api_version,
                    applied: false,
                    time: Some(self.now.to_string()),
                },
            );
        }
        managed::cap_updaters(managers, MAX_UPDATE_MANAGERS);
    }

    /// One apply attempt (`managedFieldsUpdater.Apply` over `stripMetaManager`).
    fn apply_once(
        &self,
        live: &Value,
        config: &Value,
        managers: &Managers,
        id: &str,
        force: bool,
    ) -> Result<(Value, Managers), updater::Conflicts> {
        let mut managers = managers.clone();
        let changed = self
            .updater()
            .apply(live, config, &mut managers, id, force)?;
        strip_meta(&mut managers, id);
        let object = match changed {
            Some(object) => {
                if let Some(entry) = managers.get_mut(id) {
                    entry.time = Some(self.now.to_string());
                }
                object
            }
            None => live.clone(),
        };
        Ok((object, managers))
    }
}

/// The object a create starts from: the type, and for built-in kinds the zero Go object (its
/// plain structs exist already, so creating them is not an addition).
fn empty_object(kind: &ResourceKind) -> Value {
    let mut obj = match (kind.custom, builtin::kind_struct(&kind.group, &kind.kind)) {
        (false, Some(s)) => s.zero_value(),
        _ => json!({}),
    };
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), json!(kind.api_version()));
        map.insert("kind".into(), json!(kind.kind));
    }
    obj
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    managed::strip(&mut obj);
    obj
}

/// Server-side apply of `applied` (the request body as JSON) by `manager` onto `live` (None on
/// create).
///
/// Returns the merged object with `metadata.managedFields` updated: the manager's `Apply` entry
/// owns exactly the fields it applied (its time is `now` when the object changed), fields it
/// applied before and no longer applies are removed unless another manager owns them, and
/// other managers lose the fields it changed when `force` is set, otherwise those are returned
/// as conflicts. `subresource` is `Some("status")` for `/status`: ownership is then recorded
/// for that subresource and the fields its strategy resets are left out; the merged object
/// still contains whatever the configuration set, and the caller keeps only what the
/// endpoint may change (status on `/status`, not status on the main resource).
///
/// The applier `kubectl` may take over fields still matching the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation without conflict, and keeps
/// that annotation in step with what it applies, as the real server does for
/// `kubectl apply --server-side` after client-side apply.
pub fn apply(
    kind: &ResourceKind,
    live: Option<&serde_json::Value>,
    applied: &serde_json::Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
) -> Result<serde_json::Value, Vec<Conflict>> {
    let endpoint = Endpoint::new(kind, subresource, now);
    let (live_obj, mut managers) = match live {
        // A live object whose managedFields cannot be read is treated as having none.
        Some(l) => (
            without_managed_fields(l),
            managed::decode(managed::field_of(l)).unwrap_or_default(),
        ),
        None => (empty_object(kind), Managers::new()),
    };
    if live.is_some() && managers.is_empty() {
        // `skipNonAppliedManager`: what is there already belongs to a placeholder updater.
        endpoint.record(
            &empty_object(kind),
            &live_obj,
            &mut managers,
            BEFORE_FIRST_APPLY,
        );
    }
    let id = managed::identifier(manager, managed::APPLY, "", endpoint.subresource);
    let config = without_managed_fields(applied);
    let (mut object, managers) =
        match endpoint.apply_once(&live_obj, &config, &managers, &id, force) {
            Ok(done) => done,
            Err(conflicts) => {
                let allowed = (manager == KUBECTL)
                    .then(|| allowed_by_last_applied(&endpoint, &live_obj))
                    .flatten();
                let remaining: updater::Conflicts = conflicts
                    .into_iter()
                    .filter(|(_, path)| !allowed.as_ref().is_some_and(|a| a.has(path)))
                    .collect();
                if !remaining.is_empty() {
                    return Err(remaining.into_iter().map(to_conflict).collect());
                }
                endpoint
                    .apply_once(&live_obj, &config, &managers, &id, true)
                    .map_err(|c| c.into_iter().map(to_conflict).collect::<Vec<_>>())?
            }
        };
    if manager == KUBECTL && last_applied(&object).is_some() {
        set_last_applied(&mut object, &config);
    }
    managed::encode_into(&mut object, &managers);
    Ok(object)
}

fn to_conflict((manager, path): (String, Path)) -> Conflict {
    Conflict {
        manager,
        field: path_string(&path),
    }
}

fn last_applied(obj: &Value) -> Option<&str> {
    obj.get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The fields the client-side-apply annotation and the live object agree on: `kubectl` may take
/// them over without conflict (`lastAppliedManager`).
fn allowed_by_last_applied(endpoint: &Endpoint<'_>, live: &Value) -> Option<Set> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(endpoint.version.as_str()) {
        return None;
    }
    let set = typed::to_field_set(&last, &endpoint.ty);
    let cmp = typed::compare(&last, live, &endpoint.ty);
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Rewrites the annotation to the applied configuration (without the annotation itself),
/// encoded as Go encodes it, with the trailing newline (`lastAppliedUpdater`).
fn set_last_applied(object: &mut Value, config: &Value) {
    let mut config = config.clone();
    if let Some(annotations) = config
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let text = format!("{}\n", gojson::to_json(&config));
    if let Some(annotations) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        annotations.insert(LAST_APPLIED.to_string(), Value::String(text));
    }
}

/// Records a non-apply write (create, update, merge/json/strategic patch) by `manager` into
/// `new`'s `metadata.managedFields` (operation Update), given the object before (`None` on
/// create): the manager gains the changed/added fields (parents of new containers included,
/// shown as `"."`), other managers lose the fields it changed or removed. Fields the endpoint
/// resets (status on the main resource of a kind with a status subresource; spec and, for
/// custom resources, metadata on `/status`) are not recorded.
///
/// Call it with the object as the request made it (after the patch is applied and defaults are
/// set) and before the server's own changes (uid, timestamps, generation, status reset, ...).
/// As on the real server, managedFields sent in `new` replace the stored ones (clients may edit
/// them; `[]` or `[{}]` clears them), an absent or unreadable list keeps the stored ones, and
/// `/status` writes always keep the stored ones. An existing object without managedFields stays
/// without until it is applied to.
pub fn record_update(
    kind: &ResourceKind,
    old: Option<&serde_json::Value>,
    new: &mut serde_json::Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let live_entries = old.and_then(managed::field_of);
    let requested = managed::field_of(new);
    let from_live = || managed::decode(live_entries).unwrap_or_default();
    let mut managers = if subresource.is_some() {
        from_live()
    } else if managed::is_reset(new.get("metadata").and_then(|m| m.get("managedFields"))) {
        Managers::new()
    } else {
        match managed::decode(requested) {
            Ok(m) if !m.is_empty() => m,
            _ => from_live(),
        }
    };
    managed::strip(new);
    let live_has_uid = old
        .and_then(|o| o.get("metadata")?.get("uid")?.as_str())
        .is_some_and(|uid| !uid.is_empty());
    if managers.is_empty() && live_has_uid {
        // `skipNonAppliedManager`: untracked objects stay untracked until applied to.
        return;
    }
    let endpoint = Endpoint::new(kind, subresource, now);
    let live = match old {
        Some(o) => without_managed_fields(o),
        None => empty_object(kind),
    };
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    endpoint.record(&live, new, &mut managers, manager);
    managed::encode_into(new, &managers);
}

/// The 409 Conflict message of an apply conflict, exactly like the real server's (single and
/// plural forms).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            print_manager(&only.manager),
            only.field
        );
    }
    let mut by_manager: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflicts with {}:", print_manager(manager)));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The details.causes entries for the conflicts (reason FieldManagerConflict, message, field),
/// as the real body.
pub fn conflict_causes(conflicts: &[Conflict]) -> Vec<serde_json::Value> {
    conflicts
        .iter()
        .map(|c| {
            let mut cause = Map::new();
            cause.insert("reason".into(), json!("FieldManagerConflict"));
            cause.insert(
                "message".into(),
                json!(format!("conflict with {}", print_manager(&c.manager))),
            );
            cause.insert("field".into(), json!(c.field));
            Value::Object(cause)
        })
        .collect()
}

/// `printManager`: `"alice"`, `"carol" using demo.example.com/v1`, with the subresource when
/// there is one.
fn print_manager(id: &str) -> String {
    let Some(parts) = managed::parse_identifier(id) else {
        return gofmt::quote(id);
    };
    let mut s = gofmt::quote(&parts.manager);
    if !parts.subresource.is_empty() {
        s = format!("{s} with subresource {}", gofmt::quote(&parts.subresource));
    }
    if parts.operation == managed::UPDATE {
        s = format!("{s} using {}", parts.api_version);
    }
    s
}

/// Why an apply request is refused before any merging, with the real status.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyError {
    /// 400 (BadRequest) or 500 (InternalError body with an empty reason, as the real server).
    pub code: u16,
    /// `BadRequest`, or `""` for the 500 the real server answers on an unusable configuration.
    pub reason: &'static str,
    pub message: String,
}

/// Checks an apply request body before [`apply`], as the real server does: it must be an
/// object of the endpoint's apiVersion and kind (`invalid object type: …`, 400), must not carry
/// `metadata.managedFields` (400), and its associative lists must be usable (duplicate keys or
/// items without their keys: 500 `failed to create typed patch object (…)`).
pub fn check_applied(kind: &ResourceKind, applied: &serde_json::Value) -> Result<(), ApplyError> {
    let bad_request = |message: String| ApplyError {
        code: 400,
        reason: "BadRequest",
        message,
    };
    let empty = Map::new();
    let obj = match applied {
        Value::Object(obj) => obj,
        Value::Null => &empty,
        _ => {
            return Err(bad_request(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(applied)
            )));
        }
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
    let (group, version) = split_api_version(text("apiVersion"));
    let kind_name = text("kind");
    if group != kind.group || version != kind.version || kind_name != kind.kind {
        return Err(bad_request(format!(
            "invalid object type: {group}/{version}, Kind={kind_name}"
        )));
    }
    if managed::field_of(applied).is_some() {
        return Err(bad_request(
            "metadata.managedFields must be nil".to_string(),
        ));
    }
    let mut errors = Vec::new();
    validate_lists(
        applied,
        &schema::for_kind(kind),
        &mut Vec::new(),
        &mut errors,
    );
    if errors.is_empty() {
        return Ok(());
    }
    let meta = |k: &str| {
        applied
            .get("metadata")
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let detail = if let [one] = errors.as_slice() {
        one.clone()
    } else {
        let mut lines = vec!["errors:".to_string()];
        lines.extend(errors.iter().map(|e| format!("  {e}")));
        lines.join("\n")
    };
    Err(ApplyError {
        code: 500,
        reason: "",
        message: format!(
            "failed to create typed patch object ({}/{}; {group}/{version}, Kind={kind_name}): {detail}",
            meta("namespace"),
            meta("name"),
        ),
    })
}

/// `schema.ParseGroupVersion` as used for a GVK: an unparseable apiVersion has no group or
/// version.
fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [version] => ("", version),
        [group, version] => (group, version),
        _ => ("", ""),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    }
}

/// The associative-list errors structured-merge-diff's validation reports for a configuration.
fn validate_lists(v: &Value, ty: &schema::Ty, path: &mut Path, errors: &mut Vec<String>) {
    match ty.atom(Some(v)) {
        schema::Atom::Scalar => {}
        schema::Atom::Map(m) => {
            if m.atomic {
                return;
            }
            if let Value::Object(map) = v {
                for (k, val) in map {
                    path.push(PathElement::Field(k.clone()));
                    validate_lists(val, m.field_ty(k), path, errors);
                    path.pop();
                }
            }
        }
        schema::Atom::List(l) => {
            let Value::Array(items) = v else { return };
            if l.is_atomic() {
                return;
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                match l.item_element(item) {
                    Err(e) => errors.push(format!("{}: element {i}: {e}", path_string(path))),
                    Ok(pe) => {
                        if !seen.insert(pe.clone()) {
                            errors.push(format!(
                                "{}: duplicate entries for key {pe}",
                                path_string(path)
                            ));
                            continue;
                        }
                        path.push(pe);
                        validate_lists(item, &l.elem, path, errors);
                        path.pop();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
