//! The operator's rights in the playground, as the Helm chart grants them: the ServiceAccount,
//! ClusterRole and ClusterRoleBinding of a cluster-wide install (release namespace and names
//! `consul-peering-operator`) are applied to each datacenter's API server, and the operator runs with
//! a token of that ServiceAccount from the TokenRequest API (what `kubectl create token` calls), so
//! the playground allows the operator what a real install does, no more. The chart is the source
//! of truth: `tests/rbac.rs` checks these objects equal its rendered ones (Helm's labels aside).

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::crd::FIELD_MANAGER;

/// The release namespace and the name of the ServiceAccount, role and binding.
pub const NAME: &str = "consul-peering-operator";

/// The operator's token lives as long as a playground may run (a pod's token is refreshed by
/// the kubelet; here nothing would).
const TOKEN_SECONDS: i64 = 30 * 24 * 3600;

/// The ServiceAccount, ClusterRole and ClusterRoleBinding, as the chart renders them.
pub fn objects() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": NAME},
            "automountServiceAccountToken": false,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NAME},
            "rules": [
                {"apiGroups": ["consulpeering.io"], "resources": ["peeringacceptors", "peeringdialers"],
                 "verbs": ["get", "list", "watch", "patch"]},
                {"apiGroups": ["consulpeering.io"], "resources": ["peeringmeshes"],
                 "verbs": ["list", "watch", "patch"]},
                {"apiGroups": ["consulpeering.io"],
                 "resources": ["peeringacceptors/status", "peeringdialers/status", "peeringmeshes/status"],
                 "verbs": ["patch"]},
                {"apiGroups": ["consulpeering.io"], "resources": ["peeringacceptors"],
                 "verbs": ["create", "delete"]},
                {"apiGroups": [""], "resources": ["secrets"],
                 "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
                {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAME}],
        }),
    ]
}

/// Installs the RBAC in `cluster`; a client authenticated as the operator's ServiceAccount.
pub async fn operator_client(
    cluster: &kube_emulator::KubeEmulator,
) -> anyhow::Result<kube::Client> {
    let token = install(&cluster.client()).await?;
    Ok(cluster.client_with_token(&token).await?)
}

/// Installs the namespace and [`objects`] with the admin `client`; a token of the ServiceAccount.
async fn install(client: &kube::Client) -> anyhow::Result<String> {
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAME}});
    apply::<Namespace>(Api::all(client.clone()), namespace).await?;
    let [service_account, role, binding] =
        <[Value; 3]>::try_from(objects()).map_err(|_| anyhow::anyhow!("three RBAC objects"))?;
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), NAME);
    apply(accounts.clone(), service_account).await?;
    apply::<ClusterRole>(Api::all(client.clone()), role).await?;
    apply::<ClusterRoleBinding>(Api::all(client.clone()), binding).await?;
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(TOKEN_SECONDS),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let issued = accounts
        .create_token_request(NAME, &PostParams::default(), &request)
        .await?;
    let status = issued
        .status
        .ok_or_else(|| anyhow::anyhow!("the TokenRequest came back without a token"))?;
    Ok(status.token)
}

async fn apply<K>(api: Api<K>, object: Value) -> anyhow::Result<()>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await?;
    Ok(())
}
