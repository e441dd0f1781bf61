//! Community Edition refuses partitions; Enterprise keeps a peering namespace per partition.

mod common;

use base64::Engine;
use common::*;
use consul_emulator::PeeringState;

#[tokio::test]
async fn community_edition_refuses_partition_parameters_everywhere() {
    let dc = start(config("dc1")).await;
    generate(&dc, "p").await;
    let query_err =
        r#"Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature"#;
    let header_err =
        r#"Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature"#;
    for path in [
        "/v1/peerings?partition=default",
        "/v1/peering/p?partition=ap1",
    ] {
        let a = get(&dc, path).await;
        assert_eq!((a.status, a.body.as_str()), (400, query_err), "{path}");
    }
    for (method, path) in [
        ("GET", "/v1/peerings"),
        ("GET", "/v1/peering/p"),
        ("DELETE", "/v1/peering/p"),
    ] {
        let req = client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", dc.url()),
            )
            .header("X-Consul-Partition", "ap1");
        let a = send(req).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (400, header_err),
            "{method} {path}"
        );
    }
    let est = send(
        client()
            .post(format!("{}/v1/peering/establish", dc.url()))
            .header("X-Consul-Partition", "ap1")
            .body(r#"{"PeerName":"x","PeeringToken":"y"}"#),
    )
    .await;
    assert_eq!((est.status, est.body.as_str()), (400, header_err));
    // The peering was not deleted by the refused DELETE.
    assert_eq!(dc.peering("", "p").unwrap().state, PeeringState::Pending);
}

#[tokio::test]
async fn enterprise_partitions_are_separate_namespaces() {
    let dc = start(config("dc1").enterprise()).await;
    let default = post(&dc, "/v1/peering/token", r#"{"PeerName":"p"}"#).await;
    assert_eq!(default.status, 200);
    let ap1 = post(
        &dc,
        "/v1/peering/token?partition=ap1",
        r#"{"PeerName":"p"}"#,
    )
    .await;
    assert_eq!(ap1.status, 200);
    let decoded = |a: &Answer| -> serde_json::Value {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.json()["PeeringToken"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    assert_eq!(decoded(&default)["Remote"]["Partition"], "default");
    assert_eq!(decoded(&ap1)["Remote"]["Partition"], "ap1");
    assert_ne!(decoded(&default)["PeerID"], decoded(&ap1)["PeerID"]);

    let in_default = get(&dc, "/v1/peerings").await.json();
    assert_eq!(in_default.as_array().unwrap().len(), 1);
    assert_eq!(in_default[0]["Partition"], "default");
    let in_ap1 = get(&dc, "/v1/peerings?partition=ap1").await.json();
    assert_eq!(in_ap1[0]["Partition"], "ap1");
    assert_eq!(in_ap1[0]["ID"], decoded(&ap1)["PeerID"]);
    let by_header = send(
        client()
            .get(format!("{}/v1/peering/p", dc.url()))
            .header("X-Consul-Partition", "ap1"),
    )
    .await;
    assert_eq!(by_header.json()["Partition"], "ap1");

    // The body's Partition wins over the query parameter.
    let body_wins = post(
        &dc,
        "/v1/peering/token?partition=ap1",
        r#"{"PeerName":"q","Partition":"ap2"}"#,
    )
    .await;
    assert_eq!(body_wins.status, 200);
    assert_eq!(
        get(&dc, "/v1/peering/q?partition=ap2").await.json()["Partition"],
        "ap2"
    );
    assert_eq!(get(&dc, "/v1/peering/q?partition=ap1").await.status, 404);

    // Deleting in one partition leaves the same name in another.
    assert_eq!(delete(&dc, "/v1/peering/p?partition=ap1").await.status, 200);
    assert_eq!(
        get(&dc, "/v1/peering/p?partition=ap1").await.json()["State"],
        "DELETING"
    );
    assert_eq!(get(&dc, "/v1/peering/p").await.json()["State"], "PENDING");
}

#[tokio::test]
async fn an_enterprise_partition_peers_with_a_community_datacenter() {
    let dc1 = start(config("dc1").enterprise()).await;
    let dc2 = start(config("dc2")).await;
    let a = post(
        &dc1,
        "/v1/peering/token",
        r#"{"PeerName":"dc2","Partition":"ap1"}"#,
    )
    .await;
    let token = a.json()["PeeringToken"].as_str().unwrap().to_string();
    assert_eq!(establish(&dc2, "dc1-ap1", &token).await.status, 200);
    wait_state(&dc2, "dc1-ap1", PeeringState::Active).await;
    let dialer = get(&dc2, "/v1/peering/dc1-ap1").await.json();
    assert_eq!(
        dialer["Remote"],
        serde_json::json!({"Partition": "ap1", "Datacenter": "dc1"})
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while dc1.peering("ap1", "dc2").unwrap().state != PeeringState::Active {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(dc1.peering("", "dc2").is_none());
}
