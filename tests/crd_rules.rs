//! Every `x-kubernetes-validations` rule of the generated CRDs, enforced at admission: each rule
//! found in `crds/*.yaml` (so a rule added later is covered too) is proven to compile and fit
//! the API server's cost budget, and an object that breaks it is refused by the emulated API
//! server through kubectl with the real server's message.

use std::path::Path;

use serde_json::{Value, json};
use test_support::kubectl::{Kubectl, binaries};

fn crds() -> Vec<Value> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/crds"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_saphyr::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// One rule and where it sits: (kind, field path such as `spec.meta`, schema node, rule).
struct Found {
    kind: String,
    path: String,
    node: Value,
    rule: Value,
}

fn rules_of(crd: &Value) -> Vec<Found> {
    fn walk(kind: &str, node: &Value, path: &str, out: &mut Vec<Found>) {
        for rule in node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push(Found {
                kind: kind.into(),
                path: path.into(),
                node: node.clone(),
                rule: rule.clone(),
            });
        }
        for (name, child) in node["properties"].as_object().into_iter().flatten() {
            let p = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            walk(kind, child, &p, out);
        }
        if node["items"].is_object() {
            walk(kind, &node["items"], &format!("{path}[0]"), out);
        }
    }
    let mut out = Vec::new();
    let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
    for version in crd["spec"]["versions"].as_array().unwrap() {
        walk(kind, &version["schema"]["openAPIV3Schema"], "", &mut out);
    }
    out
}

/// Values that break typical rules, by the type of the node; each rule must be broken, alone,
/// by one of them (add a candidate when a new kind of rule needs one).
fn candidates(node: &Value) -> Vec<Value> {
    match node["type"].as_str() {
        Some("object") => vec![
            json!({"": "v"}),
            json!({"k".repeat(129): "v"}),
            json!({"consul-x": "1"}),
            json!({"consulpeering-x": "1"}),
        ],
        Some("string") => vec![json!(""), json!("consul-x"), json!("x".repeat(300))],
        Some("array") => vec![json!([]), json!(["a", "a"])],
        _ => vec![json!(0), json!(-1)],
    }
}

fn manifest(kind: &str, name: &str, path: &str, value: &Value) -> Value {
    let mut object = json!({"apiVersion": "consulpeering.io/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": "default"}, "spec": {"peer": {"secret": {"name": "t"}}}});
    if path.starts_with("spec.delivery[0].") {
        // A rule inside a delivery target: in an otherwise valid target.
        object["spec"]["delivery"] = json!([{"kubeconfigSecretRef": {"name": "k"},
            "namespace": "default", "dialer": {"name": "d"}}]);
    }
    let mut at = &mut object;
    let segments: Vec<&str> = path.split('.').collect();
    for seg in &segments[..segments.len() - 1] {
        at = match seg.strip_suffix("[0]") {
            Some(list) => &mut at[list][0],
            None => &mut at[*seg],
        };
    }
    at[segments[segments.len() - 1]] = value.clone();
    object
}

/// What the server says of the node's value breaking the rule (objects and lists show no value).
fn expected(found: &Found, name: &str, value: &Value) -> String {
    let text = found.rule["message"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| format!("failed rule: {}", found.rule["rule"].as_str().unwrap()));
    let shown = match value {
        Value::Object(_) | Value::Array(_) => String::new(),
        v => format!("{v}: "),
    };
    format!(
        "The {} \"{name}\" is invalid: {}: Invalid value: {shown}{text}",
        found.kind, found.path
    )
}

#[test]
fn every_rule_compiles_within_the_cost_budget() {
    let mut count = 0;
    for crd in crds() {
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let schema = &version["schema"]["openAPIV3Schema"];
            let errors =
                kube_emulator::schema::cel::crd_errors(schema, "spec.validation.openAPIV3Schema");
            assert!(
                errors.is_empty(),
                "{}: {errors:#?}",
                crd["metadata"]["name"]
            );
        }
        count += rules_of(&crd).len();
    }
    assert!(
        count >= 4,
        "the CRDs carry their meta rules ({count} found)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_breaking_each_rule_is_refused_with_the_real_message() {
    emulator_common::install_crypto_provider();
    for binary in binaries() {
        let cluster = kube_emulator::start().await.unwrap();
        let kubectl = Kubectl::new(binary);
        cluster.write_kubeconfig(kubectl.kubeconfig()).unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
        kubectl.ok(&["apply", "-f", dir]).await;
        let mut unbroken = Vec::new();
        for (i, found) in crds().iter().flat_map(rules_of).enumerate() {
            let name = format!("bad{i}");
            let mut broken = false;
            for value in candidates(&found.node) {
                let object = manifest(&found.kind, &name, &found.path, &value);
                let out = kubectl
                    .run_with(&["apply", "-f", "-"], &object.to_string())
                    .await;
                let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if !out.status.success() && stderr == expected(&found, &name, &value) {
                    broken = true;
                    break;
                }
                if out.status.success() {
                    kubectl
                        .ok(&["delete", &found.kind.to_lowercase(), &name, "-n", "default"])
                        .await;
                }
            }
            if !broken {
                unbroken.push(format!("{} {}: {}", found.kind, found.path, found.rule));
            }
        }
        assert!(
            unbroken.is_empty(),
            "{binary}: no candidate value breaks these rules alone: {unbroken:#?}"
        );
    }
}

/// The case: a broken rule next to an enum error is not checked, and the server says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enum_error_skips_the_rules_with_the_nil_cause() {
    emulator_common::install_crypto_provider();
    for binary in binaries() {
        let cluster = kube_emulator::start().await.unwrap();
        let kubectl = Kubectl::new(binary);
        cluster.write_kubeconfig(kubectl.kubeconfig()).unwrap();
        kubectl
            .ok(&["apply", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/crds")])
            .await;
        let object = json!({"apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringAcceptor",
            "metadata": {"name": "bad2", "namespace": "default"},
            "spec": {"meta": {"consul-x": "1"}, "peer": {"secret": {"name": "t", "backend": "vault"}}}});
        let out = kubectl
            .run_with(&["apply", "-f", "-"], &object.to_string())
            .await;
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            "The PeeringAcceptor \"bad2\" is invalid: \n\
             * spec.peer.secret.backend: Unsupported value: \"vault\": supported values: \"kubernetes\"\n\
             * <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
            "{binary}"
        );
    }
}
