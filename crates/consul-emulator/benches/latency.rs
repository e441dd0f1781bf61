//! Request latency of the emulated Consul API (token generation, reads, lists, establish),
//! measured through a real HTTP client on loopback. Run with
//! `cargo bench -p consul-emulator --bench latency` (`LATENCY_ITERATIONS` sets the count).

use std::time::{Duration, Instant};

use consul_emulator::Config;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<28} n={:<5} mean={:>8.1?} p50={:>8.1?} p90={:>8.1?} p99={:>8.1?} max={:>8.1?}",
        samples.len(),
        mean,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        samples[samples.len() - 1]
    );
}

async fn timed(req: reqwest::RequestBuilder) -> (Duration, String) {
    let started = Instant::now();
    let resp = req.send().await.expect("answered");
    assert!(resp.status().is_success(), "{}", resp.status());
    let body = resp.text().await.expect("body");
    (started.elapsed(), body)
}

fn main() {
    let iterations: usize = std::env::var("LATENCY_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        emulator_common::install_crypto_provider();
        let started = Instant::now();
        let dc1 = consul_emulator::start(Config::new("dc1"))
            .await
            .expect("dc1");
        let dc2 = consul_emulator::start(Config::new("dc2"))
            .await
            .expect("dc2");
        println!("start of two datacenters: {:.1?}", started.elapsed());
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let url = |h: &consul_emulator::Handle, path: &str| format!("{}{path}", h.url());

        // Warm the connection pool.
        for _ in 0..20 {
            timed(client.get(url(&dc1, "/v1/peerings"))).await;
        }

        let mut generate = Vec::with_capacity(iterations);
        for i in 0..iterations {
            let body = format!(r#"{{"PeerName":"peer-{}"}}"#, i % 50);
            generate.push(
                timed(client.post(url(&dc1, "/v1/peering/token")).body(body))
                    .await
                    .0,
            );
        }
        summary("POST /v1/peering/token", generate);

        let mut read = Vec::with_capacity(iterations);
        for i in 0..iterations {
            read.push(
                timed(client.get(url(&dc1, &format!("/v1/peering/peer-{}", i % 50))))
                    .await
                    .0,
            );
        }
        summary("GET /v1/peering/:name", read);

        let mut list = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            list.push(timed(client.get(url(&dc1, "/v1/peerings"))).await.0);
        }
        summary("GET /v1/peerings (50)", list);

        // One fresh token per name, so that each establish exchanges a live secret.
        let mut establish = Vec::new();
        for i in 0..50 {
            let body = format!(r#"{{"PeerName":"peer-{i}"}}"#);
            let (_, answer) = timed(client.post(url(&dc1, "/v1/peering/token")).body(body)).await;
            let v: serde_json::Value = serde_json::from_str(&answer).expect("json");
            let token = v["PeeringToken"].as_str().expect("token");
            let body = format!(r#"{{"PeerName":"dc1-{i}","PeeringToken":"{token}"}}"#);
            establish.push(
                timed(client.post(url(&dc2, "/v1/peering/establish")).body(body))
                    .await
                    .0,
            );
        }
        summary("POST /v1/peering/establish", establish);

        let mut list_active = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            list_active.push(timed(client.get(url(&dc1, "/v1/peerings"))).await.0);
        }
        summary("GET /v1/peerings (50 ACTIVE)", list_active);
        dc1.stop().await;
        dc2.stop().await;
    });
}
