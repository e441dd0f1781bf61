//! The HTTP front: authentication, authorization, counting, injected faults, and routing to
//! discovery, OpenAPI, the resource verbs, watches and the emulator's control paths.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::access_review;
use crate::api::{self, Answer, Call};
use crate::auth::{Attributes, User};
use crate::discovery;
use crate::ext;
use crate::faults::RequestKey;
use crate::impersonation;
use crate::rbac;
use crate::request::{self, Query, ResourcePath, Route, Wanted};
use crate::selectors;
use crate::service_account_tokens;
use crate::state::Shared;
use crate::status::{ApiError, Details};
use crate::watch;

pub struct Front {
    pub shared: Arc<Shared>,
    /// `127.0.0.1:<port>` for legacy discovery.
    pub server_address: String,
}

const MAX_BODY: usize = 16 * 1024 * 1024;

pub async fn handle(front: Arc<Front>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let route = request::route(parts.uri.path());
    match &route {
        Route::Version => return json_response(200, &version(), &[]),
        Route::Health(_) => return text_response(200, "text/plain; charset=utf-8", "ok"),
        _ => {}
    }
    let user = authenticate(&front.shared, &parts.headers)
        .and_then(|u| impersonation::impersonate(&front.shared, u, &parts.headers));
    let user = match user {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading body: {e}"))),
    };
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let accept = header(header::ACCEPT);
    match route {
        Route::Resource(path) => {
            if let Some(retry) = front.shared.faults.take_throttle() {
                return error_response(&ApiError::too_many_requests(retry));
            }
            let ctx = ResourceRequest {
                method: parts.method.clone(),
                path,
                query,
                accept,
                content_type: header(header::CONTENT_TYPE),
                user_agent: header(header::USER_AGENT),
                body: body.to_vec(),
            };
            resource(&front.shared, &user, ctx).await
        }
        Route::Control(segments) => {
            if !user.admin {
                return error_response(&non_resource_forbidden(&user, parts.uri.path()));
            }
            control(&front.shared, &parts.method, &segments, &query)
        }
        other => {
            let path = parts.uri.path();
            let denied = rbac::authorize_path(&front.shared.lock().store, &user, "get", path);
            if let Err(e) = denied {
                return error_response(&e);
            }
            non_resource(&front, other, &accept, &query)
        }
    }
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<User, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match token {
        Some(t) => {
            let user = shared
                .auth
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .user(t)
                .cloned();
            user.or_else(|| service_account_tokens::authenticate(shared, t))
                .ok_or_else(ApiError::unauthorized)
        }
        None if shared.anonymous_auth => Ok(User::anonymous()),
        None => Err(ApiError::unauthorized()),
    }
}

fn non_resource_forbidden(user: &User, path: &str) -> ApiError {
    ApiError::new(
        403,
        "Forbidden",
        format!(
            "forbidden: User \"{}\" cannot get path \"{path}\"",
            user.name
        ),
    )
    .with_details(Details::default())
}

struct ResourceRequest {
    method: Method,
    path: ResourcePath,
    query: Query,
    accept: String,
    content_type: String,
    user_agent: String,
    body: Vec<u8>,
}

async fn resource(shared: &Arc<Shared>, user: &User, r: ResourceRequest) -> Response {
    let served = shared
        .lock()
        .registry
        .lookup(&r.path.group, &r.path.version, &r.path.plural);
    let Some(served) = served else {
        return error_response(&ApiError::page_not_found());
    };
    let kind = &served.kind;
    let p = &r.path;
    if (!kind.namespaced && p.namespace.is_some())
        || (kind.namespaced && p.namespace.is_none() && p.name.is_some())
    {
        return error_response(&ApiError::page_not_found());
    }
    if let Some(sub) = &p.subresource {
        let known = (sub == "status" && kind.status_subresource)
            || (!kind.custom && crate::kinds::has_subresource(&kind.group, &kind.kind, sub));
        if !known {
            return error_response(
                &ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
                .with_details(Details::default()),
            );
        }
    }
    let verb = match (&r.method, p.name.is_some(), p.subresource.is_some()) {
        (&Method::GET, true, _) => "get",
        (&Method::GET, false, _) if r.query.flag("watch") => "watch",
        (&Method::GET, false, _) => "list",
        (&Method::POST, true, true) if is_token_request(p) => "create",
        (&Method::POST, _, true) => {
            return error_response(&ApiError::method_not_allowed(
                "create",
                &kind.group,
                &kind.plural,
            ));
        }
        (&Method::POST, _, false) => "create",
        (&Method::PUT, true, _) => "update",
        (&Method::PATCH, true, _) => "patch",
        (&Method::PUT | &Method::PATCH, false, _) => {
            return error_response(&ApiError::bad_request("name must be provided"));
        }
        (&Method::DELETE, _, true) => {
            return error_response(&ApiError::method_not_allowed(
                "delete",
                &kind.group,
                &kind.plural,
            ));
        }
        (&Method::DELETE, true, false) => "delete",
        (&Method::DELETE, false, false) => "deletecollection",
        _ => {
            return error_response(&ApiError::method_not_allowed(
                &r.method.as_str().to_lowercase(),
                &kind.group,
                &kind.plural,
            ));
        }
    };
    let rbac_resource = match &p.subresource {
        Some(s) => format!("{}/{s}", kind.plural),
        None => kind.plural.clone(),
    };
    let namespace = if kind.namespaced {
        p.namespace.as_deref()
    } else {
        None
    };
    // A list or watch whose fieldSelector names one object is authorized for that name.
    let selected = match (verb, &p.name) {
        ("list" | "watch", None) => r.query.get("fieldSelector").and_then(selectors::exact_name),
        _ => None,
    };
    let attributes = Attributes {
        verb,
        group: &kind.group,
        resource: &rbac_resource,
        namespace,
        name: p.name.as_deref().or(selected.as_deref()),
    };
    let authorized = {
        let state = shared.lock();
        rbac::authorize(&state.store, user, &attributes).map(|()| {
            // An apply that creates its object needs create as well.
            let create = Attributes {
                verb: "create",
                ..attributes
            };
            (verb == "patch" && p.subresource.is_none())
                .then(|| rbac::authorize(&state.store, user, &create).err())
                .flatten()
        })
    };
    let create_denied = match authorized {
        Ok(denied) => denied,
        Err(e) => return error_response(&e),
    };
    if p.subresource.is_none() && !kind.verbs.iter().any(|v| v == verb) {
        return error_response(
            &ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
            .with_details(Details::default()),
        );
    }
    let counted = match &p.subresource {
        Some(s) => format!("{}/{s}", kind.group_resource()),
        None => kind.group_resource(),
    };
    shared
        .counters
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(RequestKey {
            verb: verb.to_string(),
            resource: counted,
            user: user.name.clone(),
        });
    if matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    ) {
        let injected = shared.faults.take_write_failure();
        match injected {
            Some(409) => {
                return error_response(&ApiError::conflict(
                    &kind.group,
                    &kind.plural,
                    p.name.as_deref().unwrap_or(""),
                ));
            }
            Some(_) => return error_response(&ApiError::internal("injected fault")),
            None => {}
        }
    }
    let wanted = match request::negotiate(Some(&r.accept)) {
        Ok(w) => w,
        Err(e) => return error_response(&e),
    };
    let call = Call {
        served: served.clone(),
        path: &r.path,
        query: &r.query,
        wanted: wanted.clone(),
        content_type: &r.content_type,
        user_agent: &r.user_agent,
        body: &r.body,
        create_denied,
    };
    let result = match verb {
        "get" => api::get(shared, &call),
        "list" => api::list(shared, &call),
        "watch" => {
            return match watch::start(shared, &call) {
                Ok(stream) => Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CACHE_CONTROL, "no-cache, private")
                    .body(Body::from_stream(watch::body_stream(stream)))
                    .unwrap_or_default(),
                Err(e) => error_response(&e),
            };
        }
        "create" if is_token_request(p) => service_account_tokens::create(shared, &call),
        "create" if kind.group == "authorization.k8s.io" => {
            access_review::create(shared, user, &call)
        }
        "create" => api::create(shared, &call),
        "update" => api::update(shared, &call),
        "patch" => api::patch(shared, &call),
        "delete" => api::delete(shared, &call),
        _ => api::delete_collection(shared, &call),
    };
    match result {
        Ok(answer) => answer_response(answer, &wanted),
        Err(e) => error_response(&e),
    }
}

/// `POST .../serviceaccounts/<name>/token`.
fn is_token_request(p: &ResourcePath) -> bool {
    p.group.is_empty() && p.plural == "serviceaccounts" && p.subresource.as_deref() == Some("token")
}

fn answer_response(answer: Answer, wanted: &Wanted) -> Response {
    let warnings = answer.warnings.clone();
    if *wanted == Wanted::Yaml {
        let text = serde_saphyr::to_string(&answer.body).unwrap_or_default();
        let mut resp = text_response(answer.code, "application/yaml", &text);
        add_warnings(&mut resp, &warnings);
        return resp;
    }
    json_response(answer.code, &answer.body, &warnings)
}

fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(w) {
            resp.headers_mut().append("warning", v);
        }
    }
}

pub fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from(bytes))
        .unwrap_or_default();
    add_warnings(&mut resp, warnings);
    resp
}

fn text_response(code: u16, content_type: &str, text: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(text.to_string()))
        .unwrap_or_default()
}

pub fn error_response(e: &ApiError) -> Response {
    if e.plain_not_found {
        return text_response(404, "text/plain; charset=utf-8", "404 page not found\n");
    }
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private");
    if let Some(r) = e.retry_after {
        builder = builder.header(header::RETRY_AFTER, r.to_string());
    }
    for w in &e.warnings {
        builder = builder.header("warning", w);
    }
    builder.body(Body::from(e.body())).unwrap_or_default()
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        "gitVersion": "v1.36.2",
        "gitCommit": "98b35193b2ac7a23a673325f5e9b830ecd5ba406",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.27.3",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn non_resource(front: &Front, route: Route, accept: &str, query: &Query) -> Response {
    let registry = front.shared.lock().registry.clone();
    let not_found = || error_response(&ApiError::page_not_found());
    match route {
        Route::CoreVersions | Route::Groups => {
            let core = route == Route::CoreVersions;
            match discovery::wants_aggregated(accept) {
                Some(v) => {
                    let doc =
                        discovery::aggregated(&registry, core, &format!("apidiscovery.k8s.io/{v}"));
                    let mut resp = json_response(200, &doc, &[]);
                    let h = resp.headers_mut();
                    let ct = format!(
                        "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                    );
                    if let Ok(v) = HeaderValue::from_str(&ct) {
                        h.insert(header::CONTENT_TYPE, v);
                    }
                    h.insert(header::VARY, HeaderValue::from_static("Accept"));
                    h.insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("no-cache, private"),
                    );
                    resp
                }
                None if core => {
                    json_response(200, &discovery::api_versions(&front.server_address), &[])
                }
                None => json_response(200, &discovery::api_group_list(&registry), &[]),
            }
        }
        Route::Group(g) => match discovery::group(&registry, &g) {
            Some(doc) => json_response(200, &doc, &[]),
            None => not_found(),
        },
        Route::GroupVersion(g, v) => match discovery::resource_list(&registry, &g, &v) {
            Some(doc) => json_response(200, &doc, &[]),
            None => not_found(),
        },
        Route::OpenApiV2 => {
            if !accept.is_empty() && !accept.contains("json") && !accept.contains("*/*") {
                // Protobuf OpenAPI is not produced; kubectl tolerates the 404.
                return not_found();
            }
            json_response(200, &ext::openapi_v2(&registry.all_kinds()), &[])
        }
        Route::OpenApiV3Root => {
            let mut resp = json_response(200, &ext::v3_root(&registry.all_kinds()), &[]);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
        Route::OpenApiV3(path) => {
            let parts: Vec<&str> = path.split('/').collect();
            let (group, version) = match parts.as_slice() {
                ["api", v] => ("", *v),
                ["apis", g, v] => (*g, *v),
                _ => return not_found(),
            };
            let Some((doc, hash)) =
                ext::v3_group_version_with_hash(group, version, &registry.all_kinds())
            else {
                return not_found();
            };
            let mut resp = json_response(200, &doc, &[]);
            let h = resp.headers_mut();
            h.insert(header::VARY, HeaderValue::from_static("Accept"));
            if query.value("hash") == Some(hash.as_str()) {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, immutable"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
                    h.insert(header::ETAG, v);
                }
            }
            resp
        }
        _ => not_found(),
    }
}

fn control(shared: &Arc<Shared>, method: &Method, segments: &[String], query: &Query) -> Response {
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let num = |k: &str, default: u64| {
        query
            .value(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let ok = || json_response(200, &json!({"ok": true}), &[]);
    let faults = || &shared.faults;
    match (method, seg.as_slice()) {
        (&Method::POST, ["faults", "fail-writes"]) => {
            let code = num("code", 500) as u16;
            if code != 409 && code != 500 {
                return error_response(&ApiError::bad_request("code must be 409 or 500"));
            }
            faults().fail_writes(num("count", 1) as u32, code);
            ok()
        }
        (&Method::POST, ["faults", "throttle"]) => {
            faults().throttle(num("count", 1) as u32, num("retryAfterSeconds", 1));
            ok()
        }
        (&Method::POST, ["faults", "close-watches"]) => {
            shared.lock().store.close_watches();
            ok()
        }
        (&Method::POST, ["faults", "expire-history"]) => {
            shared.lock().store.expire_history();
            ok()
        }
        (&Method::DELETE, ["faults"]) => {
            faults().clear();
            ok()
        }
        (&Method::GET, ["requests"]) => {
            let counts: Vec<Value> = shared
                .counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .snapshot()
                .into_iter()
                .map(|(k, n)| json!({"verb": k.verb, "resource": k.resource, "user": k.user, "count": n}))
                .collect();
            json_response(200, &json!({"requests": counts}), &[])
        }
        (&Method::DELETE, ["requests"]) => {
            shared
                .counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .reset();
            ok()
        }
        _ => error_response(&ApiError::page_not_found()),
    }
}
