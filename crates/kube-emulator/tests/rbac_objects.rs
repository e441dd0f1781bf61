//! RBAC from objects with the real kubectl (each kubectl found, see `test_support::kubectl`): a ServiceAccount's
//! `kubectl create token` credential is refused with the real 403 until a Role and RoleBinding grant it,
//! ClusterRoleBindings to the ServiceAccount groups, aggregated ClusterRoles, a binding to a missing role (its
//! reason in the 403), and a deleted ServiceAccount's token stops working.

mod common;

use base64::Engine;
use common::*;
use kube_emulator::KubeEmulator;
use serde_json::{Value, json};
use test_support::kubectl::{Binary, Kubectl, binaries};

/// kubectl as the admin.
fn admin(emu: &KubeEmulator, binary: &'static Binary) -> Kubectl {
    let kubectl = Kubectl::new(binary);
    emu.write_kubeconfig(kubectl.kubeconfig()).unwrap();
    kubectl
}

/// kubectl whose kubeconfig holds only `token`, as a user handed a `kubectl create token` output.
fn with_token(emu: &KubeEmulator, binary: &'static Binary, token: &str) -> Kubectl {
    let kubectl = Kubectl::new(binary);
    std::fs::write(kubectl.kubeconfig(), emu.kubeconfig_for("sa", token)).unwrap();
    kubectl
}

/// The claims of a JWT.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Fails unless kubectl failed; its stderr.
async fn fails(kubectl: &Kubectl, args: &[&str]) -> String {
    let out = kubectl.run(args).await;
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A raw GET with a bearer token: status code and body.
async fn raw_get(emu: &KubeEmulator, token: &str, path: &str) -> (u16, Value) {
    let http = https_client(emu);
    let resp = http
        .get(format!("{}{path}", emu.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

const READER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader, namespace: team}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch], resourceNames: [settings]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: op-reads-secrets, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: op}
"#;

#[tokio::test]
async fn service_account_token_is_authorized_by_role_bindings() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = admin(&emu, binary);
        k.ok(&["create", "namespace", "team"]).await;
        k.ok(&["create", "serviceaccount", "op", "-n", "team"])
            .await;
        let token = k
            .ok(&["create", "token", "op", "-n", "team", "--duration=20m"])
            .await
            .trim()
            .to_string();
        let c = claims(&token);
        assert_eq!(c["sub"], "system:serviceaccount:team:op", "{c}");
        assert_eq!(c["kubernetes.io"]["namespace"], "team");
        assert_eq!(c["kubernetes.io"]["serviceaccount"]["name"], "op");
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            1200
        );
        assert_eq!(
            c["aud"],
            json!(["https://kubernetes.default.svc.cluster.local"])
        );

        let sa = with_token(&emu, binary, &token);
        assert_eq!(
            fails(&sa, &["get", "secrets", "-n", "team"]).await,
            "Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:team:op\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\"\n"
        );
        k.ok_with(&["apply", "-f", "-"], READER).await;
        k.ok(&[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "team",
            "--from-literal=a=b",
        ])
        .await;
        assert_eq!(
            sa.ok(&["get", "secrets", "-n", "team", "-o", "name"]).await,
            "secret/s1\n"
        );
        // resourceNames: the one ConfigMap only.
        k.ok(&["create", "configmap", "settings", "-n", "team"])
            .await;
        k.ok(&["create", "configmap", "other", "-n", "team"]).await;
        sa.ok(&["get", "configmap", "settings", "-n", "team"]).await;
        assert!(
            fails(&sa, &["get", "configmap", "other", "-n", "team"])
                .await
                .contains("configmaps \"other\" is forbidden: User \"system:serviceaccount:team:op\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"team\"")
        );
        // A list naming the object with its fieldSelector is authorized for that name.
        let named = ["get", "configmaps", "-n", "team", "-o", "name"];
        let settings = [&named[..], &["--field-selector=metadata.name=settings"]].concat();
        assert_eq!(sa.ok(&settings).await, "configmap/settings\n");
        assert!(
            fails(&sa, &named)
                .await
                .contains("configmaps is forbidden: User \"system:serviceaccount:team:op\" cannot list resource \"configmaps\"")
        );
        let other = [&named[..], &["--field-selector=metadata.name=other"]].concat();
        assert!(
            fails(&sa, &other)
                .await
                .contains("configmaps \"other\" is forbidden: User \"system:serviceaccount:team:op\" cannot list resource \"configmaps\"")
        );
        // Not in another namespace, not a write.
        fails(&sa, &["get", "secrets", "-n", "default"]).await;
        fails(&sa, &["delete", "secret", "s1", "-n", "team"]).await;
        let (code, body) = raw_get(&emu, &token, "/api/v1/namespaces/default/secrets/x").await;
        assert_eq!(code, 403);
        assert_eq!(
            body,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "secrets \"x\" is forbidden: User \"system:serviceaccount:team:op\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\"",
                "reason": "Forbidden", "details": {"name": "x", "kind": "secrets"}, "code": 403
            })
        );

        // The token goes with its ServiceAccount, even when one of the same name comes back.
        k.ok(&["delete", "serviceaccount", "op", "-n", "team"])
            .await;
        k.ok(&["create", "serviceaccount", "op", "-n", "team"])
            .await;
        assert!(
            fails(&sa, &["get", "secrets", "-n", "team"])
                .await
                .contains("Unauthorized")
        );
        let (code, _) = raw_get(&emu, &token, "/api/v1/namespaces/team/secrets").await;
        assert_eq!(code, 401);
    }
}

#[tokio::test]
async fn token_request_validation() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = admin(&emu, binary);
        k.ok(&["create", "serviceaccount", "op"]).await;
        assert_eq!(
            fails(&k, &["create", "token", "op", "--duration=5m"]).await,
            "error: failed to create token: TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes\n"
        );
        assert_eq!(
            fails(&k, &["create", "token", "missing"]).await,
            "error: failed to create token: serviceaccounts \"missing\" not found\n"
        );
        // The default lifetime is an hour.
        let token = k.ok(&["create", "token", "op"]).await;
        let c = claims(token.trim());
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            3600
        );
    }
}

const CLUSTER_POLICY: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: peering-viewer}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-viewer: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: configmap-lister
  labels: {example.com/aggregate-to-viewer: "true"}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: team-views}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: peering-viewer}
subjects:
- {kind: Group, name: "system:serviceaccounts:team", apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: not-there}
subjects:
- {kind: Group, name: "system:authenticated", apiGroup: rbac.authorization.k8s.io}
"#;

#[tokio::test]
async fn cluster_role_bindings_groups_and_aggregation() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = admin(&emu, binary);
        k.ok(&["create", "namespace", "team"]).await;
        k.ok(&["create", "serviceaccount", "a", "-n", "team"]).await;
        k.ok(&["create", "serviceaccount", "b", "-n", "default"])
            .await;
        k.ok_with(&["apply", "-f", "-"], CLUSTER_POLICY).await;
        let token_a = k.ok(&["create", "token", "a", "-n", "team"]).await;
        let token_b = k.ok(&["create", "token", "b"]).await;
        let a = with_token(&emu, binary, token_a.trim());
        let b = with_token(&emu, binary, token_b.trim());
        // Every ServiceAccount of team may list ConfigMaps everywhere, through the aggregated role.
        a.ok(&["get", "configmaps", "-A"]).await;
        a.ok(&["get", "configmaps", "-n", "kube-system"]).await;
        // Others may not; the dangling binding is the reason the real server gives.
        assert_eq!(
            fails(&b, &["get", "configmaps", "-n", "default"]).await,
            "Error from server (Forbidden): configmaps is forbidden: User \"system:serviceaccount:default:b\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\": RBAC: clusterrole.rbac.authorization.k8s.io \"not-there\" not found\n"
        );
        // Labelling a role into the aggregate grants its rules at once.
        k.ok_with(
            &["apply", "-f", "-"],
            r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "namespace-reader", "labels": {"example.com/aggregate-to-viewer": "true"}},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]}"#,
        )
        .await;
        a.ok(&["get", "namespace", "team"]).await;
        fails(&a, &["get", "namespaces"]).await;
    }
}

const IMPERSONATOR: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-team-sas}
rules:
- {apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: support-impersonates, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-team-sas}
subjects:
- {kind: ServiceAccount, name: support, namespace: default}
"#;

#[tokio::test]
async fn impersonation_with_as_needs_the_impersonate_verb() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = admin(&emu, binary);
        k.ok(&["create", "namespace", "team"]).await;
        k.ok(&["create", "serviceaccount", "op", "-n", "team"])
            .await;
        k.ok(&["create", "serviceaccount", "support"]).await;
        k.ok_with(&["apply", "-f", "-"], READER).await;
        k.ok_with(&["apply", "-f", "-"], IMPERSONATOR).await;
        let as_op = ["--as=system:serviceaccount:team:op"];
        // The admin may impersonate anyone; the account then has its own rights only.
        let list = ["get", "secrets", "-n", "team", "-o", "name"];
        k.ok(&[&list[..], &as_op].concat()).await;
        assert_eq!(
            fails(
                &k,
                &[&["get", "secrets", "-n", "default"][..], &as_op].concat()
            )
            .await,
            "Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:team:op\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\"\n"
        );
        // A ServiceAccount may impersonate what its RoleBinding allows, no more; every group asked for too.
        let token = k.ok(&["create", "token", "support"]).await;
        let support = with_token(&emu, binary, token.trim());
        support.ok(&[&list[..], &as_op].concat()).await;
        assert_eq!(
            fails(&support, &[&list[..], &["--as=bob"]].concat()).await,
            "Error from server (Forbidden): users \"bob\" is forbidden: User \"system:serviceaccount:default:support\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope\n"
        );
        assert_eq!(
            fails(
                &support,
                &[&list[..], &["--as=system:serviceaccount:default:b"]].concat()
            )
            .await,
            "Error from server (Forbidden): serviceaccounts \"b\" is forbidden: User \"system:serviceaccount:default:support\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"default\"\n"
        );
        let with_group = [&as_op[..], &["--as-group=developers"]].concat();
        assert!(
            fails(&support, &[&list[..], &with_group].concat())
                .await
                .contains("groups \"developers\" is forbidden")
        );
        k.ok(&[&list[..], &with_group].concat()).await;
    }
}

/// `kubectl auth can-i ARGS` as team's ServiceAccount `op`: exit code and output.
async fn can_i(k: &Kubectl, args: &[&str]) -> (Option<i32>, String) {
    let as_op = ["--as=system:serviceaccount:team:op"];
    let out = k
        .run(&[&["auth", "can-i"][..], args, &as_op].concat())
        .await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_auth_can_i_answers_from_the_bindings() {
    for binary in binaries() {
        let emu = emulator().await;
        let k = admin(&emu, binary);
        k.ok(&["create", "namespace", "team"]).await;
        k.ok(&["create", "serviceaccount", "op", "-n", "team"])
            .await;
        k.ok_with(&["apply", "-f", "-"], READER).await;
        let yes = (Some(0), "yes\n".to_string());
        let no = (Some(1), "no\n".to_string());
        assert_eq!(can_i(&k, &["list", "secrets", "-n", "team"]).await, yes);
        assert_eq!(can_i(&k, &["delete", "secrets", "-n", "team"]).await, no);
        assert_eq!(can_i(&k, &["list", "secrets", "-n", "default"]).await, no);
        assert_eq!(
            can_i(&k, &["get", "configmaps/settings", "-n", "team"]).await,
            yes
        );
        assert_eq!(
            can_i(&k, &["get", "configmaps/other", "-n", "team"]).await,
            no
        );
        assert_eq!(can_i(&k, &["get", "/apis"]).await, yes);
        assert_eq!(can_i(&k, &["get", "/metrics"]).await, no);
        // With the account's own token, and the review's answer in full.
        let token = k.ok(&["create", "token", "op", "-n", "team"]).await;
        let sa = with_token(&emu, binary, token.trim());
        assert_eq!(
            sa.ok(&["auth", "can-i", "get", "secrets", "-n", "team"])
                .await,
            "yes\n"
        );
        let review = r#"{"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "team", "verb": "get", "resource": "secrets"}}}"#;
        let created: Value = serde_json::from_str(
            &sa.ok_with(&["create", "-f", "-", "-o", "json"], review)
                .await,
        )
        .unwrap();
        assert_eq!(
            created["status"],
            json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"op-reads-secrets/team\" of Role \"secret-reader\" to ServiceAccount \"op/team\""})
        );
        // Reviews are only created.
        assert!(
            fails(&k, &["get", "selfsubjectaccessreviews"])
                .await
                .contains("the server does not allow this method on the requested resource")
        );
    }
}
