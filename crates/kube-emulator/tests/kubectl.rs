//! The real kubectl against the emulator, each test with every kubectl found (the user's and the pinned one,
//! see `test_support::kubectl`): every command of the issue's "Done when" list, each with a timeout so a hang
//! fails instead of blocking.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_emulator::KubeEmulator;
use serde_json::json;
use test_support::kubectl::{Binary, Kubectl, binaries};
use tokio::io::AsyncBufReadExt;

/// kubectl pointed at the emulator.
fn kubectl(emu: &KubeEmulator, binary: &'static Binary) -> Kubectl {
    let kubectl = Kubectl::new(binary);
    emu.write_kubeconfig(kubectl.kubeconfig()).unwrap();
    kubectl
}

fn crd_yaml() -> String {
    serde_json::to_string(&gadget_crd()).unwrap()
}

async fn with_crd_and_namespace(binary: &'static Binary) -> (KubeEmulator, Kubectl) {
    let emu = emulator().await;
    let k = kubectl(&emu, binary);
    k.ok_with(&["apply", "-f", "-"], &crd_yaml()).await;
    k.ok_with(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: trace-ns\n",
    )
    .await;
    (emu, k)
}

const G1: &str = "apiVersion: demo.example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: trace-ns\nspec:\n  size: 3\n  note: first\n";

#[tokio::test]
async fn apply_crd_and_wait_established() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = kubectl(&emu, binary);
        let out = k.ok_with(&["apply", "-f", "-"], &crd_yaml()).await;
        assert_eq!(
            out.trim(),
            "customresourcedefinition.apiextensions.k8s.io/gadgets.demo.example.com created"
        );
        let out = k
            .ok(&[
                "wait",
                "--for",
                "condition=Established",
                "crd/gadgets.demo.example.com",
                "--timeout=20s",
            ])
            .await;
        assert!(out.contains("condition met"), "{out}");
    }
}

#[tokio::test]
async fn apply_reapply_and_server_side_apply_a_custom_resource() {
    for binary in binaries() {
        let (emu, k) = with_crd_and_namespace(binary).await;
        assert_eq!(
            k.ok_with(&["apply", "-f", "-"], G1).await.trim(),
            "gadget.demo.example.com/g1 created"
        );
        let changed = G1.replace("size: 3", "size: 5");
        assert_eq!(
            k.ok_with(&["apply", "-f", "-"], &changed).await.trim(),
            "gadget.demo.example.com/g1 configured"
        );
        assert_eq!(
            k.ok_with(&["apply", "-f", "-"], &changed).await.trim(),
            "gadget.demo.example.com/g1 unchanged"
        );
        let g2 = "apiVersion: demo.example.com/v1\nkind: Gadget\nmetadata:\n  name: g2\n  namespace: trace-ns\nspec:\n  size: 4\n  color: blue\n";
        assert_eq!(
            k.ok_with(&["apply", "--server-side", "-f", "-"], g2)
                .await
                .trim(),
            "gadget.demo.example.com/g2 serverside-applied"
        );
        let live = gadgets(&emu, "trace-ns").get("g1").await.unwrap();
        assert_eq!(live.data["spec"]["size"], 5);
        assert_eq!(live.metadata.generation, Some(2));
        let g2 = gadgets(&emu, "trace-ns").get("g2").await.unwrap();
        let managers: Vec<_> = g2
            .metadata
            .managed_fields
            .unwrap()
            .into_iter()
            .map(|m| (m.manager, m.operation))
            .collect();
        assert_eq!(
            managers,
            vec![(Some("kubectl".to_string()), Some("Apply".to_string()))]
        );
    }
}

#[tokio::test]
async fn get_as_table_yaml_and_jsonpath() {
    for binary in binaries() {
        let (_emu, k) = with_crd_and_namespace(binary).await;
        k.ok_with(&["apply", "-f", "-"], G1).await;
        let table = k.ok(&["get", "gadgets", "-n", "trace-ns"]).await;
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, vec!["NAME", "SIZE", "COLOR", "PHASE", "AGE"]);
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(&row[..3], &["g1", "3", "red"]);
        let yaml = k
            .ok(&["get", "gadget", "g1", "-n", "trace-ns", "-o", "yaml"])
            .await;
        assert!(
            yaml.contains("kind: Gadget")
                && yaml.contains("size: 3")
                && yaml.contains("color: red"),
            "{yaml}"
        );
        let jp = k
            .ok(&[
                "get",
                "gadget",
                "g1",
                "-n",
                "trace-ns",
                "-o",
                "jsonpath={.spec.note}",
            ])
            .await;
        assert_eq!(jp, "first");
        let short = k.ok(&["get", "gd", "-n", "trace-ns", "-o", "name"]).await;
        assert_eq!(short.trim(), "gadget.demo.example.com/g1");
    }
}

#[tokio::test]
async fn label_annotate_and_patch_merge_json_and_status() {
    for binary in binaries() {
        let (emu, k) = with_crd_and_namespace(binary).await;
        k.ok_with(&["apply", "-f", "-"], G1).await;
        let ns = ["-n", "trace-ns"];
        k.ok(&[&["label", "gadget", "g1", "tier=gold"][..], &ns].concat())
            .await;
        k.ok(&[&["annotate", "gadget", "g1", "owner=team-a"][..], &ns].concat())
            .await;
        k.ok(&[
            &[
                "patch",
                "gadget",
                "g1",
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"note":"merged"}}"#,
            ][..],
            &ns,
        ]
        .concat())
            .await;
        k.ok(&[
            &[
                "patch",
                "gadget",
                "g1",
                "--type",
                "json",
                "-p",
                r#"[{"op":"replace","path":"/spec/size","value":7}]"#,
            ][..],
            &ns,
        ]
        .concat())
            .await;
        let out = k
            .ok(&[
                &[
                    "patch",
                    "gadget",
                    "g1",
                    "--subresource",
                    "status",
                    "--type",
                    "merge",
                    "-p",
                    r#"{"status":{"phase":"Running","observedGeneration":2}}"#,
                ][..],
                &ns,
            ]
            .concat())
            .await;
        assert!(out.contains("patched"), "{out}");
        let live = gadgets(&emu, "trace-ns").get("g1").await.unwrap();
        assert_eq!(live.metadata.labels.unwrap()["tier"], "gold");
        assert_eq!(live.metadata.annotations.unwrap()["owner"], "team-a");
        assert_eq!(
            live.data["spec"],
            json!({"size": 7, "note": "merged", "color": "red"})
        );
        assert_eq!(live.data["status"]["phase"], "Running");
        assert_eq!(
            live.metadata.generation,
            Some(3),
            "two spec changes after creation"
        );
        let managers: Vec<String> = live
            .metadata
            .managed_fields
            .unwrap()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect();
        for m in [
            "kubectl-client-side-apply",
            "kubectl-label",
            "kubectl-annotate",
            "kubectl-patch",
        ] {
            assert!(
                managers.iter().any(|x| x == m),
                "{m} missing from {managers:?}"
            );
        }
    }
}

#[tokio::test]
async fn create_secret_generic_and_read_it_back() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = kubectl(&emu, binary);
        let out = k
            .ok(&[
                "create",
                "secret",
                "generic",
                "s1",
                "--from-literal=username=demo",
                "--from-literal=password=not-a-real-secret",
            ])
            .await;
        assert_eq!(out.trim(), "secret/s1 created");
        let user = k
            .ok(&["get", "secret", "s1", "-o", "jsonpath={.data.username}"])
            .await;
        assert_eq!(user, "ZGVtbw==");
        let cm = k
            .ok(&["create", "configmap", "c1", "--from-literal=a=b"])
            .await;
        assert_eq!(cm.trim(), "configmap/c1 created");
        assert_eq!(
            k.ok(&["get", "configmap", "c1", "-o", "jsonpath={.data.a}"])
                .await,
            "b"
        );
    }
}

#[tokio::test]
async fn delete_with_a_finalizer_then_remove_it() {
    for binary in binaries() {
        let (emu, k) = with_crd_and_namespace(binary).await;
        let g3 = "apiVersion: demo.example.com/v1\nkind: Gadget\nmetadata:\n  name: g3\n  namespace: trace-ns\n  finalizers: [demo.example.com/hold]\nspec:\n  size: 1\n";
        k.ok_with(&["create", "-f", "-"], g3).await;
        k.ok(&["delete", "gadget", "g3", "-n", "trace-ns", "--wait=false"])
            .await;
        let ts = k
            .ok(&[
                "get",
                "gadget",
                "g3",
                "-n",
                "trace-ns",
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ])
            .await;
        assert!(!ts.is_empty(), "object stays with a deletionTimestamp");
        k.ok(&[
            "patch",
            "gadget",
            "g3",
            "-n",
            "trace-ns",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await;
        assert!(
            gadgets(&emu, "trace-ns")
                .get_opt("g3")
                .await
                .unwrap()
                .is_none()
        );
        let out = k.run(&["get", "gadget", "g3", "-n", "trace-ns"]).await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(
                "Error from server (NotFound): gadgets.demo.example.com \"g3\" not found"
            )
        );
    }
}

#[tokio::test]
async fn get_watch_sees_the_events() {
    for binary in binaries() {
        let (emu, k) = with_crd_and_namespace(binary).await;
        k.ok_with(&["apply", "-f", "-"], G1).await;
        let mut child = k
            .command(&[
                "get",
                "gadgets",
                "-n",
                "trace-ns",
                "-w",
                "--request-timeout=20s",
            ])
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                seen.push(line.clone());
                if seen.len() == 2 {
                    // Header and g1: the watch is running; make a change it must show.
                    gadgets(&emu, "trace-ns")
                        .create(&PostParams::default(), &gadget("g4", 2))
                        .await
                        .unwrap();
                }
                if line.starts_with("g4") {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("g4 shown by get -w");
        let _ = child.kill().await;
        assert!(seen[0].starts_with("NAME"), "{seen:?}");
        assert!(seen[1].starts_with("g1"), "{seen:?}");
    }
}

#[tokio::test]
async fn wait_for_a_condition() {
    for binary in binaries() {
        let (emu, k) = with_crd_and_namespace(binary).await;
        k.ok_with(&["apply", "-f", "-"], G1).await;
        let waiter = k
            .command(&[
                "wait",
                "--for=condition=Ready",
                "gadget/g1",
                "-n",
                "trace-ns",
                "--timeout=20s",
            ])
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = json!({"status": {"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True", "reason": "AllGood", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:01Z"}
        ]}});
        gadgets(&emu, "trace-ns")
            .patch_status("g1", &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), waiter.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("gadget.demo.example.com/g1 condition met")
        );
    }
}

#[tokio::test]
async fn an_invalid_object_is_refused_with_the_field_named() {
    for binary in binaries() {
        let (_emu, k) = with_crd_and_namespace(binary).await;
        let bad = G1.replace("size: 3", "size: 11");
        let out = k.run_with(&["apply", "-f", "-"], &bad).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("spec.size"), "{err}");
        assert!(err.contains("less than or equal to 10"), "{err}");
    }
}

#[tokio::test]
async fn namespaces_from_kubectl_are_real_namespaces() {
    for binary in binaries() {
        let (emu, _k) = with_crd_and_namespace(binary).await;
        let ns: Api<Namespace> = Api::all(emu.client());
        let trace = ns.get("trace-ns").await.unwrap();
        assert_eq!(
            trace.spec.unwrap().finalizers.unwrap(),
            vec!["kubernetes".to_string()]
        );
    }
}

#[tokio::test]
async fn built_in_kinds_apply_with_strategic_merge_and_print_tables() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = kubectl(&emu, binary);
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    app: demo\ndata:\n  a: \"1\"\n";
        assert_eq!(
            k.ok_with(&["apply", "-f", "-"], cm).await.trim(),
            "configmap/settings created"
        );
        let changed = cm.replace("a: \"1\"", "a: \"2\"\n  b: \"3\"");
        assert_eq!(
            k.ok_with(&["apply", "-f", "-"], &changed).await.trim(),
            "configmap/settings configured"
        );
        assert_eq!(
            k.ok(&[
                "get",
                "configmap",
                "settings",
                "-o",
                "jsonpath={.data.a}{.data.b}"
            ])
            .await,
            "23"
        );
        k.ok(&["create", "secret", "generic", "s2", "--from-literal=k=v"])
            .await;
        let table = k.ok(&["get", "secrets"]).await;
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, vec!["NAME", "TYPE", "DATA", "AGE"]);
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().take(3).eq(["s2", "Opaque", "1"])),
            "{table}"
        );
        let out = k.ok(&["delete", "configmap", "settings"]).await;
        // kubectl 1.33 and later name the namespace too: `… deleted from default namespace`.
        assert!(
            ["", " from default namespace"]
                .map(|suffix| format!("configmap \"settings\" deleted{suffix}"))
                .contains(&out.trim().to_owned()),
            "{out}"
        );
        assert_eq!(
            k.ok(&["create", "namespace", "extra"]).await.trim(),
            "namespace/extra created"
        );
        k.ok(&[
            "create",
            "configmap",
            "inside",
            "-n",
            "extra",
            "--from-literal=x=y",
        ])
        .await;
        assert_eq!(
            k.ok(&["delete", "namespace", "extra", "--timeout=20s"])
                .await
                .trim(),
            "namespace \"extra\" deleted"
        );
        let ns = k.ok(&["get", "namespaces", "-o", "name"]).await;
        assert!(!ns.contains("namespace/extra"), "{ns}");
        assert!(ns.lines().any(|l| l == "namespace/kube-system"), "{ns}");
    }
}

#[tokio::test]
async fn server_side_apply_of_built_in_kinds_and_diff() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = kubectl(&emu, binary);
        let out = k
            .ok_with(&["apply", "--server-side", "-f", "-"], &crd_yaml())
            .await;
        assert_eq!(
            out.trim(),
            "customresourcedefinition.apiextensions.k8s.io/gadgets.demo.example.com serverside-applied"
        );
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-cm\n  namespace: default\ndata:\n  a: \"1\"\n";
        k.ok_with(&["apply", "--server-side", "-f", "-"], cm).await;
        // kubectl diff: a dry-run server-side apply, exit code 1 when there are differences.
        let changed = cm.replace("a: \"1\"", "a: \"2\"");
        let out = k
            .run_with(&["diff", "--server-side", "-f", "-"], &changed)
            .await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let diff = String::from_utf8_lossy(&out.stdout);
        assert!(
            diff.contains("-  a: \"1\"") && diff.contains("+  a: \"2\""),
            "{diff}"
        );
        assert_eq!(
            k.ok(&["get", "configmap", "ssa-cm", "-o", "jsonpath={.data.a}"])
                .await,
            "1",
            "diff changes nothing"
        );
    }
}
