//! The API over HTTPS with the emulator's own CA, with and without client certificates.

mod common;

use common::*;
use consul_emulator::PeeringState;

fn https_client(ca: &str, identity: Option<&emulator_common::CertifiedKey>) -> reqwest::Client {
    emulator_common::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()]);
    if let Some(id) = identity {
        let pem = format!("{}{}", id.cert_pem, id.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn https_with_the_emulators_ca() {
    let dc = start(config("dc1").https(false)).await;
    assert!(dc.url().starts_with("https://127.0.0.1:"));
    assert!(dc.client_identity().is_none());
    let ca = dc.ca_pem().expect("an HTTPS API has a CA");
    let ok = send(https_client(ca, None).get(format!("{}/v1/peerings", dc.url()))).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "[]"));
    // The same name Consul's agents use is in the certificate.
    let by_name = https_client(ca, None)
        .get(format!(
            "https://localhost:{}/v1/peerings",
            dc.http_addr().port()
        ))
        .send()
        .await;
    assert!(by_name.is_ok());
    // A client that does not trust the CA cannot connect; plain HTTP is not served.
    let other_ca = emulator_common::Pki::new("other");
    assert!(
        https_client(other_ca.ca_pem(), None)
            .get(format!("{}/v1/peerings", dc.url()))
            .send()
            .await
            .is_err()
    );
    let plain = client()
        .get(format!("http://{}/v1/peerings", dc.http_addr()))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status().as_u16() == 400);
}

#[tokio::test]
async fn https_with_client_certificates() {
    let dc = start(config("dc1").https(true)).await;
    let ca = dc.ca_pem().unwrap();
    let identity = dc
        .client_identity()
        .expect("client verification hands out an identity");
    assert!(!format!("{identity:?}").contains("PRIVATE KEY"));
    let without = https_client(ca, None)
        .get(format!("{}/v1/peerings", dc.url()))
        .send()
        .await;
    assert!(
        without.is_err(),
        "a client without a certificate is refused"
    );
    let foreign = emulator_common::Pki::new("foreign").issue_client("mallory");
    let wrong = https_client(ca, Some(&foreign))
        .get(format!("{}/v1/peerings", dc.url()))
        .send()
        .await;
    assert!(wrong.is_err(), "a certificate from another CA is refused");
    let with = send(
        https_client(ca, Some(identity))
            .post(format!("{}/v1/peering/token", dc.url()))
            .body(r#"{"PeerName":"p"}"#),
    )
    .await;
    assert_eq!(with.status, 200, "{}", with.body);
}

#[tokio::test]
async fn an_https_datacenter_peers_with_an_http_one() {
    let dc1 = start(config("dc1").https(true)).await;
    let dc2 = start(config("dc2")).await;
    let c = https_client(dc1.ca_pem().unwrap(), dc1.client_identity());
    let a = send(
        c.post(format!("{}/v1/peering/token", dc1.url()))
            .body(r#"{"PeerName":"dc2"}"#),
    )
    .await;
    let token = a.json()["PeeringToken"].as_str().unwrap().to_string();
    assert_eq!(establish(&dc2, "dc1", &token).await.status, 200);
    wait_state(&dc1, "dc2", PeeringState::Active).await;
}
