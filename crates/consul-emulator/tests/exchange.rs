//! The real exchange between two datacenters (reference B.3, A.3 side effects, B.4 states).

mod common;

use common::*;
use consul_emulator::PeeringState;

#[tokio::test]
async fn establish_across_two_datacenters_makes_both_sides_active() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "to-dc2").await;
    assert_eq!(
        dc1.peering("", "to-dc2").unwrap().state,
        PeeringState::Pending
    );

    let a = establish(&dc2, "to-dc1", &token).await;
    assert_eq!((a.status, a.body.as_str()), (200, "{}"));
    wait_state(&dc2, "to-dc1", PeeringState::Active).await;
    wait_state(&dc1, "to-dc2", PeeringState::Active).await;

    let acceptor = dc1.peering("", "to-dc2").unwrap();
    let dialer = dc2.peering("", "to-dc1").unwrap();
    assert_eq!(dialer.peer_id, acceptor.id);
    assert_eq!(dialer.peer_server_name, dc1.server_name());
    assert_eq!(
        dialer.peer_server_addresses,
        vec![dc1.peering_addr().to_string()]
    );
    assert_eq!(dialer.peer_ca_pems, vec![dc1.connect_ca_pem().to_string()]);
    assert_eq!(
        (
            dialer.remote.datacenter.as_str(),
            dialer.remote.partition.as_str()
        ),
        ("dc1", "default")
    );
    // Stored states stay as Consul stores them; the stream overlay makes them read ACTIVE.
    assert_eq!(dc1.stored_state("", "to-dc2"), Some(PeeringState::Pending));
    assert_eq!(
        dc2.stored_state("", "to-dc1"),
        Some(PeeringState::Establishing)
    );
}

const CONSUMED: &str = "rpc error: code = PermissionDenied desc = a new peering token must be generated: invalid peering establishment secret";

#[tokio::test]
async fn a_token_works_exactly_once() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let dc3 = start(config("dc3")).await;
    let token = generate(&dc1, "shared").await;
    assert_eq!(establish(&dc2, "to-dc1", &token).await.status, 200);
    let again = establish(&dc3, "to-dc1", &token).await;
    assert_eq!((again.status, again.body.as_str()), (403, CONSUMED));
    let same_dc = establish(&dc2, "other-name", &token).await;
    assert_eq!((same_dc.status, same_dc.body.as_str()), (403, CONSUMED));
    // The refused dialer record stays (written before the exchange) and never connects.
    assert_eq!(
        dc3.peering("", "to-dc1").unwrap().state,
        PeeringState::Pending
    );
}

#[tokio::test]
async fn a_newer_token_supersedes_an_unused_one() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let old = generate(&dc1, "p").await;
    let new = generate(&dc1, "p").await;
    let refused = establish(&dc2, "p", &old).await;
    assert_eq!((refused.status, refused.body.as_str()), (403, CONSUMED));
    assert_eq!(establish(&dc2, "p", &new).await.status, 200);
    wait_state(&dc1, "p", PeeringState::Active).await;
}

#[tokio::test]
async fn regenerating_leaves_an_established_peering_active_and_can_re_establish() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let first = generate(&dc1, "p").await;
    assert_eq!(establish(&dc2, "p", &first).await.status, 200);
    wait_state(&dc1, "p", PeeringState::Active).await;
    let second = generate(&dc1, "p").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(dc1.peering("", "p").unwrap().state, PeeringState::Active);
    assert_eq!(dc2.peering("", "p").unwrap().state, PeeringState::Active);
    // Re-establishing with the newer token rotates secrets without breaking the stream.
    let before = dc2.peering("", "p").unwrap();
    assert_eq!(establish(&dc2, "p", &second).await.status, 200);
    let after = dc2.peering("", "p").unwrap();
    assert_eq!(
        (after.id.as_str(), after.state),
        (before.id.as_str(), PeeringState::Active)
    );
    assert!(after.modify_index > before.modify_index);
    // The rotated secret authenticates the next stream.
    assert!(dc1.drop_stream("", "p", Some(std::time::Duration::ZERO)));
    wait_state(&dc1, "p", PeeringState::Failing).await;
    wait_state(&dc1, "p", PeeringState::Active).await;
    wait_state(&dc2, "p", PeeringState::Active).await;
}

#[tokio::test]
async fn acceptor_delete_terminates_the_dialer() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "to-dc2").await;
    assert_eq!(establish(&dc2, "to-dc1", &token).await.status, 200);
    wait_state(&dc1, "to-dc2", PeeringState::Active).await;
    assert_eq!(delete(&dc1, "/v1/peering/to-dc2").await.status, 200);
    assert_eq!(
        dc1.peering("", "to-dc2").unwrap().state,
        PeeringState::Deleting
    );
    wait_state(&dc2, "to-dc1", PeeringState::Terminated).await;
    assert_eq!(
        dc2.stored_state("", "to-dc1"),
        Some(PeeringState::Terminated)
    );
    wait_gone(&dc1, "to-dc2").await;
    // The terminated side keeps its record until someone deletes it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        get(&dc2, "/v1/peering/to-dc1").await.json()["State"],
        "TERMINATED"
    );
    assert_eq!(delete(&dc2, "/v1/peering/to-dc1").await.status, 200);
    wait_gone(&dc2, "to-dc1").await;
}

#[tokio::test]
async fn dialer_delete_terminates_the_acceptor() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "to-dc2").await;
    assert_eq!(establish(&dc2, "to-dc1", &token).await.status, 200);
    wait_state(&dc1, "to-dc2", PeeringState::Active).await;
    assert_eq!(delete(&dc2, "/v1/peering/to-dc1").await.status, 200);
    wait_state(&dc1, "to-dc2", PeeringState::Terminated).await;
    wait_gone(&dc2, "to-dc1").await;
    // A token generated for a terminated acceptor is not usable (reference B.3): delete first.
    let stale = generate(&dc1, "to-dc2").await;
    assert_eq!(establish(&dc2, "again", &stale).await.body, CONSUMED);
}

#[tokio::test]
async fn a_terminated_dialer_re_establishes_with_a_new_token() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "to-dc2").await;
    assert_eq!(establish(&dc2, "to-dc1", &token).await.status, 200);
    wait_state(&dc1, "to-dc2", PeeringState::Active).await;
    let old_peer_id = dc2.peering("", "to-dc1").unwrap().peer_id;
    delete(&dc1, "/v1/peering/to-dc2").await;
    wait_state(&dc2, "to-dc1", PeeringState::Terminated).await;
    wait_gone(&dc1, "to-dc2").await;
    let fresh = generate(&dc1, "to-dc2").await;
    let a = establish(&dc2, "to-dc1", &fresh).await;
    assert_eq!(a.status, 200, "{}", a.body);
    wait_state(&dc2, "to-dc1", PeeringState::Active).await;
    wait_state(&dc1, "to-dc2", PeeringState::Active).await;
    let dialer = dc2.peering("", "to-dc1").unwrap();
    assert_ne!(
        dialer.peer_id, old_peer_id,
        "the acceptor's new peering has a new ID"
    );
    assert_eq!(dialer.peer_id, dc1.peering("", "to-dc2").unwrap().id);
}

#[tokio::test]
async fn manual_server_addresses_are_dialed_instead_of_server_addresses() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let a = post(
        &dc1,
        "/v1/peering/token",
        &format!(r#"{{"PeerName":"p","ServerExternalAddresses":["{closed}"]}}"#),
    )
    .await;
    let token = a.json()["PeeringToken"].as_str().unwrap().to_string();
    let refused = establish(&dc2, "p", &token).await;
    assert_eq!(refused.status, 500);
    assert!(
        refused
            .body
            .contains(&format!("through address \"{closed}\"")),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains(&dc1.peering_addr().to_string()));

    let via_name = format!("localhost:{}", dc1.peering_addr().port());
    let b = post(
        &dc1,
        "/v1/peering/token",
        &format!(r#"{{"PeerName":"q","ServerExternalAddresses":["{via_name}"]}}"#),
    )
    .await;
    let token = b.json()["PeeringToken"].as_str().unwrap().to_string();
    assert_eq!(establish(&dc2, "q", &token).await.status, 200);
    wait_state(&dc1, "q", PeeringState::Active).await;
}

#[tokio::test]
async fn stream_status_and_dialer_fields_are_reported() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "p").await;
    let a = post(
        &dc2,
        "/v1/peering/establish",
        &format!(r#"{{"PeerName":"p","PeeringToken":"{token}","Meta":{{"team":"a"}}}}"#),
    )
    .await;
    assert_eq!(a.status, 200);
    wait_state(&dc2, "p", PeeringState::Active).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for dc in [&dc1, &dc2] {
        let p = get(dc, "/v1/peering/p").await.json();
        let status = &p["StreamStatus"];
        for key in ["LastHeartbeat", "LastReceive", "LastSend"] {
            let t = status[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {}: {p}", dc.datacenter()));
            assert!(t.ends_with('Z') && t.contains('T'), "{t}");
        }
        assert!(status["ImportedServices"].is_null() && status["ExportedServices"].is_null());
    }
    let dialer = get(&dc2, "/v1/peering/p").await.json();
    assert_eq!(dialer["Meta"], serde_json::json!({"team": "a"}));
    assert_eq!(
        dialer["Remote"],
        serde_json::json!({"Partition": "default", "Datacenter": "dc1"})
    );
    assert!(
        dialer["PeerCAPems"][0]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let acceptor = get(&dc1, "/v1/peering/p").await.json();
    assert!(acceptor.get("PeerID").is_none() && acceptor.get("PeerServerAddresses").is_none());
}

#[tokio::test]
async fn one_acceptor_datacenter_peers_with_several_dialers() {
    let mut dcs = consul_emulator::start_all(vec![config("dc1"), config("dc2"), config("dc3")])
        .await
        .unwrap();
    let (b, a, hub) = (dcs.pop().unwrap(), dcs.pop().unwrap(), dcs.pop().unwrap());
    let ta = generate(&hub, "dc2").await;
    let tb = generate(&hub, "dc3").await;
    assert_eq!(establish(&a, "hub", &ta).await.status, 200);
    assert_eq!(establish(&b, "hub", &tb).await.status, 200);
    wait_state(&hub, "dc2", PeeringState::Active).await;
    wait_state(&hub, "dc3", PeeringState::Active).await;
    // A stopped datacenter breaks its stream: the hub reads FAILING for that peer only.
    a.stop().await;
    wait_state(&hub, "dc2", PeeringState::Failing).await;
    assert_eq!(hub.peering("", "dc3").unwrap().state, PeeringState::Active);
}

/// Rewrites a token's JSON and encodes it again.
fn tampered(token: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut json: serde_json::Value =
        serde_json::from_slice(&engine.decode(token).unwrap()).unwrap();
    change(&mut json);
    engine.encode(serde_json::to_vec(&json).unwrap())
}

#[tokio::test]
async fn the_exchange_verifies_the_tokens_ca_and_server_name() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "p").await;
    let foreign_ca = emulator_common::Pki::new("another Consul CA");
    let wrong_ca = tampered(&token, |t| {
        t["CA"] = serde_json::json!([foreign_ca.ca_pem()])
    });
    let a = establish(&dc2, "p", &wrong_ca).await;
    assert_eq!(a.status, 500);
    assert!(a.body.contains("transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"), "{}", a.body);
    let wrong_name = tampered(&token, |t| {
        t["ServerName"] = serde_json::json!("server.dc9.peering.example.consul")
    });
    let b = establish(&dc2, "q", &wrong_name).await;
    assert_eq!(b.status, 500);
    assert!(
        b.body.contains("authentication handshake failed"),
        "{}",
        b.body
    );
    // The secret was not spent by the failed handshakes.
    assert_eq!(establish(&dc2, "r", &token).await.status, 200);
}
