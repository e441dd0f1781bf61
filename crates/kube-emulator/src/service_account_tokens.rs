//! ServiceAccount tokens: the TokenRequest subresource (`POST .../serviceaccounts/<name>/token`,
//! what `kubectl create token` calls) and the authentication of the tokens it issues, as
//! kube-apiserver's `TokenREST` and service account token authenticator do. A token is a JWT with
//! the real claims (`sub`, `aud`, `exp`, `kubernetes.io`); the server knows its tokens, so the
//! signature is random bytes. A token authenticates as `system:serviceaccount:<ns>:<name>` with the
//! groups `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated` until
//! it expires, its ServiceAccount is deleted (or replaced: the uid is checked), or the Secret it is
//! bound to goes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::api::{Answer, Call};
use crate::auth::User;
use crate::state::Shared;
use crate::status::{ApiError, Cause};
use crate::store::ObjKey;

/// The audience tokens get when the request names none (the API server's own).
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
const KIND: &str = "TokenRequest.authentication.k8s.io";

/// What the server remembers of a token it issued.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    namespace: String,
    name: String,
    uid: String,
    expires: Timestamp,
    /// The Secret (name, uid) the token is bound to.
    bound_secret: Option<(String, String)>,
}

impl IssuedToken {
    pub fn expired(&self) -> bool {
        Timestamp::now() >= self.expires
    }
}

/// The user a token issued by [`create`] stands for, if it is still valid.
pub fn authenticate(shared: &Shared, token: &str) -> Option<User> {
    let issued = shared
        .auth
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .issued(token)?;
    if issued.expired() {
        return None;
    }
    let state = shared.lock();
    let uid_of = |store: &str, name: &str| {
        let key: ObjKey = (issued.namespace.clone(), name.to_string());
        let obj = state.store.get(store, &key)?;
        obj.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(String::from)
    };
    if uid_of("/serviceaccounts", &issued.name)? != issued.uid {
        return None;
    }
    if let Some((secret, uid)) = &issued.bound_secret
        && uid_of("/secrets", secret).as_ref() != Some(uid)
    {
        return None;
    }
    Some(User::service_account(&issued.namespace, &issued.name))
}

/// `POST .../serviceaccounts/<name>/token`: 201 with the TokenRequest and its token in `status`.
pub fn create(shared: &Shared, call: &Call) -> Result<Answer, ApiError> {
    let namespace = call.path.namespace.as_deref().unwrap_or("");
    let name = call.path.name.as_deref().unwrap_or("");
    let mut request = crate::request::decode_body(call.content_type, call.body, "TokenRequest")?;
    check_names(&request, namespace, name)?;
    let (sa_uid, bound_secret) = {
        let state = shared.lock();
        let key: ObjKey = (namespace.to_string(), name.to_string());
        let sa = state
            .store
            .get("/serviceaccounts", &key)
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let uid = sa["metadata"]["uid"].as_str().unwrap_or("").to_string();
        (uid, bound_secret(&state.store, namespace, &request)?)
    };
    let seconds = expiration_seconds(&request)?;
    let audiences = match request["spec"]["audiences"].as_array() {
        Some(a) if !a.is_empty() => Value::Array(a.clone()),
        _ => json!([API_AUDIENCE]),
    };
    // Whole seconds, as the token's `exp` claim and `status.expirationTimestamp` carry them.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::now());
    let expires = now + SignedDuration::from_secs(seconds);
    let issued = IssuedToken {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: sa_uid,
        expires,
        bound_secret,
    };
    let token = jwt(&issued, &audiences, now);
    shared
        .auth
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .issue(token.clone(), issued);
    request["metadata"]["name"] = json!(name);
    request["metadata"]["namespace"] = json!(namespace);
    request["spec"]["audiences"] = audiences;
    request["spec"]["expirationSeconds"] = json!(seconds);
    request["status"] = json!({"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()});
    let body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": request["metadata"],
        "spec": request["spec"],
        "status": request["status"],
    });
    Ok(Answer {
        code: 201,
        body,
        warnings: Vec::new(),
    })
}

/// `spec.expirationSeconds` (an hour when unset), between 10 minutes and 2^32 seconds.
fn expiration_seconds(request: &Value) -> Result<i64, ApiError> {
    let seconds = match &request["spec"]["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECONDS,
        v => v.as_i64().unwrap_or(0),
    };
    let detail = if seconds < MIN_EXPIRATION_SECONDS {
        "may not specify a duration less than 10 minutes"
    } else if seconds > MAX_EXPIRATION_SECONDS {
        "may not specify a duration larger than 2^32 seconds"
    } else {
        return Ok(seconds);
    };
    let cause = Cause::invalid("spec.expirationSeconds", &json!(seconds), detail);
    let group = "authentication.k8s.io";
    Err(ApiError::invalid(
        KIND,
        "",
        group,
        "TokenRequest",
        vec![cause],
    ))
}

/// A name or namespace in the body must be the URL's.
fn check_names(request: &Value, namespace: &str, name: &str) -> Result<(), ApiError> {
    for (field, want) in [("name", name), ("namespace", namespace)] {
        let given = request["metadata"][field].as_str().unwrap_or("");
        if !given.is_empty() && given != want {
            let cause = Cause::invalid(
                &format!("metadata.{field}"),
                &json!(given),
                &format!("must match the service account {field} if specified"),
            );
            let group = "authentication.k8s.io";
            return Err(ApiError::invalid(
                KIND,
                name,
                group,
                "TokenRequest",
                vec![cause],
            ));
        }
    }
    Ok(())
}

/// `spec.boundObjectRef`: a Secret of the namespace (name, uid); pods are not served.
fn bound_secret(
    store: &crate::store::Store,
    namespace: &str,
    request: &Value,
) -> Result<Option<(String, String)>, ApiError> {
    let reference = &request["spec"]["boundObjectRef"];
    if reference.is_null() {
        return Ok(None);
    }
    let name = reference["name"].as_str().unwrap_or("");
    let (kind, api_version) = (
        reference["kind"].as_str().unwrap_or(""),
        reference["apiVersion"].as_str().unwrap_or(""),
    );
    let plural = match (api_version, kind) {
        ("v1", "Secret") => "secrets",
        ("v1", "Pod") => return Err(ApiError::not_found("", "pods", name)),
        _ => {
            let gvk = match api_version.split_once('/') {
                Some((g, v)) => format!("{g}/{v}, Kind={kind}"),
                None => format!("/{api_version}, Kind={kind}"),
            };
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {gvk}"
            )));
        }
    };
    let secret = store
        .get("/secrets", &(namespace.to_string(), name.to_string()))
        .ok_or_else(|| ApiError::not_found("", plural, name))?;
    let uid = secret["metadata"]["uid"].as_str().unwrap_or("").to_string();
    Ok(Some((name.to_string(), uid)))
}

/// A JWT carrying the claims of a real service account token; the signature is random.
fn jwt(issued: &IssuedToken, audiences: &Value, now: Timestamp) -> String {
    let header = json!({"alg": "RS256", "kid": uuid::Uuid::new_v4().simple().to_string()});
    let mut kubernetes = json!({
        "namespace": issued.namespace,
        "serviceaccount": {"name": issued.name, "uid": issued.uid},
    });
    if let Some((name, uid)) = &issued.bound_secret {
        kubernetes["secret"] = json!({"name": name, "uid": uid});
    }
    let claims = json!({
        "aud": audiences,
        "exp": issued.expires.as_second(),
        "iat": now.as_second(),
        "iss": API_AUDIENCE,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": kubernetes,
        "nbf": now.as_second(),
        "sub": format!("system:serviceaccount:{}:{}", issued.namespace, issued.name),
    });
    let signature: Vec<u8> = (0..8)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .collect();
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(&claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}
