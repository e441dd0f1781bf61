//! The Helm chart (charts/consul-peering-operator), checked without a cluster: rendered and linted by the real
//! Helm library, every object validated strictly for Kubernetes 1.33, its CRDs compared with crds/, and the
//! wiring of values into the Deployment, RBAC and Services read off the rendered objects.

use support::helm;

use helm::{Release, Rendered, Validation};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use test_support::kubectl::{Binary, Kubectl, binaries};

const NAMESPACE: &str = "ops";

/// The values files CI renders, one per supported shape of install.
fn ci_values_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(helm::chart_dir().join("ci"))
        .expect("charts/consul-peering-operator/ci")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn render(set: Value) -> Rendered {
    helm::render(&Release::new(NAMESPACE).set(set)).unwrap_or_else(|e| panic!("render failed: {e}"))
}

fn render_file(name: &str) -> Rendered {
    let release = Release::new(NAMESPACE).values_file(helm::chart_dir().join("ci").join(name));
    helm::render(&release).unwrap_or_else(|e| panic!("render of {name} failed: {e}"))
}

fn container(rendered: &Rendered) -> &Value {
    let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
    &pod["containers"][0]
}

/// The container's environment as name → value (or name → valueFrom as JSON text).
fn env(rendered: &Rendered) -> BTreeMap<String, String> {
    container(rendered)["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = match e.get("value") {
                Some(v) => v.as_str().unwrap().to_string(),
                None => e["valueFrom"].to_string(),
            };
            (e["name"].as_str().unwrap().to_string(), value)
        })
        .collect()
}

fn args(rendered: &Rendered) -> Vec<&str> {
    container(rendered)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// One RBAC rule, lists sorted so that rules compare regardless of order within them.
#[derive(Debug, PartialEq)]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    resource_names: Vec<String>,
}

fn rule(api_groups: &[&str], resources: &[&str], verbs: &[&str], resource_names: &[&str]) -> Rule {
    let sorted = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    };
    Rule {
        api_groups: sorted(api_groups),
        resources: sorted(resources),
        verbs: sorted(verbs),
        resource_names: sorted(resource_names),
    }
}

fn rules(role: &Value) -> Vec<Rule> {
    fn strings(v: &Value) -> Vec<&str> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|x| x.as_str().unwrap())
            .collect()
    }
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            rule(
                &strings(&r["apiGroups"]),
                &strings(&r["resources"]),
                &strings(&r["verbs"]),
                &strings(&r["resourceNames"]),
            )
        })
        .collect()
}

/// The mounted file behind an env var: (Secret name, key in the Secret) of the volume mounted over its path.
fn secret_file_of(rendered: &Rendered, env_name: &str) -> (String, String) {
    let path = env(rendered)
        .get(env_name)
        .unwrap_or_else(|| panic!("{env_name} is not set"))
        .clone();
    let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
    let mount = container(rendered)["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
        .unwrap_or_else(|| panic!("{env_name}={path} is not under any volume mount"));
    assert_eq!(mount["readOnly"], true);
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts never see Secret updates"
    );
    let file = &path[mount["mountPath"].as_str().unwrap().len() + 1..];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let item = volume["secret"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == file)
        .unwrap();
    (
        volume["secret"]["secretName"].as_str().unwrap().to_string(),
        item["key"].as_str().unwrap().to_string(),
    )
}

#[test]
fn every_ci_values_file_lints_clean_and_renders_objects_valid_for_kubernetes_1_33() {
    let files = ci_values_files();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "default-values.yaml",
        "namespaced-values.yaml",
        "tls-acl-values.yaml",
        "ha-values.yaml",
        "observability-values.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "ci/{expected} is missing: {names:?}"
        );
    }
    for file in files {
        let release = Release::new(NAMESPACE).values_file(&file);
        // Strict lint turns warnings into failures; info ("icon is recommended") is not a finding.
        let findings: Vec<_> = helm::lint(&release)
            .into_iter()
            .filter(|m| m.severity >= 2)
            .collect();
        assert!(
            findings.is_empty(),
            "{}: helm lint --strict: {findings:#?}",
            file.display()
        );

        let rendered = helm::render(&release).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let objects: Vec<&Value> = rendered
            .crds
            .iter()
            .flat_map(|m| &m.objects)
            .chain(rendered.objects())
            .collect();
        rendered.one("Deployment");
        for (object, result) in objects.iter().zip(helm::validate(&objects)) {
            let what = format!(
                "{} {} {}",
                file.display(),
                object["kind"],
                object["metadata"]["name"]
            );
            match result {
                Validation::Valid => {}
                // The Prometheus Operator's ServiceMonitor and PrometheusRule are custom resources, not part of
                // Kubernetes, so kubernetes-validate has no schema for them; servicemonitor_selects_the_metrics_service
                // and tests/observability.rs check them.
                Validation::NoSchema
                    if object["kind"] == "ServiceMonitor" || object["kind"] == "PrometheusRule" => {
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }
}

#[test]
fn values_schema_and_templates_refuse_bad_values() {
    let refused = |set: Value, expected: &str| {
        let err = helm::render(&Release::new(NAMESPACE).set(set.clone()))
            .err()
            .unwrap_or_else(|| panic!("{set} was accepted"));
        assert!(
            err.contains(expected),
            "{set}: expected {expected:?} in: {err}"
        );
    };
    refused(
        json!({"replicas": 2}),
        "additional properties 'replicas' not allowed",
    );
    refused(json!({"logFormat": "xml"}), "logFormat");
    refused(
        json!({"consul": {"tls": {"enabled": true, "ca": "x"}}}),
        "additional properties 'ca' not allowed",
    );
    refused(json!({"consul": {"address": ""}}), "address");
    refused(
        json!({"consul": {"address": "ftp://consul:8500"}}),
        "address",
    );
    refused(json!({"consul": {"address": "consul 8500"}}), "address");
    // Addresses the operator's Consul client takes: IPv6, no port, a reverse-proxy path prefix.
    for address in [
        "[::1]:8500",
        "consul.example.com",
        "http://gw.example.com/consul/",
    ] {
        let rendered = render(json!({"consul": {"address": address}}));
        assert_eq!(env(&rendered)["CONSUL_HTTP_ADDR"], address);
    }
    refused(json!({"watchNamespace": "Team_A"}), "watchNamespace");
    refused(json!({"pdb": {"minAvailable": "half"}}), "minAvailable");
    refused(
        json!({"consul": {"tls": {"caSecret": {"name": "consul-ca-cert"}}}}),
        "only apply with consul.tls.enabled=true",
    );
    refused(
        json!({"consul": {"address": "http://consul:8500", "tls": {"enabled": true}}}),
        "consul.address starts with http://",
    );
}

#[test]
fn chart_crds_equal_the_generated_crds_byte_for_byte() {
    let read_dir = |dir: PathBuf| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    let generated = read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds"));
    let chart = read_dir(helm::chart_dir().join("crds"));
    assert!(!generated.is_empty(), "crds/ holds no CRD");
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "charts/consul-peering-operator/crds/ and crds/ hold different files: copy crds/* into the chart"
    );
    for (name, bytes) in &generated {
        assert!(
            chart[name] == *bytes,
            "charts/consul-peering-operator/crds/{name} differs from crds/{name}: copy it"
        );
    }
    // Helm installs them as they are: both kinds of the consulpeering.io group.
    let rendered = render(json!({}));
    let kinds: Vec<_> = rendered
        .crds
        .iter()
        .flat_map(|m| &m.objects)
        .map(|o| o["spec"]["names"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"PeeringAcceptor") && kinds.contains(&"PeeringDialer"),
        "{kinds:?}"
    );
}

#[test]
fn every_object_carries_the_standard_labels_and_lives_in_the_release_namespace() {
    for file in ci_values_files() {
        let rendered = helm::render(&Release::new(NAMESPACE).values_file(&file)).unwrap();
        for object in rendered.objects() {
            let what = format!(
                "{} {} {}",
                file.display(),
                object["kind"],
                object["metadata"]["name"]
            );
            let labels = &object["metadata"]["labels"];
            assert_eq!(
                labels["app.kubernetes.io/name"], "consul-peering-operator",
                "{what}"
            );
            assert_eq!(
                labels["app.kubernetes.io/instance"],
                helm::RELEASE_NAME,
                "{what}"
            );
            assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm", "{what}");
            assert!(labels["app.kubernetes.io/version"].is_string(), "{what}");
            assert!(
                labels["helm.sh/chart"]
                    .as_str()
                    .unwrap()
                    .starts_with("consul-peering-operator-"),
                "{what}"
            );
            let cluster_scoped = matches!(
                object["kind"].as_str().unwrap(),
                "ClusterRole" | "ClusterRoleBinding"
            );
            let namespace = object["metadata"]["namespace"].as_str();
            if cluster_scoped {
                assert_eq!(namespace, None, "{what}");
            } else {
                // Only the namespaced-mode Role and RoleBinding live in the watched namespace.
                let expected = match object["metadata"]["name"].as_str().unwrap() {
                    name if name.ends_with("-leader-election") => NAMESPACE,
                    _ if matches!(object["kind"].as_str().unwrap(), "Role" | "RoleBinding") => {
                        "team-a"
                    }
                    _ => NAMESPACE,
                };
                assert_eq!(namespace, Some(expected), "{what}");
            }
        }
        // The Deployment selects its own pods, and the metrics Service selects the same pods.
        let deployment = rendered.one("Deployment");
        let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .unwrap();
        let selected = |selector: &Value| {
            selector
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| pod_labels.get(k) == Some(v))
        };
        assert!(selected(&deployment["spec"]["selector"]["matchLabels"]));
        assert!(selected(&rendered.one("Service")["spec"]["selector"]));
    }
}

#[test]
fn pod_runs_non_root_read_only_without_capabilities_and_probes_the_listen_port() {
    let rendered = render(json!({}));
    let deployment = rendered.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let c = container(&rendered);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["runAsUser"], 65532,
        "the distroless nonroot UID of the image"
    );
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert!(c["securityContext"]["capabilities"].get("add").is_none());

    // The ServiceAccount gives no token to pods by default; the operator pod asks for it (it needs the API).
    assert_eq!(
        rendered.one("ServiceAccount")["automountServiceAccountToken"],
        false
    );
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(
        pod["serviceAccountName"],
        rendered.one("ServiceAccount")["metadata"]["name"]
    );

    // Probes hit /healthz and /readyz on the port the operator is told to listen on.
    let env = env(&rendered);
    let listen_port: u64 = env["LISTEN_ADDR"]
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let port = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == listen_port)
        .unwrap();
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], port["name"]);
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], port["name"]);
    assert_eq!(
        env["POD_NAME"],
        json!({"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}).to_string()
    );
    assert_eq!(
        env["POD_NAMESPACE"],
        json!({"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}).to_string()
    );
    assert_eq!(
        c["image"], "consul-peering-operator:0.1.0",
        "the tag defaults to the chart's appVersion"
    );
    assert_eq!(args(&rendered), ["run"]);
    assert_eq!(env["RUST_LOG"], "info");
    assert_eq!(env["LOG_FORMAT"], "json");
    assert_eq!(env["CONSUL_HTTP_ADDR"], "consul-server.consul.svc:8500");

    // The metrics Service forwards to that port.
    let service = rendered.one("Service");
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], port["name"]);
}

#[test]
fn default_install_is_cluster_wide_single_replica_without_leader_election() {
    let rendered = render_file("default-values.yaml");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    // Without a lease, an upgrade must stop the old pod before starting the new one.
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert!(!args(&rendered).contains(&"--leader-elect"));
    assert!(!env(&rendered).contains_key("WATCH_NAMESPACE"));
    assert_eq!(
        rendered.of_kind("Role").count(),
        0,
        "no lease Role without leader election"
    );
    assert_eq!(rendered.of_kind("PodDisruptionBudget").count(), 0);
    assert_eq!(rendered.of_kind("ServiceMonitor").count(), 0);

    let role = rendered.one("ClusterRole");
    assert_eq!(
        rules(role),
        [
            rule(
                &["consulpeering.io"],
                &["peeringacceptors", "peeringdialers"],
                &["get", "list", "watch", "patch"],
                &[]
            ),
            rule(
                &["consulpeering.io"],
                &["peeringmeshes"],
                &["list", "watch", "patch"],
                &[]
            ),
            rule(
                &["consulpeering.io"],
                &[
                    "peeringacceptors/status",
                    "peeringdialers/status",
                    "peeringmeshes/status"
                ],
                &["patch"],
                &[]
            ),
            rule(
                &["consulpeering.io"],
                &["peeringacceptors"],
                &["create", "delete"],
                &[]
            ),
            rule(
                &[""],
                &["secrets"],
                &["get", "list", "watch", "create", "patch", "delete"],
                &[]
            ),
            rule(&["events.k8s.io"], &["events"], &["create", "patch"], &[]),
        ]
    );
    let binding = rendered.one("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": rendered.one("ServiceAccount")["metadata"]["name"], "namespace": NAMESPACE}])
    );
}

#[test]
fn namespaced_mode_grants_a_role_in_the_watched_namespace_only() {
    let rendered = render_file("namespaced-values.yaml");
    assert_eq!(rendered.of_kind("ClusterRole").count(), 0);
    assert_eq!(rendered.of_kind("ClusterRoleBinding").count(), 0);
    let role = rendered.one("Role");
    let binding = rendered.one("RoleBinding");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    assert_eq!(binding["metadata"]["namespace"], "team-a");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]})
    );
    assert_eq!(
        binding["subjects"][0]["namespace"], NAMESPACE,
        "the operator's account lives in the release namespace"
    );
    // The same rules as the cluster-wide install, only scoped.
    let cluster_wide = render(json!({}));
    assert_eq!(rules(role), rules(cluster_wide.one("ClusterRole")));

    let env = env(&rendered);
    assert_eq!(env["WATCH_NAMESPACE"], "team-a");
    assert_eq!(env["CONSUL_PARTITION"], "team-a");
    assert_eq!(
        env["CONSUL_HTTP_ADDR"],
        "http://consul-server.consul.svc.cluster.local:8500"
    );
    assert_eq!(env["LOG_FORMAT"], "text");
    assert_eq!(env["RUST_LOG"], "info,consul_peering_operator=debug");
    assert!(
        rendered.notes.contains("watches namespace team-a only"),
        "{}",
        rendered.notes
    );
}

#[test]
fn tls_and_acl_token_come_from_existing_secrets_mounted_as_files() {
    let rendered = render_file("tls-acl-values.yaml");
    let env = env(&rendered);
    assert_eq!(
        env["CONSUL_HTTP_ADDR"], "https://consul-server.consul.svc:8501",
        "TLS on: https:// is added"
    );
    assert_eq!(env["CONSUL_TLS_SERVER_NAME"], "server.dc1.consul");
    assert_eq!(
        secret_file_of(&rendered, "CONSUL_HTTP_TOKEN_FILE"),
        ("consul-peering-operator-acl-token".into(), "token".into())
    );
    assert_eq!(
        secret_file_of(&rendered, "CONSUL_CACERT"),
        ("consul-ca-cert".into(), "tls.crt".into())
    );
    let client = "consul-peering-operator-client-cert".to_string();
    assert_eq!(
        secret_file_of(&rendered, "CONSUL_CLIENT_CERT"),
        (client.clone(), "tls.crt".into())
    );
    assert_eq!(
        secret_file_of(&rendered, "CONSUL_CLIENT_KEY"),
        (client, "tls.key".into())
    );
    assert!(
        !env.contains_key("CONSUL_HTTP_TOKEN"),
        "the token is never an env var"
    );

    let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["imagePullSecrets"],
        json!([{"name": "registry-credentials"}])
    );
    assert_eq!(
        container(&rendered)["image"],
        "registry.example.com/platform/consul-peering-operator:0.1.0"
    );
    assert_eq!(container(&rendered)["imagePullPolicy"], "Always");
    // Only the fsGroup may read the token and the client key.
    for volume in pod["volumes"].as_array().unwrap() {
        if volume["name"] != "consul-ca" {
            assert_eq!(volume["secret"]["defaultMode"], 0o440, "{volume}");
        }
    }

    // Without those values nothing is mounted and no credential variable is set.
    let plain = render(json!({}));
    let plain_env = self::env(&plain);
    assert!(
        plain_env
            .keys()
            .all(|k| !k.starts_with("CONSUL_") || k == "CONSUL_HTTP_ADDR"),
        "{plain_env:?}"
    );
    assert!(container(&plain).get("volumeMounts").is_none());
}

#[test]
fn more_than_one_replica_turns_on_leader_election_with_a_lease_role_for_that_lease_only() {
    let rendered = render_file("ha-values.yaml");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let args = args(&rendered);
    assert_eq!(args[..2], ["run", "--leader-elect"]);
    let lease = args[2]
        .strip_prefix("--lease-name=")
        .expect("--lease-name=NAME");

    // The Lease lives in the release namespace: POD_NAMESPACE, and a Role there that can create leases and
    // touch only this one.
    let role = rendered.one("Role");
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        rules(role),
        [
            rule(&["coordination.k8s.io"], &["leases"], &["create"], &[]),
            rule(
                &["coordination.k8s.io"],
                &["leases"],
                &["get", "patch"],
                &[lease]
            ),
        ]
    );
    let binding = rendered.one("RoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["name"],
        rendered.one("ServiceAccount")["metadata"]["name"]
    );

    let pdb = rendered.one("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
    assert_eq!(pdb["spec"]["selector"], deployment["spec"]["selector"]);

    // Forced on with one replica (e.g. for overlap-free rolling updates) it is the same.
    let forced = render(json!({"leaderElection": {"enabled": true, "leaseName": "my-lease"}}));
    assert_eq!(
        self::args(&forced),
        ["run", "--leader-elect", "--lease-name=my-lease"]
    );
    assert_eq!(rules(forced.one("Role"))[1].resource_names, ["my-lease"]);
    // Percentages are IntOrString strings.
    let pct = render(json!({"pdb": {"enabled": true, "minAvailable": "50%"}}));
    assert_eq!(
        pct.one("PodDisruptionBudget")["spec"]["minAvailable"],
        "50%"
    );
}

#[test]
fn servicemonitor_selects_the_metrics_service() {
    let rendered = render_file("ha-values.yaml");
    let monitor = rendered.one("ServiceMonitor");
    let service = rendered.one("Service");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([NAMESPACE])
    );
    let labels = service["metadata"]["labels"].as_object().unwrap();
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            labels.get(k),
            Some(v),
            "ServiceMonitor selector {k} does not match the Service"
        );
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["interval"], "15s");
}

#[test]
fn granted_rules_follow_the_bindings_to_the_operator_service_account() {
    // Cluster-wide: every rule of the ClusterRole, unscoped.
    let cluster = render(json!({})).granted_rules();
    assert_eq!(cluster.len(), 6, "{cluster:#?}");
    assert!(cluster.iter().all(|r| r.namespace.is_none()));
    let secrets = cluster.iter().find(|r| r.resources == ["secrets"]).unwrap();
    let emulator_rule = secrets.to_emulator_rule();
    assert_eq!(emulator_rule.groups, [""]);
    assert!(emulator_rule.namespaces.is_empty());

    // Namespaced with leader election: the watched namespace's Role plus the lease Role in the release namespace.
    let scoped = render(json!({"watchNamespace": "team-a", "replicaCount": 2})).granted_rules();
    let in_namespace = |ns: &str| {
        scoped
            .iter()
            .filter(|r| r.namespace.as_deref() == Some(ns))
            .count()
    };
    assert_eq!(
        (
            in_namespace("team-a"),
            in_namespace(NAMESPACE),
            scoped.len()
        ),
        (6, 2, 8),
        "{scoped:#?}"
    );
    let lease = scoped
        .iter()
        .find(|r| !r.resource_names.is_empty())
        .unwrap();
    assert_eq!(lease.resources, ["leases"]);
    assert_eq!(lease.to_emulator_rule().namespaces, [NAMESPACE]);
}

/// The kinds the chart renders, all served by the emulated API server. ServiceMonitor and PrometheusRule are custom
/// resources of the Prometheus Operator: the test installs a minimal CRD for each first, as a cluster running that
/// operator has.
const KINDS_THE_EMULATOR_SERVES: &[&str] = &[
    "ServiceAccount",
    "Service",
    "Deployment",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "PodDisruptionBudget",
    "ServiceMonitor",
    "ConfigMap",
    "PrometheusRule",
];

/// A kind of the Prometheus Operator (monitoring.coreos.com/v1, namespaced), reduced to what the API server needs to
/// serve it: a CRD whose spec keeps any field.
fn prometheus_operator_crd(kind: &str, plural: &str, short_name: &str) -> String {
    let singular = kind.to_lowercase();
    format!(
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {singular}, shortNames: [{short_name}]}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
}

/// `<resource>.<group>/<name>` as kubectl names an object in its output (`deployment.apps/x`, `service/x`).
fn kubectl_name(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap().to_lowercase();
    let resource = match object["apiVersion"].as_str().unwrap().split_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind,
    };
    format!(
        "{resource}/{}",
        object["metadata"]["name"].as_str().unwrap()
    )
}

/// Whether every field of `wanted` is in `live` with the same value (the server adds defaults, status and
/// metadata; lists must match item by item).
fn contains(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| contains(lv, v))),
        (Value::Array(l), Value::Array(w)) => {
            l.len() == w.len() && l.iter().zip(w).all(|(lv, wv)| contains(lv, wv))
        }
        _ => live == wanted,
    }
}

/// The live objects of the rendered ones, read back with `kubectl get -o json`, by kubectl name.
async fn get_back(kubectl: &Kubectl, objects: &[&Value]) -> BTreeMap<String, Value> {
    let names: Vec<String> = objects.iter().map(|o| kubectl_name(o)).collect();
    let mut out = BTreeMap::new();
    for (object, name) in objects.iter().zip(&names) {
        let mut args = vec!["get", name.as_str(), "-o", "json", "--show-managed-fields"];
        if let Some(ns) = object["metadata"]["namespace"].as_str() {
            args.extend(["-n", ns]);
        }
        let live: Value = serde_json::from_str(&kubectl.ok(&args).await).unwrap();
        out.insert(name.clone(), live);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_crds_and_objects_apply_to_the_emulated_api_server_with_kubectl() {
    emulator_common::install_crypto_provider();
    for binary in binaries() {
        for values in [
            "default-values.yaml",
            "namespaced-values.yaml",
            "ha-values.yaml",
            "tls-acl-values.yaml",
            "observability-values.yaml",
        ] {
            apply_release_to_a_fresh_emulator(values, binary).await;
        }
    }
}

/// One install as a user does it with kubectl: the CRDs, then every rendered object (client-side apply, a re-apply
/// that changes nothing, server-side apply), read back and printed.
async fn apply_release_to_a_fresh_emulator(values: &str, binary: &'static Binary) {
    let emulator = kube_emulator::start()
        .await
        .expect("the kube emulator starts");
    let kubectl = Kubectl::new(binary);
    emulator.write_kubeconfig(kubectl.kubeconfig()).unwrap();
    let rendered = render_file(values);
    let objects: Vec<&Value> = rendered.objects().collect();
    for object in &objects {
        assert!(
            KINDS_THE_EMULATOR_SERVES.contains(&object["kind"].as_str().unwrap()),
            "{values}: the chart renders a {} the emulator does not serve",
            object["kind"]
        );
    }

    // The chart's crds/ directory as a user applies it (Helm installs it the same way, without templating).
    let crds_dir = helm::chart_dir().join("crds");
    let crds_dir = crds_dir.to_str().unwrap();
    let out = kubectl.ok(&["apply", "-f", crds_dir]).await;
    for crd in [
        "peeringacceptors.consulpeering.io",
        "peeringdialers.consulpeering.io",
        "peeringmeshes.consulpeering.io",
    ] {
        assert!(
            out.contains(&format!(
                "customresourcedefinition.apiextensions.k8s.io/{crd} created"
            )),
            "{out}"
        );
    }
    let mut wait: Vec<String> = [
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/peeringacceptors.consulpeering.io",
        "crd/peeringdialers.consulpeering.io",
        "crd/peeringmeshes.consulpeering.io",
    ]
    .map(String::from)
    .into();
    // The Prometheus Operator's kinds the chart renders, installed as on a cluster running that operator.
    for (kind, plural, short_name) in [
        ("ServiceMonitor", "servicemonitors", "smon"),
        ("PrometheusRule", "prometheusrules", "promrule"),
    ] {
        if rendered.of_kind(kind).next().is_some() {
            let crd = prometheus_operator_crd(kind, plural, short_name);
            kubectl.ok_with(&["apply", "-f", "-"], &crd).await;
            wait.push(format!("crd/{plural}.monitoring.coreos.com"));
        }
    }
    let wait: Vec<&str> = wait.iter().map(String::as_str).collect();
    kubectl.ok(&wait).await;
    // Upgrading re-applies them: nothing changes.
    let again = kubectl.ok(&["apply", "-f", crds_dir]).await;
    assert_eq!(again.matches(" unchanged").count(), 3, "{again}");

    let mut namespaces: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    for ns in &namespaces {
        kubectl.ok(&["create", "namespace", ns]).await;
    }

    // Client-side apply of everything the chart renders, validated by the server (kubectl sends
    // fieldValidation=Strict, so an unknown field anywhere in an object fails here).
    let manifests: String = rendered
        .manifests
        .iter()
        .map(|m| format!("---\n{}\n", m.yaml))
        .collect();
    let out = kubectl.ok_with(&["apply", "-f", "-"], &manifests).await;
    for object in &objects {
        let line = format!("{} created", kubectl_name(object));
        assert!(
            out.lines().any(|l| l == line),
            "{values}: no {line:?} in:\n{out}"
        );
    }
    assert_eq!(out.lines().count(), objects.len(), "{values}:\n{out}");
    let created = get_back(&kubectl, &objects).await;

    // Applying the same manifests again changes nothing on the server. kubectl reports each object unchanged, except
    // a PodDisruptionBudget: its selector's patch strategy is `replace`, so kubectl's patch for it is never empty and
    // it says "configured" (as against a real API server) although the server keeps the object as it was.
    let out = kubectl.ok_with(&["apply", "-f", "-"], &manifests).await;
    for object in &objects {
        let verb = if object["kind"] == "PodDisruptionBudget" {
            "configured"
        } else {
            "unchanged"
        };
        let line = format!("{} {verb}", kubectl_name(object));
        assert!(
            out.lines().any(|l| l == line),
            "{values}: no {line:?} in:\n{out}"
        );
    }
    let reapplied = get_back(&kubectl, &objects).await;
    for (name, live) in &reapplied {
        assert_eq!(
            live["metadata"]["resourceVersion"], created[name]["metadata"]["resourceVersion"],
            "{values}: re-applying changed {name}"
        );
    }

    // Server-side apply takes the objects over from client-side apply without a conflict: the
    // chart spells out what the server would default inside atomic structs (`fieldRef.apiVersion`),
    // so nothing client-side apply owns differs from what is applied.
    let out = kubectl
        .ok_with(&["apply", "--server-side", "-f", "-"], &manifests)
        .await;
    for object in &objects {
        let line = format!("{} serverside-applied", kubectl_name(object));
        assert!(
            out.lines().any(|l| l == line),
            "{values}: no {line:?} in:\n{out}"
        );
    }
    let applied = get_back(&kubectl, &objects).await;
    for object in &objects {
        let name = kubectl_name(object);
        let live = &applied[&name];
        let managers: Vec<(&str, &str)> = live["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["manager"].as_str().unwrap(),
                    m["operation"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            managers.contains(&("kubectl", "Apply")),
            "{values}: {name} {managers:?}"
        );
        // What was rendered is what is stored, field for field (plus the server's defaults and status).
        let mut wanted = (*object).clone();
        wanted["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        assert!(
            contains(live, &wanted),
            "{values}: {name} as stored:\n{live:#}\nas rendered:\n{wanted:#}"
        );
        let cluster_scoped = matches!(
            object["kind"].as_str().unwrap(),
            "ClusterRole" | "ClusterRoleBinding"
        );
        assert_eq!(
            live["metadata"].get("namespace").is_none(),
            cluster_scoped,
            "{values}: {name}"
        );
    }
    // No controllers run: the Deployment stays at generation 2 (the server-side apply rewrote the last-applied
    // annotation, which counts for Deployments) with an empty status; the PodDisruptionBudget's status is zero.
    let deployment = &applied[&kubectl_name(rendered.one("Deployment"))];
    assert_eq!(deployment["metadata"]["generation"], 2, "{deployment:#}");
    assert_eq!(deployment["status"], json!({}));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"], "File",
        "server-side defaults"
    );
    let service = &applied[&kubectl_name(rendered.one("Service"))];
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap();
    assert!(
        cluster_ip.parse::<std::net::Ipv4Addr>().is_ok(),
        "{service:#}"
    );

    // What `kubectl get` prints: the real server's columns for each kind.
    let ns = NAMESPACE;
    let table = kubectl
        .ok(&["get", "deploy,svc,sa,pdb,role,rolebinding", "-n", ns])
        .await;
    let deployment_name = rendered.one("Deployment")["metadata"]["name"]
        .as_str()
        .unwrap();
    let headers: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.starts_with("NAME "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        headers[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    assert!(
        headers.contains(&vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]),
        "{table}"
    );
    let replicas = rendered.one("Deployment")["spec"]["replicas"]
        .as_i64()
        .unwrap();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(&format!("deployment.apps/{deployment_name} ")))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[1..4], [&format!("0/{replicas}"), "0", "0"], "{table}");
    let service_row = table
        .lines()
        .find(|l| l.starts_with("service/"))
        .unwrap_or_else(|| panic!("{table}"));
    let port = rendered.one("Service")["spec"]["ports"][0]["port"]
        .as_i64()
        .unwrap();
    assert!(
        service_row.contains(&format!(
            " ClusterIP   {cluster_ip}   <none>        {port}/TCP "
        )),
        "{table}"
    );
    // Cluster-scoped RBAC objects are listed without a namespace; bindings print their role and, wide, subjects.
    let wide = kubectl
        .ok(&[
            "get",
            "clusterrole,clusterrolebinding,rolebinding",
            "-A",
            "-o",
            "wide",
            "-l",
            &format!("app.kubernetes.io/instance={}", helm::RELEASE_NAME),
        ])
        .await;
    for binding in rendered
        .of_kind("ClusterRoleBinding")
        .chain(rendered.of_kind("RoleBinding"))
    {
        let role = format!(
            "{}/{}",
            binding["roleRef"]["kind"].as_str().unwrap(),
            binding["roleRef"]["name"].as_str().unwrap()
        );
        let account = &binding["subjects"][0];
        let subject = format!(
            "{}/{}",
            account["namespace"].as_str().unwrap(),
            account["name"].as_str().unwrap()
        );
        let name = binding["metadata"]["name"].as_str().unwrap();
        assert!(
            wide.lines().any(|l| l.contains(&format!("/{name} "))
                && l.contains(&format!(" {role} "))
                && l.ends_with(&subject)),
            "{values}: {name} {role} {subject} in:\n{wide}"
        );
    }
    for role in rendered.of_kind("ClusterRole") {
        let name = role["metadata"]["name"].as_str().unwrap();
        assert!(
            wide.lines()
                .any(|l| l.starts_with(&format!("clusterrole.rbac.authorization.k8s.io/{name} "))),
            "{wide}"
        );
    }

    // The PeeringAcceptor that NOTES.txt tells the user to apply is valid for the installed CRD.
    let notes = &rendered.notes;
    let start = notes.find("<<'YAML'\n").expect("an example in NOTES.txt") + "<<'YAML'\n".len();
    let end = start + notes[start..].find("\n  YAML").unwrap();
    let example: String = notes[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    // In the namespace the NOTES' command names (the watched one), else the release's.
    let command = notes[..start].lines().last().unwrap();
    let namespace = command
        .split_once(" -n ")
        .map(|(_, rest)| rest.split_whitespace().next().unwrap())
        .unwrap_or(NAMESPACE)
        .to_string();
    if !namespaces.contains(&namespace.as_str()) {
        kubectl.ok(&["create", "namespace", &namespace]).await;
    }
    let out = kubectl
        .ok_with(&["apply", "-n", &namespace, "-f", "-"], &example)
        .await;
    assert!(
        out.contains("peeringacceptor.consulpeering.io/dc2 created"),
        "{out}"
    );
    let table = kubectl
        .ok(&["get", "peeringacceptors", "-n", &namespace])
        .await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATE", "SECRET", "AGE"],
        "{table}"
    );
    assert!(table.lines().nth(1).unwrap().starts_with("dc2 "), "{table}");

    emulator.stop();
}

/// The rows of the Markdown table of chart values (the one headed `| key | default | description |`).
fn values_table(markdown: &str) -> Option<Vec<&str>> {
    let mut lines = markdown
        .lines()
        .skip_while(|l| l.trim() != "| key | default | description |");
    lines.next()?;
    Some(lines.skip(1).take_while(|l| l.starts_with('|')).collect())
}

/// The values a user sets: the schema's properties, down to scalars, lists and free-form objects.
fn schema_leaves(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    match schema["properties"].as_object() {
        Some(properties) => {
            for (key, sub) in properties {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                schema_leaves(sub, &path, out);
            }
        }
        None => out.push(prefix.to_string()),
    }
}

#[test]
fn chart_readme_documents_every_value_with_its_default() {
    let dir = helm::chart_dir();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("values.schema.json")).unwrap())
            .unwrap();
    let defaults: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("values.yaml")).unwrap()).unwrap();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let table = values_table(&readme).expect("a values table in the chart's README.md");
    let rows: BTreeMap<&str, &str> = table
        .iter()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let (key, rest) = l.split_once("` | ").unwrap();
            (key, rest.split(" | ").next().unwrap())
        })
        .collect();

    let mut leaves = Vec::new();
    schema_leaves(&schema, "", &mut leaves);
    leaves.sort();
    assert_eq!(
        rows.keys().copied().collect::<Vec<_>>(),
        leaves,
        "README values table vs values.schema.json"
    );

    for key in leaves {
        let default = key.split('.').fold(&defaults, |v, k| &v[k]);
        assert!(!default.is_null(), "values.yaml has no default for {key}");
        // Scalars and empty collections are shown as they are; other objects are described in words.
        let shown = match default {
            Value::String(s) if !s.is_empty() => Some(format!("`{s}`")),
            Value::Object(m) if !m.is_empty() => None,
            Value::Array(a) if !a.is_empty() => None,
            other => Some(format!("`{other}`")),
        };
        if let Some(shown) = shown {
            assert_eq!(rows[key.as_str()], shown, "README default of {key}");
        }
    }

    // README.md may point to the chart's README instead of copying the table; a copy must not drift.
    let repo_readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    if let Some(copy) = values_table(&repo_readme) {
        assert_eq!(
            copy, table,
            "README.md's values table differs from the chart's README.md"
        );
    }
}

/// Whether `text` holds `name` as a whole word (not as part of a longer flag or variable name).
fn has_word(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(name)
        .any(|(i, _)| !text[..i].ends_with(word) && !text[i + name.len()..].starts_with(word))
}

#[test]
fn the_chart_passes_only_flags_and_variables_that_the_operator_takes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consul-peering-operator"))
        .args(["run", "--help"])
        .output()
        .expect("run the operator binary");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    // Value placeholders (`--lease-name <LEASE_NAME>`) name no variable: leave them out.
    let mut documented = String::new();
    for part in help.split('<') {
        documented.push_str(part.split_once('>').map_or(part, |(_, rest)| rest));
    }
    for file in ci_values_files() {
        let rendered = helm::render(&Release::new(NAMESPACE).values_file(&file)).unwrap();
        let args = args(&rendered);
        assert_eq!(args[0], "run");
        for flag in &args[1..] {
            let name = flag.split('=').next().unwrap();
            assert!(
                name.starts_with("--") && has_word(&help, name),
                "{}: {flag} is not an option of run",
                file.display()
            );
        }
        for (name, value) in env(&rendered) {
            assert!(
                has_word(&documented, &name),
                "{}: run --help does not mention {name}",
                file.display()
            );
            if name == "LOG_FORMAT" {
                assert!(help.contains("[possible values: text, json]") && has_word(&help, &value));
            }
        }
    }
}
