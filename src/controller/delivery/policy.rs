//! The kubeconfig sandbox: a delivery target's kubeconfig comes from a Secret users write, so
//! only inline credentials are accepted. Exec plugins, auth providers and file paths would let
//! a Secret run commands or read files inside the operator's pod.

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Builds a client from a kubeconfig's current context, refusing anything but inline
/// credentials.
pub(super) async fn client_from_kubeconfig(raw: &[u8]) -> Result<kube::Client, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| format!("not a kubeconfig: {e}"))?;
    for auth in &kubeconfig.auth_infos {
        let Some(info) = &auth.auth_info else {
            continue;
        };
        if info.exec.is_some() || info.auth_provider.is_some() {
            return Err(format!(
                "user {:?} authenticates with an exec plugin or auth provider; only inline \
                 credentials (token, client certificate data) are accepted",
                auth.name
            ));
        }
        if info.token_file.is_some()
            || info.client_certificate.is_some()
            || info.client_key.is_some()
        {
            return Err(format!(
                "user {:?} refers to files; inline the credentials (token, \
                 client-certificate-data, client-key-data)",
                auth.name
            ));
        }
    }
    for cluster in &kubeconfig.clusters {
        if cluster
            .cluster
            .as_ref()
            .is_some_and(|c| c.certificate_authority.is_some())
        {
            return Err(format!(
                "cluster {:?} refers to a CA file; use certificate-authority-data",
                cluster.name
            ));
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refusal(kubeconfig: &str) -> String {
        match client_from_kubeconfig(kubeconfig.as_bytes()).await {
            Ok(_) => panic!("accepted: {kubeconfig}"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn kubeconfigs_with_exec_plugins_or_files_are_refused() {
        let exec = r#"
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#;
        let err = refusal(exec).await;
        assert!(err.contains("exec plugin"), "{err}");
        let token_file = exec.replace(
            r#"{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}}"#,
            "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}",
        );
        let err = refusal(&token_file).await;
        assert!(err.contains("refers to files"), "{err}");
        let ca_file = exec.replace(
            r#"{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}}"#,
            "{token: abc}",
        )
        .replace(
            r#"{server: "https://127.0.0.1:1"}"#,
            r#"{server: "https://127.0.0.1:1", certificate-authority: /etc/ssl/ca.pem}"#,
        );
        let err = refusal(&ca_file).await;
        assert!(err.contains("CA file"), "{err}");
        let inline = ca_file.replace(", certificate-authority: /etc/ssl/ca.pem", "");
        assert!(client_from_kubeconfig(inline.as_bytes()).await.is_ok());
        let err = refusal("not: [a kubeconfig").await;
        assert!(err.starts_with("not a kubeconfig"), "{err}");
    }
}
