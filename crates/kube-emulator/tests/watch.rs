//! Watches through kube-rs: events, streaming lists, resume after a forced disconnect, 410.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

async fn next_apply(
    stream: &mut (impl futures::Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin),
) -> ConfigMap {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("no watcher error");
        if let Event::Apply(o) | Event::InitApply(o) = ev {
            return o;
        }
    }
}

#[tokio::test]
async fn watcher_sees_changes_and_resumes_after_forced_disconnect() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    api.create(&PostParams::default(), &cm("w0", json!({})))
        .await
        .unwrap();
    let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    assert_eq!(
        next_apply(&mut stream).await.metadata.name.as_deref(),
        Some("w0")
    );
    api.create(&PostParams::default(), &cm("w1", json!({})))
        .await
        .unwrap();
    assert_eq!(
        next_apply(&mut stream).await.metadata.name.as_deref(),
        Some("w1")
    );
    eventually("watch open", || async { emu.open_watches() > 0 }).await;
    emu.close_watches();
    // Written while the watcher is disconnected: it must still arrive after the re-watch.
    api.create(&PostParams::default(), &cm("w2", json!({})))
        .await
        .unwrap();
    assert_eq!(
        next_apply(&mut stream).await.metadata.name.as_deref(),
        Some("w2")
    );
    assert!(
        emu.count("watch", "configmaps") >= 2,
        "the client watched again"
    );
}

#[tokio::test]
async fn streaming_list_ends_its_initial_phase_with_the_bookmark() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    api.create(&PostParams::default(), &cm("s1", json!({})))
        .await
        .unwrap();
    let mut stream =
        watcher::watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut saw_init_done = false;
    while let Ok(Ok(Some(ev))) =
        tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await
    {
        if matches!(ev, Event::InitDone) {
            saw_init_done = true;
            break;
        }
    }
    assert!(saw_init_done, "kube-rs finished the initial phase");
    assert_eq!(
        emu.count("list", "configmaps"),
        0,
        "no LIST with streaming lists"
    );
}

#[tokio::test]
async fn expired_history_gives_410_and_selector_transitions_are_added_deleted() {
    let emu = emulator().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let created = api
        .create(&PostParams::default(), &cm("t1", json!({"watch": "sel"})))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let wp = WatchParams::default().labels("watch=sel").timeout(5);
    let mut events = api.watch(&wp, &rv).await.unwrap().boxed();
    let pp = PatchParams::default();
    api.patch(
        "t1",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"watch": "gone"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "t1",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"watch": "sel"}}})),
    )
    .await
    .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match events.try_next().await.unwrap().unwrap() {
            WatchEvent::Deleted(o) => {
                assert_eq!(
                    o.metadata.labels.unwrap()["watch"],
                    "sel",
                    "last matching state"
                );
                kinds.push("DELETED")
            }
            WatchEvent::Added(_) => kinds.push("ADDED"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, vec!["DELETED", "ADDED"]);
    emu.expire_history();
    let mut gone = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match gone.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {rv} ("))
            );
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}
