//! The resource verbs: get, list, create, update, patch (merge, JSON, strategic, apply),
//! delete and deletecollection, on top of `write` and `store`.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use crate::ext::{self, IncludeObject};
use crate::registry::Served;
use crate::request::{Query, ResourcePath, Wanted};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::{Shared, now};
use crate::status::{ApiError, Cause, Details};
use crate::write::{
    self, DeleteReq, Deleted, FieldValidation, Op, Propagation, WriteOutcome, WriteReq, key_of,
    present,
};

/// A successful answer: status code, body object, Warning headers.
pub struct Answer {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            code: 200,
            body,
            warnings: Vec::new(),
        }
    }
}

/// Everything a verb needs to know about the request.
pub struct Call<'a> {
    pub served: Arc<Served>,
    pub path: &'a ResourcePath,
    pub query: &'a Query,
    pub wanted: Wanted,
    pub content_type: &'a str,
    pub user_agent: &'a str,
    pub body: &'a [u8],
    /// Why the caller may not `create` this object, if not: a server-side apply that creates
    /// the object is authorized for `create` as well as `patch`, as on the real server.
    pub create_denied: Option<ApiError>,
}

impl Call<'_> {
    fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }
    fn namespace(&self) -> Option<&str> {
        if self.served.kind.namespaced {
            self.path.namespace.as_deref()
        } else {
            None
        }
    }
    fn key(&self) -> crate::store::ObjKey {
        key_of(&self.served, self.namespace(), self.name())
    }
    fn subresource(&self) -> Option<&str> {
        self.path.subresource.as_deref()
    }
}

/// Renders an object in the representation the client asked for.
pub fn render(served: &Served, wanted: &Wanted, obj: Value, rv: &str) -> Value {
    match wanted {
        Wanted::Table => ext::table(
            &served.kind,
            &[obj],
            true,
            IncludeObject::Metadata,
            rv,
            None,
        ),
        Wanted::PartialMetadata => partial_metadata(&obj),
        _ => obj,
    }
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

pub fn get(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let state = shared.lock();
    let kind = &call.served.kind;
    let obj = state
        .store
        .get(&call.served.store, &call.key())
        .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, call.name()))?;
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let obj = present(&call.served, &obj);
    Ok(Answer::ok(render(&call.served, &call.wanted, obj, &rv)))
}

/// Parsed list/watch selection.
pub struct Selection {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selection {
    pub fn parse(served: &Served, query: &Query) -> Result<Selection, ApiError> {
        Ok(Selection {
            labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(
                query.get("fieldSelector").unwrap_or(""),
                &served.field_selectors(),
            )?,
        })
    }

    /// Whether the presented object matches.
    pub fn matches(&self, presented: &Value) -> bool {
        self.labels.matches(
            presented
                .pointer("/metadata/labels")
                .and_then(Value::as_object),
        ) && self.fields.matches(presented)
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// Checks resourceVersion / resourceVersionMatch of a list or watch.
pub fn check_rv_params(query: &Query, current: u64, compacted: u64) -> Result<(), ApiError> {
    let rv = query.value("resourceVersion");
    let rvm = query.value("resourceVersionMatch");
    if let Some(m) = rvm {
        if rv.is_none() {
            return Err(ApiError::invalid_options(
                "ListOptions",
                Cause::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ),
            ));
        }
        if m != "Exact" && m != "NotOlderThan" {
            return Err(ApiError::invalid_options(
                "ListOptions",
                Cause::not_supported("resourceVersionMatch", m, &["Exact", "NotOlderThan"]),
            ));
        }
    }
    if let Some(rv) = rv {
        let n: u64 = rv.parse().map_err(|_| {
            ApiError::invalid_options(
                "ListOptions",
                Cause::invalid("resourceVersion", &json!(rv), "invalid resource version"),
            )
        })?;
        if n > current && !query.flag("watch") {
            let mut details = Details::default();
            details.causes.push(Cause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                field: None,
            });
            details.retry_after_seconds = Some(1);
            let mut e = ApiError::new(
                504,
                "Timeout",
                format!("Timeout: Too large resource version: {n}, current: {current}"),
            )
            .with_details(details);
            e.retry_after = Some(1);
            return Err(e);
        }
        if rvm == Some("Exact") && n < compacted {
            return Err(ApiError::expired(
                "The resourceVersion for the provided list is too old.",
            ));
        }
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid continue token: continue key is not valid: illegal base64 data"
                    .to_string(),
            )
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {e}"
        ))
    })
}

fn encode_continue(rv: u64, start: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: format!("{start}\u{0}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&token).unwrap_or_default())
}

pub fn list(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let served = &call.served;
    let selection = Selection::parse(served, call.query)?;
    let state = shared.lock();
    let current = state.store.resource_version();
    check_rv_params(call.query, current, state.store.compacted())?;
    let rv_zero = call.query.get("resourceVersion") == Some("0");
    let limit: usize = if rv_zero {
        0
    } else {
        call.query
            .value("limit")
            .and_then(|l| l.parse::<i64>().ok())
            .filter(|l| *l > 0)
            .map_or(0, |l| l as usize)
    };
    let (snapshot_rv, start) = match call.query.value("continue") {
        Some(token) => {
            let t = decode_continue(token)?;
            (t.rv, Some(t.start.trim_end_matches('\u{0}').to_string()))
        }
        None => (current, None),
    };
    if snapshot_rv < state.store.compacted() {
        return Err(ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        ));
    }
    let entries = state.store.entries(&served.store, call.namespace());
    drop(state);
    let mut items = Vec::new();
    let mut last_key = String::new();
    let mut remaining = 0usize;
    let mut more = false;
    for ((ns, name), obj) in entries {
        let key = if ns.is_empty() {
            name.clone()
        } else {
            format!("{ns}/{name}")
        };
        if start.as_ref().is_some_and(|s| key.as_str() <= s.as_str()) {
            continue;
        }
        // Selectors only read metadata and kind fields, which a plain view does not change.
        let selected = match served.view {
            crate::registry::View::Plain => selection.matches(&obj),
            _ => selection.matches(&present(served, &obj)),
        };
        if !selected {
            continue;
        }
        if limit > 0 && items.len() >= limit {
            more = true;
            remaining += 1;
            continue;
        }
        last_key = key;
        items.push(present(served, &obj));
    }
    let continue_token = more.then(|| encode_continue(snapshot_rv, &last_key));
    let rv = snapshot_rv.to_string();
    let body = match call.wanted {
        Wanted::Table => {
            let include = ext::include_object(call.query.get("includeObject"))?;
            ext::table(
                &served.kind,
                &items,
                true,
                include,
                &rv,
                continue_token.as_deref(),
            )
        }
        _ => {
            let partial = call.wanted == Wanted::PartialMetadata;
            let mut metadata = serde_json::Map::new();
            metadata.insert("resourceVersion".into(), json!(rv));
            match &continue_token {
                Some(c) => {
                    metadata.insert("continue".into(), json!(c));
                    if selection.is_empty() {
                        metadata.insert("remainingItemCount".into(), json!(remaining));
                    }
                }
                None if served.kind.custom => {
                    metadata.insert("continue".into(), json!(""));
                }
                None => {}
            }
            let (kind, api_version, items) = if partial {
                (
                    "PartialObjectMetadataList".to_string(),
                    "meta.k8s.io/v1".to_string(),
                    items.iter().map(partial_metadata).collect(),
                )
            } else {
                (
                    served.kind.list_kind.clone(),
                    served.kind.api_version(),
                    items,
                )
            };
            json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items})
        }
    };
    Ok(Answer::ok(body))
}

/// Options shared by create, update and patch.
struct WriteOptions {
    manager: String,
    dry_run: bool,
    validation: FieldValidation,
}

fn write_options(call: &Call, options_kind: &str, apply: bool) -> Result<WriteOptions, ApiError> {
    let validation = match call.query.get("fieldValidation").unwrap_or("") {
        "" | "Warn" => FieldValidation::Warn,
        "Ignore" => FieldValidation::Ignore,
        "Strict" => FieldValidation::Strict,
        other => {
            return Err(ApiError::invalid_options(
                options_kind,
                Cause::not_supported("fieldValidation", other, &["", "Ignore", "Strict", "Warn"]),
            ));
        }
    };
    let dry_run = match call.query.get("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::invalid_options(
                options_kind,
                Cause::not_supported("dryRun", other, &["All"]),
            ));
        }
    };
    if call.query.get("force").is_some() && !apply {
        return Err(ApiError::invalid_options(
            options_kind,
            Cause::forbidden("force", "may not be specified for non-apply patch"),
        ));
    }
    let manager = match call.query.value("fieldManager") {
        Some(m) => {
            if m.len() > 128 {
                return Err(ApiError::invalid_options(
                    options_kind,
                    Cause::new(
                        "FieldValueTooLong",
                        "fieldManager",
                        "Too long: may not be more than 128 bytes",
                    ),
                ));
            }
            m.to_string()
        }
        None if apply => {
            return Err(ApiError::invalid_options(
                options_kind,
                Cause::required("fieldManager", "is required for apply patch"),
            ));
        }
        None => manager_from_user_agent(call.user_agent),
    };
    Ok(WriteOptions {
        manager,
        dry_run,
        validation,
    })
}

/// The field manager the real server derives from a User-Agent (`kubectl/v1.32 ...` → `kubectl`).
pub fn manager_from_user_agent(ua: &str) -> String {
    let prefix = ua.split('/').next().unwrap_or("").trim();
    if prefix.is_empty() {
        "unknown".to_string()
    } else {
        prefix.chars().take(128).collect()
    }
}

fn outcome_answer(out: WriteOutcome, wanted: &Wanted, served: &Served) -> Answer {
    let rv = out
        .object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Answer {
        code: if out.created { 201 } else { 200 },
        body: render(served, wanted, out.object, &rv),
        warnings: out.warnings,
    }
}

/// Repeated keys of a JSON body, looked for only when the request is strict.
fn strict_duplicates(call: &Call, opts: &WriteOptions) -> Vec<String> {
    let json = call.content_type.is_empty() || call.content_type.starts_with("application/json");
    if opts.validation == FieldValidation::Strict && json {
        crate::request::duplicate_fields(call.body)
    } else {
        Vec::new()
    }
}

fn parse_body(call: &Call) -> Result<Value, ApiError> {
    if call.served.kind.custom
        && call
            .content_type
            .contains("application/vnd.kubernetes.protobuf")
    {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    crate::request::decode_body(call.content_type, call.body, &call.served.kind.kind)
}

pub fn create(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let opts = write_options(call, "CreateOptions", false)?;
    let body = parse_body(call)?;
    let duplicates = strict_duplicates(call, &opts);
    let mut state = shared.lock();
    if let Some(name) = call.path.name.as_deref()
        && state.store.get(&call.served.store, &call.key()).is_some()
    {
        let k = &call.served.kind;
        return Err(ApiError::already_exists(&k.group, &k.plural, name));
    }
    let req = WriteReq {
        served: &call.served,
        op: Op::Create,
        namespace: call.namespace(),
        name: call.path.name.as_deref(),
        subresource: None,
        manager: &opts.manager,
        dry_run: opts.dry_run,
        validation: opts.validation,
        applied: false,
        duplicates: &duplicates,
    };
    let out = write::commit(&mut state, &req, None, body)?;
    if !opts.dry_run {
        write::notify(shared, &mut state, &call.served);
    }
    Ok(outcome_answer(out, &call.wanted, &call.served))
}

pub fn update(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    if call.subresource() == Some("finalize") {
        return finalize_namespace(shared, call);
    }
    let opts = write_options(call, "UpdateOptions", false)?;
    let body = parse_body(call)?;
    let duplicates = strict_duplicates(call, &opts);
    let mut state = shared.lock();
    let kind = &call.served.kind;
    let old = state
        .store
        .get(&call.served.store, &call.key())
        .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, call.name()))?;
    let req = WriteReq {
        served: &call.served,
        op: Op::Update,
        namespace: call.namespace(),
        name: call.path.name.as_deref(),
        subresource: call.subresource(),
        manager: &opts.manager,
        dry_run: opts.dry_run,
        validation: opts.validation,
        applied: false,
        duplicates: &duplicates,
    };
    let out = write::commit(&mut state, &req, Some(old), body)?;
    if !opts.dry_run {
        write::notify(shared, &mut state, &call.served);
    }
    Ok(outcome_answer(out, &call.wanted, &call.served))
}

/// PUT /api/v1/namespaces/<name>/finalize: replaces spec.finalizers only.
fn finalize_namespace(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let body = parse_body(call)?;
    let mut state = shared.lock();
    let old = state
        .store
        .get("/namespaces", &call.key())
        .ok_or_else(|| ApiError::not_found("", "namespaces", call.name()))?;
    let mut new = (*old).clone();
    new["spec"]["finalizers"] = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let stored = state.store.put("/namespaces", call.key(), new);
    shared.controllers.notify_one();
    Ok(Answer::ok(present(&call.served, &stored)))
}

/// The patch formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

pub fn patch(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let media = call
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let patch_type = match media.as_str() {
        "application/merge-patch+json" => PatchType::Merge,
        "application/json-patch+json" => PatchType::Json,
        "application/strategic-merge-patch+json" if !call.served.kind.custom => {
            PatchType::Strategic
        }
        "application/apply-patch+yaml" => PatchType::Apply,
        _ => return Err(ApiError::unsupported_patch_type()),
    };
    let apply = patch_type == PatchType::Apply;
    let opts = write_options(call, "PatchOptions", apply)?;
    let served = &call.served;
    let kind = &served.kind;
    let mut state = shared.lock();
    let old = state.store.get(&served.store, &call.key());
    if apply
        && old.is_none()
        && let Some(denied) = &call.create_denied
    {
        return Err(denied.clone());
    }
    let live = old.as_deref().map(|o| present(served, o));
    let patched = match patch_type {
        PatchType::Apply => {
            let applied = crate::request::parse_yaml(call.body, &kind.kind)?;
            ext::check_applied(kind, &applied)?;
            let force = call.query.flag("force");
            let time = now();
            match ext::apply(
                kind,
                live.as_ref(),
                &applied,
                &opts.manager,
                force,
                call.subresource(),
                &time,
            ) {
                Ok(merged) => merged,
                Err(conflicts) => return Err(apply_conflict(&conflicts)),
            }
        }
        _ => {
            let Some(live) = live.as_ref() else {
                return Err(ApiError::not_found(&kind.group, &kind.plural, call.name()));
            };
            let body = crate::request::parse_json(call.body, &kind.kind)?;
            match patch_type {
                PatchType::Merge => {
                    let mut out = live.clone();
                    json_patch::merge(&mut out, &body);
                    out
                }
                PatchType::Json => apply_json_patch(live, &body)?,
                _ => ext::strategic_merge_patch(kind, live, &body)?,
            }
        }
    };
    let req = WriteReq {
        served,
        op: if old.is_some() { Op::Patch } else { Op::Create },
        namespace: call.namespace(),
        name: call.path.name.as_deref(),
        subresource: call.subresource(),
        manager: &opts.manager,
        dry_run: opts.dry_run,
        validation: opts.validation,
        applied: apply,
        duplicates: &[],
    };
    let out = write::commit(&mut state, &req, old, patched)?;
    if !opts.dry_run {
        write::notify(shared, &mut state, served);
    }
    Ok(outcome_answer(out, &call.wanted, served))
}

fn apply_conflict(conflicts: &[ext::Conflict]) -> ApiError {
    let details = Details {
        causes: ext::conflict_causes(conflicts)
            .iter()
            .map(|c| Cause {
                reason: c["reason"].as_str().unwrap_or("").to_string(),
                message: c["message"].as_str().unwrap_or("").to_string(),
                field: c["field"].as_str().map(String::from),
            })
            .collect(),
        ..Details::default()
    };
    ApiError::new(409, "Conflict", ext::conflict_message(conflicts)).with_details(details)
}

/// RFC 6902 with the real server's reading of `test` against an absent path: equal to null.
fn apply_json_patch(live: &Value, body: &Value) -> Result<Value, ApiError> {
    let ops = body.as_array().ok_or_else(|| {
        ApiError::bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    })?;
    let mut doc = live.clone();
    for op in ops {
        let is_test = op.get("op").and_then(Value::as_str) == Some("test");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        if is_test && op.get("value").is_some_and(Value::is_null) && doc.pointer(path).is_none() {
            continue;
        }
        let parsed: json_patch::PatchOperation = serde_json::from_value(op.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
        json_patch::patch(&mut doc, &json_patch::Patch(vec![parsed]))
            .map_err(|_| ApiError::patch_rejected())?;
    }
    Ok(doc)
}

/// DeleteOptions from the body and the query.
pub struct DeleteOptions {
    propagation: Option<Propagation>,
    uid: Option<String>,
    rv: Option<String>,
    dry_run: bool,
}

fn delete_options(call: &Call) -> Result<DeleteOptions, ApiError> {
    let body: Value = if call.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        crate::request::decode_body(call.content_type, call.body, "DeleteOptions")?
    };
    let policy = call
        .query
        .value("propagationPolicy")
        .map(String::from)
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(String::from)
        });
    let orphan = call
        .query
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match policy.as_deref() {
        None => match orphan {
            Some(true) => Some(Propagation::Orphan),
            Some(false) => Some(Propagation::Background),
            None => None,
        },
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Background") => Some(Propagation::Background),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::invalid_options(
                "DeleteOptions",
                Cause::not_supported(
                    "propagationPolicy",
                    other,
                    &["Foreground", "Background", "Orphan", "nil"],
                ),
            ));
        }
    };
    let dry_run = call.query.get("dryRun") == Some("All")
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let pre = |k: &str| {
        body.pointer(&format!("/preconditions/{k}"))
            .and_then(Value::as_str)
            .map(String::from)
    };
    Ok(DeleteOptions {
        propagation,
        uid: pre("uid"),
        rv: pre("resourceVersion"),
        dry_run,
    })
}

pub fn delete(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let opts = delete_options(call)?;
    let served = &call.served;
    let mut state = shared.lock();
    let req = DeleteReq {
        served,
        key: call.key(),
        propagation: opts.propagation,
        precondition_uid: opts.uid,
        precondition_rv: opts.rv,
        dry_run: opts.dry_run,
    };
    let result = write::delete(&mut state, &req)?;
    let answer = match result {
        Deleted::Gone(last) => Answer::ok(write::success_status(served, &last)),
        Deleted::Terminating(obj) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            Answer::ok(render(served, &call.wanted, obj, &rv))
        }
    };
    if !opts.dry_run {
        if served.is_crd_kind() {
            state.rebuild_registry();
        }
        shared.controllers.notify_one();
    }
    Ok(answer)
}

pub fn delete_collection(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let opts = delete_options(call)?;
    let served = &call.served;
    let selection = Selection::parse(served, call.query)?;
    let mut state = shared.lock();
    let mut items = Vec::new();
    for (key, obj) in state.store.entries(&served.store, call.namespace()) {
        let presented = present(served, &obj);
        if !selection.matches(&presented) {
            continue;
        }
        let req = DeleteReq {
            served,
            key,
            propagation: opts.propagation,
            precondition_uid: None,
            precondition_rv: None,
            dry_run: opts.dry_run,
        };
        match write::delete(&mut state, &req)? {
            Deleted::Gone(last) => items.push(present(served, &last)),
            Deleted::Terminating(obj) => items.push(obj),
        }
    }
    if served.is_crd_kind() {
        state.rebuild_registry();
    }
    shared.controllers.notify_one();
    let rv = state.store.resource_version().to_string();
    Ok(Answer::ok(json!({
        "kind": served.kind.list_kind,
        "apiVersion": served.kind.api_version(),
        "metadata": {"resourceVersion": rv},
        "items": items,
    })))
}
