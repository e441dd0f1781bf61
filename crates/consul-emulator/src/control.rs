//! The control path outside `/v1` (`/emulator/...`): faults, counters, ACL tokens and a view
//! of the stored peerings, for tests and people driving the playground with curl. Requests
//! here are not counted and not subject to faults. Bodies are JSON; answers are JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use crate::acl::Rules;
use crate::dc::Datacenter;
use crate::faults::Failure;

#[derive(Deserialize)]
struct FailBody {
    count: u32,
    #[serde(default = "default_status")]
    status: u16,
    body: Option<String>,
}

fn default_status() -> u16 {
    500
}

#[derive(Deserialize)]
struct MillisBody {
    millis: u64,
}

#[derive(Deserialize)]
struct PeeringRef {
    name: String,
    #[serde(default)]
    partition: String,
    /// For `drop-stream`: how long the stream stays down; absent keeps it down.
    #[serde(default)]
    reconnect_after_millis: Option<u64>,
}

pub async fn handle(dc: Arc<Datacenter>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches("/emulator").to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match axum::body::to_bytes(req.into_body(), 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return reply(StatusCode::BAD_REQUEST, json!({ "error": e.to_string() })),
    };
    macro_rules! body_as {
        ($t:ty) => {
            match parse_body::<$t>(&body) {
                Ok(v) => v,
                Err(e) => return reply(StatusCode::BAD_REQUEST, json!({ "error": e })),
            }
        };
    }
    match (method, path.as_str()) {
        (Method::GET, "/info") => reply(
            StatusCode::OK,
            json!({
                "datacenter": dc.cfg.datacenter,
                "trust_domain": dc.trust_domain,
                "server_name": dc.server_name,
                "peering_address": dc.peering_addr.to_string(),
                "acl_enabled": dc.acl.enabled(),
                "enterprise": dc.enterprise(),
            }),
        ),
        (Method::GET, "/peerings") => {
            let partition = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("partition="))
                .unwrap_or("")
                .to_string();
            reply(
                StatusCode::OK,
                serde_json::to_value(dc.views(&partition)).unwrap_or_default(),
            )
        }
        (Method::GET, "/counters") => reply(
            StatusCode::OK,
            serde_json::to_value(dc.counters.snapshot()).unwrap_or_default(),
        ),
        (Method::DELETE, "/counters") => {
            dc.counters.reset();
            reply(StatusCode::OK, json!({}))
        }
        (Method::POST, "/acl/tokens") => {
            if !dc.acl.enabled() {
                return reply(
                    StatusCode::CONFLICT,
                    json!({ "error": "ACLs are disabled" }),
                );
            }
            let rules = body_as!(Rules);
            reply(
                StatusCode::OK,
                serde_json::to_value(dc.acl.create(rules)).unwrap_or_default(),
            )
        }
        (Method::POST, "/faults/fail") => {
            let f = body_as!(FailBody);
            let mut failure = Failure::consul_like(f.status);
            if let Some(body) = f.body {
                failure.body = body;
            }
            dc.faults.fail_next(f.count, failure);
            reply(StatusCode::OK, json!({}))
        }
        (Method::POST, "/faults/delay") => {
            let d = body_as!(MillisBody);
            dc.faults
                .set_delay((d.millis > 0).then(|| Duration::from_millis(d.millis)));
            reply(StatusCode::OK, json!({}))
        }
        (Method::POST, "/faults/outage") => {
            let d = body_as!(MillisBody);
            // Answer first: the listener goes away right after.
            let dc2 = Arc::clone(&dc);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                dc2.faults.outage(Duration::from_millis(d.millis));
            });
            reply(StatusCode::OK, json!({}))
        }
        (Method::POST, "/faults/drop-stream") => {
            let p = body_as!(PeeringRef);
            let hold = p.reconnect_after_millis.map(Duration::from_millis);
            let found = dc.drop_stream(&p.name, &p.partition, hold);
            reply(
                if found {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                },
                json!({ "found": found }),
            )
        }
        (Method::POST, "/faults/delete-peering") => {
            let p = body_as!(PeeringRef);
            match dc.mark_for_deletion(&p.name, &p.partition) {
                Ok(found) => reply(
                    if found {
                        StatusCode::OK
                    } else {
                        StatusCode::NOT_FOUND
                    },
                    json!({ "found": found }),
                ),
                Err(e) => reply(StatusCode::CONFLICT, json!({ "error": e })),
            }
        }
        (Method::POST, "/faults/clear") => {
            dc.faults.clear();
            reply(StatusCode::OK, json!({}))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({ "error": "unknown control path" }),
        ),
    }
}

/// A JSON body as `T`; an empty body reads as `{}`.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).map_err(|e| e.to_string())
}

fn reply(status: StatusCode, value: serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
