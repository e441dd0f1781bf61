//! PeeringMesh end to end (issue #11): several emulated clusters, each with its Consul and its
//! operator; one PeeringMesh in dc1 peers them all. A member added is peered with the others,
//! a member removed takes everything the mesh created for it along, an unreachable member is
//! reported on its own pairs while the others stay ACTIVE, and a deleted mesh leaves nothing in
//! any cluster or Consul.

use std::time::{Duration, Instant};

use consul_peering_operator::crd::{
    ANNOTATION_MESH, ConditionStatus, LABEL_PEERING_TOKEN, MeshPairStatus, PeeringAcceptor,
    PeeringDialer, PeeringMesh, reason,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::json;
use support::n_clusters::{Clusters, api};
use support::two_clusters::{
    Dc, Gate, NS, TIMEOUT, apply, assert_no_credentials, delete_and_wait_gone, is,
    kubeconfig_credentials, patch_metadata, ready_of, secret_value, statuses_and_events,
    token_credentials, wait_for,
};

const MESH: &str = "mesh";
const EXAMPLE_MESH: &str = include_str!("../examples/mesh.yaml");

/// The example mesh (dc1, dc2, dc3), in the tests' namespace.
fn example_mesh() -> PeeringMesh {
    let mut mesh: PeeringMesh = serde_saphyr::from_str(EXAMPLE_MESH).expect("the example mesh");
    mesh.metadata.namespace = Some(NS.into());
    mesh
}

/// A full mesh of `members`: dc1 is the mesh's own cluster, the others are reached through
/// the Secrets `<name>-kubeconfig` in dc1.
fn mesh_of(members: &[&str]) -> PeeringMesh {
    let members: Vec<_> = members
        .iter()
        .map(|&name| match name {
            "dc1" => json!({"name": name, "namespace": NS}),
            _ => json!({"name": name, "namespace": NS,
                        "kubeconfigSecretRef": {"name": format!("{name}-kubeconfig")}}),
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "consulpeering.io/v1alpha1", "kind": "PeeringMesh",
        "metadata": {"name": MESH, "namespace": NS},
        "spec": {"topology": "full", "members": members},
    }))
    .expect("a valid PeeringMesh")
}

fn pair<'a>(mesh: &'a PeeringMesh, acceptor: &str, dialer: &str) -> Option<&'a MeshPairStatus> {
    mesh.status
        .as_ref()?
        .pairs
        .iter()
        .find(|p| p.acceptor == acceptor && p.dialer == dialer)
}

fn peered(mesh: &PeeringMesh) -> Option<&str> {
    mesh.status.as_ref()?.peered.as_deref()
}

/// Waits until the mesh shows `count` (e.g. `3/3`) with one entry per pair and Ready=True.
async fn wait_peered(c: &Clusters, count: &str) -> PeeringMesh {
    let pairs: usize = count.split('/').nth(1).unwrap().parse().unwrap();
    wait_for(&api::<PeeringMesh>(c.dc("dc1")), MESH, count, |m| {
        peered(m) == Some(count)
            && m.status.as_ref().is_some_and(|s| {
                s.pairs.len() == pairs
                    && is(
                        ready_of(&s.conditions),
                        ConditionStatus::True,
                        reason::ACTIVE,
                    )
            })
    })
    .await
}

/// Both Consuls of every pair show its peering ACTIVE (the peer names are the member names).
fn assert_pairs_active(c: &Clusters, mesh: &PeeringMesh) {
    for p in &mesh.status.as_ref().unwrap().pairs {
        assert_eq!(c.dc(&p.acceptor).state(&p.dialer), Some("ACTIVE"), "{p:?}");
        assert_eq!(c.dc(&p.dialer).state(&p.acceptor), Some("ACTIVE"), "{p:?}");
        assert_eq!(p.ready, ConditionStatus::True);
        assert_eq!(p.state.as_deref(), Some("ACTIVE"));
    }
}

/// Waits until `dc` holds nothing the mesh created: no acceptor, dialer, token Secret or
/// Secret annotated with the mesh, and its Consul no peering with any of `peers`.
async fn wait_nothing_left(dc: &Dc, peers: &[&str]) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = left_over(dc, peers).await;
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: left over: {left:?}",
            dc.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn left_over(dc: &Dc, peers: &[&str]) -> Vec<String> {
    // What the mesh creates is named for the peer: `mesh-<peer>`, `mesh-token-<peer>`,
    // `mesh-<peer>-kubeconfig`.
    let for_peer = |name: &str| {
        peers
            .iter()
            .any(|p| name.ends_with(&format!("-{p}")) || name.contains(&format!("-{p}-")))
    };
    let all = ListParams::default();
    let mut left = Vec::new();
    let acceptors: Api<PeeringAcceptor> = api(dc);
    for a in acceptors.list(&all).await.unwrap() {
        if for_peer(&a.name_any()) {
            left.push(format!("PeeringAcceptor {}", a.name_any()));
        }
    }
    let dialers: Api<PeeringDialer> = api(dc);
    for d in dialers.list(&all).await.unwrap() {
        if for_peer(&d.name_any()) {
            left.push(format!("PeeringDialer {}", d.name_any()));
        }
    }
    let secrets: Api<Secret> = api(dc);
    for s in secrets.list(&all).await.unwrap() {
        let ours = s.labels().contains_key(LABEL_PEERING_TOKEN)
            || s.annotations().contains_key(ANNOTATION_MESH);
        if ours && for_peer(&s.name_any()) {
            left.push(format!("Secret {}", s.name_any()));
        }
    }
    for p in dc.consul.peerings("") {
        if peers.contains(&p.name.as_str()) {
            left.push(format!("Consul peering {} ({})", p.name, p.state.as_str()));
        }
    }
    left
}

/// No token of any member and no member's kubeconfig credential is in the operators' log, or
/// in any status or Event of any cluster (the meshes' statuses included).
async fn assert_no_credential_shown(c: &Clusters) {
    let mut credentials = Vec::new();
    for dc in &c.dcs {
        credentials.extend(kubeconfig_credentials(&dc.kube.kubeconfig()));
        let secrets: Api<Secret> = api(dc);
        for s in secrets.list(&ListParams::default()).await.unwrap() {
            if s.labels().contains_key(LABEL_PEERING_TOKEN)
                && let Some(token) = secret_value(&secrets, &s.name_any(), "data").await
            {
                credentials.extend(token_credentials(&token));
            }
        }
    }
    assert!(credentials.len() > c.dcs.len(), "tokens found to look for");
    assert_no_credentials(&c.logs.text(), "the operators' log", &credentials);
    for dc in &c.dcs {
        let meshes = api::<PeeringMesh>(dc)
            .list(&ListParams::default())
            .await
            .unwrap();
        let shown = format!(
            "{}\n{}",
            statuses_and_events(dc).await,
            serde_json::to_string(&meshes.items).unwrap()
        );
        assert_no_credentials(
            &shown,
            &format!("{}'s statuses and Events", dc.name),
            &credentials,
        );
    }
}

/// The example mesh over three clusters reaches 3/3; a fourth member is peered with the
/// others (6/6) and, removed, leaves nothing behind in any cluster; the mesh deleted leaves
/// no resource, Secret or Consul peering anywhere.
#[tokio::test]
async fn a_full_mesh_peers_grows_shrinks_and_leaves_nothing_once_deleted() {
    let c = Clusters::start(4).await;
    let dc1 = c.dc("dc1");
    for name in ["dc2", "dc3", "dc4"] {
        let secret = format!("{name}-kubeconfig");
        c.kubeconfig_secret(dc1, &secret, c.dc(name), None).await;
    }
    let meshes: Api<PeeringMesh> = api(dc1);
    apply(&meshes, &example_mesh()).await;
    let three = wait_peered(&c, "3/3").await;
    assert_pairs_active(&c, &three);
    // The resources are named for their peers: dc1 accepts dc2 with `mesh-dc2`, and dc2 dials
    // dc1 with `mesh-dc1`.
    let acceptor = api::<PeeringAcceptor>(dc1).get("mesh-dc2").await.unwrap();
    assert_eq!(acceptor.spec.peer_name.as_deref(), Some("dc2"));
    let dialer = api::<PeeringDialer>(c.dc("dc2"))
        .get("mesh-dc1")
        .await
        .unwrap();
    assert_eq!(dialer.spec.peer_name.as_deref(), Some("dc1"));

    apply(&meshes, &mesh_of(&["dc1", "dc2", "dc3", "dc4"])).await;
    let six = wait_peered(&c, "6/6").await;
    assert_pairs_active(&c, &six);
    assert!(pair(&six, "dc3", "dc4").is_some());

    apply(&meshes, &mesh_of(&["dc1", "dc2", "dc3"])).await;
    let back = wait_peered(&c, "3/3").await;
    assert!(pair(&back, "dc1", "dc4").is_none());
    wait_nothing_left(c.dc("dc4"), &["dc1", "dc2", "dc3"]).await;
    for name in ["dc1", "dc2", "dc3"] {
        wait_nothing_left(c.dc(name), &["dc4"]).await;
    }
    assert_pairs_active(&c, &back);

    assert_no_credential_shown(&c).await;

    delete_and_wait_gone(&meshes, MESH).await;
    for dc in &c.dcs {
        wait_nothing_left(dc, &["dc1", "dc2", "dc3", "dc4"]).await;
    }
    c.stop().await;
}

/// dc3's API server drops off the network: the two pairs with dc3 say `MemberUnreachable`,
/// the pair of dc1 and dc2 stays ACTIVE and Ready; once dc3 is back, the mesh is 3/3 again.
#[tokio::test]
async fn an_unreachable_member_is_reported_on_its_pairs_and_the_others_stay_active() {
    let c = Clusters::start(3).await;
    let dc1 = c.dc("dc1");
    c.kubeconfig_secret(dc1, "dc2-kubeconfig", c.dc("dc2"), None)
        .await;
    let gate = Gate::to(c.dc("dc3").kube.url()).await;
    c.kubeconfig_secret(dc1, "dc3-kubeconfig", c.dc("dc3"), Some(&gate.url()))
        .await;
    let meshes: Api<PeeringMesh> = api(dc1);
    apply(&meshes, &example_mesh()).await;
    wait_peered(&c, "3/3").await;

    gate.close();
    // Nothing changes in Consul, so something has to make the mesh look: an edit of it.
    patch_metadata(
        &meshes,
        MESH,
        json!({"annotations": {"example.com/touched": "1"}}),
    )
    .await;
    let unreachable = |p: Option<&MeshPairStatus>| {
        p.is_some_and(|p| {
            p.ready == ConditionStatus::False && p.reason == reason::MEMBER_UNREACHABLE
        })
    };
    let reported = wait_for(&meshes, MESH, "dc3's pairs MemberUnreachable", |m| {
        unreachable(pair(m, "dc1", "dc3")) && unreachable(pair(m, "dc2", "dc3"))
    })
    .await;
    let healthy = pair(&reported, "dc1", "dc2").expect("the pair of dc1 and dc2");
    assert_eq!(
        (healthy.ready, healthy.state.as_deref()),
        (ConditionStatus::True, Some("ACTIVE"))
    );
    assert_eq!(peered(&reported), Some("1/3"));
    let ready = ready_of(&reported.status.as_ref().unwrap().conditions).unwrap();
    assert_eq!(ready.status, ConditionStatus::False);
    assert!(ready.message.contains("dc3"), "{}", ready.message);
    assert_eq!(c.dc("dc1").state("dc2"), Some("ACTIVE"));
    assert_eq!(c.dc("dc2").state("dc1"), Some("ACTIVE"));

    gate.open();
    wait_peered(&c, "3/3").await;
    c.stop().await;
}

/// The playground process of [`the_playground_peers_three_clusters_from_one_mesh`]; killed
/// (by its id) when the test ends.
struct PlaygroundProcess(std::process::Child);

impl Drop for PlaygroundProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `playground --clusters 3 --mesh`, the real binary: it prints each pair as it becomes ACTIVE,
/// and kubectl shows the mesh 3/3 and Ready in dc1.
#[tokio::test]
async fn the_playground_peers_three_clusters_from_one_mesh() {
    use std::io::{BufRead, BufReader};
    use test_support::kubectl::{Kubectl, binaries};

    let dir = support::operator::scratch_file("playground-mesh");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_consul-peering-operator"))
        .args(["playground", "--clusters", "3", "--mesh", "--state-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("start the playground");
    let stdout = child.stdout.take().unwrap();
    let _process = PlaygroundProcess(child);
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("3/3 peered")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no '3/3 peered' within 90 s; stdout:\n{}\nstderr:\n{}",
                seen.join("\n"),
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            ),
        }
    }
    for link in [
        "dc1 ↔ dc2: ACTIVE",
        "dc1 ↔ dc3: ACTIVE",
        "dc2 ↔ dc3: ACTIVE",
    ] {
        assert!(seen.iter().any(|l| l == link), "{link}: {seen:#?}");
    }
    let kubectl = Kubectl::new(&binaries()[0]).with_kubeconfig(dir.join("kubeconfig"));
    let table = kubectl
        .ok(&["--context", "dc1", "get", "peeringmesh", "--no-headers"])
        .await;
    let row: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(row[..4], ["mesh", "3", "3/3", "True"], "{table}");
}

/// A PeeringAcceptor the mesh did not create where it would put one is never overwritten nor
/// deleted: that pair says `MeshConflict`, the other pairs peer; a spec the operator cannot
/// use says `InvalidSpec`.
#[tokio::test]
async fn a_foreign_acceptor_in_the_way_is_left_alone_and_a_bad_spec_is_told() {
    let c = Clusters::start(3).await;
    let dc1 = c.dc("dc1");
    for name in ["dc2", "dc3"] {
        let secret = format!("{name}-kubeconfig");
        c.kubeconfig_secret(dc1, &secret, c.dc(name), None).await;
    }
    let foreign = support::two_clusters::acceptor("mesh-dc2", "someone-elses-token", None);
    apply(&api::<PeeringAcceptor>(dc1), &foreign).await;
    let meshes: Api<PeeringMesh> = api(dc1);
    apply(&meshes, &example_mesh()).await;
    let conflicted = wait_for(&meshes, MESH, "MeshConflict, the others ACTIVE", |m| {
        pair(m, "dc1", "dc2").is_some_and(|p| p.reason == reason::MESH_CONFLICT)
            && peered(m) == Some("2/3")
    })
    .await;
    assert!(pair(&conflicted, "dc1", "dc3").is_some_and(|p| p.ready == ConditionStatus::True));
    let untouched = api::<PeeringAcceptor>(dc1).get("mesh-dc2").await.unwrap();
    assert_eq!(untouched.spec.peer.secret.name, "someone-elses-token");

    delete_and_wait_gone(&meshes, MESH).await;
    let kept = api::<PeeringAcceptor>(dc1).get("mesh-dc2").await.unwrap();
    assert_eq!(kept.spec.peer.secret.name, "someone-elses-token");

    let mut half = mesh_of(&["dc1", "dc2", "dc3"]);
    half.spec.acceptors = Some(vec!["dc1".into()]);
    apply(&meshes, &half).await;
    wait_for(&meshes, MESH, "InvalidSpec", |m| {
        m.status.as_ref().is_some_and(|s| {
            is(
                ready_of(&s.conditions),
                ConditionStatus::False,
                reason::INVALID_SPEC,
            )
        })
    })
    .await;
    c.stop().await;
}
