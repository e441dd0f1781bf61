//! `playground --clusters N` (dc1 … dcN, each with its API server, Consul and operator) and
//! `playground --mesh`: the example PeeringMesh (`examples/mesh.yaml`) over all of them, applied
//! in dc1, printing each link as it becomes ACTIVE.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use super::{Playground, apply_example, create_kubeconfig_secret};
use crate::crd::{ConditionStatus, MeshPairStatus, PeeringMesh};

/// The datacenters a playground can run, in order.
pub const ALL_DATACENTERS: [&str; 5] = ["dc1", "dc2", "dc3", "dc4", "dc5"];

/// The example PeeringMesh (dc1, dc2, dc3); `--mesh` lists the playground's datacenters instead.
pub const EXAMPLE_MESH: &str = include_str!("../../examples/mesh.yaml");

/// How many clusters, and whether to peer them all with a PeeringMesh.
#[derive(Args, Debug, Clone, Default)]
pub struct ClustersArgs {
    /// How many datacenters to run, dc1 … dcN (2 to 5; default 2).
    #[arg(long, value_parser = clap::value_parser!(u8).range(2..=5))]
    pub clusters: Option<u8>,
    /// Peer every datacenter with every other from one PeeringMesh in dc1
    /// (examples/mesh.yaml over all of them) instead of the two-cluster example.
    #[arg(long)]
    pub mesh: bool,
}

impl ClustersArgs {
    /// The datacenters to run.
    pub fn names(&self) -> &'static [&'static str] {
        &ALL_DATACENTERS[..usize::from(self.clusters.unwrap_or(2))]
    }
}

/// The example mesh with the playground's datacenters as members: dc1 (where it is applied)
/// without a kubeconfig, the others through `<name>-kubeconfig` Secrets in dc1.
pub fn mesh_manifest(names: &[&str]) -> anyhow::Result<String> {
    let mut mesh: serde_json::Value =
        serde_saphyr::from_str(EXAMPLE_MESH).context("parsing examples/mesh.yaml")?;
    mesh["spec"]["members"] = names
        .iter()
        .map(|&name| match name {
            "dc1" => json!({"name": name, "namespace": "default"}),
            _ => json!({"name": name, "namespace": "default", "kubeconfigSecretRef":
                {"name": format!("{name}-kubeconfig"), "key": "kubeconfig"}}),
        })
        .collect();
    Ok(serde_json::to_string(&mesh)?)
}

/// Applies the mesh over every datacenter and prints each pair as it becomes ACTIVE, until all
/// are.
pub async fn show_mesh(playground: &Playground) -> anyhow::Result<()> {
    let dc1 = playground.cluster("dc1").kube.client();
    let names: Vec<&str> = playground
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for cluster in playground.clusters.iter().filter(|c| c.name != "dc1") {
        let secret = format!("{}-kubeconfig", cluster.name);
        create_kubeconfig_secret(&dc1, &secret, &cluster.kube.kubeconfig()).await?;
        println!(
            "dc1: created Secret {secret} (how the mesh reaches {})",
            cluster.name
        );
    }
    let mesh: PeeringMesh = apply_example(&dc1, &mesh_manifest(&names)?).await?;
    let pairs = names.len() * (names.len() - 1) / 2;
    println!(
        "dc1: applied PeeringMesh {} (examples/mesh.yaml over {}): {pairs} pairs to peer",
        kube::ResourceExt::name_any(&mesh),
        names.join(", ")
    );
    let api: Api<PeeringMesh> = Api::namespaced(dc1, "default");
    let config = watcher::Config::default().fields("metadata.name=mesh");
    let mut versions = watcher(api, config).applied_objects().boxed();
    let mut shown = BTreeSet::new();
    let deadline = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(deadline);
    loop {
        let mesh = tokio::select! {
            next = versions.next() => next.context("the mesh watch ended")??,
            _ = &mut deadline => anyhow::bail!("the mesh was not fully peered within two minutes"),
        };
        let status = mesh.status.unwrap_or_default();
        for pair in status.pairs.iter().filter(|p| is_active(p)) {
            if shown.insert((pair.acceptor.clone(), pair.dialer.clone())) {
                println!("{} ↔ {}: ACTIVE", pair.acceptor, pair.dialer);
            }
        }
        if shown.len() == pairs && status.peered.as_deref() == Some(&format!("{pairs}/{pairs}")) {
            println!(
                "PeeringMesh mesh: {pairs}/{pairs} peered (kubectl --context dc1 get peeringmesh)"
            );
            return Ok(());
        }
    }
}

fn is_active(pair: &MeshPairStatus) -> bool {
    pair.ready == ConditionStatus::True && pair.state.as_deref() == Some("ACTIVE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mesh_lists_the_playground_datacenters() {
        let manifest = mesh_manifest(&ALL_DATACENTERS[..4]).unwrap();
        let mesh: PeeringMesh = serde_json::from_str(&manifest).unwrap();
        let members: Vec<&str> = mesh.spec.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(members, ["dc1", "dc2", "dc3", "dc4"]);
        assert!(mesh.spec.members[0].is_local());
        assert_eq!(mesh.spec.validate(), Ok(()));
        assert_eq!(mesh.spec.pairs().unwrap().len(), 6);
        let default = ClustersArgs::default();
        assert_eq!(default.names(), ["dc1", "dc2"]);
    }
}
