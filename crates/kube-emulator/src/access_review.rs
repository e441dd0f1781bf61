//! SelfSubjectAccessReview (`kubectl auth can-i`): whether the requesting user may do what the
//! review's spec describes, decided by the same authorizer as its requests, as
//! `pkg/registry/authorization/selfsubjectaccessreview` answers it: 201 with `status.allowed`
//! and the authorizer's reason.

use serde_json::{Value, json};

use crate::api::{Answer, Call};
use crate::auth::{Attributes, User};
use crate::rbac::{self, Decision, Request};
use crate::state::Shared;
use crate::status::{ApiError, Cause};

const KIND: &str = "SelfSubjectAccessReview";

pub fn create(shared: &Shared, user: &User, call: &Call) -> Result<Answer, ApiError> {
    let review = crate::request::decode_body(call.content_type, call.body, KIND)?;
    let spec = &review["spec"];
    let (resource, path) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    let invalid = |field: &str, detail: &str| {
        let cause = Cause::invalid(&format!("spec.{field}"), path, detail);
        let qualified = format!("{KIND}.authorization.k8s.io");
        ApiError::invalid(&qualified, "", "authorization.k8s.io", KIND, vec![cause])
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or("").to_string();
    let decision = match (resource.is_object(), path.is_object()) {
        (true, true) => {
            let detail = "cannot be specified in combination with resourceAttributes";
            return Err(invalid("nonResourceAttributes", detail));
        }
        (false, false) => {
            let detail =
                "exactly one of nonResourceAttributes or resourceAttributes must be specified";
            return Err(invalid("resourceAttributes", detail));
        }
        (true, false) => {
            let (namespace, name) = (text(resource, "namespace"), text(resource, "name"));
            let mut combined = text(resource, "resource");
            let subresource = text(resource, "subresource");
            if !subresource.is_empty() {
                combined = format!("{combined}/{subresource}");
            }
            let group = text(resource, "group");
            let verb = text(resource, "verb");
            let attributes = Attributes {
                verb: &verb,
                group: &group,
                resource: &combined,
                namespace: Some(namespace.as_str()).filter(|ns| !ns.is_empty()),
                name: Some(name.as_str()).filter(|n| !n.is_empty()),
            };
            let state = shared.lock();
            rbac::decide_for(&state.store, user, &Request::Resource(&attributes))
        }
        (false, true) => {
            let (verb, path) = (text(path, "verb"), text(path, "path"));
            let state = shared.lock();
            rbac::decide_for(
                &state.store,
                user,
                &Request::Path {
                    verb: &verb,
                    path: &path,
                },
            )
        }
    };
    let (allowed, reason) = match decision {
        Decision::Allow(reason) => (true, reason),
        Decision::Deny(reason) => (false, reason),
    };
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    let body = json!({
        "kind": KIND,
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": review.get("metadata").cloned().unwrap_or(json!({})),
        "spec": spec,
        "status": status,
    });
    Ok(Answer {
        code: 201,
        body,
        warnings: Vec::new(),
    })
}
