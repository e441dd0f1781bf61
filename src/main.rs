//! The `consul-peering-operator` binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "consul-peering-operator",
    version,
    about = "Kubernetes operator for HashiCorp Consul cluster peering"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the PeeringAcceptor and PeeringDialer CustomResourceDefinitions as YAML.
    Crds,
}

fn main() -> ExitCode {
    // kube and reqwest both bring rustls providers; choose one before anything uses TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match consul_peering_operator::crd::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("Error rendering the CRDs: {err}");
                ExitCode::FAILURE
            }
        },
    }
}
