//! Create → token Secret visible to a watcher, one acceptor at a time: through the operator,
//! and for the floor, a bare client making the operator's calls serially itself.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::arrivals::Arrivals;
use super::world::{World, acceptor, token_secret};
use crate::consul::{self, ConsulConfig, GenerateTokenRequest};
use crate::crd::{
    CONDITION_READY, Condition, ConditionStatus, PeeringAcceptor, PeeringAcceptorStatus,
};

const WAIT: Duration = Duration::from_secs(30);

/// Whether a Secret holds a token under `data` (the key the benchmark's acceptors name).
pub fn holds_token(secret: &Secret) -> bool {
    secret
        .data
        .as_ref()
        .is_some_and(|d| d.get("data").is_some_and(|v| !v.0.is_empty()))
}

/// `samples` acceptors created one after the other in `namespace` of dc1; milliseconds from each
/// create to its Secret holding a token.
pub async fn through_operator(
    world: &World,
    namespace: &str,
    samples: usize,
) -> anyhow::Result<Vec<f64>> {
    world.create_namespace("dc1", namespace).await?;
    let client = world.dc("dc1").kube.client();
    let secrets = Arrivals::watch(
        Api::<Secret>::namespaced(client.clone(), namespace),
        holds_token,
    )
    .await?;
    let acceptors: Api<PeeringAcceptor> = Api::namespaced(client, namespace);
    let mut figures = Vec::with_capacity(samples);
    for i in 0..samples {
        let name = format!("lat-{i}");
        let started = Instant::now();
        let object: PeeringAcceptor = serde_json::from_value(acceptor(namespace, &name))?;
        acceptors.create(&PostParams::default(), &object).await?;
        let arrived = secrets.of(&token_secret(&name), WAIT).await?;
        figures.push(millis(arrived - started));
    }
    Ok(figures)
}

/// The floor: the same calls made serially by a bare client while no operator runs (create the
/// acceptor, Consul's token POST, the Secret apply, the status patch). Its objects and
/// peerings are removed afterwards so that the operator never sees them.
pub async fn floor(world: &World, namespace: &str, samples: usize) -> anyhow::Result<Vec<f64>> {
    world.create_namespace("dc1", namespace).await?;
    let dc1 = world.dc("dc1");
    let client = dc1.kube.client();
    let secrets_api = Api::<Secret>::namespaced(client.clone(), namespace);
    let secrets = Arrivals::watch(secrets_api.clone(), holds_token).await?;
    let acceptors: Api<PeeringAcceptor> = Api::namespaced(client, namespace);
    let consul = consul::Client::new(&ConsulConfig {
        address: dc1.consul_address.clone(),
        ..ConsulConfig::default()
    })?;
    let apply = PatchParams::apply("bench-floor");
    let mut figures = Vec::with_capacity(samples);
    for i in 0..samples {
        let name = format!("floor-{i}");
        let started = Instant::now();
        let object: PeeringAcceptor = serde_json::from_value(acceptor(namespace, &name))?;
        acceptors.create(&PostParams::default(), &object).await?;
        let token = consul
            .generate_token(&GenerateTokenRequest {
                peer_name: name.clone(),
                partition: String::new(),
                meta: Default::default(),
                server_external_addresses: Vec::new(),
            })
            .await?;
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": token_secret(&name), "namespace": namespace},
            "stringData": {"data": token.expose()},
        });
        secrets_api
            .patch(&token_secret(&name), &apply, &Patch::Apply(&secret))
            .await?;
        let status = ready_status();
        let patch = json!({
            "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringAcceptor",
            "status": status,
        });
        acceptors
            .patch_status(&name, &apply, &Patch::Apply(&patch))
            .await?;
        let arrived = secrets.of(&token_secret(&name), WAIT).await?;
        figures.push(millis(arrived - started));
    }
    acceptors
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    let dc1_consul = world.consul("dc1")?;
    for i in 0..samples {
        dc1_consul.delete_peering("default", &format!("floor-{i}"));
    }
    Ok(figures)
}

fn ready_status() -> PeeringAcceptorStatus {
    PeeringAcceptorStatus {
        conditions: vec![Condition::new(
            CONDITION_READY,
            ConditionStatus::True,
            "Ready",
            "the token is in its Secret",
            Some(1),
            Time(k8s_openapi::jiff::Timestamp::now()),
        )],
        observed_generation: Some(1),
        ..PeeringAcceptorStatus::default()
    }
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
