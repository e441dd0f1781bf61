//! The RBAC authorizer over the Role, ClusterRole, RoleBinding and ClusterRoleBinding objects
//! stored in the server, as kube-apiserver's (`plugin/pkg/auth/authorizer/rbac` with the
//! `DefaultRuleResolver` of `pkg/registry/rbac/validation`): the ClusterRoleBindings, then the
//! RoleBindings of the request's namespace, whose subjects name the user (User), one of its
//! groups (Group) or its ServiceAccount (`system:serviceaccount:<ns>:<name>`, a subject without
//! namespace meaning the binding's), grant the rules of the role they reference. A binding whose
//! role is missing grants nothing and its error becomes the denial's reason, as on the real
//! server. Aggregated ClusterRoles grant the rules of the ClusterRoles their selectors pick (the
//! real server's aggregation controller copies them into the role; here they are gathered when
//! authorizing). The bootstrap policy every cluster holds for `system:authenticated` and
//! `system:unauthenticated` (discovery, health, self access reviews) is built in.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::auth::{self, Attributes, User};
use crate::status::ApiError;
use crate::store::Store;

const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
const ROLES: &str = "rbac.authorization.k8s.io/roles";
const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";

/// What a request asks to do.
pub enum Request<'a> {
    Resource(&'a Attributes<'a>),
    /// A non-resource URL (`/api`, `/openapi/v3`, ...).
    Path {
        verb: &'a str,
        path: &'a str,
    },
}

/// The authorizer's answer, with the reason the real server gives (an access review's
/// `status.reason`; for a denial, what follows the 403's message).
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// `RBAC: allowed by <binding>`, or empty for the admin and in-code rules.
    Allow(String),
    /// Empty unless a binding's role could not be resolved.
    Deny(String),
}

/// Authorizes a resource request: the user's admin flag or in-code rules, else the RBAC objects.
/// The error is the real server's 403.
pub fn authorize(store: &Store, user: &User, a: &Attributes) -> Result<(), ApiError> {
    match decide_for(store, user, &Request::Resource(a)) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => Err(auth::forbidden(&user.name, a, &reason)),
    }
}

/// Authorizes a non-resource request (`get` of a discovery or OpenAPI path).
pub fn authorize_path(store: &Store, user: &User, verb: &str, path: &str) -> Result<(), ApiError> {
    match decide_for(store, user, &Request::Path { verb, path }) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => {
            let mut message = format!(
                "forbidden: User \"{}\" cannot {verb} path \"{path}\"",
                user.name
            );
            if !reason.is_empty() {
                message = format!("{message}: {reason}");
            }
            Err(ApiError::new(403, "Forbidden", message).with_details(Default::default()))
        }
    }
}

/// The decision for a user: its admin flag (`system:masters`) or in-code rules, else RBAC.
pub fn decide_for(store: &Store, user: &User, request: &Request) -> Decision {
    let in_code = match request {
        Request::Resource(a) => auth::allowed_in_code(user, a),
        Request::Path { .. } => user.admin,
    };
    if in_code {
        return Decision::Allow(String::new());
    }
    decide(store, user, request)
}

/// The RBAC decision from the bootstrap policy and the stored objects alone: the first binding
/// whose subject is the user and whose role has a rule allowing the request.
pub fn decide(store: &Store, user: &User, request: &Request) -> Decision {
    for (binding, rules) in bootstrap_policy() {
        if let Some(subject) = subject_applying(user, &binding, "")
            && rules.iter().any(|rule| rule_allows(rule, request))
        {
            return Decision::Allow(allowed_by(&binding, subject, ""));
        }
    }
    let namespace = match request {
        Request::Resource(a) => a.namespace.unwrap_or(""),
        Request::Path { .. } => "",
    };
    let cluster = store.list(CLUSTER_ROLE_BINDINGS, None).into_iter();
    let cluster = cluster.map(|binding| (binding, ""));
    let local = match namespace {
        "" => Vec::new(),
        ns => store.list(ROLE_BINDINGS, Some(ns)),
    };
    let mut errors = Vec::new();
    for (binding, binding_namespace) in cluster.chain(local.into_iter().map(|b| (b, namespace))) {
        let Some(subject) = subject_applying(user, &binding, binding_namespace) else {
            continue;
        };
        match role_rules(store, &binding["roleRef"], binding_namespace) {
            Ok(rules) if rules.iter().any(|rule| rule_allows(rule, request)) => {
                return Decision::Allow(allowed_by(&binding, subject, binding_namespace));
            }
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    Decision::Deny(reason(&errors))
}

/// `RBAC: allowed by RoleBinding "<name>/<ns>" of Role "<role>" to ServiceAccount "<sa>/<ns>"`
/// (the real resolver's binding describers).
fn allowed_by(binding: &Value, subject: &Value, binding_namespace: &str) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let name = text(&binding["metadata"]["name"]);
    let (kind, name) = match binding_namespace {
        "" => ("ClusterRoleBinding", name),
        ns => ("RoleBinding", format!("{name}/{ns}")),
    };
    let role_ref = &binding["roleRef"];
    let (subject_kind, mut subject_name) = (text(&subject["kind"]), text(&subject["name"]));
    if subject_kind == "ServiceAccount" {
        let namespace = text(&subject["namespace"]);
        let namespace = if namespace.is_empty() {
            binding_namespace.to_string()
        } else {
            namespace
        };
        subject_name = format!("{subject_name}/{namespace}");
    }
    format!(
        "RBAC: allowed by {kind} \"{name}\" of {} \"{}\" to {subject_kind} \"{subject_name}\"",
        text(&role_ref["kind"]),
        text(&role_ref["name"])
    )
}

/// `RBAC: <aggregate>`: one distinct error as is, several as `[a, b]` (Go's `utilerrors`).
fn reason(errors: &[String]) -> String {
    let mut seen = HashSet::new();
    let distinct: Vec<&str> = errors
        .iter()
        .map(String::as_str)
        .filter(|e| seen.insert(*e))
        .collect();
    match distinct.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

/// The first of a binding's subjects that is the user (`appliesTo`).
fn subject_applying<'a>(
    user: &User,
    binding: &'a Value,
    binding_namespace: &str,
) -> Option<&'a Value> {
    let subjects = binding["subjects"].as_array()?;
    subjects.iter().find(|subject| {
        let name = subject["name"].as_str().unwrap_or("");
        match subject["kind"].as_str().unwrap_or("") {
            "User" => user.name == name,
            "Group" => user.groups.iter().any(|g| g == name),
            "ServiceAccount" => {
                let namespace = subject["namespace"]
                    .as_str()
                    .filter(|ns| !ns.is_empty())
                    .unwrap_or(binding_namespace);
                !namespace.is_empty()
                    && user.name == format!("system:serviceaccount:{namespace}:{name}")
            }
            _ => false,
        }
    })
}

/// The rules of the role a binding references, or the lister's error (`GetRoleReferenceRules`).
fn role_rules(
    store: &Store,
    role_ref: &Value,
    binding_namespace: &str,
) -> Result<Vec<Value>, String> {
    let name = role_ref["name"].as_str().unwrap_or("");
    match role_ref["kind"].as_str().unwrap_or("") {
        "Role" => store
            .get(ROLES, &(binding_namespace.to_string(), name.to_string()))
            .map(|role| rules_of(&role))
            .ok_or_else(|| format!("role.rbac.authorization.k8s.io \"{name}\" not found")),
        "ClusterRole" => cluster_role_rules(store, name, &mut HashSet::new())
            .ok_or_else(|| format!("clusterrole.rbac.authorization.k8s.io \"{name}\" not found")),
        other => Err(format!("unsupported role reference kind: \"{other}\"")),
    }
}

fn rules_of(role: &Value) -> Vec<Value> {
    role["rules"].as_array().cloned().unwrap_or_default()
}

/// A ClusterRole's rules; for an aggregated one, the distinct rules of every other ClusterRole one
/// of its selectors picks, in name order (what the aggregation controller would have written).
fn cluster_role_rules(store: &Store, name: &str, seen: &mut HashSet<String>) -> Option<Vec<Value>> {
    let role = store.get(CLUSTER_ROLES, &(String::new(), name.to_string()))?;
    let Some(selectors) = role
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    else {
        return Some(rules_of(&role));
    };
    seen.insert(name.to_string());
    let mut rules: Vec<Value> = Vec::new();
    for selector in selectors {
        for other in store.list(CLUSTER_ROLES, None) {
            let other_name = other.pointer("/metadata/name").and_then(Value::as_str);
            let Some(other_name) = other_name.filter(|n| !seen.contains(*n)) else {
                continue;
            };
            let labels = other.pointer("/metadata/labels").and_then(Value::as_object);
            if !crate::selectors::selects(selector, labels) {
                continue;
            }
            let picked = cluster_role_rules(store, other_name, seen).unwrap_or_default();
            for rule in picked {
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
    }
    seen.remove(name);
    Some(rules)
}

fn strings<'a>(rule: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    rule[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// `RuleAllows`: verbs, API groups, resources (`*`, `resource/subresource`, `*/subresource`) and
/// resourceNames of a resource request; verbs and nonResourceURLs (`*`, a `prefix*`) of a path.
fn rule_allows(rule: &Value, request: &Request) -> bool {
    let verb_matches = |verb: &str| strings(rule, "verbs").any(|v| v == "*" || v == verb);
    match request {
        Request::Resource(a) => {
            let subresource = a.resource.split_once('/').map_or("", |(_, s)| s);
            let resource_matches = strings(rule, "resources").any(|r| {
                r == "*"
                    || r == a.resource
                    || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
            });
            let mut names = strings(rule, "resourceNames").peekable();
            let name_matches = names.peek().is_none() || names.any(|n| n == a.name.unwrap_or(""));
            verb_matches(a.verb)
                && strings(rule, "apiGroups").any(|g| g == "*" || g == a.group)
                && resource_matches
                && name_matches
        }
        Request::Path { verb, path } => {
            verb_matches(verb)
                && strings(rule, "nonResourceURLs").any(|u| {
                    u == "*"
                        || u == *path
                        || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                })
        }
    }
}

/// The bootstrap ClusterRoleBindings every cluster has that matter to the emulator, with their
/// roles' rules: `system:discovery` and `system:basic-user` for `system:authenticated`,
/// `system:public-info-viewer` for it and `system:unauthenticated`.
fn bootstrap_policy() -> Vec<(Value, Vec<Value>)> {
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
            .collect();
        json!({"metadata": {"name": name}, "subjects": subjects,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}})
    };
    let everyone = [auth::AUTHENTICATED, "system:unauthenticated"];
    vec![
        (
            binding("system:discovery", &everyone[..1]),
            vec![
                json!({"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*",
                "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}),
            ],
        ),
        (
            binding("system:basic-user", &everyone[..1]),
            vec![
                json!({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}),
                json!({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
                    "resources": ["selfsubjectreviews"]}),
            ],
        ),
        (
            binding("system:public-info-viewer", &everyone),
            vec![json!({"verbs": ["get"], "nonResourceURLs": [
                "/healthz", "/livez", "/readyz", "/version", "/version/"]})],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(objects: Vec<Value>) -> Store {
        let mut store = Store::new(100);
        for obj in objects {
            let plural = match obj["kind"].as_str().unwrap() {
                "Role" => ROLES,
                "RoleBinding" => ROLE_BINDINGS,
                "ClusterRole" => CLUSTER_ROLES,
                _ => CLUSTER_ROLE_BINDINGS,
            };
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let name = obj["metadata"]["name"].as_str().unwrap().to_string();
            store.put(plural, (ns, name), obj);
        }
        store
    }

    fn attrs<'a>(
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            group,
            resource,
            namespace,
            name,
        }
    }

    fn allowed(store: &Store, user: &User, a: &Attributes) -> bool {
        matches!(
            decide(store, user, &Request::Resource(a)),
            Decision::Allow(_)
        )
    }

    #[test]
    fn subjects_users_groups_and_service_accounts() {
        let store = store_with(vec![
            json!({"kind": "Role", "metadata": {"name": "reader", "namespace": "ns1"},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "ns1"},
                "roleRef": {"kind": "Role", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "op"},
                    {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "team"}]}),
        ]);
        let get = attrs("get", "", "secrets", Some("ns1"), Some("s"));
        let sa = User::service_account("ns1", "op");
        assert_eq!(
            decide(&store, &sa, &Request::Resource(&get)),
            Decision::Allow(
                "RBAC: allowed by RoleBinding \"b/ns1\" of Role \"reader\" to ServiceAccount \"op/ns1\"".into()
            )
        );
        assert!(allowed(&store, &User::with_rules("alice", vec![]), &get));
        let mut bob = User::with_rules("bob", vec![]);
        assert!(!allowed(&store, &bob, &get));
        bob.groups.push("team".into());
        assert!(allowed(&store, &bob, &get));
        // The same account name in another namespace is another user.
        assert!(!allowed(&store, &User::service_account("ns2", "op"), &get));
        let other_ns = attrs("get", "", "secrets", Some("ns2"), Some("s"));
        assert!(!allowed(&store, &sa, &other_ns));
    }

    #[test]
    fn cluster_bindings_groups_of_service_accounts_and_missing_roles() {
        let store = store_with(vec![
            json!({"kind": "ClusterRole", "metadata": {"name": "lister"},
                "rules": [{"verbs": ["list", "watch"], "apiGroups": ["*"], "resources": ["*"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "all-sas"},
                "roleRef": {"kind": "ClusterRole", "name": "lister"},
                "subjects": [{"kind": "Group", "name": "system:serviceaccounts:ns1"}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "dangling"},
                "roleRef": {"kind": "ClusterRole", "name": "gone"},
                "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "dangling", "namespace": "ns1"},
                "roleRef": {"kind": "Role", "name": "nope"},
                "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
        ]);
        let sa = User::service_account("ns1", "any");
        let list = attrs("list", "apps", "deployments", Some("ns9"), None);
        assert!(allowed(&store, &sa, &list));
        assert!(!allowed(
            &store,
            &User::service_account("ns2", "any"),
            &list
        ));
        let delete = attrs("delete", "", "secrets", Some("ns1"), Some("s"));
        assert_eq!(
            decide(&store, &sa, &Request::Resource(&delete)),
            Decision::Deny(
                "RBAC: [clusterrole.rbac.authorization.k8s.io \"gone\" not found, role.rbac.authorization.k8s.io \"nope\" not found]"
                    .into()
            )
        );
        let err = authorize(&store, &sa, &delete).unwrap_err();
        assert_eq!(
            err.message,
            "secrets \"s\" is forbidden: User \"system:serviceaccount:ns1:any\" cannot delete resource \"secrets\" in API group \"\" in the namespace \"ns1\": RBAC: [clusterrole.rbac.authorization.k8s.io \"gone\" not found, role.rbac.authorization.k8s.io \"nope\" not found]"
        );
    }

    #[test]
    fn rule_matching() {
        let rule = json!({"verbs": ["get", "update"], "apiGroups": ["consul.hashicorp.com"],
            "resources": ["peeringacceptors/status", "*/scale"], "resourceNames": ["a"]});
        let allows = |a: &Attributes| rule_allows(&rule, &Request::Resource(a));
        let g = "consul.hashicorp.com";
        assert!(allows(&attrs(
            "update",
            g,
            "peeringacceptors/status",
            Some("n"),
            Some("a")
        )));
        assert!(allows(&attrs(
            "get",
            g,
            "anything/scale",
            Some("n"),
            Some("a")
        )));
        assert!(!allows(&attrs(
            "get",
            g,
            "peeringacceptors",
            Some("n"),
            Some("a")
        )));
        assert!(!allows(&attrs(
            "get",
            g,
            "peeringacceptors/status",
            Some("n"),
            Some("b")
        )));
        assert!(!allows(&attrs(
            "get",
            g,
            "peeringacceptors/status",
            Some("n"),
            None
        )));
        assert!(!allows(&attrs(
            "get",
            "",
            "peeringacceptors/status",
            Some("n"),
            Some("a")
        )));
        assert!(!allows(&attrs(
            "patch",
            g,
            "peeringacceptors/status",
            Some("n"),
            Some("a")
        )));
        let paths = json!({"verbs": ["get"], "nonResourceURLs": ["/metrics", "/logs/*"]});
        let path = |p| {
            rule_allows(
                &paths,
                &Request::Path {
                    verb: "get",
                    path: p,
                },
            )
        };
        assert!(path("/metrics"));
        assert!(path("/logs/kube"));
        assert!(!path("/metrics/x"));
        assert!(!rule_allows(
            &paths,
            &Request::Path {
                verb: "post",
                path: "/metrics"
            }
        ));
    }

    #[test]
    fn aggregated_cluster_roles() {
        let store = store_with(vec![
            json!({"kind": "ClusterRole", "metadata": {"name": "view"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg-view": "true"}}]},
                "rules": []}),
            json!({"kind": "ClusterRole", "metadata": {"name": "peerings-view",
                "labels": {"agg-view": "true"}},
                "rules": [{"verbs": ["get"], "apiGroups": ["consul.hashicorp.com"], "resources": ["peeringdialers"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "viewers"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "name": "carol"}]}),
        ]);
        let carol = User::with_rules("carol", vec![]);
        let get = attrs(
            "get",
            "consul.hashicorp.com",
            "peeringdialers",
            Some("n"),
            Some("d"),
        );
        assert!(allowed(&store, &carol, &get));
        let list = attrs(
            "list",
            "consul.hashicorp.com",
            "peeringdialers",
            Some("n"),
            None,
        );
        assert!(!allowed(&store, &carol, &list));
    }

    #[test]
    fn bootstrap_policy() {
        let store = Store::new(10);
        let path = |user: &User, p| {
            decide(
                &store,
                user,
                &Request::Path {
                    verb: "get",
                    path: p,
                },
            )
        };
        let user = User::with_rules("u", vec![]);
        assert_eq!(
            path(&user, "/apis/apps/v1"),
            Decision::Allow(
                "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"".into()
            )
        );
        assert!(matches!(
            path(&User::anonymous(), "/version"),
            Decision::Allow(_)
        ));
        assert_eq!(
            path(&User::anonymous(), "/apis"),
            Decision::Deny(String::new())
        );
        let review = attrs(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            None,
            None,
        );
        assert!(allowed(&store, &user, &review));
        assert!(!allowed(&store, &User::anonymous(), &review));
    }
}
