//! ACLs off and on: token sources, rules, the 403 texts (reference A.9 and A.2/A.4 rows).

mod common;

use common::*;
use consul_emulator::{Access, PeeringState, Rules};

const ANONYMOUS_WRITE: &str = "rpc error: code = Unknown desc = Permission denied: anonymous token lacks permission 'peering:write'. The anonymous token is used implicitly when a request does not specify a token.";

fn denied(accessor: &str, permission: &str) -> String {
    format!(
        "rpc error: code = Unknown desc = Permission denied: token with AccessorID '{accessor}' lacks permission '{permission}'"
    )
}

async fn with_token(req: reqwest::RequestBuilder, token: &str) -> Answer {
    send(req.header("X-Consul-Token", token)).await
}

#[tokio::test]
async fn acls_off_ignore_tokens() {
    let dc = start(config("dc1")).await;
    assert!(dc.management_token().is_none());
    let a = with_token(
        client()
            .post(format!("{}/v1/peering/token", dc.url()))
            .body(r#"{"PeerName":"p"}"#),
        "no-such-token",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("x-consul-default-acl-policy").as_deref(),
        Some("allow")
    );
}

#[tokio::test]
async fn anonymous_and_unknown_tokens_are_refused() {
    let dc = start(config("dc1").with_acls()).await;
    let a = post(&dc, "/v1/peering/token", r#"{"PeerName":"p"}"#).await;
    assert_eq!((a.status, a.body.as_str()), (403, ANONYMOUS_WRITE));
    assert_eq!(
        a.header("x-consul-default-acl-policy").as_deref(),
        Some("deny")
    );
    let read = get(&dc, "/v1/peerings").await;
    assert_eq!(read.status, 403);
    assert!(
        read.body
            .contains("anonymous token lacks permission 'peering:read'"),
        "{}",
        read.body
    );
    let unknown = with_token(client().get(format!("{}/v1/peerings", dc.url())), "nope").await;
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (403, "rpc error: code = Unknown desc = ACL not found")
    );
    // Validation runs before the ACL check.
    let bad_name = post(&dc, "/v1/peering/token", r#"{"PeerName":"Bad"}"#).await;
    assert_eq!(bad_name.status, 500);
    assert!(dc.peerings("").is_empty());
}

#[tokio::test]
async fn read_tokens_read_and_write_tokens_write() {
    let dc = start(config("dc1").with_acls()).await;
    let mgmt = dc.management_token().unwrap().to_string();
    let read = dc.create_token(Rules::peering(Access::Read));
    let write = dc.create_token(Rules::peering(Access::Write));
    let token_request = |token: String| {
        client()
            .post(format!("{}/v1/peering/token", dc.url()))
            .body(r#"{"PeerName":"p"}"#)
            .header("X-Consul-Token", token)
    };

    let refused = send(token_request(read.secret_id.clone())).await;
    assert_eq!(
        (refused.status, refused.body.clone()),
        (403, denied(&read.accessor_id, "peering:write"))
    );
    assert_eq!(
        send(token_request(write.secret_id.clone())).await.status,
        200
    );
    assert_eq!(send(token_request(mgmt.clone())).await.status, 200);

    let list = with_token(
        client().get(format!("{}/v1/peerings", dc.url())),
        &read.secret_id,
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    let one = with_token(
        client().get(format!("{}/v1/peering/p", dc.url())),
        &read.secret_id,
    )
    .await;
    assert_eq!(one.status, 200);
    let del = with_token(
        client().delete(format!("{}/v1/peering/p", dc.url())),
        &read.secret_id,
    )
    .await;
    assert_eq!(
        (del.status, del.body),
        (403, denied(&read.accessor_id, "peering:write"))
    );
    let none = dc.create_token(Rules::none());
    let nothing = with_token(
        client().get(format!("{}/v1/peering/p", dc.url())),
        &none.secret_id,
    )
    .await;
    assert_eq!(
        (nothing.status, nothing.body),
        (403, denied(&none.accessor_id, "peering:read"))
    );
    let est = with_token(
        client()
            .post(format!("{}/v1/peering/establish", dc.url()))
            .body(r#"{"PeerName":"x","PeeringToken":"e30="}"#),
        &read.secret_id,
    )
    .await;
    // The token is validated before the ACL check: "{}" has no addresses.
    assert_eq!(
        est.body,
        "rpc error: code = Unknown desc = peering token server addresses value is empty"
    );
}

#[tokio::test]
async fn operator_rules_apply_when_there_is_no_peering_rule() {
    let dc = start(config("dc1").with_acls()).await;
    let op_read = dc.create_token(Rules::operator(Access::Read));
    let op_write = dc.create_token(Rules::operator(Access::Write));
    let peering_deny = dc.create_token(Rules {
        peering: Some(Access::Deny),
        operator: Some(Access::Write),
    });
    let token_request = |t: &str| {
        client()
            .post(format!("{}/v1/peering/token", dc.url()))
            .body(r#"{"PeerName":"p"}"#)
            .header("X-Consul-Token", t.to_string())
    };
    assert_eq!(
        send(token_request(&op_read.secret_id)).await.body,
        denied(&op_read.accessor_id, "peering:write")
    );
    assert_eq!(send(token_request(&op_write.secret_id)).await.status, 200);
    assert_eq!(
        send(token_request(&peering_deny.secret_id)).await.body,
        denied(&peering_deny.accessor_id, "peering:write")
    );
    let read = with_token(
        client().get(format!("{}/v1/peerings", dc.url())),
        &op_read.secret_id,
    )
    .await;
    assert_eq!(read.status, 200);
}

#[tokio::test]
async fn tokens_come_from_query_header_or_bearer() {
    let dc = start(config("dc1").with_acls()).await;
    let write = dc.create_token(Rules::peering(Access::Write));
    let url = format!("{}/v1/peering/token", dc.url());
    let body = r#"{"PeerName":"p"}"#;
    let bearer = send(
        client()
            .post(&url)
            .body(body)
            .header("Authorization", format!("Bearer {}", write.secret_id)),
    )
    .await;
    assert_eq!(bearer.status, 200);
    let query = send(
        client()
            .post(format!("{url}?token={}", write.secret_id))
            .body(body),
    )
    .await;
    assert_eq!(query.status, 200);
    // ?token= wins over the header.
    let both = send(
        client()
            .post(format!("{url}?token=nope"))
            .body(body)
            .header("X-Consul-Token", &write.secret_id),
    )
    .await;
    assert_eq!(both.body, "rpc error: code = Unknown desc = ACL not found");
    // X-Consul-Token wins over Authorization.
    let headers = send(
        client()
            .post(&url)
            .body(body)
            .header("X-Consul-Token", "nope")
            .header("Authorization", format!("Bearer {}", write.secret_id)),
    )
    .await;
    assert_eq!(headers.status, 403);
}

#[tokio::test]
async fn peering_between_acl_datacenters_and_tokens_over_the_control_path() {
    let dc1 = start(config("dc1").with_acls()).await;
    let dc2 = start(config("dc2").with_acls()).await;
    // A token made through the HTTP control path.
    let made = send(
        client()
            .post(format!("{}/emulator/acl/tokens", dc2.url()))
            .body(r#"{"peering":"write"}"#),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let dc2_token = made.json()["SecretID"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(made.json()["AccessorID"].as_str().unwrap()).is_ok());

    let generated = with_token(
        client()
            .post(format!("{}/v1/peering/token", dc1.url()))
            .body(r#"{"PeerName":"dc2"}"#),
        dc1.management_token().unwrap(),
    )
    .await;
    let token = generated.json()["PeeringToken"]
        .as_str()
        .unwrap()
        .to_string();
    let est = with_token(
        client()
            .post(format!("{}/v1/peering/establish", dc2.url()))
            .body(format!(r#"{{"PeerName":"dc1","PeeringToken":"{token}"}}"#)),
        &dc2_token,
    )
    .await;
    assert_eq!(est.status, 200, "{}", est.body);
    wait_state(&dc1, "dc2", PeeringState::Active).await;
}
