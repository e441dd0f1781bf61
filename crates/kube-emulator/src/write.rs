//! The write path every create, update, patch and apply goes through, and deletion: the
//! server-side rules that decide what gets stored (status subresource, generation,
//! finalizers, defaulting, pruning, validation, managedFields).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::ext;
use crate::kinds;
use crate::registry::{Served, View};
use crate::state::{Shared, State, now};
use crate::status::{ApiError, Cause, Details};
use crate::store::ObjKey;
use crate::validation::object_meta;

/// `fieldValidation=` of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    /// PUT
    Update,
    /// Any PATCH (the patched object is the incoming object).
    Patch,
}

/// One write as the handlers describe it.
pub struct WriteReq<'a> {
    pub served: &'a Arc<Served>,
    pub op: Op,
    /// URL namespace (None for cluster-scoped kinds or cluster-wide paths).
    pub namespace: Option<&'a str>,
    /// URL name (None for POST to a collection).
    pub name: Option<&'a str>,
    /// `Some("status")` for writes to /status.
    pub subresource: Option<&'a str>,
    pub manager: &'a str,
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// Set when managedFields were already computed (server-side apply).
    pub applied: bool,
    /// Keys the JSON body repeats (reported by `fieldValidation=Strict`).
    pub duplicates: &'a [String],
}

pub struct WriteOutcome {
    /// The object as the client sees it (in the request's view).
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// The object of a stored value, as `served` presents it.
pub fn present(served: &Served, stored: &Value) -> Value {
    let mut obj = match served.strategy {
        Some(strategy) => strategy.present(stored),
        None => stored.clone(),
    };
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(served.kind.api_version()));
        o.insert("kind".into(), json!(served.kind.kind));
    }
    obj
}

pub fn key_of(served: &Served, namespace: Option<&str>, name: &str) -> ObjKey {
    let ns = if served.kind.namespaced {
        namespace.unwrap_or("").to_string()
    } else {
        String::new()
    };
    (ns, name.to_string())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn strip_meta(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    o
}

/// Everything but metadata and status, to decide whether generation moves.
fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    o
}

/// Random suffix of generateName (5 characters from the real server's alphabet).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn invalid(served: &Served, name: &str, causes: Vec<Cause>) -> ApiError {
    // Both Event APIs validate the internal core Event, so neither names a group.
    let (qualified, group) = if served.is_event() {
        (served.kind.kind.clone(), "")
    } else {
        (served.kind.group_kind(), served.kind.group.as_str())
    };
    ApiError::invalid(&qualified, name, group, &served.kind.kind, causes)
}

/// Checks that `namespace` exists and accepts new objects.
pub fn check_namespace(
    state: &State,
    served: &Served,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let ns = state
        .store
        .get("/namespaces", &(String::new(), namespace.to_string()));
    match ns {
        None => Err(ApiError::not_found("", "namespaces", namespace)),
        Some(ns) if ns.pointer("/metadata/deletionTimestamp").is_some() => {
            let mut details = Details::of(name, &served.kind.group, &served.kind.plural);
            details.causes.push(Cause::new(
                "NamespaceTerminating",
                "metadata.namespace",
                format!("namespace {namespace} is being terminated"),
            ));
            Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                    served.kind.group_resource()
                ),
            )
            .with_details(details))
        }
        Some(_) => Ok(()),
    }
}

/// A write on its way through the stages of [`commit`].
struct Pending {
    /// The object in its stored form (events.k8s.io/v1 Events become core/v1 ones).
    object: Value,
    /// The namespace it is written to ("" for cluster-scoped kinds).
    namespace: String,
    /// `metadata.resourceVersion` as sent: the precondition of an update.
    sent_rv: String,
    /// The time of the write (creationTimestamp, managedFields).
    time: String,
    warnings: Vec<String>,
}

/// Runs one write through the API server's stages: [`decode`], [`admit`], [`validate`],
/// [`store`] (which notifies watches); the caller then runs [`notify`] for the controllers.
/// `old` is the stored object (None on create); `incoming` is the body (or the patched object)
/// in the request's view.
pub fn commit(
    state: &mut State,
    req: &WriteReq,
    old: Option<Arc<Value>>,
    incoming: Value,
) -> Result<WriteOutcome, ApiError> {
    let mut pending = decode(req, incoming)?;
    admit(state, req, old.as_deref(), &mut pending)?;
    let rule_warnings = validate(req, &pending.object, old.as_deref(), &pending.namespace)?;
    pending.warnings.extend(rule_warnings);
    store(state, req, old, pending)
}

/// Decode: the body read as its kind's Go type would read it. Decoding errors (400, or 422 for
/// a patch), unknown and repeated fields as `fieldValidation` asks, and a namespace or name
/// that contradicts the URL.
fn decode(req: &WriteReq, mut incoming: Value) -> Result<Pending, ApiError> {
    let served = req.served;
    if !incoming.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {})",
            served.kind.kind
        )));
    }
    if !incoming.get("metadata").is_some_and(Value::is_object) {
        incoming["metadata"] = json!({});
    }
    kinds::decode_checks(served, &incoming).map_err(|detail| {
        let patched = (req.op == Op::Patch).then_some(&incoming);
        kinds::decode_error(served, &detail, patched)
    })?;
    let warnings = drop_unknown_fields(req, &mut incoming)?;
    let namespace = target_namespace(req, &incoming)?;
    if let Some(url_name) = req.name {
        let body_name = meta_str(&incoming, "name");
        if !body_name.is_empty() && body_name != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    let sent_rv = meta_str(&incoming, "resourceVersion").to_string();
    let object = match served.strategy {
        Some(strategy) => strategy.to_stored(incoming),
        None => incoming,
    };
    Ok(Pending {
        object,
        namespace,
        sent_rv,
        time: now(),
        warnings,
    })
}

/// Removes the fields the kind does not have; refuses them (and repeated keys) under
/// `fieldValidation=Strict`, answers warnings for them under `Warn`.
fn drop_unknown_fields(req: &WriteReq, incoming: &mut Value) -> Result<Vec<String>, ApiError> {
    let served = req.served;
    let sent = incoming.clone();
    let mut unknown = kinds::prune_unknown_fields(served, incoming);
    if let Some(schema) = &served.schema {
        unknown.extend(
            schema
                .prune(incoming)
                .into_iter()
                .map(|p| p.trim_start_matches('.').to_string()),
        );
    }
    match req.validation {
        FieldValidation::Strict if !unknown.is_empty() || !req.duplicates.is_empty() => {
            Err(if req.op == Op::Patch {
                ext::strict_patch_error(&sent, &unknown)
            } else {
                let kind = &served.kind;
                ext::strict_decoding_error(&kind.kind, &kind.version, req.duplicates, &unknown)
            })
        }
        FieldValidation::Warn => Ok(unknown
            .iter()
            .map(|u| ext::unknown_field_warning(u))
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// The namespace a write goes to: the URL's, which the body may repeat but not contradict.
fn target_namespace(req: &WriteReq, incoming: &Value) -> Result<String, ApiError> {
    let kind = &req.served.kind;
    let body_ns = meta_str(incoming, "namespace").to_string();
    if kind.namespaced
        && let Some(ns) = req.namespace
        && !body_ns.is_empty()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(if kind.namespaced {
        req.namespace.map(String::from).unwrap_or(body_ns)
    } else {
        String::new()
    })
}

/// Admit: what the server changes before validating — the metadata it owns on a create (and
/// the namespace lifecycle check), what an update may not change (the resourceVersion
/// precondition, status behind its subresource, identity, finalizers of a deleted object),
/// then defaulting.
fn admit(
    state: &State,
    req: &WriteReq,
    old: Option<&Value>,
    pending: &mut Pending,
) -> Result<(), ApiError> {
    match old {
        None => prepare_create(state, req, pending)?,
        Some(old) => prepare_update(req, old, pending)?,
    }
    let served = req.served;
    let new = &mut pending.object;
    if let Some(o) = new.as_object_mut() {
        o.insert(
            "apiVersion".into(),
            json!(match served.view {
                View::EventsV1 => "v1".to_string(),
                View::Plain => served.kind.api_version(),
            }),
        );
        o.insert("kind".into(), json!(served.kind.kind));
    }
    default(state, req, new, old);
    Ok(())
}

/// The metadata the server sets on a create: name (or one made from generateName), namespace,
/// uid, creationTimestamp, generation; status goes when it has its own subresource.
fn prepare_create(state: &State, req: &WriteReq, pending: &mut Pending) -> Result<(), ApiError> {
    let served = req.served;
    let kind = &served.kind;
    let new = &mut pending.object;
    if kind.namespaced {
        check_namespace(state, served, &pending.namespace, meta_str(new, "name"))?;
    }
    let meta = new["metadata"]
        .as_object_mut()
        .expect("metadata is an object");
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = if let Some(url) = req.name {
        url.to_string()
    } else if name.is_empty() {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", random_suffix()),
            _ => String::new(),
        }
    } else {
        name
    };
    if !name.is_empty() {
        meta.insert("name".into(), json!(name));
    }
    if kind.namespaced {
        meta.insert("namespace".into(), json!(pending.namespace));
    } else {
        meta.remove("namespace");
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(pending.time));
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(k);
    }
    if served.has_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if kind.status_subresource
        && let Some(o) = new.as_object_mut()
    {
        o.remove("status");
    }
    Ok(())
}

/// What an update keeps from the stored object, after its resourceVersion precondition.
fn prepare_update(req: &WriteReq, old: &Value, pending: &mut Pending) -> Result<(), ApiError> {
    check_precondition(req, old, &pending.sent_rv)?;
    let new = &mut pending.object;
    keep_status(req, old, new);
    let old_meta = &old["metadata"];
    let meta = new["metadata"]
        .as_object_mut()
        .expect("metadata is an object");
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(k) {
            Some(v) => meta.insert(k.into(), v.clone()),
            None => meta.remove(k),
        };
    }
    meta.insert(
        "resourceVersion".into(),
        json!(meta_str(old, "resourceVersion")),
    );
    if old_meta.get("deletionTimestamp").is_some() {
        refuse_new_finalizers(req, old_meta, meta)?;
    }
    Ok(())
}

/// An update names the resourceVersion it read (unless the kind allows unconditional updates)
/// and it must still be the stored one.
fn check_precondition(req: &WriteReq, old: &Value, sent_rv: &str) -> Result<(), ApiError> {
    let kind = &req.served.kind;
    if sent_rv.is_empty() {
        if req.op == Op::Update && !req.served.unconditional_update {
            return Err(ApiError::invalid(
                &kind.group_resource(),
                req.name.unwrap_or(""),
                &kind.group,
                &kind.plural,
                vec![Cause::invalid(
                    "metadata.resourceVersion",
                    &json!(0),
                    "must be specified for an update",
                )],
            ));
        }
    } else if sent_rv != meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(
            &kind.group,
            &kind.plural,
            req.name.unwrap_or(""),
        ));
    }
    Ok(())
}

/// Status changes only through /status (and a write to /status changes nothing else).
fn keep_status(req: &WriteReq, old: &Value, new: &mut Value) {
    if req.subresource == Some("status") {
        let status = new.get("status").cloned();
        let mut merged = old.clone();
        match status {
            Some(s) => merged["status"] = s,
            None => {
                merged.as_object_mut().map(|o| o.remove("status"));
            }
        }
        if req.applied {
            merged["metadata"]["managedFields"] = new
                .pointer("/metadata/managedFields")
                .cloned()
                .unwrap_or(json!([]));
        }
        *new = merged;
    } else if req.served.kind.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        }
    }
}

/// An object being deleted may lose finalizers but gain none.
fn refuse_new_finalizers(
    req: &WriteReq,
    old_meta: &Value,
    meta: &serde_json::Map<String, Value>,
) -> Result<(), ApiError> {
    let before: Vec<&Value> = old_meta
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let added: Vec<String> = meta
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|f| !before.contains(f))
                .filter_map(Value::as_str)
                .map(|s| format!("{s:?}"))
                .collect()
        })
        .unwrap_or_default();
    if added.is_empty() {
        return Ok(());
    }
    Err(invalid(
        req.served,
        req.name.unwrap_or(""),
        vec![Cause::forbidden(
            "metadata.finalizers",
            &format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                added.join(", ")
            ),
        )],
    ))
}

/// Defaulting: the kind's preparation and server-side defaults (a Service's cluster IPs
/// among them), a custom resource's schema defaults.
fn default(state: &State, req: &WriteReq, new: &mut Value, old: Option<&Value>) {
    let served = req.served;
    let stored = || state.store.list(&served.store, None);
    let admission = kinds::Admission {
        subresource: req.subresource,
        stored: &stored,
    };
    kinds::prepare(served, new, old, &admission);
    if let Some(schema) = &served.schema {
        schema.apply_defaults(new);
    }
}

/// Validate: ObjectMeta, the kind's own rules and a custom resource's schema, on the object as
/// it would be stored; `old` is the stored object on an update. Every cause is reported at
/// once, in one 422. Answers the warnings of CRD rules ratcheted on unchanged values (also sent
/// with the 422).
pub fn validate(
    req: &WriteReq,
    new: &Value,
    old: Option<&Value>,
    namespace: &str,
) -> Result<Vec<String>, ApiError> {
    let served = req.served;
    let mut causes = object_meta(&new["metadata"], served.name_rule);
    if served.kind.namespaced && namespace.is_empty() {
        causes.push(Cause::required("metadata.namespace", ""));
    }
    causes.extend(kinds::validate(served, &present(served, new), old));
    causes.extend(custom_resource_causes(req, new, old));
    let mut warnings = Vec::new();
    if let Some(schema) = &served.schema {
        let (rule_causes, rule_warnings) = schema.validate_rules(new, old, &causes);
        causes.extend(rule_causes);
        warnings = rule_warnings;
    }
    if causes.is_empty() {
        Ok(warnings)
    } else {
        let mut e = invalid(served, meta_str(new, "name"), causes);
        e.warnings = warnings;
        Err(e)
    }
}

/// A custom resource against its CRD version's schema: the whole object on create and update,
/// the status on a write to /status. (This is where the CRD's `x-kubernetes-validations`
/// rules run, with `old` as `oldSelf` on an update.)
fn custom_resource_causes(req: &WriteReq, new: &Value, old: Option<&Value>) -> Vec<Cause> {
    let Some(schema) = &req.served.schema else {
        return Vec::new();
    };
    match (old, req.subresource) {
        (None, _) => schema.validate(new),
        (Some(old), Some("status")) => schema.validate_status(new, old),
        (Some(old), _) => schema.validate_update(new, old),
    }
}

/// Store: the registry's last steps — generation, managedFields, a write that changes nothing
/// answered with the stored object, existence, the removal of a deleted object whose last
/// finalizer went, dry run — then the write itself, which notifies the open watches.
fn store(
    state: &mut State,
    req: &WriteReq,
    old: Option<Arc<Value>>,
    pending: Pending,
) -> Result<WriteOutcome, ApiError> {
    let served = req.served;
    let kind = &served.kind;
    let Pending {
        object: mut new,
        namespace,
        time,
        warnings,
        ..
    } = pending;
    if let Some(old) = &old {
        bump_generation(served, old, &mut new);
    }
    if !req.applied {
        let (manager, subresource) = (req.manager, req.subresource);
        ext::record_update(kind, old.as_deref(), &mut new, manager, subresource, &time);
    }
    if let Some(old) = &old
        && strip_meta(old) == strip_meta(&new)
    {
        let object = present(served, old);
        return Ok(WriteOutcome {
            object,
            created: false,
            warnings,
        });
    }
    let created = old.is_none();
    let name = meta_str(&new, "name").to_string();
    let key = key_of(served, Some(&namespace), &name);
    let exists = state.store.get(&served.store, &key).is_some();
    if !created && !exists {
        return Err(ApiError::not_found(&kind.group, &kind.plural, &name));
    }
    if created && exists {
        return Err(ApiError::already_exists(&kind.group, &kind.plural, &name));
    }
    let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if finalized && let Some(m) = new["metadata"].as_object_mut() {
        m.remove("finalizers");
    }
    let object = if req.dry_run {
        present(served, &new)
    } else if finalized {
        state.store.remove(&served.store, &key);
        present(served, &new)
    } else {
        present(served, &state.store.put(&served.store, key, new))
    };
    Ok(WriteOutcome {
        object,
        created,
        warnings,
    })
}

/// `metadata.generation` moves when anything but metadata and status changes (or, for some
/// kinds, the annotations).
fn bump_generation(served: &Served, old: &Value, new: &mut Value) {
    let changed = spec_part(old) != spec_part(new)
        || (served.annotations_bump_generation
            && old.pointer("/metadata/annotations") != new.pointer("/metadata/annotations"));
    if served.has_generation && changed {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
}

/// Notify: after a committed write (not a dry run), the CRD bookkeeping and waking the
/// background controllers. (Open watches heard of the write from the store.)
pub fn notify(shared: &Shared, state: &mut State, served: &Served) {
    if served.is_crd_kind() {
        establish_crds(state);
        state.rebuild_registry();
    }
    shared.controllers.notify_one();
}

/// Writes the Established/NamesAccepted status of every CRD that lacks it, as the
/// apiextensions controllers do right after creation.
pub fn establish_crds(state: &mut State) {
    let store = "apiextensions.k8s.io/customresourcedefinitions";
    let Some(served) = state
        .registry
        .kinds
        .iter()
        .find(|s| s.is_crd_kind())
        .cloned()
    else {
        return;
    };
    for (key, crd) in state.store.entries(store, None) {
        if crd
            .pointer("/status/conditions")
            .is_some_and(Value::is_array)
            || crd.pointer("/metadata/deletionTimestamp").is_some()
        {
            continue;
        }
        if crate::registry::crd_kinds(&crd).is_err() {
            continue;
        }
        let time = now();
        let mut updated = (*crd).clone();
        updated["status"] = kinds::crd_established_status(&crd, &time);
        ext::record_update(
            &served.kind,
            Some(&crd),
            &mut updated,
            "kube-apiserver",
            Some("status"),
            &time,
        );
        state.store.put(store, key, updated);
    }
}

/// How a DELETE asks dependents to be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Foreground,
    Background,
    Orphan,
}

pub struct DeleteReq<'a> {
    pub served: &'a Arc<Served>,
    pub key: ObjKey,
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

pub enum Deleted {
    /// Removed; the last state.
    Gone(Arc<Value>),
    /// Kept by finalizers, now carrying deletionTimestamp.
    Terminating(Value),
}

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";
pub const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Deletes one object like the real registry: preconditions, finalizers, propagation.
pub fn delete(state: &mut State, req: &DeleteReq) -> Result<Deleted, ApiError> {
    let served = req.served;
    let kind = &served.kind;
    let Some(old) = state.store.get(&served.store, &req.key) else {
        return Err(ApiError::not_found(&kind.group, &kind.plural, &req.key.1));
    };
    check_delete_preconditions(req, &old)?;
    let before = finalizers_of(&old);
    let already_deleting = old.pointer("/metadata/deletionTimestamp").is_some();
    let finalizers = finalizers_after_delete(req, before.clone(), already_deleting);
    let namespace_terminates = served.is_namespace_kind();
    if finalizers.is_empty() && !namespace_terminates {
        if req.dry_run {
            return Ok(Deleted::Gone(old));
        }
        let gone = state
            .store
            .remove(&served.store, &req.key)
            .expect("object present under the lock");
        return Ok(Deleted::Gone(gone));
    }
    if already_deleting && finalizers == before {
        return Ok(Deleted::Terminating(present(served, &old)));
    }
    let obj = terminating(served, &old, &finalizers, already_deleting);
    if req.dry_run {
        return Ok(Deleted::Terminating(present(served, &obj)));
    }
    let stored = state.store.put(&served.store, req.key.clone(), obj);
    Ok(Deleted::Terminating(present(served, &stored)))
}

/// The uid and resourceVersion a DELETE may name must be the stored object's.
fn check_delete_preconditions(req: &DeleteReq, old: &Value) -> Result<(), ApiError> {
    let kind = &req.served.kind;
    let name = &req.key.1;
    let precondition_failed = |what: &str, wanted: &str, actual: &str, tail: &str| {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the {what} in the precondition ({wanted}) does not match the {what} in record ({actual}). {tail}",
                kind.group_kind()
            ),
        )
        .with_details(Details::of(name, &kind.group, &kind.kind))
    };
    if let Some(uid) = &req.precondition_uid {
        let actual = meta_str(old, "uid");
        if uid != actual {
            return Err(precondition_failed(
                "UID",
                uid,
                actual,
                "The object might have been deleted and then recreated",
            ));
        }
    }
    if let Some(rv) = &req.precondition_rv {
        let actual = meta_str(old, "resourceVersion");
        if rv != actual {
            return Err(precondition_failed(
                "ResourceVersion",
                rv,
                actual,
                "The object might have been modified",
            ));
        }
    }
    Ok(())
}

fn finalizers_of(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The finalizers after a DELETE: the propagation policy's, and a CRD's cleanup finalizer.
fn finalizers_after_delete(
    req: &DeleteReq,
    mut finalizers: Vec<String>,
    already_deleting: bool,
) -> Vec<String> {
    let set = |f: &mut Vec<String>, name: &str, on: bool| {
        f.retain(|x| x != name);
        if on {
            f.push(name.to_string());
        }
    };
    match req.propagation {
        Some(Propagation::Foreground) => {
            set(&mut finalizers, ORPHAN, false);
            set(&mut finalizers, FOREGROUND, true);
        }
        Some(Propagation::Orphan) => {
            set(&mut finalizers, FOREGROUND, false);
            set(&mut finalizers, ORPHAN, true);
        }
        Some(Propagation::Background) => {
            set(&mut finalizers, FOREGROUND, false);
            set(&mut finalizers, ORPHAN, false);
        }
        None => {}
    }
    if !already_deleting && req.served.is_crd_kind() && !finalizers.iter().any(|f| f == CRD_CLEANUP)
    {
        finalizers.push(CRD_CLEANUP.to_string());
    }
    finalizers
}

/// The object kept by its finalizers: them, and on the first DELETE its deletionTimestamp,
/// generation, a namespace's Terminating phase, a CRD's Terminating condition.
fn terminating(
    served: &Served,
    old: &Value,
    finalizers: &[String],
    already_deleting: bool,
) -> Value {
    let mut obj = old.clone();
    let meta = obj["metadata"]
        .as_object_mut()
        .expect("stored objects have metadata");
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(finalizers));
    }
    if already_deleting {
        return obj;
    }
    let time = now();
    meta.insert("deletionTimestamp".into(), json!(time));
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    if served.has_generation {
        let g = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
        meta.insert("generation".into(), json!(g + 1));
    }
    if served.is_namespace_kind() {
        obj["status"] = json!({"phase": "Terminating"});
    }
    if served.is_crd_kind()
        && let Some(conds) = obj
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
    {
        conds.push(kinds::crd_terminating_condition(&time));
    }
    obj
}

/// The 200 `Status` a DELETE answers when the object is gone.
pub fn success_status(served: &Served, gone: &Value) -> Value {
    let mut details = serde_json::Map::new();
    details.insert("name".into(), json!(meta_str(gone, "name")));
    if !served.kind.group.is_empty() {
        details.insert("group".into(), json!(served.kind.group));
    }
    details.insert("kind".into(), json!(served.kind.plural));
    details.insert("uid".into(), json!(meta_str(gone, "uid")));
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
