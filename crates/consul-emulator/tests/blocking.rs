//! Blocking queries on `GET /v1/peerings` and `GET /v1/peering/:name` (reference A.4/A.6).

mod common;

use std::time::{Duration, Instant};

use common::*;
use consul_emulator::PeeringState;

fn index_of(a: &Answer) -> u64 {
    a.header("x-consul-index")
        .expect("X-Consul-Index")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_change_wakes_a_waiting_list() {
    let dc = start(config("dc1")).await;
    let first = get(&dc, "/v1/peerings").await;
    let index = index_of(&first);
    assert!(index >= 1);
    let url = format!("{}/v1/peerings?index={index}&wait=10s", dc.url());
    let started = Instant::now();
    let waiting = tokio::spawn(async move { send(client().get(url)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the query blocks while nothing changes"
    );
    generate(&dc, "new").await;
    let woke = waiting.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(index_of(&woke) > index);
    assert_eq!(woke.json()[0]["Name"], "new");
}

#[tokio::test]
async fn a_timeout_returns_the_same_index() {
    let dc = start(config("dc1")).await;
    generate(&dc, "p").await;
    let index = index_of(&get(&dc, "/v1/peerings").await);
    let started = Instant::now();
    let a = get(&dc, &format!("/v1/peerings?index={index}&wait=400ms")).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(
        took < Duration::from_millis(400 + 400 / 16 + 500),
        "{took:?}"
    );
    assert_eq!(index_of(&a), index);
    let b = get(
        &dc,
        &format!(
            "/v1/peering/p?index={}&wait=300ms",
            dc.peering("", "p").unwrap().modify_index
        ),
    )
    .await;
    assert_eq!(b.status, 200);
    assert_eq!(index_of(&b), dc.peering("", "p").unwrap().modify_index);
}

#[tokio::test]
async fn an_older_index_answers_at_once() {
    let dc = start(config("dc1")).await;
    generate(&dc, "p").await;
    let started = Instant::now();
    let a = get(&dc, "/v1/peering/p?index=1&wait=10s").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(a.status, 200);
}

fn moving_index(dc: &str) -> consul_emulator::Config {
    let mut cfg = config(dc);
    cfg.stream_changes_move_index = true;
    cfg
}

#[tokio::test]
async fn stream_state_changes_do_not_move_the_index_as_in_consul() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let token = generate(&dc1, "p").await;
    let list_index = index_of(&get(&dc1, "/v1/peerings").await);
    let url = format!("{}/v1/peerings?index={list_index}&wait=1s", dc1.url());
    let list = tokio::spawn(async move { send(client().get(url)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(establish(&dc2, "p", &token).await.status, 200);
    wait_state(&dc1, "p", PeeringState::Active).await;
    let list = list.await.unwrap();
    // The watcher was not woken by ACTIVE: it ran its wait out and got the same index, with the
    // stream overlay showing in the body.
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(index_of(&list), list_index);
    assert_eq!(list.json()[0]["State"], "ACTIVE");
}

#[tokio::test]
async fn with_the_option_stream_state_changes_wake_watchers_within_seconds() {
    let dc1 = start(moving_index("dc1")).await;
    let dc2 = start(moving_index("dc2")).await;
    let token = generate(&dc1, "p").await;
    let pending = get(&dc1, "/v1/peering/p").await;
    assert_eq!(pending.json()["State"], "PENDING");
    let read_index = index_of(&pending);
    let list_index = index_of(&get(&dc1, "/v1/peerings").await);

    let read_url = format!("{}/v1/peering/p?index={read_index}&wait=20s", dc1.url());
    let read = tokio::spawn(async move { send(client().get(read_url)).await });
    let list_url = format!("{}/v1/peerings?index={list_index}&wait=20s", dc1.url());
    let list = tokio::spawn(async move { send(client().get(list_url)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(establish(&dc2, "p", &token).await.status, 200);
    let started = Instant::now();
    let read = read.await.unwrap();
    let list = list.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(read.json()["State"], "ACTIVE");
    assert_eq!(list.json()[0]["State"], "ACTIVE");

    // FAILING wakes a list watcher too.
    let index = index_of(&get(&dc1, "/v1/peerings").await);
    let url = format!("{}/v1/peerings?index={index}&wait=20s", dc1.url());
    let watch = tokio::spawn(async move { send(client().get(url)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    dc1.drop_stream("", "p", None);
    let failing = watch.await.unwrap();
    assert_eq!(failing.json()[0]["State"], "FAILING");

    // And TERMINATED on the other side of a delete.
    let index = index_of(&get(&dc1, "/v1/peerings").await);
    let url = format!("{}/v1/peerings?index={index}&wait=20s", dc1.url());
    let watch = tokio::spawn(async move { send(client().get(url)).await });
    dc1.clear_faults();
    wait_state(&dc1, "p", PeeringState::Active).await;
    let _ = watch.await.unwrap();
    let index = index_of(&get(&dc1, "/v1/peerings").await);
    let url = format!("{}/v1/peerings?index={index}&wait=20s", dc1.url());
    let watch = tokio::spawn(async move { send(client().get(url)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    delete(&dc2, "/v1/peering/p").await;
    let terminated = watch.await.unwrap();
    assert_eq!(terminated.json()[0]["State"], "TERMINATED");
}

#[tokio::test]
async fn a_deleted_peering_wakes_a_reader_with_not_found() {
    let dc = start(config("dc1").deletion_delay(Duration::from_millis(200))).await;
    generate(&dc, "p").await;
    delete(&dc, "/v1/peering/p").await;
    let index = dc.peering("", "p").unwrap().modify_index;
    let a = get(&dc, &format!("/v1/peering/p?index={index}&wait=10s")).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (404, r#"Peering not found for "p""#)
    );
}
