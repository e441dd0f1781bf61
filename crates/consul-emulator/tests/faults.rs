//! Injected faults, through the Rust handle and through the `/emulator` control path, and
//! the request counters.

mod common;

use std::time::{Duration, Instant};

use common::*;
use consul_emulator::{ConsulFault, Failure, PeeringState};

async fn control(h: &consul_emulator::Handle, path: &str, body: &str) -> Answer {
    post(h, &format!("/emulator{path}"), body).await
}

#[tokio::test]
async fn next_requests_fail_with_consul_like_bodies() {
    let dc = start(config("dc1")).await;
    dc.fail_next(2, Failure::consul_like(500));
    for _ in 0..2 {
        let a = get(&dc, "/v1/peerings").await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (500, "rpc error: code = Unknown desc = No cluster leader")
        );
    }
    assert_eq!(get(&dc, "/v1/peerings").await.status, 200);

    assert_eq!(
        control(&dc, "/faults/fail", r#"{"count":1,"status":503}"#)
            .await
            .status,
        200
    );
    let a = post(&dc, "/v1/peering/token", r#"{"PeerName":"p"}"#).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            503,
            "rpc error: code = Unavailable desc = No cluster leader"
        )
    );
    assert!(dc.peerings("").is_empty(), "a failed request has no effect");
    control(
        &dc,
        "/faults/fail",
        r#"{"count":1,"status":500,"body":"custom"}"#,
    )
    .await;
    assert_eq!(get(&dc, "/v1/peerings").await.body, "custom");
    control(&dc, "/faults/fail", r#"{"count":5}"#).await;
    control(&dc, "/faults/clear", "").await;
    assert_eq!(get(&dc, "/v1/peerings").await.status, 200);
}

#[tokio::test]
async fn answers_can_be_delayed() {
    let dc = start(config("dc1")).await;
    dc.set_delay(Some(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(get(&dc, "/v1/peerings").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    dc.set_delay(None);
    control(&dc, "/faults/delay", r#"{"millis":250}"#).await;
    let started = Instant::now();
    get(&dc, "/v1/peerings").await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    control(&dc, "/faults/delay", r#"{"millis":0}"#).await;
    let started = Instant::now();
    get(&dc, "/v1/peerings").await;
    assert!(started.elapsed() < Duration::from_millis(250));
}

async fn wait_refused(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client().get(url).send().await {
            Err(e) if e.is_connect() => return,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the listener never went away");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_outage_refuses_connections_then_the_same_port_answers_again() {
    let dc = start(config("dc1")).await;
    let url = format!("{}/v1/peerings", dc.url());
    // A blocking query in flight is cut by the outage.
    let index = get(&dc, "/v1/peerings")
        .await
        .header("x-consul-index")
        .unwrap();
    let waiting_url = format!("{url}?index={index}&wait=30s");
    let waiting = tokio::spawn(async move { client().get(waiting_url).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    dc.outage(Duration::from_millis(600));
    wait_refused(&url).await;
    assert!(
        waiting.await.unwrap().is_err(),
        "open connections are closed by the outage"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while client().get(&url).send().await.is_err() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(550));
    assert_eq!(get(&dc, "/v1/peerings").await.status, 200);

    // The same over the control path.
    assert_eq!(
        control(&dc, "/faults/outage", r#"{"millis":300}"#)
            .await
            .status,
        200
    );
    wait_refused(&url).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while client().get(&url).send().await.is_err() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_answering(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while client().get(url).send().await.is_err() {
        assert!(Instant::now() < deadline, "the listener never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn lasting_faults_hold_until_cleared_or_over() {
    let dc = start(config("dc1")).await;
    let url = format!("{}/v1/peerings", dc.url());
    dc.set_fault(ConsulFault::Down, None);
    wait_refused(&url).await;
    assert!(matches!(dc.faults().as_slice(), [ConsulFault::Down]));
    dc.clear_faults();
    wait_answering(&url).await;
    assert!(dc.faults().is_empty());

    dc.set_fault(ConsulFault::Failing(Failure::consul_like(500)), None);
    for _ in 0..5 {
        assert_eq!(get(&dc, "/v1/peerings").await.status, 500);
    }
    dc.clear_faults();
    assert_eq!(get(&dc, "/v1/peerings").await.status, 200);

    dc.set_fault(
        ConsulFault::Failing(Failure::consul_like(500)),
        Some(Duration::from_millis(300)),
    );
    assert_eq!(get(&dc, "/v1/peerings").await.status, 500);
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&dc, "/v1/peerings").await.status != 200 {
        assert!(Instant::now() < deadline, "the failure never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dc.faults().is_empty(), "an ended fault is not shown");

    dc.set_fault(ConsulFault::Slow(Duration::from_millis(300)), None);
    let started = Instant::now();
    assert_eq!(get(&dc, "/v1/peerings").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    dc.clear_faults();
    let started = Instant::now();
    get(&dc, "/v1/peerings").await;
    assert!(started.elapsed() < Duration::from_millis(300));

    // A timed outage ends by itself.
    dc.set_fault(ConsulFault::Down, Some(Duration::from_millis(300)));
    wait_refused(&url).await;
    wait_answering(&url).await;
    assert!(dc.faults().is_empty());
}

async fn peered() -> (consul_emulator::Handle, consul_emulator::Handle) {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "p").await;
    assert_eq!(establish(&dc2, "p", &token).await.status, 200);
    wait_state(&dc1, "p", PeeringState::Active).await;
    wait_state(&dc2, "p", PeeringState::Active).await;
    (dc1, dc2)
}

#[tokio::test]
async fn a_dropped_stream_fails_on_both_sides_and_reconnects() {
    let (dc1, dc2) = peered().await;
    assert!(dc1.drop_stream("", "p", Some(Duration::from_millis(800))));
    wait_state(&dc1, "p", PeeringState::Failing).await;
    wait_state(&dc2, "p", PeeringState::Failing).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        dc1.peering("", "p").unwrap().state,
        PeeringState::Failing,
        "held down"
    );
    wait_state(&dc1, "p", PeeringState::Active).await;
    wait_state(&dc2, "p", PeeringState::Active).await;

    // From the dialer's side, through the control path.
    let a = control(
        &dc2,
        "/faults/drop-stream",
        r#"{"name":"p","reconnect_after_millis":200}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    wait_state(&dc1, "p", PeeringState::Failing).await;
    wait_state(&dc1, "p", PeeringState::Active).await;
    let missing = control(&dc2, "/faults/drop-stream", r#"{"name":"nope"}"#).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_stream_dropped_without_reconnect_stays_failing_until_cleared() {
    let (dc1, dc2) = peered().await;
    assert!(dc2.drop_stream("", "p", None));
    wait_state(&dc1, "p", PeeringState::Failing).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dc1.peering("", "p").unwrap().state, PeeringState::Failing);
    assert_eq!(dc2.peering("", "p").unwrap().state, PeeringState::Failing);
    dc2.clear_faults();
    wait_state(&dc1, "p", PeeringState::Active).await;
    wait_state(&dc2, "p", PeeringState::Active).await;
}

#[tokio::test]
async fn a_peering_deleted_out_of_band() {
    let (dc1, dc2) = peered().await;
    assert!(dc1.delete_peering("", "p"));
    assert_eq!(dc1.peering("", "p").unwrap().state, PeeringState::Deleting);
    wait_state(&dc2, "p", PeeringState::Terminated).await;
    wait_gone(&dc1, "p").await;
    assert!(!dc1.delete_peering("", "p"));
    assert_eq!(
        dc1.count("DELETE", "/v1/peering/:name"),
        0,
        "out-of-band deletes are not API calls"
    );

    generate(&dc2, "q").await;
    let a = control(&dc2, "/faults/delete-peering", r#"{"name":"q"}"#).await;
    assert_eq!((a.status, a.json()["found"].as_bool()), (200, Some(true)));
    assert_eq!(get(&dc2, "/v1/peering/q").await.json()["State"], "DELETING");
    assert_eq!(
        control(&dc2, "/faults/delete-peering", r#"{"name":"zzz"}"#)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn requests_are_counted_by_endpoint_and_status() {
    let dc = start(config("dc1")).await;
    generate(&dc, "p").await;
    get(&dc, "/v1/peering/p").await;
    get(&dc, "/v1/peering/p").await;
    get(&dc, "/v1/peering/missing").await;
    get(&dc, "/v1/peerings").await;
    dc.fail_next(1, Failure::consul_like(503));
    get(&dc, "/v1/peerings").await;
    get(&dc, "/emulator/counters").await;
    let count = |method: &str, endpoint: &str, status: u16| {
        dc.counters()
            .iter()
            .find(|c| c.method == method && c.endpoint == endpoint && c.status == status)
            .map(|c| c.count)
            .unwrap_or(0)
    };
    assert_eq!(count("POST", "/v1/peering/token", 200), 1);
    assert_eq!(count("GET", "/v1/peering/:name", 200), 2);
    assert_eq!(count("GET", "/v1/peering/:name", 404), 1);
    assert_eq!(count("GET", "/v1/peerings", 200), 1);
    assert_eq!(count("GET", "/v1/peerings", 503), 1);
    assert_eq!(dc.count("GET", "/v1/peering/:name"), 3);
    assert!(
        dc.counters()
            .iter()
            .all(|c| !c.endpoint.starts_with("/emulator"))
    );

    let over_http = get(&dc, "/emulator/counters").await.json();
    let token_row = over_http
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["endpoint"] == "/v1/peering/token")
        .unwrap()
        .clone();
    assert_eq!(
        token_row,
        serde_json::json!({"method": "POST", "endpoint": "/v1/peering/token", "status": 200, "count": 1})
    );
    assert_eq!(delete(&dc, "/emulator/counters").await.status, 200);
    assert!(dc.counters().is_empty());
}

#[tokio::test]
async fn control_path_info_and_peerings() {
    let dc = start(config("dc1")).await;
    generate(&dc, "p").await;
    let info = get(&dc, "/emulator/info").await.json();
    assert_eq!(info["datacenter"], "dc1");
    assert_eq!(info["peering_address"], dc.peering_addr().to_string());
    assert_eq!(info["server_name"], dc.server_name());
    let peerings = get(&dc, "/emulator/peerings").await.json();
    assert_eq!(peerings[0]["Name"], "p");
    assert_eq!(get(&dc, "/emulator/nope").await.status, 404);
}
