//! Every validation and error row of the reference's sections A.1–A.6, with the exact status
//! code and plain-text body.

mod common;

use base64::Engine;
use common::*;
use consul_emulator::{Config, Handle, PeeringState};

const NAME_RULE: &str = "is not a valid peer name: a valid peering name must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";

fn b64(json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn assert_answer(a: &Answer, status: u16, body: &str) {
    assert_eq!((a.status, a.body.as_str()), (status, body));
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
}

fn rpc(desc: &str) -> String {
    format!("rpc error: code = Unknown desc = {desc}")
}

#[tokio::test]
async fn generate_token_request_decoding() {
    let dc = start(config("dc1")).await;
    let no_body = send(client().post(format!("{}/v1/peering/token", dc.url()))).await;
    assert_answer(&no_body, 400, "Body decoding failed: EOF");
    assert_refused(
        &dc,
        "/v1/peering/token",
        &[
            ("", "Body decoding failed: EOF"),
            ("abc", "Body decoding failed: invalid character 'a' looking for beginning of value"),
            (r#"{"PeerName":"a""#, "Body decoding failed: unexpected EOF"),
            (r#"{"PeerName":"a","Datacenter":"dc1"}"#, r#"Body decoding failed: json: unknown field "Datacenter""#),
            (r#"{"PeerName":"a","Token":"x"}"#, r#"Body decoding failed: json: unknown field "Token""#),
            (r#"{"PeerName":7}"#, "Body decoding failed: json: cannot unmarshal number into Go struct field PeeringGenerateTokenRequest.PeerName of type string"),
            ("{}", "PeerName is required in the payload when generating a new peering token."),
            // A top-level null decodes to an empty request, as in Go.
            ("null", "PeerName is required in the payload when generating a new peering token."),
        ],
    )
    .await;
    // Field names match case-insensitively.
    let ok = post(
        &dc,
        "/v1/peering/token",
        r#"{"peerName":"lower","META":{"k":"v"}}"#,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        dc.peering("", "lower")
            .unwrap()
            .meta
            .get("k")
            .map(String::as_str),
        Some("v")
    );
}

#[tokio::test]
async fn generate_token_validation_rows() {
    let dc = start(config("dc1")).await;
    let generate_with = |body: &'static str| {
        let dc = &dc;
        async move { post(dc, "/v1/peering/token", body).await }
    };
    assert_answer(
        &generate_with(r#"{"PeerName":"a","Partition":"ap1"}"#).await,
        500,
        "rpc error: code = InvalidArgument desc = Partitions are a Consul Enterprise feature",
    );
    assert_eq!(
        generate_with(r#"{"PeerName":"a","Partition":"Default"}"#)
            .await
            .status,
        200
    );
    assert_answer(
        &generate_with(r#"{"PeerName":"Peer_1"}"#).await,
        500,
        &rpc(&format!("Peer_1 {NAME_RULE}")),
    );
    assert_answer(
        &generate_with(r#"{"PeerName":"-a"}"#).await,
        500,
        &rpc(&format!("-a {NAME_RULE}")),
    );
    let long = "a".repeat(64);
    assert_answer(
        &post(
            &dc,
            "/v1/peering/token",
            &format!(r#"{{"PeerName":"{long}"}}"#),
        )
        .await,
        500,
        &rpc(&format!("{long} {NAME_RULE}")),
    );
    let meta = |m: &str| format!(r#"{{"PeerName":"m","Meta":{m}}}"#);
    let meta_err = |pair: &str, why: &str| {
        rpc(&format!(
            "meta tags failed validation: Couldn't load metadata pair ({pair}): {why}"
        ))
    };
    assert_answer(
        &post(&dc, "/v1/peering/token", &meta(r#"{"":"v"}"#)).await,
        500,
        &meta_err("'', 'v'", "Key cannot be blank"),
    );
    assert_answer(
        &post(&dc, "/v1/peering/token", &meta(r#"{"a b":"v"}"#)).await,
        500,
        &meta_err("'a b', 'v'", "Key contains invalid characters"),
    );
    let long_key = "k".repeat(129);
    assert_answer(
        &post(
            &dc,
            "/v1/peering/token",
            &meta(&format!(r#"{{"{long_key}":"v"}}"#)),
        )
        .await,
        500,
        &meta_err(
            &format!("'{long_key}', 'v'"),
            "Key is too long (limit: 128 characters)",
        ),
    );
    assert_answer(
        &post(&dc, "/v1/peering/token", &meta(r#"{"consul-x":"v"}"#)).await,
        500,
        &meta_err(
            "'consul-x', 'v'",
            "Key prefix 'consul-' is reserved for internal use",
        ),
    );
    let long_value = "v".repeat(513);
    assert_answer(
        &post(
            &dc,
            "/v1/peering/token",
            &meta(&format!(r#"{{"k":"{long_value}"}}"#)),
        )
        .await,
        500,
        &meta_err(
            &format!("'k', '{long_value}'"),
            "Value is too long (limit: 512 characters)",
        ),
    );
    let many: Vec<String> = (0..65).map(|i| format!(r#""k{i}":"v""#)).collect();
    assert_answer(
        &post(
            &dc,
            "/v1/peering/token",
            &meta(&format!("{{{}}}", many.join(","))),
        )
        .await,
        500,
        &rpc(
            "meta tags failed validation: Node metadata cannot contain more than 64 key/value pairs",
        ),
    );
    assert_eq!(
        dc.peerings("")
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["a"]
    );
}

#[tokio::test]
async fn generate_token_partition_parameters_are_refused_in_community_edition() {
    let dc = start(config("dc1")).await;
    let query = post(
        &dc,
        "/v1/peering/token?partition=default",
        r#"{"PeerName":"a"}"#,
    )
    .await;
    assert_answer(
        &query,
        400,
        r#"Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature"#,
    );
    let header = send(
        client()
            .post(format!("{}/v1/peering/token?partition=x", dc.url()))
            .header("X-Consul-Partition", "x")
            .body(r#"{"PeerName":"a"}"#),
    )
    .await;
    assert_answer(
        &header,
        400,
        r#"Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature"#,
    );
    // The PeerName check comes first.
    assert_answer(
        &post(&dc, "/v1/peering/token?partition=x", "{}").await,
        400,
        "PeerName is required in the payload when generating a new peering token.",
    );
}

#[tokio::test]
async fn generate_token_server_configuration_rows() {
    let mut cfg = config("dc1");
    cfg.peering_enabled = false;
    let disabled = start(cfg).await;
    assert_answer(
        &post(&disabled, "/v1/peering/token", r#"{"PeerName":"a"}"#).await,
        500,
        "rpc error: code = FailedPrecondition desc = peering must be enabled to use this endpoint",
    );
    assert_answer(
        &get(&disabled, "/v1/peerings").await,
        500,
        "rpc error: code = FailedPrecondition desc = peering must be enabled to use this endpoint",
    );
    let mut cfg = config("dc2");
    cfg.connect_enabled = false;
    let no_connect = start(cfg).await;
    assert_answer(
        &post(&no_connect, "/v1/peering/token", r#"{"PeerName":"a"}"#).await,
        500,
        &rpc(
            "connect.enabled must be set to true in the server's configuration when generating peering tokens",
        ),
    );
    let mut cfg = config("dc3");
    cfg.grpc_tls_enabled = false;
    let no_tls = start(cfg).await;
    assert_answer(
        &post(&no_tls, "/v1/peering/token", r#"{"PeerName":"a"}"#).await,
        500,
        &rpc("TLS for gRPC must be enabled when generating peering tokens"),
    );
}

#[tokio::test]
async fn generate_token_on_existing_peerings() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    // Regenerating keeps the record (ID, Meta) and moves ModifyIndex only.
    let first = post(
        &dc1,
        "/v1/peering/token",
        r#"{"PeerName":"p","Meta":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(first.status, 200);
    let before = dc1.peering("", "p").unwrap();
    let again = post(
        &dc1,
        "/v1/peering/token",
        r#"{"PeerName":"p","Meta":{"b":"2"}}"#,
    )
    .await;
    assert_eq!(again.status, 200);
    let after = dc1.peering("", "p").unwrap();
    assert_eq!(
        (after.id.as_str(), &after.meta, after.create_index),
        (before.id.as_str(), &before.meta, before.create_index)
    );
    assert!(after.modify_index > before.modify_index);

    // A name used by a dialing peering.
    let token = generate(&dc1, "to-dc2").await;
    assert_eq!(establish(&dc2, "dialer", &token).await.status, 200);
    assert_answer(
        &post(&dc2, "/v1/peering/token", r#"{"PeerName":"dialer"}"#).await,
        500,
        &rpc(
            r#"cannot create peering with name: "dialer"; there is already an established peering"#,
        ),
    );

    // A peering being deleted.
    let slow = start(config("dc3").deletion_delay(std::time::Duration::from_secs(30))).await;
    generate(&slow, "going").await;
    assert_eq!(delete(&slow, "/v1/peering/going").await.status, 200);
    assert_answer(
        &post(&slow, "/v1/peering/token", r#"{"PeerName":"going"}"#).await,
        500,
        &rpc("failed to write peering: cannot write to peering that is marked for deletion"),
    );
}

#[tokio::test]
async fn server_external_addresses_are_not_validated_at_generation() {
    let dc = start(config("dc1")).await;
    let a = post(
        &dc,
        "/v1/peering/token",
        r#"{"PeerName":"p","ServerExternalAddresses":["1.2.3.4"]}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let json = base64::engine::general_purpose::STANDARD
        .decode(a.json()["PeeringToken"].as_str().unwrap())
        .unwrap();
    let token: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        token["ManualServerAddresses"],
        serde_json::json!(["1.2.3.4"])
    );
    // ... they are at establishment.
    let other = start(config("dc2")).await;
    let b = establish(&other, "p", a.json()["PeeringToken"].as_str().unwrap()).await;
    assert_answer(
        &b,
        500,
        &rpc("1.2.3.4 is not a valid peering server address"),
    );
}

#[tokio::test]
async fn establish_request_decoding() {
    let dc = start(config("dc1")).await;
    let no_body = send(client().post(format!("{}/v1/peering/establish", dc.url()))).await;
    assert_answer(&no_body, 400, "Body decoding failed: EOF");
    assert_refused(
        &dc,
        "/v1/peering/establish",
        &[
            ("[1]", "Body decoding failed: json: cannot unmarshal array into Go value of type api.PeeringEstablishRequest"),
            (r#"{"PeerName":"a","Datacenter":"x"}"#, r#"Body decoding failed: json: unknown field "Datacenter""#),
            ("{}", "PeerName is required in the payload when establishing a peering."),
            (r#"{"peername":"a"}"#, "PeeringToken is required in the payload when establishing a peering."),
        ],
    )
    .await;
    assert_answer(
        &post(
            &dc,
            "/v1/peering/establish?partition=x",
            r#"{"PeerName":"a","PeeringToken":"x"}"#,
        )
        .await,
        400,
        r#"Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature"#,
    );
}

#[tokio::test]
async fn establish_token_validation_rows_in_order() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let ca = serde_json::to_string(dc1.connect_ca_pem()).unwrap();
    let est = |name: &str, token: String| {
        let dc2 = &dc2;
        let name = name.to_string();
        async move { establish(dc2, &name, &token).await }
    };
    assert_answer(
        &est("Bad", "x".into()).await,
        500,
        &rpc(&format!("Bad {NAME_RULE}")),
    );
    assert_answer(
        &est("p", "not base64!".into()).await,
        500,
        &rpc("failed to decode token: illegal base64 data at input byte 3"),
    );
    assert_answer(
        &est("p", b64("hello")).await,
        500,
        &rpc("invalid character 'h' looking for beginning of value"),
    );
    assert_answer(
        &est(
            "p",
            b64(r#"{"CA":["junk"],"ServerAddresses":["a:1"],"ServerName":"s","PeerID":"x"}"#),
        )
        .await,
        500,
        &rpc("peering token invalid CA: no PEM-encoded data found"),
    );
    let bad_der = r#"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"#;
    assert_answer(
        &est(
            "p",
            b64(&format!(
                r#"{{"CA":["{bad_der}"],"ServerAddresses":["a:1"],"ServerName":"s","PeerID":"x"}}"#
            )),
        )
        .await,
        500,
        &rpc("peering token invalid CA: x509: malformed certificate"),
    );
    assert_answer(
        &est(
            "p",
            b64(&format!(r#"{{"CA":[{ca}],"ServerName":"s","PeerID":"x"}}"#)),
        )
        .await,
        500,
        &rpc("peering token server addresses value is empty"),
    );
    assert_answer(
        &est(
            "p",
            b64(&format!(
                r#"{{"CA":[{ca}],"ServerAddresses":["10.0.0.1"],"ServerName":"s","PeerID":"x"}}"#
            )),
        )
        .await,
        500,
        &rpc("10.0.0.1 is not a valid peering server address"),
    );
    assert_answer(
        &est(
            "p",
            b64(&format!(
                r#"{{"CA":[{ca}],"ServerAddresses":["10.0.0.1:0"],"ServerName":"s","PeerID":"x"}}"#
            )),
        )
        .await,
        500,
        &rpc("10.0.0.1:0 is not a valid peering server address"),
    );
    // Manual addresses are checked before server addresses.
    assert_answer(
        &est(
            "p",
            b64(&format!(
                r#"{{"CA":[{ca}],"ManualServerAddresses":["m"],"ServerAddresses":["s"],"ServerName":"s","PeerID":"x"}}"#
            )),
        )
        .await,
        500,
        &rpc("m is not a valid peering server address"),
    );
    assert_answer(
        &est(
            "p",
            b64(&format!(
                r#"{{"CA":[{ca}],"ServerAddresses":["a:1"],"PeerID":"x"}}"#
            )),
        )
        .await,
        500,
        &rpc("peering token server name value is empty"),
    );
    assert_answer(
        &est(
            "p",
            b64(&format!(
                r#"{{"CA":[{ca}],"ServerAddresses":["a:1"],"ServerName":"s"}}"#
            )),
        )
        .await,
        500,
        &rpc("peering token peer ID value is empty"),
    );
    let good = generate(&dc1, "p").await;
    let with_meta = post(
        &dc2,
        "/v1/peering/establish",
        &format!(r#"{{"PeerName":"p","PeeringToken":"{good}","Meta":{{"consul-a":"b"}}}}"#),
    )
    .await;
    assert_answer(
        &with_meta,
        500,
        &rpc(
            "meta tags failed validation: Couldn't load metadata pair ('consul-a', 'b'): Key prefix 'consul-' is reserved for internal use",
        ),
    );
    // None of the refused requests wrote anything.
    assert!(dc2.peerings("").is_empty());
}

#[tokio::test]
async fn establish_refuses_self_peering_and_role_switches() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2")).await;
    let own = generate(&dc1, "me").await;
    assert_answer(
        &establish(&dc1, "myself", &own).await,
        500,
        &rpc(&format!(
            "cannot create a peering within the same cluster \"{}\". Refer to the `exported-services` documentation if you want to export between partitions without peering",
            dc1.server_name()
        )),
    );
    generate(&dc2, "acceptor-name").await;
    let token = generate(&dc1, "to-dc2").await;
    assert_answer(
        &establish(&dc2, "acceptor-name", &token).await,
        500,
        &rpc(
            r#"cannot create peering with name: "acceptor-name"; there is an existing peering expecting to be dialed"#,
        ),
    );
}

#[tokio::test]
async fn establish_on_a_dialer_being_deleted() {
    let dc1 = start(config("dc1")).await;
    let dc2 = start(config("dc2").deletion_delay(std::time::Duration::from_secs(30))).await;
    let token = generate(&dc1, "to-dc2").await;
    assert_eq!(establish(&dc2, "to-dc1", &token).await.status, 200);
    assert_eq!(delete(&dc2, "/v1/peering/to-dc1").await.status, 200);
    let fresh = generate(&dc1, "to-dc2-again").await;
    assert_answer(
        &establish(&dc2, "to-dc1", &fresh).await,
        500,
        &rpc("failed to write peering: cannot write to peering that is marked for deletion"),
    );
}

#[tokio::test]
async fn establish_reports_unreachable_acceptors_after_retrying() {
    let dc1 = start(config("dc1")).await;
    let token = generate(&dc1, "p").await;
    let addr = dc1.peering_addr().to_string();
    dc1.stop().await;
    let dc2 = start(config("dc2")).await;
    let a = establish(&dc2, "p", &token).await;
    assert_eq!(a.status, 500);
    let one = format!(
        "* failed to exchange peering secret through address \"{addr}\": rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp {addr}: connect: connection refused\""
    );
    assert!(
        a.body.starts_with("rpc error: code = Unknown desc = "),
        "{}",
        a.body
    );
    assert!(a.body.contains(" errors occurred:\n\t"), "{}", a.body);
    assert!(a.body.contains(&one), "{}", a.body);
    assert!(a.body.ends_with("\n\n"));
    // The dialer record was written before the exchange and stays.
    assert_eq!(dc2.peering("", "p").unwrap().state, PeeringState::Pending);
}

#[tokio::test]
async fn read_delete_and_list_rows() {
    let dc = start(config("dc1")).await;
    assert_answer(
        &get(&dc, "/v1/peering/").await,
        400,
        "Must specify a name to fetch.",
    );
    assert_answer(
        &delete(&dc, "/v1/peering/").await,
        400,
        "Must specify a name to fetch.",
    );
    let missing = get(&dc, "/v1/peering/baz").await;
    assert_answer(&missing, 404, r#"Peering not found for "baz""#);
    assert_eq!(missing.header("x-consul-index"), None);
    assert_answer(
        &get(&dc, "/v1/peering/baz?partition=default").await,
        400,
        r#"Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature"#,
    );
    assert_answer(
        &delete(&dc, "/v1/peering/baz?partition=default").await,
        400,
        r#"Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature"#,
    );
    let empty = get(&dc, "/v1/peerings").await;
    assert_eq!((empty.status, empty.body.as_str()), (200, "[]"));
    assert_eq!(empty.header("x-consul-index").as_deref(), Some("1"));

    // Deleting an unknown name is a no-op 200 with an empty body.
    let gone = delete(&dc, "/v1/peering/nothing").await;
    assert_eq!(
        (gone.status, gone.body.as_str(), gone.header("content-type")),
        (200, "", None)
    );

    generate(&dc, "zeta").await;
    generate(&dc, "alpha").await;
    let list = get(&dc, "/v1/peerings").await;
    let names: Vec<String> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["alpha", "zeta"]);
    // Names are looked up case-insensitively; 404 bodies quote the name as asked.
    assert_eq!(get(&dc, "/v1/peering/ALPHA").await.json()["Name"], "alpha");
}

#[tokio::test]
async fn read_answer_layout_and_headers() {
    let dc = start(config("dc1")).await;
    post(
        &dc,
        "/v1/peering/token",
        r#"{"PeerName":"p","Meta":{"env":"<prod>"}}"#,
    )
    .await;
    let a = get(&dc, "/v1/peering/p").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(a.header("x-consul-knownleader").as_deref(), Some("true"));
    assert_eq!(a.header("x-consul-lastcontact").as_deref(), Some("0"));
    assert_eq!(
        a.header("x-consul-default-acl-policy").as_deref(),
        Some("allow")
    );
    let view = dc.peering("", "p").unwrap();
    assert_eq!(
        a.header("x-consul-index"),
        Some(view.modify_index.to_string())
    );
    let expected = format!(
        r#"{{"ID":"{}","Name":"p","Meta":{{"env":"\u003cprod\u003e"}},"State":"PENDING","StreamStatus":{{"ImportedServices":null,"ExportedServices":null,"LastHeartbeat":null,"LastReceive":null,"LastSend":null}},"CreateIndex":{ci},"ModifyIndex":{ci},"Remote":{{"Partition":"","Datacenter":""}}}}"#,
        view.id,
        ci = view.create_index
    );
    assert_eq!(a.body, expected);
    let pretty = get(&dc, "/v1/peering/p?pretty").await;
    assert!(
        pretty.body.starts_with("{\n    \"ID\": \""),
        "{}",
        pretty.body
    );
    assert!(pretty.body.ends_with("}\n"));
    assert_eq!(pretty.json(), a.json());
}

#[tokio::test]
async fn delete_marks_deleting_then_the_record_disappears() {
    let dc = start(config("dc1").deletion_delay(std::time::Duration::from_millis(400))).await;
    post(
        &dc,
        "/v1/peering/token",
        r#"{"PeerName":"p","Meta":{"a":"b"}}"#,
    )
    .await;
    let before = dc.peering("", "p").unwrap();
    let d = delete(&dc, "/v1/peering/p").await;
    assert_eq!((d.status, d.body.as_str()), (200, ""));
    let deleting = get(&dc, "/v1/peering/p").await.json();
    assert_eq!(deleting["State"], "DELETING");
    assert_eq!(deleting["ID"], before.id.as_str());
    assert!(deleting["DeletedAt"].as_str().unwrap().ends_with('Z'));
    // Consul's deletion write keeps only identity and addresses: Meta is gone.
    assert!(deleting.get("Meta").is_none());
    assert_eq!(delete(&dc, "/v1/peering/p").await.status, 200);
    wait_gone(&dc, "p").await;
    assert_eq!(get(&dc, "/v1/peering/p").await.status, 404);
}

#[tokio::test]
async fn wrapper_methods_options_and_unknown_paths() {
    let dc = start(config("dc1")).await;
    let c = client();
    let put = send(c.put(format!("{}/v1/peering/foo", dc.url()))).await;
    assert_answer(&put, 405, "method PUT not allowed");
    assert_eq!(put.header("allow").as_deref(), Some("OPTIONS,GET,DELETE"));
    let get_token = get(&dc, "/v1/peering/token").await;
    assert_answer(&get_token, 405, "method GET not allowed");
    assert_eq!(get_token.header("allow").as_deref(), Some("OPTIONS,POST"));
    let post_list = post(&dc, "/v1/peerings", "").await;
    assert_eq!(
        (post_list.status, post_list.header("allow").as_deref()),
        (405, Some("OPTIONS,GET"))
    );
    let options = send(c.request(
        reqwest::Method::OPTIONS,
        format!("{}/v1/peering/establish", dc.url()),
    ))
    .await;
    assert_eq!((options.status, options.body.as_str()), (200, ""));
    assert_eq!(options.header("allow").as_deref(), Some("OPTIONS,POST"));
    assert_eq!(options.header("content-type"), None);
    let unknown = get(&dc, "/v1/peerings/extra").await;
    assert_answer(
        &unknown,
        404,
        "Invalid URL path: not a recognized HTTP API endpoint\n",
    );
    // The subtree root without its slash redirects, as Go's ServeMux does.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = send(no_redirects.get(format!("{}/v1/peering", dc.url()))).await;
    assert_eq!(
        (root.status, root.header("location").as_deref()),
        (301, Some("/v1/peering/"))
    );
    // Bad query strings fail in the wrapper with an empty 500.
    let bad_query = get(&dc, "/v1/peerings?a=%zz").await;
    assert_eq!((bad_query.status, bad_query.body.as_str()), (500, ""));
}

#[tokio::test]
async fn query_option_errors_are_written_before_the_answer() {
    let dc = start(config("dc1")).await;
    generate(&dc, "p").await;
    // Consul's read handler ignores parse's failure: its 400 text comes first, then the answer.
    let a = get(&dc, "/v1/peerings?wait=soon").await;
    assert_eq!(a.status, 400);
    assert!(a.body.starts_with("Invalid wait time["), "{}", a.body);
    assert_eq!(a.header("x-consul-index"), None);
    let b = get(&dc, "/v1/peering/missing?index=x").await;
    assert_eq!(
        (b.status, b.body.as_str()),
        (400, "Invalid indexPeering not found for \"missing\"")
    );
    let c = get(&dc, "/v1/peerings?stale&consistent").await;
    assert!(
        c.body
            .starts_with("Cannot specify ?stale with ?consistent, conflicting semantics.[")
    );
    let d = get(&dc, "/v1/peerings?max_stale=x").await;
    assert!(d.body.starts_with("Invalid max_stale value \"x\"["));
}

#[tokio::test]
async fn community_edition_never_shows_a_partition() {
    let dc = start(Config::new("dc1")).await;
    generate(&dc, "p").await;
    let a = get(&dc, "/v1/peering/p").await.json();
    assert!(a.get("Partition").is_none());
}

/// Posts each body to `path` and asserts the 400 and the message Consul answers it with.
async fn assert_refused(dc: &Handle, path: &str, cases: &[(&str, &str)]) {
    for (body, message) in cases {
        assert_answer(&post(dc, path, body).await, 400, message);
    }
}
