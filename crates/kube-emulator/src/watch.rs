//! Watches: one JSON event per line over a chunked response, resumed from a resourceVersion,
//! with selector transitions, bookmarks, streaming lists and Table events.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::{Call, Selection, check_rv_params, partial_metadata};
use crate::ext::{self, IncludeObject};
use crate::request::Wanted;
use crate::state::Shared;
use crate::status::{ApiError, Cause};
use crate::store::{Change, ChangeType};
use crate::write::present;

/// A running watch: newline-terminated JSON events.
pub type EventStream = mpsc::Receiver<Bytes>;

/// The events as a response body stream.
pub fn body_stream(
    rx: EventStream,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    )
}

struct Emitter {
    served: Arc<crate::registry::Served>,
    wanted: Wanted,
    first_table: bool,
    tx: mpsc::Sender<Bytes>,
}

impl Emitter {
    async fn send_raw(&mut self, event: Value) -> bool {
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn send(&mut self, kind: &str, object: Value) -> bool {
        let object = match self.wanted {
            Wanted::Table => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let t = ext::table(
                    &self.served.kind,
                    &[object],
                    self.first_table,
                    IncludeObject::Metadata,
                    &rv,
                    None,
                );
                self.first_table = false;
                t
            }
            Wanted::PartialMetadata => partial_metadata(&object),
            _ => object,
        };
        self.send_raw(json!({"type": kind, "object": object})).await
    }

    async fn bookmark(&mut self, rv: u64, initial_end: bool) -> bool {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.served.kind.kind,
            "apiVersion": self.served.kind.api_version(),
            "metadata": metadata,
        });
        self.send_raw(json!({"type": "BOOKMARK", "object": object}))
            .await
    }
}

/// Validates the watch request and starts it; errors before the stream starts are plain
/// Status answers.
pub fn start(shared: &Arc<Shared>, call: &Call) -> Result<EventStream, ApiError> {
    let q = call.query;
    let send_initial = q.get("sendInitialEvents").map(|v| v == "true");
    if send_initial.is_some() && q.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::invalid_options(
            "ListOptions",
            Cause::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ),
        ));
    }
    let selection = Selection::parse(&call.served, q)?;
    let bookmarks = q.flag("allowWatchBookmarks");
    let timeout = q
        .value("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let rv_param = q.value("resourceVersion");
    let served = call.served.clone();
    let namespace = if served.kind.namespaced {
        call.path.namespace.clone()
    } else {
        None
    };
    let (tx, rx) = mpsc::channel(64);
    let mut emitter = Emitter {
        served: served.clone(),
        wanted: call.wanted.clone(),
        first_table: true,
        tx,
    };
    let mut state = shared.lock();
    check_rv_params(q, state.store.resource_version(), 0)?;
    let replay_current = send_initial == Some(true) || matches!(rv_param, None | Some("0"));
    let (initial, since, registration) = if replay_current {
        let current = state.store.resource_version();
        let objects = state.store.list(&served.store, namespace.as_deref());
        let reg = state
            .store
            .watch(&served.store, namespace.as_deref(), None)
            .expect("a watch without a resourceVersion always registers");
        (objects, current, Ok(reg))
    } else {
        let since: u64 = rv_param.and_then(|r| r.parse().ok()).unwrap_or(0);
        let reg = state
            .store
            .watch(&served.store, namespace.as_deref(), Some(since));
        (Vec::new(), since, reg)
    };
    drop(state);
    let interval = shared.bookmark_interval;
    tokio::spawn(async move {
        let (backlog, mut changes) = match registration {
            Ok(r) => r,
            Err(oldest) => {
                let status = ApiError::expired(format!(
                    "too old resource version: {} ({oldest})",
                    rv_param_string(since)
                ))
                .to_value();
                emitter
                    .send_raw(json!({"type": "ERROR", "object": status}))
                    .await;
                return;
            }
        };
        for obj in initial {
            let presented = present(&served, &obj);
            if selection.matches(&presented) && !emitter.send("ADDED", presented).await {
                return;
            }
        }
        if replay_current && bookmarks && !emitter.bookmark(since, true).await {
            return;
        }
        let mut last_rv = since;
        for change in backlog {
            last_rv = change.rv;
            if !deliver(&mut emitter, &served, &selection, &change).await {
                return;
            }
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let sleep_until = deadline
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86400 * 365));
            tokio::select! {
                change = changes.recv() => {
                    let Some(change) = change else { return };
                    if change.rv <= last_rv {
                        continue;
                    }
                    last_rv = change.rv;
                    if !deliver(&mut emitter, &served, &selection, &change).await {
                        return;
                    }
                }
                _ = ticker.tick(), if bookmarks => {
                    if !emitter.bookmark(last_rv, false).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(sleep_until) => return,
                _ = emitter.tx.closed() => return,
            }
        }
    });
    Ok(rx)
}

fn rv_param_string(rv: u64) -> String {
    rv.to_string()
}

/// Sends one change as the watcher sees it through its selectors.
async fn deliver(
    emitter: &mut Emitter,
    served: &crate::registry::Served,
    selection: &Selection,
    change: &Change,
) -> bool {
    let now_matches =
        change.change != ChangeType::Deleted && selection.matches(&present(served, &change.object));
    let before_matches = change
        .prev
        .as_ref()
        .is_some_and(|p| selection.matches(&present(served, p)));
    let (kind, object) = match change.change {
        ChangeType::Added if now_matches => ("ADDED", present(served, &change.object)),
        ChangeType::Modified if now_matches && before_matches => {
            ("MODIFIED", present(served, &change.object))
        }
        ChangeType::Modified if now_matches => ("ADDED", present(served, &change.object)),
        ChangeType::Modified if before_matches => {
            let mut last = present(served, change.prev.as_deref().unwrap_or(&Value::Null));
            last["metadata"]["resourceVersion"] = json!(change.rv.to_string());
            ("DELETED", last)
        }
        ChangeType::Deleted if before_matches => ("DELETED", present(served, &change.object)),
        _ => return true,
    };
    emitter.send(kind, object).await
}
