//! Bearer tokens mapped to users. A user is an admin (`system:masters`), or holds rules given in
//! code of allowed (verbs, API groups, resources, namespaces), and has whatever the RBAC objects
//! stored in the server grant its name and groups (see [`crate::rbac`]).

use std::collections::HashMap;

use crate::service_account_tokens::IssuedToken;
use crate::status::{ApiError, Details};

/// One allow rule; `"*"` matches anything, an empty `namespaces` list means every namespace
/// (and cluster-scoped requests).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub verbs: Vec<String>,
    /// API groups (`""` for core).
    pub groups: Vec<String>,
    /// Resources, with subresources as `gadgets/status`.
    pub resources: Vec<String>,
    pub namespaces: Vec<String>,
    /// `resourceNames`: when not empty, only requests naming one of these objects match (a
    /// create never, a list or watch when its fieldSelector is `metadata.name=<name>`).
    pub names: Vec<String>,
}

impl Rule {
    /// A rule from string slices, e.g. `Rule::new(&["get", "list"], &[""], &["secrets"], &["ns1"])`.
    pub fn new(verbs: &[&str], groups: &[&str], resources: &[&str], namespaces: &[&str]) -> Rule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Rule {
            verbs: v(verbs),
            groups: v(groups),
            resources: v(resources),
            namespaces: v(namespaces),
            names: Vec::new(),
        }
    }

    /// The same rule limited to these object names (RBAC `resourceNames`).
    pub fn with_names(mut self, names: &[&str]) -> Rule {
        self.names = names.iter().map(|n| n.to_string()).collect();
        self
    }

    pub(crate) fn allows(&self, a: &Attributes) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|i| i == "*" || i == x);
        any(&self.verbs, a.verb)
            && any(&self.groups, a.group)
            && any(&self.resources, a.resource)
            && (self.namespaces.is_empty()
                || a.namespace.is_some_and(|ns| any(&self.namespaces, ns)))
            && (self.names.is_empty() || a.name.is_some_and(|n| self.names.iter().any(|x| x == n)))
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    /// The groups RBAC bindings match (`system:authenticated`, `system:serviceaccounts`, ...).
    pub groups: Vec<String>,
    pub admin: bool,
    pub rules: Vec<Rule>,
}

/// Every authenticated user's group.
pub const AUTHENTICATED: &str = "system:authenticated";

impl User {
    /// A member of `system:masters`: allowed everything, as kube-apiserver allows that group.
    pub fn admin(name: &str) -> User {
        User {
            name: name.to_string(),
            groups: vec!["system:masters".to_string(), AUTHENTICATED.to_string()],
            admin: true,
            rules: Vec::new(),
        }
    }

    /// A user holding `rules` given in code (besides what RBAC objects grant it).
    pub fn with_rules(name: &str, rules: Vec<Rule>) -> User {
        User {
            name: name.to_string(),
            groups: vec![AUTHENTICATED.to_string()],
            admin: false,
            rules,
        }
    }

    /// A request without credentials (when anonymous requests are enabled).
    pub fn anonymous() -> User {
        User {
            name: "system:anonymous".to_string(),
            groups: vec!["system:unauthenticated".to_string()],
            admin: false,
            rules: Vec::new(),
        }
    }

    /// A ServiceAccount, named and grouped as the service account token authenticator does.
    pub fn service_account(namespace: &str, name: &str) -> User {
        User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.to_string(),
            ],
            admin: false,
            rules: Vec::new(),
        }
    }
}

/// What a request is about, for authorization.
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    /// Resource with `/subresource` if any.
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

#[derive(Default)]
pub struct Auth {
    tokens: HashMap<String, User>,
    /// ServiceAccount tokens from TokenRequests (checked against the stored objects on use).
    issued: HashMap<String, IssuedToken>,
}

impl Auth {
    pub fn add(&mut self, token: String, user: User) {
        self.tokens.insert(token, user);
    }

    pub fn user(&self, token: &str) -> Option<&User> {
        self.tokens.get(token)
    }

    /// Remembers a new token, forgetting those that expired.
    pub fn issue(&mut self, token: String, issued: IssuedToken) {
        self.issued.retain(|_, t| !t.expired());
        self.issued.insert(token, issued);
    }

    pub fn issued(&self, token: &str) -> Option<IssuedToken> {
        self.issued.get(token).cloned()
    }
}

/// Whether the user's admin flag or in-code rules allow the request (RBAC objects aside).
pub fn allowed_in_code(user: &User, a: &Attributes) -> bool {
    user.admin || user.rules.iter().any(|r| r.allows(a))
}

/// Checks a user's in-code rights; the 403 body the real server produces otherwise.
pub fn authorize(user: &User, a: &Attributes) -> Result<(), ApiError> {
    if allowed_in_code(user, a) {
        return Ok(());
    }
    Err(forbidden(&user.name, a, ""))
}

/// The real server's 403 for a resource request (`responsewriters.Forbidden`): the authorizers'
/// `reason`, when there is one, follows the message after `: `.
pub fn forbidden(user: &str, a: &Attributes, reason: &str) -> ApiError {
    let (base, sub) = a.resource.split_once('/').unwrap_or((a.resource, ""));
    let qualified = crate::status::qualified(base, a.group);
    let subject = match a.name {
        Some(n) => format!("{qualified} \"{n}\""),
        None => qualified.clone(),
    };
    let scope = match a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let _ = sub;
    let mut message = format!(
        "{subject} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        a.verb, a.resource, a.group
    );
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    ApiError::new(403, "Forbidden", message).with_details(Details::of(
        a.name.unwrap_or(""),
        a.group,
        base,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_forbidden_message() {
        let user = User::with_rules(
            "operator",
            vec![Rule::new(
                &["get", "list", "watch"],
                &[""],
                &["secrets"],
                &["ns1"],
            )],
        );
        let ok = Attributes {
            verb: "get",
            group: "",
            resource: "secrets",
            namespace: Some("ns1"),
            name: Some("s"),
        };
        assert!(authorize(&user, &ok).is_ok());
        let bad = Attributes {
            verb: "list",
            group: "",
            resource: "configmaps",
            namespace: Some("trace-ns"),
            name: None,
        };
        let err = authorize(&user, &bad).unwrap_err();
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "configmaps is forbidden: User \"operator\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"trace-ns\""
        );
        let lease_user = User::with_rules(
            "op",
            vec![
                Rule::new(
                    &["get", "update"],
                    &["coordination.k8s.io"],
                    &["leases"],
                    &[],
                )
                .with_names(&["op-lock"]),
            ],
        );
        let named = |name: Option<&'static str>, verb: &'static str| Attributes {
            verb,
            group: "coordination.k8s.io",
            resource: "leases",
            namespace: Some("ns1"),
            name,
        };
        assert!(authorize(&lease_user, &named(Some("op-lock"), "get")).is_ok());
        assert!(authorize(&lease_user, &named(Some("other"), "get")).is_err());
        assert!(authorize(&lease_user, &named(None, "list")).is_err());
        let cluster = Attributes {
            verb: "list",
            group: "",
            resource: "namespaces",
            namespace: None,
            name: None,
        };
        assert!(
            authorize(&user, &cluster)
                .unwrap_err()
                .message
                .ends_with("at the cluster scope")
        );
    }
}
