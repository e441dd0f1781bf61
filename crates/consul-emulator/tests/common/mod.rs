//! Helpers shared by the integration tests: starting datacenters and talking to them with
//! reqwest exactly as a client of Consul would.
#![allow(dead_code)]

use std::time::Duration;

use consul_emulator::{Config, Handle, PeeringState};
use reqwest::header::HeaderMap;

/// A test datacenter with quick heartbeats and a short deletion delay.
pub fn config(name: &str) -> Config {
    Config::new(name)
        .heartbeat_interval(Duration::from_millis(200))
        .deletion_delay(Duration::from_millis(300))
}

pub async fn start(cfg: Config) -> Handle {
    emulator_common::install_crypto_provider();
    consul_emulator::start(cfg).await.expect("emulator starts")
}

pub fn client() -> reqwest::Client {
    emulator_common::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request is answered");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body reads");
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn get(h: &Handle, path: &str) -> Answer {
    send(client().get(format!("{}{path}", h.url()))).await
}

pub async fn post(h: &Handle, path: &str, body: &str) -> Answer {
    send(
        client()
            .post(format!("{}{path}", h.url()))
            .body(body.to_string()),
    )
    .await
}

pub async fn delete(h: &Handle, path: &str) -> Answer {
    send(client().delete(format!("{}{path}", h.url()))).await
}

/// Generates a token for `name` on `h` and returns it.
pub async fn generate(h: &Handle, name: &str) -> String {
    let a = post(
        h,
        "/v1/peering/token",
        &format!(r#"{{"PeerName":"{name}"}}"#),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["PeeringToken"].as_str().unwrap().to_string()
}

pub async fn establish(h: &Handle, name: &str, token: &str) -> Answer {
    post(
        h,
        "/v1/peering/establish",
        &format!(r#"{{"PeerName":"{name}","PeeringToken":"{token}"}}"#),
    )
    .await
}

/// Waits until the peering reads `state` through the API.
pub async fn wait_state(h: &Handle, name: &str, state: PeeringState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let current = h.peering("", name).map(|p| p.state);
        if current == Some(state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} in {}: {current:?}, wanted {state:?}",
            h.datacenter()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the peering is gone from the API.
pub async fn wait_gone(h: &Handle, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.peering("", name).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} still present in {}",
            h.datacenter()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
