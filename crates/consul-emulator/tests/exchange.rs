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
