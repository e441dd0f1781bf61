//! The emulated world the benchmark drives: the playground's clusters and Consuls without
//! operators, a kubeconfig per cluster for the operator's ServiceAccount, objects created by
//! parallel clients, and the emulators' request counters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::playground::{self, Cluster, Playground, PlaygroundArgs, rbac};

/// The parallel clients of a burst.
pub const CLIENTS: usize = 8;

/// The user the operator runs as (the chart's ServiceAccount).
pub fn operator_user() -> String {
    format!("system:serviceaccount:{0}:{0}", rbac::NAME)
}

pub struct World {
    pub playground: Playground,
    pub dir: PathBuf,
}

impl World {
    pub async fn start(dir: &Path) -> anyhow::Result<World> {
        let args = PlaygroundArgs {
            state_dir: Some(dir.to_owned()),
            empty: true,
            no_operator: true,
            consul: Vec::new(),
        };
        let playground = playground::start(&args, dir).await?;
        Ok(World {
            playground,
            dir: dir.to_owned(),
        })
    }

    pub fn dc(&self, name: &str) -> &Cluster {
        self.playground.cluster(name)
    }

    pub fn consul(&self, name: &str) -> anyhow::Result<&consul_emulator::Handle> {
        self.dc(name)
            .consul_emulator()
            .ok_or_else(|| anyhow::anyhow!("{name} has no emulated Consul"))
    }

    /// Installs the chart's RBAC in `name` and writes a kubeconfig for its ServiceAccount.
    pub async fn operator_kubeconfig(&self, name: &str) -> anyhow::Result<PathBuf> {
        let cluster = self.dc(name);
        rbac::operator_client(&cluster.kube).await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(cluster.kube.client(), rbac::NAME);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(24 * 3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let token = accounts
            .create_token_request(rbac::NAME, &PostParams::default(), &request)
            .await?
            .status
            .context("a TokenRequest without a token")?
            .token;
        let path = self.dir.join(format!("{name}-operator.kubeconfig"));
        std::fs::write(&path, cluster.kube.kubeconfig_for("operator", &token))?;
        Ok(path)
    }

    pub async fn create_namespace(&self, dc: &str, name: &str) -> anyhow::Result<()> {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        Api::<Namespace>::all(self.dc(dc).kube.client())
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(())
    }

    /// Creates `objects` in `namespace` of `dc` with [`CLIENTS`] clients in parallel, each its
    /// own connection, each creating its share in order.
    pub async fn create_parallel<K>(
        &self,
        dc: &str,
        namespace: &str,
        objects: Vec<Value>,
    ) -> anyhow::Result<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let cluster = self.dc(dc);
        let mut shares: Vec<Vec<Value>> = vec![Vec::new(); CLIENTS];
        for (i, object) in objects.into_iter().enumerate() {
            shares[i % CLIENTS].push(object);
        }
        let mut clients = Vec::new();
        for share in shares {
            let client = cluster
                .kube
                .client_with_token(cluster.kube.admin_token())
                .await?;
            let api: Api<K> = Api::namespaced(client, namespace);
            clients.push(tokio::spawn(async move {
                for object in share {
                    let object: K = serde_json::from_value(object)?;
                    api.create(&PostParams::default(), &object).await?;
                }
                anyhow::Ok(())
            }));
        }
        for client in clients {
            client.await??;
        }
        Ok(())
    }

    pub fn reset_counters(&self, dc: &str) -> anyhow::Result<()> {
        self.dc(dc).kube.reset_counts();
        self.consul(dc)?.reset_counters();
        Ok(())
    }

    /// The operator's Kubernetes writes since the last reset, by `verb resource`.
    pub fn operator_writes(&self, dc: &str) -> BTreeMap<String, u64> {
        let user = operator_user();
        let mut writes = BTreeMap::new();
        for c in self.dc(dc).kube.request_counts() {
            if c.user == user && is_write(&c.verb) {
                *writes
                    .entry(format!("{} {}", c.verb, c.resource))
                    .or_default() += c.count;
            }
        }
        writes
    }

    /// Consul's requests since the last reset, by `METHOD endpoint`.
    pub fn consul_calls(&self, dc: &str) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut calls = BTreeMap::new();
        for c in self.consul(dc)?.counters() {
            *calls
                .entry(format!("{} {}", c.method, c.endpoint))
                .or_default() += c.count;
        }
        Ok(calls)
    }
}

fn is_write(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// A PeeringAcceptor for peer `name` whose token goes to Secret `tok-<name>`.
pub fn acceptor(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringAcceptor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"peer": {"secret": {"name": token_secret(name), "key": "data", "backend": "kubernetes"}}},
    })
}

pub fn token_secret(name: &str) -> String {
    format!("tok-{name}")
}

/// An unrelated Secret of 1 KiB.
pub fn unrelated_secret(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"blob": "x".repeat(1024)},
    })
}

/// Sum of counts whose key starts with `prefix`.
pub fn sum_of(counts: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    counts
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}
