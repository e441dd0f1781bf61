//! User impersonation: the `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
//! `Impersonate-Extra-<key>` headers (`kubectl --as`, `--as-group`), as kube-apiserver's
//! `WithImpersonation` filter handles them: the requestor needs `impersonate` on each thing asked
//! for (`users`, `serviceaccounts` in their namespace, `groups`, and `uids` and `userextras/<key>`
//! of `authentication.k8s.io`), refused with the real 403; the request then runs as the
//! impersonated user, whose groups are those asked for (a ServiceAccount's own when none are) plus
//! `system:authenticated` (`system:unauthenticated` for `system:anonymous`). Extra values are
//! authorized but not kept: nothing here looks at them.

use axum::http::HeaderMap;

use crate::auth::{AUTHENTICATED, Attributes, User};
use crate::rbac;
use crate::state::Shared;
use crate::status::ApiError;

const UNAUTHENTICATED: &str = "system:unauthenticated";

/// One thing the requestor asks to impersonate: (API group, resource, namespace, name).
struct Asked {
    group: &'static str,
    resource: String,
    namespace: Option<String>,
    name: String,
}

/// The user the request runs as: `requestor`, or whom its headers impersonate.
pub fn impersonate(
    shared: &Shared,
    requestor: User,
    headers: &HeaderMap,
) -> Result<User, ApiError> {
    let values = |name: &str| -> Vec<String> {
        let all = headers.get_all(name).iter();
        all.filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect()
    };
    let user_name = values("impersonate-user")
        .into_iter()
        .next()
        .unwrap_or_default();
    let groups = values("impersonate-group");
    let mut asked = Vec::new();
    let service_account = split_service_account(&user_name);
    if let Some((namespace, name)) = &service_account {
        asked.push(Asked::of("", "serviceaccounts", Some(namespace), name));
    } else if !user_name.is_empty() {
        asked.push(Asked::of("", "users", None, &user_name));
    }
    asked.extend(groups.iter().map(|g| Asked::of("", "groups", None, g)));
    let uid = values("impersonate-uid");
    asked.extend(
        uid.iter()
            .map(|u| Asked::of("authentication.k8s.io", "uids", None, u)),
    );
    for (header, value) in headers {
        let Some(key) = header.as_str().strip_prefix("impersonate-extra-") else {
            continue;
        };
        let resource = format!("userextras/{}", crate::request::percent_decode(key));
        let value = value.to_str().unwrap_or("");
        asked.push(Asked::of("authentication.k8s.io", &resource, None, value));
    }
    if asked.is_empty() {
        return Ok(requestor);
    }
    if user_name.is_empty() {
        return Err(ApiError::internal(
            "requested impersonation of groups, a uid or extras without impersonating a user",
        ));
    }
    {
        let state = shared.lock();
        for a in &asked {
            let attributes = Attributes {
                verb: "impersonate",
                group: a.group,
                resource: &a.resource,
                namespace: a.namespace.as_deref(),
                name: Some(&a.name),
            };
            rbac::authorize(&state.store, &requestor, &attributes)?;
        }
    }
    Ok(User {
        groups: impersonated_groups(&user_name, service_account.as_ref(), groups),
        name: user_name,
        admin: false,
        rules: Vec::new(),
    })
}

impl Asked {
    fn of(group: &'static str, resource: &str, namespace: Option<&str>, name: &str) -> Asked {
        Asked {
            group,
            resource: resource.to_string(),
            namespace: namespace.map(String::from),
            name: name.to_string(),
        }
    }
}

/// The groups asked for, or a ServiceAccount's own; plus the one every (un)authenticated user has.
fn impersonated_groups(
    user_name: &str,
    service_account: Option<&(String, String)>,
    mut groups: Vec<String>,
) -> Vec<String> {
    if groups.is_empty()
        && let Some((namespace, name)) = service_account
    {
        groups = User::service_account(namespace, name).groups;
        groups.retain(|g| g != AUTHENTICATED);
    }
    let has = |groups: &[String], g: &str| groups.iter().any(|x| x == g);
    if user_name != "system:anonymous" {
        if !has(&groups, AUTHENTICATED) && !has(&groups, UNAUTHENTICATED) {
            groups.push(AUTHENTICATED.to_string());
        }
    } else if !has(&groups, UNAUTHENTICATED) {
        groups.push(UNAUTHENTICATED.to_string());
    }
    groups
}

/// `system:serviceaccount:<namespace>:<name>` split, as `serviceaccount.SplitUsername`.
fn split_service_account(user: &str) -> Option<(String, String)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    let valid = !namespace.is_empty() && !name.is_empty() && !name.contains(':');
    valid.then(|| (namespace.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_the_impersonated_user() {
        let sa = split_service_account("system:serviceaccount:team:op");
        assert_eq!(sa, Some(("team".into(), "op".into())));
        assert_eq!(split_service_account("system:serviceaccount:team"), None);
        assert_eq!(
            impersonated_groups("system:serviceaccount:team:op", sa.as_ref(), vec![]),
            [
                "system:serviceaccounts",
                "system:serviceaccounts:team",
                "system:authenticated"
            ]
        );
        assert_eq!(
            impersonated_groups("bob", None, vec!["dev".into()]),
            ["dev", "system:authenticated"]
        );
        assert_eq!(
            impersonated_groups("bob", None, vec!["system:unauthenticated".into()]),
            ["system:unauthenticated"]
        );
        assert_eq!(
            impersonated_groups("system:anonymous", None, vec![]),
            ["system:unauthenticated"]
        );
    }
}
