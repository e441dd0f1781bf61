//! The chart's RBAC against what the operator really calls. The operator binary runs as the rendered
//! Deployment runs it (its args and environment) under the chart's ServiceAccount, as on a real cluster: the
//! rendered ServiceAccount, roles and bindings are applied to the emulated API server with kubectl, and the
//! operator's kubeconfig holds a `kubectl create token` credential of that ServiceAccount:
//! - cluster-wide (ClusterRole, plus the lease Role with leader election) and namespaced (a Role in the
//!   watched namespace), the whole acceptor and dialer flow works with no request refused;
//! - the calls an unrestricted operator makes during that flow, recorded by the emulator, are all granted, and
//!   every granted verb is used or justified below;
//! - granting less than the chart does breaks the flow visibly.

use support::helm;
use support::process;

use std::collections::BTreeSet;
use std::time::Duration;

use consul_peering_operator::crd::{ANNOTATION_PEERING_VERSION, PeeringAcceptor, PeeringDialer};
use helm::{GrantedRule, Release, Rendered};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use process::{
    Operator, TIMEOUT, World, create_acceptor, create_acceptor_with, create_dialer, get_json,
    lease_holder, secret_value, token_secret_from, wait_for, wait_gone, wait_ready,
};
use serde_json::{Value, json};
use test_support::kubectl::{Kubectl, binaries};

/// The release namespace (where the operator's ServiceAccount and its Lease live).
const RELEASE_NS: &str = "ops";
/// The namespace the namespaced install watches.
const WATCHED_NS: &str = "team-a";

fn render(set: Value) -> Rendered {
    helm::render(&Release::new(RELEASE_NS).set(set)).unwrap_or_else(|e| panic!("render: {e}"))
}

/// The emulator user of the chart's ServiceAccount, as the API server names it.
fn service_account_user(rendered: &Rendered) -> String {
    let sa = rendered.one("ServiceAccount");
    format!(
        "system:serviceaccount:{}:{}",
        sa["metadata"]["namespace"].as_str().unwrap(),
        sa["metadata"]["name"].as_str().unwrap()
    )
}

/// The playground runs each operator under RBAC objects of its own making (it cannot run Helm): they must be
/// the chart's, as rendered for the playground's release (Helm's labels aside).
#[test]
fn the_playground_grants_what_the_chart_does() {
    use consul_peering_operator::playground::rbac;
    let release = Release::new(rbac::NAME).set(json!({"fullnameOverride": rbac::NAME}));
    let rendered = helm::render(&release).unwrap_or_else(|e| panic!("render: {e}"));
    let key = |o: &Value| (o["kind"].to_string(), o["metadata"]["name"].to_string());
    let mut chart: Vec<Value> = rendered
        .objects()
        .filter(|o| RBAC_KINDS.iter().any(|k| o["kind"] == *k))
        .cloned()
        .map(|mut o| {
            o["metadata"].as_object_mut().unwrap().remove("labels");
            o
        })
        .collect();
    chart.sort_by_key(key);
    let mut playground = rbac::objects();
    playground.sort_by_key(key);
    assert_eq!(chart, playground);
}

/// The playground's operators work as that ServiceAccount and nothing more: an acceptor gets Ready with every
/// request of the operator made as the account, which kubectl finds may not delete a peering resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_operators_run_as_the_charts_service_account() {
    use consul_peering_operator::playground::{self, PlaygroundArgs, rbac};
    emulator_common::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("rbac-playground-{}", std::process::id()));
    let args = PlaygroundArgs {
        state_dir: Some(dir.clone()),
        empty: false,
        no_operator: false,
        consul: Vec::new(),
    };
    let pg = playground::start(&args, &dir)
        .await
        .expect("playground starts");
    let dc1 = pg.cluster("dc1");
    let client = dc1.kube.client();
    let _: PeeringAcceptor = playground::apply_example(&client, playground::EXAMPLE_ACCEPTOR)
        .await
        .unwrap();
    wait_ready::<PeeringAcceptor>(&client, "default", "dc2").await;
    let account = format!("system:serviceaccount:{}:{}", rbac::NAME, rbac::NAME);
    let status_patches: u64 = dc1
        .kube
        .request_counts()
        .iter()
        .filter(|c| c.resource == "peeringacceptors.consulpeering.io/status")
        .map(|c| {
            assert_eq!(c.user, account, "{c:?}");
            c.count
        })
        .sum();
    assert!(status_patches > 0);
    let kubectl = Kubectl::new(&binaries()[0]).with_kubeconfig(pg.kubeconfig_path());
    let as_account = format!("--as={account}");
    for (verb, resource, answer) in [
        ("patch", "peeringacceptors.consulpeering.io", "yes\n"),
        ("delete", "peeringdialers.consulpeering.io", "no\n"),
    ] {
        let args = [
            "--context",
            "dc1",
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            "default",
            &as_account,
        ];
        let out = kubectl.run(&args).await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), answer, "{verb}");
    }
    pg.shutdown().await.expect("the playground stops cleanly");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The name the pod of the Deployment would get.
fn pod_name(rendered: &Rendered) -> String {
    let deployment = rendered.one("Deployment")["metadata"]["name"]
        .as_str()
        .unwrap();
    format!("{deployment}-6d4cf56db6-x7k2p")
}

/// The RBAC kinds the chart renders, applied as `helm install` would.
const RBAC_KINDS: [&str; 5] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// Applies the rendered ServiceAccount, roles and bindings (after `edit`) with kubectl as the admin, and
/// returns a kubeconfig holding a token of the ServiceAccount from `kubectl create token`.
async fn install_rbac(
    world: &World,
    rendered: &Rendered,
    edit: impl FnOnce(&mut Vec<Value>),
) -> std::path::PathBuf {
    let mut objects: Vec<Value> = rendered
        .objects()
        .filter(|o| RBAC_KINDS.iter().any(|k| o["kind"] == *k))
        .cloned()
        .collect();
    edit(&mut objects);
    let kubectl = Kubectl::new(&binaries()[0]);
    world.kube.write_kubeconfig(kubectl.kubeconfig()).unwrap();
    let stream: String = objects.iter().map(|o| format!("---\n{o}\n")).collect();
    kubectl.ok_with(&["apply", "-f", "-"], &stream).await;
    let sa = rendered.one("ServiceAccount");
    let (name, namespace) = (
        sa["metadata"]["name"].as_str().unwrap(),
        sa["metadata"]["namespace"].as_str().unwrap(),
    );
    let token = kubectl
        .ok(&["create", "token", name, "-n", namespace])
        .await;
    world.kubeconfig_with_token(&service_account_user(rendered), token.trim())
}

/// The operator as the rendered Deployment runs it: the container's args and environment (field references
/// resolved as the kubelet does), authenticated with `kubeconfig`, with Consul and the listen address
/// pointed at the test world.
fn start_as_deployed(world: &World, rendered: &Rendered, kubeconfig: &std::path::Path) -> Operator {
    let container = &rendered.one("Deployment")["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args.first(), Some(&"run"), "{args:?}");
    let mut spawn = world
        .operator("deployed", kubeconfig)
        .args(args[1..].to_vec());
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        let value = match (&var["value"], &var["valueFrom"]["fieldRef"]["fieldPath"]) {
            (Value::String(v), _) => v.clone(),
            (_, Value::String(field)) if field == "metadata.namespace" => RELEASE_NS.to_owned(),
            (_, Value::String(field)) if field == "metadata.name" => pod_name(rendered),
            _ => panic!("the test cannot resolve env {var}"),
        };
        match name {
            // The test world's Consul, and a free loopback port (the --listen-addr flag wins).
            "CONSUL_HTTP_ADDR" | "LISTEN_ADDR" => {}
            _ => spawn = spawn.env(name, &value),
        }
    }
    // Requests refused by RBAC show in kube-runtime's and the operator's debug lines.
    spawn
        .env(
            "RUST_LOG",
            "info,consul_peering_operator=debug,kube_runtime=debug,kube_lease_manager=debug",
        )
        .start()
}

async fn annotate(world: &World, namespace: &str, name: &str, key: &str, value: &str) {
    Api::<PeeringAcceptor>::namespaced(world.client.clone(), namespace)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotate the acceptor");
}

/// The other side of the flow: the peer datacenter's Consul, whose tokens a dialer establishes with, and its
/// Kubernetes cluster, which the acceptor delivers its token Secret to.
struct Peer {
    consul: consul_emulator::Handle,
    kube: kube_emulator::KubeEmulator,
}

impl Peer {
    async fn start() -> Peer {
        Peer {
            consul: consul_emulator::start(consul_emulator::Config::new("dc2"))
                .await
                .expect("dc2 Consul starts"),
            kube: kube_emulator::start().await.expect("dc2 cluster starts"),
        }
    }
}

/// Everything the operator does for one acceptor and one dialer in `namespace`: the token into the Secret and
/// delivered to the peer's cluster, two rotations (the second repeats an Event: a patch), a dialer
/// established with a token of the peer, both deleted with their Consul peerings, the Secret and its
/// delivered copy.
async fn full_flow(world: &World, peer: &Peer, namespace: &str) {
    let client = &world.client;
    let kubeconfig: Secret = serde_json::from_value(json!({
        "metadata": {"name": "dc2-kubeconfig", "namespace": namespace},
        "stringData": {"kubeconfig": peer.kube.kubeconfig()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &kubeconfig)
        .await
        .expect("create the delivery kubeconfig Secret");
    let delivered = format!("token-from-{namespace}");
    let delivery = json!({"delivery": [{
        "kubeconfigSecretRef": {"name": "dc2-kubeconfig", "key": "kubeconfig"},
        "namespace": "default",
        "secretName": delivered,
    }]});
    create_acceptor_with(client, namespace, "acceptor", "acceptor-token", delivery).await;
    wait_ready::<PeeringAcceptor>(client, namespace, "acceptor").await;
    let remote = peer.kube.client();
    let mut previous = None;
    for version in [None, Some(1), Some(2)] {
        if let Some(version) = version {
            let value = version.to_string();
            annotate(
                world,
                namespace,
                "acceptor",
                ANNOTATION_PEERING_VERSION,
                &value,
            )
            .await;
        }
        let what = format!("token version {version:?} in the Secret and its delivered copy");
        let token = wait_for(&what, TIMEOUT, || async {
            let acceptor = get_json::<PeeringAcceptor>(client, namespace, "acceptor").await?;
            let current = version
                .is_none_or(|v| acceptor["status"]["latestPeeringVersion"] == json!(v))
                && process::ready_status(&acceptor) == Some("True");
            let token = secret_value(client, namespace, "acceptor-token", "data").await?;
            let copy = secret_value(&remote, "default", &delivered, "data").await?;
            (current && copy == token && previous.as_ref() != Some(&token)).then_some(token)
        })
        .await;
        previous = Some(token);
    }
    assert!(world.consul.peering("", "acceptor").is_some());

    // The peer knows this cluster under a name per namespace: one peering per flow.
    let peer_name = format!("dc1-{namespace}");
    token_secret_from(client, &peer.consul, &peer_name, namespace, "dialer-token").await;
    create_dialer(client, namespace, "dc2", "dialer-token").await;
    // Consul's own view first, so that a timeout says which side is late.
    wait_for("the dialed peering ACTIVE in Consul", TIMEOUT, || async {
        let state = world.consul.peering("", "dc2").map(|p| p.state);
        (state == Some(consul_emulator::PeeringState::Active)).then_some(())
    })
    .await;
    wait_ready::<PeeringDialer>(client, namespace, "dc2").await;

    let delete = DeleteParams::default();
    Api::<PeeringAcceptor>::namespaced(client.clone(), namespace)
        .delete("acceptor", &delete)
        .await
        .expect("delete the acceptor");
    wait_gone::<PeeringAcceptor>(client, namespace, "acceptor").await;
    assert_eq!(
        secret_value(client, namespace, "acceptor-token", "data").await,
        None,
        "the token Secret is deleted with its acceptor"
    );
    assert_eq!(
        secret_value(&remote, "default", &delivered, "data").await,
        None,
        "the delivered copy is withdrawn"
    );
    Api::<PeeringDialer>::namespaced(client.clone(), namespace)
        .delete("dc2", &delete)
        .await
        .expect("delete the dialer");
    wait_gone::<PeeringDialer>(client, namespace, "dc2").await;
    wait_for("the Consul peerings gone", TIMEOUT, || async {
        (world.consul.peering("", "acceptor").is_none()
            && world.consul.peering("", "dc2").is_none())
        .then_some(())
    })
    .await;
}

fn assert_nothing_forbidden(operator: &Operator) {
    let forbidden = operator.forbidden_lines();
    assert!(
        forbidden.is_empty(),
        "requests refused by RBAC:\n{}",
        forbidden.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_rules_with_the_lease_role_suffice_for_the_whole_flow() {
    let rendered = render(json!({"leaderElection": {"enabled": true}}));
    let world = World::start().await;
    world.create_namespace(RELEASE_NS).await;
    world.create_namespace(WATCHED_NS).await;
    let peer = Peer::start().await;
    let kubeconfig = install_rbac(&world, &rendered, |_| {}).await;
    let operator = start_as_deployed(&world, &rendered, &kubeconfig);
    operator.wait_ready("leading").await;

    // Resources in two namespaces: the ClusterRole covers every namespace.
    full_flow(&world, &peer, "default").await;
    full_flow(&world, &peer, WATCHED_NS).await;
    assert_nothing_forbidden(&operator);

    // The Lease is the one the lease Role names.
    let lease = helm_lease_name(&rendered);
    assert_eq!(
        lease_holder(&world.client, RELEASE_NS, &lease).await,
        Some(pod_name(&rendered))
    );
}

/// The `--lease-name=` the Deployment passes, which the lease Role's resourceNames must match.
fn helm_lease_name(rendered: &Rendered) -> String {
    let container = &rendered.one("Deployment")["spec"]["template"]["spec"]["containers"][0];
    let lease = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str().unwrap().strip_prefix("--lease-name="))
        .expect("--lease-name")
        .to_owned();
    let role_names: BTreeSet<String> = rendered
        .granted_rules()
        .into_iter()
        .filter(|r| r.resources == ["leases"])
        .flat_map(|r| r.resource_names)
        .collect();
    assert_eq!(role_names, BTreeSet::from([lease.clone()]));
    lease
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_rules_suffice_and_the_operator_stays_in_its_namespace() {
    let rendered = render(json!({"watchNamespace": WATCHED_NS}));
    let granted = rendered.granted_rules();
    assert!(
        granted
            .iter()
            .all(|r| r.namespace.as_deref() == Some(WATCHED_NS)),
        "{granted:#?}"
    );
    let world = World::start().await;
    world.create_namespace(RELEASE_NS).await;
    world.create_namespace(WATCHED_NS).await;
    let peer = Peer::start().await;
    // An acceptor outside the watched namespace: never touched.
    create_acceptor(&world.client, "default", "outside", "outside-token").await;
    let kubeconfig = install_rbac(&world, &rendered, |_| {}).await;
    let operator = start_as_deployed(&world, &rendered, &kubeconfig);
    operator.wait_ready("caches synced").await;

    full_flow(&world, &peer, WATCHED_NS).await;
    assert_nothing_forbidden(&operator);
    let outside = get_json::<PeeringAcceptor>(&world.client, "default", "outside")
        .await
        .unwrap();
    assert!(outside.get("status").is_none(), "{outside}");
    assert!(outside["metadata"].get("finalizers").is_none(), "{outside}");
    assert!(world.consul.peering("", "outside").is_none());
}

/// (verb, API group, resource) of every call, or every grant.
type Calls = BTreeSet<(String, String, String)>;

/// The calls the emulator counted for `user`: its resource names are `plural[.group][/subresource]`.
fn recorded_calls(world: &World, user: &str) -> Calls {
    world
        .requests_of(user)
        .into_iter()
        .map(|(verb, counted, _)| {
            let (resource, sub) = match counted.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (counted.as_str(), None),
            };
            let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
            let resource = match sub {
                Some(s) => format!("{plural}/{s}"),
                None => plural.to_owned(),
            };
            (verb, group.to_owned(), resource)
        })
        .collect()
}

fn granted_calls(granted: &[GrantedRule]) -> Calls {
    let mut calls = Calls::new();
    for rule in granted {
        for verb in &rule.verbs {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    calls.insert((verb.clone(), group.clone(), resource.clone()));
                }
            }
        }
    }
    calls
}

/// Grants the operator needs although the emulator's request counts do not show them.
const JUSTIFIED: &[(&str, &str, &str, &str)] = &[
    (
        "create",
        "",
        "secrets",
        "the token Secret is written with server-side apply; kube-apiserver (and the emulator) authorize an \
         apply that creates the object as `create` as well as `patch`, though the request is counted as a patch",
    ),
    (
        "create",
        "consulpeering.io",
        "peeringacceptors",
        "a PeeringMesh with this cluster as a member applies its acceptors here (not in this flow: tests/mesh.rs)",
    ),
    (
        "delete",
        "consulpeering.io",
        "peeringacceptors",
        "a PeeringMesh deletes the acceptors it applied here (not in this flow: tests/mesh.rs)",
    ),
    (
        "patch",
        "events.k8s.io",
        "events",
        "kube's event recorder patches an Event that recurs (its series count), e.g. a failure reported again by \
         each retry; in this flow every event happens once",
    ),
    (
        "patch",
        "consulpeering.io",
        "peeringmeshes",
        "the PeeringMesh finalizer (not in this flow: tests/mesh.rs)",
    ),
    (
        "patch",
        "consulpeering.io",
        "peeringmeshes/status",
        "the PeeringMesh status (not in this flow: tests/mesh.rs)",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_the_operator_makes_is_granted_and_every_grant_is_used() {
    let rendered = render(json!({"leaderElection": {"enabled": true}}));
    let granted = granted_calls(&rendered.granted_rules());
    let world = World::start().await;
    world.create_namespace(RELEASE_NS).await;
    let peer = Peer::start().await;
    // Unrestricted: the emulator records what the operator calls, nothing is refused.
    let user = service_account_user(&rendered);
    let kubeconfig = world.kubeconfig(&user, process::unrestricted());
    let mut operator = start_as_deployed(&world, &rendered, &kubeconfig);
    operator.wait_ready("leading").await;
    full_flow(&world, &peer, "default").await;
    // A graceful stop releases the Lease: part of what the operator does.
    operator.terminate();
    assert!(operator.wait_exit(TIMEOUT).await.success());

    let used = recorded_calls(&world, &service_account_user(&rendered));
    let justified: Calls = JUSTIFIED
        .iter()
        .map(|(v, g, r, _)| (v.to_string(), g.to_string(), r.to_string()))
        .collect();
    let too_narrow: Vec<_> = used.difference(&granted).collect();
    let too_wide: Vec<_> = granted
        .iter()
        .filter(|c| !used.contains(*c) && !justified.contains(*c))
        .collect();
    assert!(
        too_narrow.is_empty() && too_wide.is_empty(),
        "the chart's RBAC does not match the operator's calls.\n\
         called but not granted (too narrow): {too_narrow:?}\n\
         granted but never called nor justified (too wide): {too_wide:?}\n\
         called: {used:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_secret_delete_grant_deletion_is_stuck_and_the_refusal_shows() {
    let rendered = render(json!({"watchNamespace": WATCHED_NS}));
    let world = World::start().await;
    world.create_namespace(RELEASE_NS).await;
    world.create_namespace(WATCHED_NS).await;
    let kubeconfig = install_rbac(&world, &rendered, |objects| {
        let role = objects
            .iter_mut()
            .find(|o| o["kind"] == "Role")
            .expect("a Role");
        let rules = role["rules"].as_array_mut().unwrap();
        let secrets = rules
            .iter_mut()
            .find(|r| r["resources"] == json!(["secrets"]))
            .expect("a Secret rule");
        secrets["verbs"]
            .as_array_mut()
            .unwrap()
            .retain(|v| v != "delete");
    })
    .await;
    let operator = start_as_deployed(&world, &rendered, &kubeconfig);
    operator.wait_ready("caches synced").await;

    create_acceptor(&world.client, WATCHED_NS, "acceptor", "acceptor-token").await;
    wait_ready::<PeeringAcceptor>(&world.client, WATCHED_NS, "acceptor").await;
    Api::<PeeringAcceptor>::namespaced(world.client.clone(), WATCHED_NS)
        .delete("acceptor", &DeleteParams::default())
        .await
        .expect("delete the acceptor");
    wait_for("the refused Secret delete in the logs", TIMEOUT, || async {
        (!operator.forbidden_lines().is_empty()).then_some(())
    })
    .await;
    // Some retries later the acceptor is still there, held by its finalizer, and so is its Secret.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acceptor = get_json::<PeeringAcceptor>(&world.client, WATCHED_NS, "acceptor")
        .await
        .expect("the acceptor is held by its finalizer");
    assert!(acceptor["metadata"]["deletionTimestamp"].is_string());
    assert!(
        secret_value(&world.client, WATCHED_NS, "acceptor-token", "data")
            .await
            .is_some()
    );
    let refusal = operator.forbidden_lines().join("\n");
    assert!(
        refusal.contains("cannot delete resource \\\"secrets\\\"")
            || refusal.contains("cannot delete resource \"secrets\""),
        "{refusal}"
    );
}
