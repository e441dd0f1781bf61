//! Bearer tokens mapped to users, and a small RBAC: a user is either an admin or holds rules
//! of allowed (verbs, API groups, resources, namespaces).

use std::collections::HashMap;

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
        }
    }

    fn allows(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|i| i == "*" || i == x);
        any(&self.verbs, verb)
            && any(&self.groups, group)
            && any(&self.resources, resource)
            && (self.namespaces.is_empty() || namespace.is_some_and(|ns| any(&self.namespaces, ns)))
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub admin: bool,
    pub rules: Vec<Rule>,
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
}

impl Auth {
    pub fn add(&mut self, token: String, user: User) {
        self.tokens.insert(token, user);
    }

    pub fn user(&self, token: &str) -> Option<&User> {
        self.tokens.get(token)
    }
}

/// Checks a user's rights; the 403 body the real RBAC authorizer produces otherwise.
pub fn authorize(user: &User, a: &Attributes) -> Result<(), ApiError> {
    if user.admin
        || user
            .rules
            .iter()
            .any(|r| r.allows(a.verb, a.group, a.resource, a.namespace))
    {
        return Ok(());
    }
    Err(forbidden(&user.name, a))
}

pub fn forbidden(user: &str, a: &Attributes) -> ApiError {
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
    let message = format!(
        "{subject} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        a.verb, a.resource, a.group
    );
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
        let user = User {
            name: "operator".into(),
            admin: false,
            rules: vec![Rule::new(
                &["get", "list", "watch"],
                &[""],
                &["secrets"],
                &["ns1"],
            )],
        };
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
