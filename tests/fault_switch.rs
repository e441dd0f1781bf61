//! `consul-peering-operator playground fault`, run as a user runs it against a running
//! playground (here one started with `--no-operator`): each fault takes effect, a timed one
//! ends by itself, `clear` ends the others, and a wrong cluster is told clearly.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use consul_peering_operator::playground::{self, PlaygroundArgs};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    playground: PlaygroundArgs,
}

/// Runs `playground fault --state-dir DIR <args>`; returns whether it succeeded and its output.
async fn fault(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_consul-peering-operator"))
        .args(["playground", "fault", "--state-dir"])
        .arg(dir)
        .args(args)
        .output()
        .await
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The status of `GET /v1/peerings`, or `None` when the connection is refused.
async fn consul_status(address: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    match client.get(format!("{address}/v1/peerings")).send().await {
        Ok(r) => Some(r.status().as_u16()),
        Err(e) if e.is_connect() => None,
        Err(e) => panic!("unexpected Consul error: {e}"),
    }
}

async fn wait_consul(address: &str, want: Option<u16>, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = consul_status(address).await;
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: Consul answers {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The HTTP code a ConfigMap create gets (201 when it succeeds).
async fn write_code(api: &Api<ConfigMap>, name: &str) -> u16 {
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    match api.create(&PostParams::default(), &cm).await {
        Ok(_) => 201,
        Err(kube::Error::Api(status)) => status.code,
        Err(e) => panic!("unexpected Kubernetes error: {e}"),
    }
}

/// ConfigMaps of `default` through a client that does not retry 429 itself.
async fn without_retries(kube: &kube_emulator::KubeEmulator) -> Api<ConfigMap> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&kube.kubeconfig()).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    config.default_retry = false;
    Api::namespaced(kube::Client::try_from(config).expect("client"), "default")
}

#[tokio::test]
async fn the_fault_command_sets_and_clears_faults_in_a_running_playground() {
    emulator_common::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("fault-switch-{}", std::process::id()));
    let args = Args::parse_from(["playground", "--no-operator", "--empty"]).playground;
    let pg = playground::start(&args, &dir)
        .await
        .expect("playground starts");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("playground.json")).unwrap())
            .unwrap();
    for c in state["clusters"].as_array().unwrap() {
        let url = c["faultControl"]
            .as_str()
            .expect("each cluster names its control");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
    let (dc1, dc2) = (pg.cluster("dc1"), pg.cluster("dc2"));
    let (consul1, consul2) = (dc1.consul_address.clone(), dc2.consul_address.clone());
    assert_eq!(consul_status(&consul1).await, Some(200));

    // A timed fault: on at once in dc1 only, then over by itself.
    let (ok, out) = fault(&dir, &["dc1", "consul-500", "--for", "2s"]).await;
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "dc1: Consul answers every request with 500 for 2s"
    );
    assert_eq!(consul_status(&consul1).await, Some(500));
    assert_eq!(consul_status(&consul2).await, Some(200));
    wait_consul(&consul1, Some(200), "after 2s of consul-500").await;

    // Until cleared: Consul down, the Kubernetes API refusing writes.
    let (ok, out) = fault(&dir, &["dc1", "consul-down"]).await;
    assert!(
        ok && out.contains("Consul refuses connections until cleared"),
        "{out}"
    );
    wait_consul(&consul1, None, "consul-down").await;
    let configmaps: Api<ConfigMap> = Api::namespaced(dc2.kube.client(), "default");
    let (ok, out) = fault(&dir, &["dc2", "kube-conflict"]).await;
    assert!(ok, "{out}");
    assert_eq!(write_code(&configmaps, "a").await, 409);
    assert_eq!(write_code(&configmaps, "a").await, 409);
    for dc in ["dc1", "dc2"] {
        let (ok, out) = fault(&dir, &[dc, "clear"]).await;
        assert!(ok, "{out}");
        assert_eq!(out.trim(), format!("{dc}: every fault cleared"));
    }
    wait_consul(&consul1, Some(200), "after clear").await;
    assert_eq!(write_code(&configmaps, "a").await, 201);

    // kube-429 throttles reads as well, with Retry-After: 1 (seen by a client that does not
    // retry on its own, as kube's default client does).
    let (ok, out) = fault(&dir, &["dc2", "kube-429", "--for", "2s"]).await;
    assert!(ok, "{out}");
    let unretried = without_retries(&dc2.kube).await;
    match unretried.get("a").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 429),
        other => panic!("expected 429, got {other:?}"),
    }
    let deadline = Instant::now() + TIMEOUT;
    while unretried.get("a").await.is_err() {
        assert!(Instant::now() < deadline, "kube-429 never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Wrong input is told, not guessed at.
    let (ok, out) = fault(&dir, &["dc9", "clear"]).await;
    assert!(
        !ok && out.contains("no cluster \"dc9\"") && out.contains("dc1, dc2"),
        "{out}"
    );
    let (ok, out) = fault(&dir, &["dc1", "consul-404"]).await;
    assert!(!ok && out.contains("consul-down"), "{out}");
    let (ok, out) = fault(&dir, &["dc1", "clear", "--for", "30"]).await;
    assert!(!ok && out.contains("give a unit"), "{out}");

    pg.shutdown().await.expect("playground stops");
    let _ = std::fs::remove_dir_all(&dir);
}
