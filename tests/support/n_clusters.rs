//! dc1 … dcN, each as in [`two_clusters`](super::two_clusters) (an emulated Kubernetes API
//! server, an emulated Consul, the real operator in-process against them), for the tests that
//! peer more than two clusters. Every test starts its own, so nothing is shared.

use kube::Api;

use super::operator::Logs;
use super::two_clusters::{Dc, NS, Operators};

/// The names of the datacenters, in order.
const NAMES: [&str; 5] = ["dc1", "dc2", "dc3", "dc4", "dc5"];

/// dc1 … dcN with their operators; dropping it stops the operators and the emulators.
pub struct Clusters {
    /// First, so that dropping stops the operators before the emulators go.
    operators: Operators,
    pub dcs: Vec<Dc>,
    /// The operators' log output, at trace level.
    pub logs: Logs,
}

impl Clusters {
    /// `n` datacenters (2 to 5), each with its operator running.
    pub async fn start(n: usize) -> Clusters {
        assert!((2..=NAMES.len()).contains(&n), "2 to 5 clusters");
        let logs = Logs::default();
        let mut operators = Operators::capturing(&logs);
        let mut dcs = Vec::new();
        for &name in &NAMES[..n] {
            dcs.push(operators.start_dc(name).await);
        }
        Clusters {
            operators,
            dcs,
            logs,
        }
    }

    /// The datacenter named `name`.
    pub fn dc(&self, name: &str) -> &Dc {
        self.dcs
            .iter()
            .find(|dc| dc.name == name)
            .unwrap_or_else(|| panic!("no datacenter {name}"))
    }

    /// Creates, in `into`'s namespace, Secret `name` holding `of`'s admin kubeconfig, with the
    /// server address replaced by `server` when given.
    pub async fn kubeconfig_secret(&self, into: &Dc, name: &str, of: &Dc, server: Option<&str>) {
        let mut kubeconfig = of.kube.kubeconfig();
        if let Some(server) = server {
            kubeconfig = kubeconfig.replace(of.kube.url(), server);
        }
        consul_peering_operator::playground::create_kubeconfig_secret(
            &into.client(),
            name,
            &kubeconfig,
        )
        .await
        .expect("kubeconfig Secret created");
    }

    /// Stops the operators and checks that they ended cleanly.
    pub async fn stop(mut self) {
        self.operators.stop().await;
    }
}

/// The namespace's API of a kind in one datacenter.
pub fn api<K>(dc: &Dc) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(dc.client(), NS)
}
