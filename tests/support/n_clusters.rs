//! dc1 … dcN, each as in [`two_clusters`](super::two_clusters) (an emulated Kubernetes API
//! server, an emulated Consul, the real operator in-process against them), for the tests that
//! peer more than two clusters. Every test starts its own, so nothing is shared.

use kube::Api;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::LevelFilter;

use consul_peering_operator::playground::install_crds;

use super::operator::{Logs, consul_config};
use super::two_clusters::{Dc, NS, TIMEOUT, start_operator};

/// The names of the datacenters, in order.
const NAMES: [&str; 5] = ["dc1", "dc2", "dc3", "dc4", "dc5"];

/// dc1 … dcN with their operators; dropping it stops the operators and the emulators.
pub struct Clusters {
    pub dcs: Vec<Dc>,
    /// The operators' log output, at trace level.
    pub logs: Logs,
    stop: CancellationToken,
    operators: Vec<JoinHandle<anyhow::Result<()>>>,
    _log_guard: tracing::subscriber::DefaultGuard,
}

impl Clusters {
    /// `n` datacenters (2 to 5), each with its operator running.
    pub async fn start(n: usize) -> Clusters {
        assert!((2..=NAMES.len()).contains(&n), "2 to 5 clusters");
        emulator_common::install_crypto_provider();
        let logs = Logs::default();
        let log_guard = logs.capture(LevelFilter::TRACE);
        let stop = CancellationToken::new();
        let mut operators = Vec::new();
        let mut dcs = Vec::new();
        for &name in &NAMES[..n] {
            let kube = kube_emulator::start_with(kube_emulator::Config {
                cluster_name: name.to_owned(),
                ..kube_emulator::Config::default()
            })
            .await
            .expect("kube emulator starts");
            let consul = consul_emulator::start(consul_config(name))
                .await
                .expect("consul emulator starts");
            install_crds(&kube.client()).await.expect("CRDs installed");
            let (metrics, operator) = start_operator(name, &kube, &consul, &stop).await;
            operators.push(operator);
            dcs.push(Dc {
                name,
                kube,
                consul,
                metrics,
            });
        }
        Clusters {
            dcs,
            logs,
            stop,
            operators,
            _log_guard: log_guard,
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
        self.stop.cancel();
        for operator in self.operators.drain(..) {
            tokio::time::timeout(TIMEOUT, operator)
                .await
                .expect("operator stops in time")
                .expect("operator task")
                .expect("operator ends without error");
        }
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The namespace's API of a kind in one datacenter.
pub fn api<K>(dc: &Dc) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(dc.client(), NS)
}
