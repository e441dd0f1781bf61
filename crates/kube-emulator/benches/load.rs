//! Loads 10,000 Secrets and 10,000 custom objects into an emulator, then reports request
//! latency (get, list page, create) and the process's memory. Run with
//! `cargo bench -p kube-emulator --bench load` (set `KUBE_EMULATOR_BENCH_OBJECTS` to change
//! the count).

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::json;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{what:<28} n={:<6} mean={:>8.1?} p50={:>8.1?} p99={:>8.1?} max={:>8.1?}",
        samples.len(),
        mean,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    emulator_common::install_crypto_provider();
    let count: usize = std::env::var("KUBE_EMULATOR_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let before = rss_mib();
    let started = Instant::now();
    let emu = kube_emulator::start().await.expect("emulator starts");
    println!("start: {:?}", started.elapsed());
    let client = emu.client();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.demo.example.com"},
        "spec": {"group": "demo.example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}, "note": {"type": "string"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("demo.example.com", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);

    let load_started = Instant::now();
    let mut creates = Vec::with_capacity(count);
    let create_secret = |i: usize| {
        let secrets = secrets.clone();
        async move {
            let s: Secret = serde_json::from_value(json!({
                "metadata": {"name": format!("secret-{i:05}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
                "stringData": {"token": format!("value-{i}"), "ca.crt": "x".repeat(256)}
            }))
            .unwrap();
            let t = Instant::now();
            secrets.create(&PostParams::default(), &s).await.unwrap();
            t.elapsed()
        }
    };
    let mut stream = futures::stream::iter(0..count)
        .map(create_secret)
        .buffer_unordered(8);
    while let Some(d) = stream.next().await {
        creates.push(d);
    }
    let create_gadget = |i: usize| {
        let gadgets = gadgets.clone();
        async move {
            let g: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "demo.example.com/v1", "kind": "Gadget",
                "metadata": {"name": format!("gadget-{i:05}"), "labels": {"app": "bench"}},
                "spec": {"size": 1 + (i % 10) as i64, "note": "benchmark object"}
            }))
            .unwrap();
            let t = Instant::now();
            gadgets.create(&PostParams::default(), &g).await.unwrap();
            t.elapsed()
        }
    };
    let mut stream = futures::stream::iter(0..count)
        .map(create_gadget)
        .buffer_unordered(8);
    while let Some(d) = stream.next().await {
        creates.push(d);
    }
    println!(
        "loaded {count} Secrets + {count} Gadgets in {:?} (8 concurrent creates)",
        load_started.elapsed()
    );
    report("create (under load)", creates);

    let mut secret_gets = Vec::new();
    let mut gadget_gets = Vec::new();
    for i in 0..2_000 {
        let name = format!("secret-{:05}", (i * 7919) % count);
        let t = Instant::now();
        secrets.get(&name).await.unwrap();
        secret_gets.push(t.elapsed());
        let name = format!("gadget-{:05}", (i * 7919) % count);
        let t = Instant::now();
        gadgets.get(&name).await.unwrap();
        gadget_gets.push(t.elapsed());
    }
    report("get Secret (sequential)", secret_gets);
    report("get Gadget (sequential)", gadget_gets);
    let mut pages = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let page = secrets
            .list(&ListParams::default().limit(500))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 500.min(count));
        pages.push(t.elapsed());
    }
    report("list 500 Secrets (page)", pages);
    let after = rss_mib();
    println!(
        "memory: RSS {after:.0} MiB after loading ({:.0} MiB above the {before:.0} MiB before start; includes the client side)",
        after - before
    );
    emu.stop();
}
