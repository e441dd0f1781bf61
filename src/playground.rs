//! `consul-peering-operator playground`: two datacenters, `dc1` and `dc2`, each an emulated
//! Kubernetes API server and an emulated Consul (or a real Consul given with `--consul`), with
//! the operator running against each; writes a kubeconfig with one context per datacenter,
//! then shows the operator's main job as it happens. Each operator runs under the chart's RBAC,
//! with a ServiceAccount token (see [`rbac`]).
//!
//! Built only with the `playground` feature (on by default, off in the production image).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::consul::{ConsulClients, ConsulConfig, PeeringState};
use crate::crd::{
    CONDITION_DELIVERED, CONDITION_READY, ConditionStatus, DEFAULT_KUBECONFIG_KEY, FIELD_MANAGER,
    PeeringAcceptor, PeeringDialer, crds, find_condition,
};
use crate::run::{RunArgs, run_with, stop_on_signal};
use crate::telemetry::logging::{self, LogFormat};

pub mod apart;
pub mod fault;
pub mod mesh;
pub mod rbac;

/// The datacenters the playground runs.
pub const DATACENTERS: [&str; 2] = ["dc1", "dc2"];

#[derive(Args, Debug, Clone)]
pub struct PlaygroundArgs {
    /// Where the kubeconfig and playground.json go (default: a fresh temporary folder).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Install the CRDs only; apply no example.
    #[arg(long)]
    pub empty: bool,
    /// Serve the clusters and Consuls only, without the operators (implies `--empty`): run
    /// `consul-peering-operator run` apart against them, as a process of its own.
    #[arg(long)]
    pub no_operator: bool,
    /// Use a real Consul for a datacenter instead of the emulator: `dc1=http://127.0.0.1:8500`.
    /// CONSUL_HTTP_TOKEN, CONSUL_CACERT … apply to it as to the Consul CLI.
    #[arg(long = "consul", value_name = "NAME=URL", value_parser = parse_consul)]
    pub consul: Vec<(String, String)>,
}

fn parse_consul(raw: &str) -> Result<(String, String), String> {
    let (name, url) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?}: expected NAME=URL, e.g. dc1=http://127.0.0.1:8500"))?;
    if !mesh::ALL_DATACENTERS.contains(&name) {
        return Err(format!(
            "{name:?}: the playground's datacenters are {}",
            mesh::ALL_DATACENTERS.join(", ")
        ));
    }
    Ok((name.to_owned(), url.to_owned()))
}

/// One datacenter of the playground.
pub struct Cluster {
    pub name: String,
    pub kube: kube_emulator::KubeEmulator,
    pub consul_address: String,
    pub consul_token: Option<String>,
    pub consul_ca_file: Option<PathBuf>,
    /// Keeps the emulated Consul running (none for an external Consul).
    _consul: Option<consul_emulator::Handle>,
}

/// Everything the playground started; dropping it stops the emulators.
pub struct Playground {
    pub state_dir: PathBuf,
    pub clusters: Vec<Cluster>,
    pub stop: CancellationToken,
    operators: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Where `playground fault` sets each cluster's faults.
    pub fault_control: fault::Control,
}

impl Playground {
    pub fn cluster(&self, name: &str) -> &Cluster {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .expect("a playground datacenter")
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    /// Stops the operators (in-flight reconciles finish) and waits for them.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for operator in self.operators {
            operator.await.context("operator task")??;
        }
        Ok(())
    }
}

/// Starts both datacenters, their operators, and installs the CRDs. Used by the command and by
/// the tests.
pub async fn start(args: &PlaygroundArgs, state_dir: &Path) -> anyhow::Result<Playground> {
    start_clusters(args, &DATACENTERS, state_dir).await
}

/// Starts the datacenters `names` (see `start`).
pub async fn start_clusters(
    args: &PlaygroundArgs,
    names: &[&str],
    state_dir: &Path,
) -> anyhow::Result<Playground> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let external: BTreeMap<String, String> = args.consul.iter().cloned().collect();
    let stop = CancellationToken::new();
    let mut clusters = Vec::new();
    let mut operators = Vec::new();
    for &name in names {
        let kube = kube_emulator::start_with(kube_emulator::Config {
            cluster_name: name.to_owned(),
            ..kube_emulator::Config::default()
        })
        .await
        .with_context(|| format!("starting the Kubernetes API emulator for {name}"))?;
        let mut consul_config = ConsulConfig::from_env();
        let (handle, address, token, ca_file) = match external.get(name) {
            Some(url) => {
                consul_config.address = url.clone();
                let token = consul_config.token.as_ref().map(|t| t.expose().to_owned());
                (None, url.clone(), token, consul_config.ca_file.clone())
            }
            None => {
                let handle = consul_emulator::start(consul_emulator::Config::new(name))
                    .await
                    .with_context(|| format!("starting the Consul emulator for {name}"))?;
                consul_config = ConsulConfig {
                    address: handle.url(),
                    ..ConsulConfig::default()
                };
                let address = handle.url();
                (Some(handle), address, None, None)
            }
        };
        install_crds(&kube.client())
            .await
            .with_context(|| format!("installing the CRDs in {name}"))?;
        if !args.no_operator {
            let consul = ConsulClients::new(consul_config)
                .with_context(|| format!("Consul client for {name}"))?;
            let operator_client = rbac::operator_client(&kube)
                .await
                .with_context(|| format!("the operator's ServiceAccount in {name}"))?;
            let mut run_args = RunArgs::for_embedding();
            run_args.identity = Some(format!("playground-{name}"));
            operators.push(tokio::spawn(run_with(
                operator_client,
                consul,
                run_args,
                stop.clone(),
            )));
        }
        clusters.push(Cluster {
            name: name.to_owned(),
            kube,
            consul_address: address,
            consul_token: token,
            consul_ca_file: ca_file,
            _consul: handle,
        });
    }
    let fault_control = fault::serve(&clusters, stop.clone()).await?;
    let playground = Playground {
        state_dir: state_dir.to_owned(),
        clusters,
        stop,
        operators,
        fault_control,
    };
    write_state(&playground)?;
    Ok(playground)
}

/// Applies both CRDs and waits until they are established.
pub async fn install_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying CRD {name}"))?;
        tokio::time::timeout(
            Duration::from_secs(10),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not established in time"))??;
    }
    Ok(())
}

/// Writes `kubeconfig` (one context per datacenter) and `playground.json`.
fn write_state(playground: &Playground) -> anyhow::Result<()> {
    let mut clusters = Vec::new();
    let mut contexts = Vec::new();
    let mut users = Vec::new();
    let mut described = Vec::new();
    for c in &playground.clusters {
        let ca = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            c.kube.ca_pem().as_bytes(),
        );
        clusters.push(json!({"name": c.name, "cluster": {
            "server": c.kube.url(), "certificate-authority-data": ca}}));
        users.push(
            json!({"name": format!("{}-admin", c.name), "user": {"token": c.kube.admin_token()}}),
        );
        contexts.push(json!({"name": c.name, "context": {
            "cluster": c.name, "user": format!("{}-admin", c.name), "namespace": "default"}}));
        described.push(json!({"name": c.name, "context": c.name,
            "faultControl": playground.fault_control.url(&c.name), "consul": {
            "address": c.consul_address,
            "token": c.consul_token,
            "caFile": c.consul_ca_file,
        }}));
    }
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": clusters, "users": users, "contexts": contexts,
        "current-context": DATACENTERS[0],
    });
    let path = playground.kubeconfig_path();
    std::fs::write(&path, serde_saphyr::to_string(&kubeconfig)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let state = json!({"clusters": described});
    let path = playground.state_dir.join("playground.json");
    std::fs::write(&path, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Applies a manifest from `examples/` (embedded in the binary) in one datacenter.
pub async fn apply_example<K>(client: &kube::Client, manifest: &str) -> anyhow::Result<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let object: K = serde_saphyr::from_str(manifest).context("parsing the example")?;
    let namespace = object.namespace().unwrap_or_else(|| "default".into());
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    let applied = api
        .patch(
            &object.name_any(),
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(&object),
        )
        .await?;
    Ok(applied)
}

pub const EXAMPLE_ACCEPTOR: &str = include_str!("../examples/acceptor.yaml");
pub const EXAMPLE_DIALER: &str = include_str!("../examples/dialer.yaml");
pub const EXAMPLE_ACCEPTOR_WITH_DELIVERY: &str =
    include_str!("../examples/acceptor-with-delivery.yaml");

/// The `playground` command.
pub async fn run(args: PlaygroundArgs, clusters: mesh::ClustersArgs) -> anyhow::Result<()> {
    logging::init(LogFormat::Text);
    let state_dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => {
            std::env::temp_dir().join(format!("consul-peering-playground-{}", std::process::id()))
        }
    };
    println!("state dir: {}", state_dir.display());
    let playground = start_clusters(&args, clusters.names(), &state_dir).await?;
    let kubeconfig = playground.kubeconfig_path();
    println!("playground ready");
    for c in &playground.clusters {
        println!(
            "  {}: Kubernetes API {}  Consul {}",
            c.name,
            c.kube.url(),
            c.consul_address
        );
    }
    println!();
    println!("Use kubectl with it:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl --context dc1 get peeringacceptors");
    println!("  kubectl --context dc2 get peeringdialers");
    println!("  kubectl --context dc1 apply -f examples/acceptor.yaml");
    println!();

    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    if args.no_operator {
        apart::print_operator_commands(&playground)?;
    } else if !args.empty {
        let shown = async {
            match clusters.mesh {
                true => mesh::show_mesh(&playground).await,
                false => show_main_job(&playground).await,
            }
        };
        tokio::select! {
            result = shown => result?,
            _ = stop.cancelled() => {}
        }
    }
    if !stop.is_cancelled() {
        println!("Press Ctrl-C to stop.");
        stop.cancelled().await;
    }
    playground.shutdown().await?;
    println!("stopped");
    Ok(())
}

/// The operator's main job, step by step: an acceptor in dc1 that delivers its token to dc2,
/// and a dialer in dc2 that establishes with it, until both sides are ACTIVE.
async fn show_main_job(playground: &Playground) -> anyhow::Result<()> {
    let dc1 = playground.cluster("dc1").kube.client();
    let dc2 = playground.cluster("dc2");
    create_kubeconfig_secret(&dc1, "dc2-kubeconfig", &dc2.kube.kubeconfig()).await?;
    println!("dc1: created Secret dc2-kubeconfig (how dc1's operator reaches dc2)");

    let acceptor: PeeringAcceptor = apply_example(&dc1, EXAMPLE_ACCEPTOR_WITH_DELIVERY).await?;
    println!(
        "dc1: applied PeeringAcceptor {} (examples/acceptor-with-delivery.yaml)",
        acceptor.name_any()
    );
    let acceptor = wait_for(&dc1, &acceptor.name_any(), |a: &PeeringAcceptor| {
        is_ready(a.status.as_ref().map(|s| s.conditions.as_slice()))
    })
    .await?;
    let status = acceptor.status.clone().unwrap_or_default();
    let secret = status.secret.and_then(|s| s.name).unwrap_or_default();
    println!(
        "dc1: token generated into Secret {secret} (Consul peering {}, state {})",
        status.peering_id.unwrap_or_default(),
        status.state.unwrap_or_default()
    );
    let acceptor = wait_for(&dc1, &acceptor.name_any(), |a: &PeeringAcceptor| {
        a.status.as_ref().is_some_and(|s| {
            !s.delivery.is_empty()
                && s.delivery.iter().all(|d| {
                    find_condition(&d.conditions, CONDITION_DELIVERED)
                        .is_some_and(|c| c.status == ConditionStatus::True)
                })
        })
    })
    .await?;
    for d in acceptor.status.iter().flat_map(|s| &s.delivery) {
        println!(
            "dc1 → dc2: Secret {}/{} delivered (token fingerprint {})",
            d.namespace,
            d.secret_name,
            d.token_fingerprint.clone().unwrap_or_default()
        );
    }

    let dialer: PeeringDialer = apply_example(&dc2.kube.client(), EXAMPLE_DIALER).await?;
    println!(
        "dc2: applied PeeringDialer {} (examples/dialer.yaml)",
        dialer.name_any()
    );
    let dialer = wait_for(
        &dc2.kube.client(),
        &dialer.name_any(),
        |d: &PeeringDialer| {
            d.status.as_ref().and_then(|s| s.consul_state()) == Some(PeeringState::Active)
        },
    )
    .await?;
    println!(
        "dc2: PeeringDialer {} established: state ACTIVE (peer datacenter {})",
        dialer.name_any(),
        dialer
            .status
            .and_then(|s| s.remote)
            .and_then(|r| r.datacenter)
            .unwrap_or_default()
    );
    let acceptor = wait_for(&dc1, &acceptor.name_any(), |a: &PeeringAcceptor| {
        a.status.as_ref().and_then(|s| s.consul_state()) == Some(PeeringState::Active)
    })
    .await?;
    println!(
        "dc1: PeeringAcceptor {} sees the peering ACTIVE: dc1 and dc2 are peered",
        acceptor.name_any()
    );
    Ok(())
}

fn is_ready(conditions: Option<&[crate::crd::Condition]>) -> bool {
    conditions
        .and_then(|c| find_condition(c, CONDITION_READY))
        .is_some_and(|c| c.status == ConditionStatus::True)
}

/// Waits up to a minute for the resource `name` in `default` to satisfy `done`.
async fn wait_for<K>(
    client: &kube::Client,
    name: &str,
    done: impl Fn(&K) -> bool + Send + 'static,
) -> anyhow::Result<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::namespaced(client.clone(), "default");
    let found = tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(api, name, move |obj: Option<&K>| obj.is_some_and(&done)),
    )
    .await
    .with_context(|| format!("{} {name} did not get there within a minute", K::kind(&())))??;
    found.with_context(|| format!("{} {name} vanished", K::kind(&())))
}

/// Creates (or replaces) the Secret holding a kubeconfig for delivery.
pub async fn create_kubeconfig_secret(
    client: &kube::Client,
    name: &str,
    kubeconfig: &str,
) -> anyhow::Result<()> {
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("default".to_owned()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([(
            DEFAULT_KUBECONFIG_KEY.to_owned(),
            kubeconfig.to_owned(),
        )])),
        ..Default::default()
    };
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "default");
    api.patch(
        name,
        &PatchParams::apply("playground").force(),
        &Patch::Apply(&secret),
    )
    .await
    .with_context(|| format!("creating Secret {name}"))?;
    Ok(())
}
