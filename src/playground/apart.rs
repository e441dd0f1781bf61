//! `playground --no-operator`: the clusters and Consuls only, so that the operator runs apart
//! (`consul-peering-operator run`), as a process with its own memory and CPU, against them. The
//! benchmark starts it that way too.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{Cluster, Playground};

impl Cluster {
    /// The emulated Consul (none for an external one): its request counters and faults.
    pub fn consul_emulator(&self) -> Option<&consul_emulator::Handle> {
        self._consul.as_ref()
    }
}

impl Playground {
    /// A kubeconfig holding only this datacenter (`<state dir>/<name>.kubeconfig`), for an
    /// operator run apart: `run` reads the current context.
    pub fn cluster_kubeconfig_path(&self, name: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.kubeconfig"))
    }
}

/// Writes one kubeconfig per datacenter and prints how to run an operator against each.
pub fn print_operator_commands(playground: &Playground) -> anyhow::Result<()> {
    println!("No operator runs; start one per datacenter apart:");
    for (n, c) in playground.clusters.iter().enumerate() {
        let path = playground.cluster_kubeconfig_path(&c.name);
        c.kube
            .write_kubeconfig(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "  KUBECONFIG={} consul-peering-operator run --http-addr {} --listen-addr 127.0.0.1:{}",
            path.display(),
            c.consul_address,
            8081 + n
        );
    }
    println!();
    Ok(())
}
