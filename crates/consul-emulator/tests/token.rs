//! The token layout of reference section B.2, decoded field by field.

mod common;

use base64::Engine;
use common::*;

fn decode(token: &str) -> (String, serde_json::Value) {
    assert_eq!(token.len() % 4, 0, "standard base64 is padded");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .expect("standard base64");
    let text = String::from_utf8(raw).unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (text, json)
}

/// The order in which `keys` first appear in the raw JSON text.
fn key_positions(text: &str, keys: &[&str]) -> Vec<usize> {
    keys.iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing"))
        })
        .collect()
}

#[tokio::test]
async fn token_layout_matches_b2() {
    let dc = start(config("dc1")).await;
    let token = generate(&dc, "peer-b").await;
    let (text, json) = decode(&token);

    let order = key_positions(
        &text,
        &[
            "CA",
            "ManualServerAddresses",
            "ServerAddresses",
            "ServerName",
            "PeerID",
            "EstablishmentSecret",
            "Remote",
        ],
    );
    assert!(order.windows(2).all(|w| w[0] < w[1]), "field order: {text}");
    assert_eq!(json.as_object().unwrap().len(), 7);

    // CA: the datacenter's Connect CA, a real X.509 CA certificate in PEM ending with a newline.
    let ca = json["CA"].as_array().unwrap();
    assert_eq!(ca.len(), 1);
    let pem_text = ca[0].as_str().unwrap();
    assert!(pem_text.ends_with("-----END CERTIFICATE-----\n"));
    assert_eq!(pem_text, dc.connect_ca_pem());
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    assert!(cert.is_ca(), "the token's CA is a CA certificate");
    assert_eq!(cert.subject(), cert.issuer(), "a self-signed root");

    assert!(json["ManualServerAddresses"].is_null());
    assert_eq!(
        json["ServerAddresses"],
        serde_json::json!([dc.peering_addr().to_string()])
    );
    assert_ne!(
        dc.peering_addr(),
        dc.http_addr(),
        "tokens point at the peering listener, not the API"
    );

    let server_name = json["ServerName"].as_str().unwrap();
    let domain = server_name.strip_prefix("server.dc1.peering.").unwrap();
    let uuid = domain.strip_suffix(".consul").unwrap();
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{server_name}");
    assert_eq!(server_name, dc.server_name());
    assert_eq!(domain, dc.trust_domain());

    let peering = get(&dc, "/v1/peering/peer-b").await.json();
    assert_eq!(json["PeerID"], peering["ID"]);
    assert!(uuid::Uuid::parse_str(json["EstablishmentSecret"].as_str().unwrap()).is_ok());

    let remote_keys = key_positions(&text, &["Partition", "Datacenter", "Locality"]);
    assert!(remote_keys.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        json["Remote"],
        serde_json::json!({"Partition": "default", "Datacenter": "dc1", "Locality": null})
    );
}

#[tokio::test]
async fn every_token_has_a_fresh_secret_and_every_datacenter_its_own_trust_domain() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc1")).await;
    let (_, a) = decode(&generate(&dc1, "p").await);
    let (_, b) = decode(&generate(&dc1, "p").await);
    assert_ne!(a["EstablishmentSecret"], b["EstablishmentSecret"]);
    assert_eq!(
        a["PeerID"], b["PeerID"],
        "regenerating keeps the peering ID"
    );
    let (_, c) = decode(&generate(&dc2, "p").await);
    assert_ne!(
        a["ServerName"], c["ServerName"],
        "same datacenter name, different trust domains"
    );
    assert_ne!(a["CA"], c["CA"]);
}

#[tokio::test]
async fn server_external_addresses_become_manual_server_addresses() {
    let dc = start(config("dc1")).await;
    let a = post(
        &dc,
        "/v1/peering/token?pretty",
        r#"{"PeerName":"p","ServerExternalAddresses":["lb.example.com:8503","10.1.2.3:443"]}"#,
    )
    .await;
    assert!(
        a.body.starts_with("{\n    \"PeeringToken\": \""),
        "{}",
        a.body
    );
    let (_, json) = decode(a.json()["PeeringToken"].as_str().unwrap());
    assert_eq!(
        json["ManualServerAddresses"],
        serde_json::json!(["lb.example.com:8503", "10.1.2.3:443"])
    );
    assert_eq!(
        json["ServerAddresses"],
        serde_json::json!([dc.peering_addr().to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_generations_of_a_new_name_share_one_peering() {
    let dc = std::sync::Arc::new(start(config("dc1")).await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let dc = std::sync::Arc::clone(&dc);
            tokio::spawn(async move { generate(&dc, "race").await })
        })
        .collect();
    let mut peer_ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (_, json) = decode(&task.await.unwrap());
        peer_ids.insert(json["PeerID"].as_str().unwrap().to_string());
    }
    assert_eq!(peer_ids.len(), 1);
    assert_eq!(dc.peerings("").len(), 1);
}
