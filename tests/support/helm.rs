//! The Helm chart as the tests see it: rendered, linted and validated by the real Helm library and
//! kubernetes-validate (through `helm_tool.py` in the venv of `test_support::pytools`).
//!
//! E.g. `support::helm::render(&helm::Release::new("ops").set(json!({"watchNamespace": "team-a"})))?` gives the rendered
//! objects (`.objects()`, `.one("Deployment")`) and the RBAC rules the operator's ServiceAccount gets
//! (`.granted_rules()`, convertible to the kube emulator's rules).

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use test_support::pytools::pytools;

/// The Kubernetes version the chart is checked against.
pub const KUBE_VERSION: &str = "1.33.0";
pub const RELEASE_NAME: &str = "cpo";

pub fn chart_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../charts/consul-peering-operator"
    ))
    .to_owned()
}

/// How to install the chart: `helm install RELEASE_NAME CHART -n namespace [-f values_file] [--set-json set]`.
#[derive(Clone, Debug)]
pub struct Release {
    pub namespace: String,
    pub values_file: Option<PathBuf>,
    pub set: Value,
}

impl Release {
    pub fn new(namespace: &str) -> Self {
        Release {
            namespace: namespace.into(),
            values_file: None,
            set: json!({}),
        }
    }
    pub fn values_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.values_file = Some(path.into());
        self
    }
    pub fn set(mut self, values: Value) -> Self {
        self.set = values;
        self
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--chart".into(),
            chart_dir().display().to_string(),
            "--namespace".into(),
            self.namespace.clone(),
            "--set-json".into(),
            self.set.to_string(),
        ];
        if let Some(file) = &self.values_file {
            args.extend(["--values".into(), file.display().to_string()]);
        }
        args
    }
}

/// One rendered file: a template (or a file of the chart's crds/), its YAML, and the objects in it.
#[derive(Debug)]
pub struct Manifest {
    pub template: String,
    pub yaml: String,
    pub objects: Vec<Value>,
}

#[derive(Debug)]
pub struct Rendered {
    pub notes: String,
    /// The chart's crds/ files (installed by Helm before the templates, never templated).
    pub crds: Vec<Manifest>,
    /// The rendered templates, NOTES.txt and empty ones left out.
    pub manifests: Vec<Manifest>,
}

impl Rendered {
    /// Every templated object (not the CRDs).
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.manifests.iter().flat_map(|m| m.objects.iter())
    }
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects().filter(move |o| o["kind"] == kind)
    }
    /// The only object of this kind; panics when there is none or more than one.
    pub fn one(&self, kind: &str) -> &Value {
        let all: Vec<&Value> = self.objects().filter(|o| o["kind"] == kind).collect();
        assert_eq!(
            all.len(),
            1,
            "expected exactly one {kind}, found {}",
            all.len()
        );
        all[0]
    }
    /// CRDs then templates, as one multi-document YAML stream (what `helm template --include-crds` prints).
    pub fn yaml(&self) -> String {
        self.crds
            .iter()
            .chain(&self.manifests)
            .map(|m| format!("---\n# Source: {}\n{}\n", m.template, m.yaml.trim()))
            .collect()
    }
}

/// Renders the chart like `helm template`. Err holds Helm's message when it refuses (values schema, a
/// template's `fail`).
pub fn render(release: &Release) -> Result<Rendered, String> {
    let mut args = vec![
        "render".to_string(),
        "--release".into(),
        RELEASE_NAME.into(),
    ];
    args.extend(release.args());
    let out = helm_tool(&args, None)?;
    let manifests = |v: &Value| -> Vec<Manifest> {
        v.as_array()
            .expect("manifest list")
            .iter()
            .map(|m| Manifest {
                template: m["template"].as_str().unwrap().into(),
                yaml: m["yaml"].as_str().unwrap().into(),
                objects: m["objects"].as_array().unwrap().clone(),
            })
            .collect()
    };
    Ok(Rendered {
        notes: out["notes"].as_str().unwrap_or_default().into(),
        crds: manifests(&out["crds"]),
        manifests: manifests(&out["manifests"]),
    })
}

#[derive(Debug)]
pub struct LintMessage {
    /// Helm's severity: 1 info, 2 warning, 3 error.
    pub severity: u64,
    pub path: String,
    pub error: String,
}

/// `helm lint --strict --kube-version KUBE_VERSION`: every message Helm reports.
pub fn lint(release: &Release) -> Vec<LintMessage> {
    let mut args = vec![
        "lint".to_string(),
        "--kube-version".into(),
        format!("v{KUBE_VERSION}"),
    ];
    args.extend(release.args());
    let report = helm_tool(&args, None).expect("helm lint runs");
    let mut messages: Vec<LintMessage> = report["messages"]
        .as_array()
        .expect("lint messages")
        .iter()
        .map(|m| LintMessage {
            severity: m["severity"].as_u64().unwrap_or(0),
            path: m["path"].as_str().unwrap_or_default().into(),
            error: m["error"].as_str().unwrap_or_default().into(),
        })
        .collect();
    // Top-level errors (a chart that cannot be loaded) count as errors too.
    for e in report["errors"].as_array().into_iter().flatten() {
        messages.push(LintMessage {
            severity: 3,
            path: String::new(),
            error: e.as_str().unwrap_or_default().into(),
        });
    }
    messages
}

#[derive(Debug, PartialEq, Eq)]
pub enum Validation {
    Valid,
    Invalid(String),
    /// kubernetes-validate knows only the built-in kinds of that Kubernetes version.
    NoSchema,
}

/// Strict kubernetes-validate for KUBE_VERSION: unknown fields are errors. One result per object, in order.
pub fn validate(objects: &[&Value]) -> Vec<Validation> {
    let input = serde_json::to_vec(objects).unwrap();
    let args = [
        "validate".to_string(),
        "--kube-version".into(),
        KUBE_VERSION.into(),
    ];
    let out = helm_tool(&args, Some(&input)).expect("kubernetes-validate runs");
    out.as_array()
        .expect("validation results")
        .iter()
        .map(|r| match r["result"].as_str() {
            Some("valid") => Validation::Valid,
            Some("no-schema") => Validation::NoSchema,
            _ => Validation::Invalid(r["error"].as_str().unwrap_or_default().into()),
        })
        .collect()
}

/// Runs helm_tool.py; Ok(stdout as JSON), or Err(stderr) when Helm refused (exit 2). Any other failure panics.
fn helm_tool(args: &[String], stdin: Option<&[u8]>) -> Result<Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("helm_tool.py");
    let mut child = Command::new(&pytools().python)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start helm_tool.py");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("helm_tool.py {args:?} printed no JSON ({e}); stderr:\n{stderr}")
        })),
        Some(2) => Err(stderr),
        _ => panic!("helm_tool.py {args:?} failed ({}):\n{stderr}", out.status),
    }
}

/// One RBAC rule granted to the operator's ServiceAccount, with where it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantedRule {
    /// The RoleBinding's namespace; None for a ClusterRoleBinding (every namespace and cluster scope).
    pub namespace: Option<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    /// Empty = any name.
    pub resource_names: Vec<String>,
}

impl GrantedRule {
    /// The same rule for the emulator's RBAC, which has no resourceNames: a rule limited to names comes out
    /// wider (any name), never narrower.
    pub fn to_emulator_rule(&self) -> kube_emulator::Rule {
        fn s(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let namespaces: Vec<&str> = self.namespace.as_deref().into_iter().collect();
        kube_emulator::Rule::new(
            &s(&self.verbs),
            &s(&self.api_groups),
            &s(&self.resources),
            &namespaces,
        )
    }
}

impl Rendered {
    /// Every rule that the rendered (Cluster)RoleBindings grant to the operator's ServiceAccount: what the
    /// operator may do once installed.
    pub fn granted_rules(&self) -> Vec<GrantedRule> {
        let service_account = self.one("ServiceAccount");
        let (sa_name, sa_namespace) = (
            &service_account["metadata"]["name"],
            &service_account["metadata"]["namespace"],
        );
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let mut granted = Vec::new();
        for binding in self
            .of_kind("ClusterRoleBinding")
            .chain(self.of_kind("RoleBinding"))
        {
            let binds_operator = binding["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == *sa_name
                        && s["namespace"] == *sa_namespace
                });
            if !binds_operator {
                continue;
            }
            let namespace = binding["metadata"]["namespace"]
                .as_str()
                .map(str::to_string);
            let role_ref = &binding["roleRef"];
            let role = self
                .objects()
                .find(|o| {
                    o["kind"] == role_ref["kind"]
                        && o["metadata"]["name"] == role_ref["name"]
                        && (o["kind"] == "ClusterRole"
                            || o["metadata"]["namespace"].as_str() == namespace.as_deref())
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{} binds {role_ref}, which the chart does not render",
                        binding["metadata"]["name"]
                    )
                });
            for rule in role["rules"].as_array().into_iter().flatten() {
                granted.push(GrantedRule {
                    namespace: namespace.clone(),
                    api_groups: strings(&rule["apiGroups"]),
                    resources: strings(&rule["resources"]),
                    verbs: strings(&rule["verbs"]),
                    resource_names: strings(&rule["resourceNames"]),
                });
            }
        }
        granted
    }
}
