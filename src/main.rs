//! The `consul-peering-operator` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use consul_peering_operator::telemetry::logging;
use consul_peering_operator::{cli, crd};

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
    /// Run the controllers against the current kubeconfig or the in-cluster configuration.
    Run(Box<consul_peering_operator::run::RunArgs>),
    /// Two emulated clusters and Consuls (dc1, dc2) with the operator in each; prints how to
    /// use kubectl with them.
    #[cfg(feature = "playground")]
    Playground(PlaygroundCommand),
    /// Measure the operator (this binary's `run`, as a process of its own) against emulated
    /// clusters: latency against the floor, bursts, memory, quiet, propagation, startup.
    #[cfg(feature = "playground")]
    Bench(consul_peering_operator::bench::BenchArgs),
    /// Generate a Consul peering token, as `consul peering generate-token` does.
    #[command(
        name = cli::generate_token::COMMAND,
        about = cli::generate_token::ABOUT,
        long_about = cli::generate_token::LONG_ABOUT
    )]
    GenerateToken(Box<cli::generate_token::GenerateTokenArgs>),
    /// Print the PeeringAcceptor and PeeringDialer CustomResourceDefinitions as YAML.
    Crds {
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
}

/// `playground` runs one; `playground fault` sets a fault in a running one.
#[cfg(feature = "playground")]
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct PlaygroundCommand {
    #[command(subcommand)]
    action: Option<PlaygroundAction>,
    #[command(flatten)]
    args: consul_peering_operator::playground::PlaygroundArgs,
    #[command(flatten)]
    clusters: consul_peering_operator::playground::mesh::ClustersArgs,
}

#[cfg(feature = "playground")]
#[derive(Subcommand)]
enum PlaygroundAction {
    /// Make a running playground's Consul or Kubernetes API fail (consul-down, consul-500,
    /// consul-slow, kube-429, kube-conflict, kube-watch-drop, kube-expired) or `clear` it.
    Fault(consul_peering_operator::playground::fault::FaultArgs),
}

fn main() -> ExitCode {
    // kube and reqwest both bring rustls providers; choose one before anything uses TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // generate-token takes Go's flag syntax (-name x), as `consul peering generate-token` does.
    let generate_token = Cli::command()
        .find_subcommand(cli::generate_token::COMMAND)
        .cloned()
        .expect("generate-token is a subcommand");
    let args = match cli::go_flags::normalize(
        std::env::args_os().collect(),
        cli::generate_token::COMMAND,
        &generate_token,
        cli::generate_token::check_flag_value,
    ) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("{err}");
            eprintln!("Usage: consul-peering-operator generate-token [options] -name <peer name>");
            return ExitCode::from(1);
        }
    };
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Run(args) => block_on(consul_peering_operator::run::run(*args)),
        #[cfg(feature = "playground")]
        Command::Playground(PlaygroundCommand {
            action: Some(PlaygroundAction::Fault(args)),
            ..
        }) => block_on(consul_peering_operator::playground::fault::run(args)),
        #[cfg(feature = "playground")]
        Command::Playground(PlaygroundCommand { args, clusters, .. }) => {
            block_on(consul_peering_operator::playground::run(args, clusters))
        }
        #[cfg(feature = "playground")]
        Command::Bench(args) => block_on(consul_peering_operator::bench::run(args)),
        Command::GenerateToken(args) => generate_token_command(&args),
        Command::Crds { output_dir } => crds(output_dir),
    }
}

/// Logs go to stderr only when RUST_LOG asks for them, so that by default the output is exactly
/// Consul's.
fn generate_token_command(args: &cli::generate_token::GenerateTokenArgs) -> ExitCode {
    logging::init_with_default(logging::LogFormat::Text, "off");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(cli::generate_token::run(
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    ));
    ExitCode::from(code)
}

/// Runs an async command on a multi-threaded runtime; an error is printed with its causes.
fn block_on(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(command);
    // Tasks still running (a watch, a long-poll, a blocking DNS lookup) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn crds(output_dir: Option<PathBuf>) -> ExitCode {
    let result = match output_dir {
        Some(dir) => cli::crds::write_crd_files(&dir).map(|paths| {
            for path in paths {
                eprintln!("wrote {}", path.display());
            }
        }),
        None => crd::crds_yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(std::io::Error::other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error writing the CRDs: {err}");
            ExitCode::FAILURE
        }
    }
}
