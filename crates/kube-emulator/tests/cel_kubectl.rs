//! CRD validation rules through the real kubectl (every kubectl `test_support` finds): what
//! kubectl prints for each row of kube-api/cel-validation.md that the reference shows with
//! kubectl.

#[path = "cel_support/mod.rs"]
mod cel_support;

use cel_support::*;
use serde_json::{Value, json};
use test_support::kubectl::{Kubectl, binaries};

fn kubectl(
    emu: &kube_emulator::KubeEmulator,
    binary: &'static test_support::kubectl::Binary,
) -> Kubectl {
    let k = Kubectl::new(binary);
    emu.write_kubeconfig(k.kubeconfig()).unwrap();
    k
}

/// `kubectl -n cel-ns apply -f -` of a Scaler expected to fail; answers stderr.
async fn apply_fails(k: &Kubectl, args: &[&str], object: &Value) -> String {
    let mut all = vec!["-n", NS, "apply"];
    all.extend_from_slice(args);
    all.extend(["-f", "-"]);
    let out = k.run_with(&all, &object.to_string()).await;
    assert!(!out.status.success(), "{object} was accepted");
    String::from_utf8_lossy(&out.stderr)
        .trim_end_matches('\n')
        .to_string()
}

const NOT_CHECKED_LINE: &str = "* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

#[tokio::test]
async fn kubectl_prints_each_refused_create() {
    for binary in binaries() {
        let emu = with_scalers().await;
        let k = kubectl(&emu, binary);
        let cases: Vec<(&str, Value, String)> = vec![
            ("s-one", json!({"minReplicas": 5, "maxReplicas": 2}), "spec: Invalid value: minReplicas must be less than or equal to maxReplicas".into()),
            ("s-map", json!({"minReplicas": 1, "maxReplicas": 2, "labels": {"team": "a", "consul-mesh": "true"}}), "spec.labels: Invalid value: label keys must not start with 'consul-'".into()),
            ("s-list", json!({"minReplicas": 1, "maxReplicas": 2, "hosts": ["a.example.com", ""]}), "spec.hosts: Invalid value: failed rule: self.all(x, x.size() > 0)".into()),
            ("s-str", json!({"minReplicas": 1, "maxReplicas": 2, "name": "Web1"}), "spec.name: Invalid value: \"Web1\": failed rule: self.matches('^[a-z]+$')".into()),
            ("s-msgexpr", json!({"minReplicas": 1, "maxReplicas": 2, "partition": "default"}), "spec.partition: Invalid value: \"default\": partition default is reserved".into()),
            ("s-forbid", json!({"minReplicas": 1, "maxReplicas": 2, "mode": "Exclusive", "sharedWith": "team-b"}), "spec.sharedWith: Forbidden: must not be set when mode is Exclusive".into()),
            ("s-dup", json!({"minReplicas": 1, "maxReplicas": 2, "hosts": ["a", "b", "a"]}), "spec.hosts: Duplicate value".into()),
            ("s-nokey", json!({"maxReplicas": 2}), "spec: Invalid value: \"object\": no such key: minReplicas evaluating rule: minReplicas must be less than or equal to maxReplicas".into()),
            ("s-req", json!({"minReplicas": 1, "maxReplicas": 2, "sharedWith": "team-b"}),
                "\n* spec: Invalid value: \"object\": no such key: mode evaluating rule: must not be set when mode is Exclusive\n* spec.mode: Required value: must be set when sharedWith is set".into()),
            ("s-two", json!({"minReplicas": 5, "maxReplicas": 2, "labels": {"consul-x": "v"}}),
                "\n* spec: Invalid value: minReplicas must be less than or equal to maxReplicas\n* spec.labels: Invalid value: label keys must not start with 'consul-'".into()),
            ("s-enum", json!({"minReplicas": 5, "maxReplicas": 2, "mode": "Bogus", "labels": {"consul-x": "v"}}),
                format!("\n* spec.mode: Unsupported value: \"Bogus\": supported values: \"Shared\", \"Exclusive\"\n{NOT_CHECKED_LINE}")),
            ("s-enum-only", json!({"minReplicas": 1, "maxReplicas": 2, "mode": "Bogus"}),
                format!("\n* spec.mode: Unsupported value: \"Bogus\": supported values: \"Shared\", \"Exclusive\"\n{NOT_CHECKED_LINE}")),
            ("s-pattern", json!({"minReplicas": 5, "maxReplicas": 2, "peerName": "Bad_Name"}),
                "\n* spec.peerName: Invalid value: \"Bad_Name\": spec.peerName in body should match '^[a-z0-9-]+$'\n* spec: Invalid value: minReplicas must be less than or equal to maxReplicas".into()),
            ("s-min", json!({"minReplicas": -1, "maxReplicas": -5}),
                "\n* spec.minReplicas: Invalid value: -1: spec.minReplicas in body should be greater than or equal to 0\n* spec: Invalid value: minReplicas must be less than or equal to maxReplicas".into()),
            ("s-type", json!({"minReplicas": "five", "maxReplicas": 2, "labels": {"consul-x": "v"}}),
                format!("\n* spec.minReplicas: Invalid value: \"string\": spec.minReplicas in body must be of type integer: \"string\"\n{NOT_CHECKED_LINE}")),
            ("s-long", json!({"minReplicas": 5, "maxReplicas": 2, "partition": "p".repeat(40)}),
                format!("\n* spec.partition: Too long: may not be more than 32 bytes\n{NOT_CHECKED_LINE}")),
            ("s-many", json!({"minReplicas": 5, "maxReplicas": 2, "hosts": ["a", "b", "c", "d", "e", "f"]}),
                format!("\n* spec.hosts: Too many: 6: must have at most 5 items\n{NOT_CHECKED_LINE}")),
        ];
        for (name, spec, text) in cases {
            let stderr = apply_fails(&k, &[], &scaler(name, spec)).await;
            // kubectl prints `is invalid: ` with its trailing space, then one line per cause.
            assert_eq!(
                stderr,
                format!("The Scaler \"{name}\" is invalid: {text}"),
                "{binary} {name}"
            );
        }
        let all = json!({"minReplicas": 5, "maxReplicas": 2, "mode": "Exclusive", "sharedWith": "x",
            "labels": {"consul-x": "v"}, "hosts": [""], "name": "Abc", "partition": "default"});
        let stderr = apply_fails(&k, &[], &scaler("s-all", all)).await;
        let mut lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.remove(0), "The Scaler \"s-all\" is invalid: ");
        lines.sort();
        assert_eq!(
            lines,
            [
                "* spec.hosts: Invalid value: failed rule: self.all(x, x.size() > 0)",
                "* spec.labels: Invalid value: label keys must not start with 'consul-'",
                "* spec.name: Invalid value: \"Abc\": failed rule: self.matches('^[a-z]+$')",
                "* spec.partition: Invalid value: \"default\": partition default is reserved",
                "* spec.sharedWith: Forbidden: must not be set when mode is Exclusive",
                "* spec: Invalid value: minReplicas must be less than or equal to maxReplicas",
            ]
        );
    }
}

#[tokio::test]
async fn kubectl_apply_and_patch_of_an_immutable_field() {
    for binary in binaries() {
        let emu = with_scalers().await;
        let k = kubectl(&emu, binary);
        for (name, args) in [("s-imm-k", vec![]), ("s-imm-ssa", vec!["--server-side"])] {
            let spec = json!({"minReplicas": 1, "maxReplicas": 3, "datacenter": "dc1"});
            let mut all = vec!["-n", NS, "apply"];
            all.extend(args.iter().copied());
            all.extend(["-f", "-"]);
            let out = k
                .ok_with(&all, &scaler(name, spec.clone()).to_string())
                .await;
            let verb = if args.is_empty() {
                "created"
            } else {
                "serverside-applied"
            };
            assert_eq!(out.trim(), format!("scaler.cel.example.com/{name} {verb}"));
            let mut changed = spec;
            changed["datacenter"] = json!("dc2");
            let stderr = apply_fails(&k, &args, &scaler(name, changed)).await;
            assert_eq!(
                stderr,
                format!(
                    "The Scaler \"{name}\" is invalid: spec.datacenter: Invalid value: \"dc2\": is immutable"
                )
            );
        }
        let out = k
            .run(&[
                "-n",
                NS,
                "patch",
                "scaler",
                "s-imm-ssa",
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"datacenter":"dc3"}}"#,
            ])
            .await;
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "The Scaler \"s-imm-ssa\" is invalid: spec.datacenter: Invalid value: \"dc3\": is immutable"
        );
    }
}

#[tokio::test]
async fn kubectl_patch_of_status_and_ratchet_warnings() {
    for binary in binaries() {
        let emu = with_scalers().await;
        let k = kubectl(&emu, binary);
        let spec = json!({"minReplicas": 1, "maxReplicas": 3});
        k.ok_with(
            &["-n", NS, "apply", "-f", "-"],
            &scaler("s-stat", spec).to_string(),
        )
        .await;
        k.ok(&[
            "-n",
            NS,
            "patch",
            "scaler",
            "s-stat",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"desiredReplicas":3}}"#,
        ])
        .await;
        let out = k
            .run(&[
                "-n",
                NS,
                "patch",
                "scaler",
                "s-stat",
                "--subresource",
                "status",
                "--type",
                "merge",
                "-p",
                r#"{"status":{"readyReplicas":9}}"#,
            ])
            .await;
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "The Scaler \"s-stat\" is invalid: status: Invalid value: readyReplicas must not exceed desiredReplicas"
        );
        let rat = json!({"minReplicas": 2, "maxReplicas": 3, "name": "abcdef"});
        assert_eq!(post(&emu, SCALERS, &scaler("s-rat", rat)).await.code, 201);
        let path = format!("{CRDS}/scalers.cel.example.com");
        let mut crd = call(&emu, "GET", &path, "", "").await.body;
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["name"]["x-kubernetes-validations"] = json!([{"rule": "self.matches('^[a-z]+$') && self.size() <= 3", "message": "at most 3 lowercase letters"}]);
        assert_eq!(
            call(&emu, "PUT", &path, "application/json", &crd.to_string())
                .await
                .code,
            200
        );
        let out = k
            .run(&[
                "-n",
                NS,
                "label",
                "scaler",
                "s-rat",
                "touched=again",
                "--overwrite",
            ])
            .await;
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "scaler.cel.example.com/s-rat labeled"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "Warning: spec.name: Invalid value: \"abcdef\": at most 3 lowercase letters"
        );
    }
}

#[tokio::test]
async fn kubectl_apply_of_crds_with_broken_or_costly_rules() {
    for binary in binaries() {
        let emu = with_scalers().await;
        let k = kubectl(&emu, binary);
        let probe = probe_crd(
            "probes.cel.example.com",
            "Probe",
            json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "self.replicas > 0"}], "properties": {"minReplicas": {"type": "integer"}}}),
        );
        let out = k.run_with(&["apply", "-f", "-"], &probe.to_string()).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            "The CustomResourceDefinition \"probes.cel.example.com\" is invalid: spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {\"Rule\":\"self.replicas \\u003e 0\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:5: undefined field 'replicas'\n | self.replicas > 0\n | ....^"
        );
        let costly = probe_crd(
            "costlies.cel.example.com",
            "Costly",
            json!({"type": "object", "properties": {"groups": {
            "type": "array", "items": {"type": "array", "items": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "self.all(g, g.all(x, x.startsWith('a')))"}]}}}),
        );
        let out = k.run_with(&["apply", "-f", "-"], &costly.to_string()).await;
        let rule = "spec.validation.openAPIV3Schema.properties[spec].properties[groups].x-kubernetes-validations[0].rule";
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            format!(
                "The CustomResourceDefinition \"costlies.cel.example.com\" is invalid: \n* {rule}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x{BUDGET_HINT}\n* {rule}: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema\n* spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x{BUDGET_HINT}"
            )
        );
        let explain = k.ok(&["explain", "scalers.spec", "--recursive"]).await;
        assert!(
            explain.contains("  mode\t<string>\n  enum: Shared, Exclusive\n"),
            "{explain}"
        );
        assert!(
            !explain.contains("rule") && !explain.contains("oldSelf"),
            "{explain}"
        );
    }
}
