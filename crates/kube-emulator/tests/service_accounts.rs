//! ServiceAccounts, the built-in kind whose one file (src/kinds/service_account.rs) plus one line of
//! registration is all that serves it: kube::Client and the real kubectl create, print and validate them
//! as a real server does, and secret references keep only their names (`cleanSecretReferences`).

mod common;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;
use test_support::kubectl::{Kubectl, binaries};

#[tokio::test]
async fn kube_client_creates_service_accounts_and_secret_references_keep_their_names() {
    let emu = common::emulator().await;
    let client = emu.client();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client, "team");
    let sa = serde_json::from_value(json!({
        "metadata": {"name": "op"},
        "secrets": [{"name": "op-token", "namespace": "elsewhere", "uid": "1234", "fieldPath": "x"}],
        "automountServiceAccountToken": false,
    }))
    .unwrap();
    let created = accounts.create(&PostParams::default(), &sa).await.unwrap();
    let secrets = serde_json::to_value(&created.secrets).unwrap();
    assert_eq!(secrets, json!([{"name": "op-token"}]));
    assert_eq!(created.automount_service_account_token, Some(false));
    let listed = accounts.list(&Default::default()).await.unwrap();
    let names: Vec<_> = listed
        .items
        .iter()
        .map(|s| s.metadata.name.clone())
        .collect();
    assert_eq!(names, vec![Some("op".to_string())]);

    let bad = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    let kube::Error::Api(status) = accounts
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err()
    else {
        panic!("a 422 Status");
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.starts_with(
            "ServiceAccount \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn kubectl_creates_and_lists_service_accounts_by_short_name() {
    let emu = common::emulator().await;
    for binary in binaries() {
        let k = Kubectl::new(binary);
        emu.write_kubeconfig(k.kubeconfig()).unwrap();
        let ns = format!("sa-{}", binary.version.replace('.', "-"));
        k.ok(&["create", "namespace", &ns]).await;
        assert_eq!(
            k.ok(&["create", "serviceaccount", "x", "-n", &ns]).await,
            "serviceaccount/x created\n"
        );
        let table = k.ok(&["get", "sa", "-n", &ns]).await;
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows.len(), 2, "{binary}: {table}");
        assert_eq!(rows[0], ["NAME", "SECRETS", "AGE"], "{binary}: {table}");
        assert_eq!(rows[1][..2], ["x", "0"], "{binary}: {table}");
        assert!(
            rows[1][2].ends_with('s'),
            "{binary}: an age in seconds: {table}"
        );
        assert_eq!(
            k.ok(&["get", "serviceaccounts", "x", "-n", &ns, "-o", "name"])
                .await,
            "serviceaccount/x\n"
        );
    }
}
