//! The real server's printers for Deployments, Services, PodDisruptionBudgets and RBAC bindings
//! (pkg/printers/internalversion), always "wide" like every server-side printer. Roles and
//! ClusterRoles have no printer there: they get the default `Name`/`Created At` table.

use std::time::SystemTime;

use serde_json::Value;

use super::{
    Cell, Column, Printer, age_column, column, description, get, get_str, name_column,
    properties_of,
};

/// Descriptions the printers take from older API types' documentation (the extensions and
/// rbac v1beta1 types k8s-openapi no longer has), as kube-apiserver 1.36 sends them.
const UPDATED_REPLICAS: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
const AVAILABLE_REPLICAS: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
const DEPLOYMENT_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.";
const ROLE_BINDING_ROLE_REF: &str = "roleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
const CLUSTER_ROLE_BINDING_ROLE_REF: &str = "roleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";

fn name() -> Column {
    name_column()
}

fn age() -> Column {
    age_column()
}

fn text(
    name: &str,
    description: &str,
    priority: i32,
    f: fn(&Value, SystemTime) -> Value,
) -> Column {
    column(name, "string", "", description, priority, Cell::Builtin(f))
}

/// The Deployment printer.
pub(crate) fn deployment() -> Printer {
    Printer::new(vec![
        name(),
        text("Ready", "Number of the pod with ready state", 0, |o, _| {
            Value::from(format!(
                "{}/{}",
                int_at(o, &["status", "readyReplicas"]),
                int_at(o, &["spec", "replicas"])
            ))
        }),
        text("Up-to-date", UPDATED_REPLICAS, 0, |o, _| {
            Value::from(int_at(o, &["status", "updatedReplicas"]))
        }),
        text("Available", AVAILABLE_REPLICAS, 0, |o, _| {
            Value::from(int_at(o, &["status", "availableReplicas"]))
        }),
        age(),
        text(
            "Containers",
            "Names of each container in the template.",
            1,
            |o, _| Value::from(container_cells(o, "name")),
        ),
        text(
            "Images",
            "Images referenced by each container in the template.",
            1,
            |o, _| Value::from(container_cells(o, "image")),
        ),
        text("Selector", DEPLOYMENT_SELECTOR, 1, |o, _| {
            Value::from(label_selector(get(o, &["spec", "selector"])))
        }),
    ])
}

/// The Service printer.
pub(crate) fn service() -> Printer {
    Printer::new({
        let spec = properties_of::<k8s_openapi::api::core::v1::ServiceSpec>();
        vec![
            name(),
            text("Type", &description(&spec, "type"), 0, |o, _| {
                Value::from(get_str(o, &["spec", "type"]))
            }),
            text("Cluster-IP", &description(&spec, "clusterIP"), 0, |o, _| {
                let ip = o
                    .pointer("/spec/clusterIPs/0")
                    .and_then(Value::as_str)
                    .unwrap_or("<none>");
                Value::from(ip)
            }),
            text(
                "External-IP",
                &description(&spec, "externalIPs"),
                0,
                |o, _| Value::from(external_ip(o)),
            ),
            text("Port(s)", &description(&spec, "ports"), 0, |o, _| {
                Value::from(ports(o))
            }),
            age(),
            text("Selector", &description(&spec, "selector"), 1, |o, _| {
                Value::from(format_labels(get(o, &["spec", "selector"])))
            }),
        ]
    })
}

/// The PodDisruptionBudget printer.
pub(crate) fn pod_disruption_budget() -> Printer {
    Printer::new(vec![
        name(),
        text(
            "Min Available",
            "The minimum number of pods that must be available.",
            0,
            |o, _| Value::from(int_or_string(get(o, &["spec", "minAvailable"]))),
        ),
        text(
            "Max Unavailable",
            "The maximum number of pods that may be unavailable.",
            0,
            |o, _| Value::from(int_or_string(get(o, &["spec", "maxUnavailable"]))),
        ),
        column(
            "Allowed Disruptions",
            "integer",
            "",
            "Calculated number of pods that may be disrupted at this time.",
            0,
            Cell::Builtin(|o, _| Value::from(int_at(o, &["status", "disruptionsAllowed"]))),
        ),
        age(),
    ])
}

/// The RoleBinding (or, `cluster`, ClusterRoleBinding) printer.
pub(crate) fn binding(cluster: bool) -> Printer {
    Printer::new({
        let (role_ref, of) = if !cluster {
            (ROLE_BINDING_ROLE_REF, "roleBinding")
        } else {
            (CLUSTER_ROLE_BINDING_ROLE_REF, "clusterRoleBinding")
        };
        vec![
            name(),
            text("Role", role_ref, 0, |o, _| {
                Value::from(format!(
                    "{}/{}",
                    get_str(o, &["roleRef", "kind"]),
                    get_str(o, &["roleRef", "name"])
                ))
            }),
            age(),
            text("Users", &format!("Users in the {of}"), 1, |o, _| {
                Value::from(subjects(o, "User"))
            }),
            text("Groups", &format!("Groups in the {of}"), 1, |o, _| {
                Value::from(subjects(o, "Group"))
            }),
            text(
                "ServiceAccounts",
                &format!("ServiceAccounts in the {of}"),
                1,
                |o, _| Value::from(subjects(o, "ServiceAccount")),
            ),
        ]
    })
}

fn int_at(o: &Value, path: &[&str]) -> i64 {
    get(o, path).and_then(Value::as_i64).unwrap_or(0)
}

/// `layoutContainerCells`: one field of every container, comma-separated.
fn container_cells(o: &Value, field: &str) -> String {
    o.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| c.get(field).and_then(Value::as_str).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// `labels.FormatLabels`: `k=v` sorted by key, or `<none>`.
fn format_labels(labels: Option<&Value>) -> String {
    let pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// A `metav1.LabelSelector` as `labels.Selector.String()` prints it: requirements sorted by
/// key, `<none>` for a nil selector, empty for one that selects everything.
fn label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return "<none>".to_string();
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort();
        let text = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    requirements
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `getServiceExternalIP` (wide: load-balancer addresses are not shortened).
fn external_ip(o: &Value) -> String {
    let external: Vec<&str> = o
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .map(|ips| ips.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match get_str(o, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut all: Vec<&str> = o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|ingress| {
                    ingress
                        .iter()
                        .filter_map(|i| {
                            i.get("ip")
                                .and_then(Value::as_str)
                                .filter(|s| !s.is_empty())
                                .or_else(|| i.get("hostname").and_then(Value::as_str))
                        })
                        .collect()
                })
                .unwrap_or_default();
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => get_str(o, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `makePortString`: `port/protocol`, with the node port when there is one; `<none>` for none.
fn ports(o: &Value) -> String {
    let pieces: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("");
                    match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                        Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                        None => format!("{port}/{protocol}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if pieces.is_empty() {
        "<none>".to_string()
    } else {
        pieces.join(",")
    }
}

/// `IntOrString.String()`, or `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".to_string(),
    }
}

/// `SubjectsStrings`: users and groups by name, service accounts as `namespace/name`,
/// joined with `", "`.
fn subjects(o: &Value, kind: &str) -> String {
    o.get("subjects")
        .and_then(Value::as_array)
        .map(|subjects| {
            subjects
                .iter()
                .filter(|s| s.get("kind").and_then(Value::as_str) == Some(kind))
                .map(|s| {
                    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
                    if kind == "ServiceAccount" {
                        let ns = s.get("namespace").and_then(Value::as_str).unwrap_or("");
                        format!("{ns}/{name}")
                    } else {
                        name.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
