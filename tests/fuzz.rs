//! Bad input, generated (issue #10, item 4): random specs through validation, random and
//! malformed answers from "Consul" (truncated JSON, wrong types, wrong content types, HTML
//! error pages, cut connections, bodies of 10 MB and more) through the client, and random bytes
//! as dialer tokens. Nothing panics; every refusal is an error that says what was wrong, short
//! enough for a condition and an Event, and never quoting a token. Case counts are modest so
//! that the suite stays quick on two cores.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consul_peering_operator::consul::{
    self, ConsulConfig, ConsulError, EstablishRequest, GenerateTokenRequest, PeeringToken,
    RetryPolicy,
};
use consul_peering_operator::crd::{Peered, PeeringAcceptor, PeeringDialer};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The longest error text the operator may put into a condition or an Event note.
const MAX_ERROR_TEXT: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Specs through validation

/// Strings that are sometimes well-formed and often not: empty, long, upper case, unicode.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
        "[a-zA-Z0-9._-]{0,80}",
        ".{0,70}",
        Just(String::new()),
    ]
}

fn version_like() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{1,25}", "-?[0-9]{1,4}", " ?[0-9]{1,3} ?", ".{0,12}"]
}

fn spec_json() -> impl Strategy<Value = Value> {
    (
        name_like(),
        proptest::option::of(name_like()),
        proptest::option::of(prop::collection::btree_map(name_like(), ".{0,40}", 0..70)),
        proptest::option::of(name_like()),
        proptest::option::of(prop::collection::vec("[a-z0-9.:\\[\\]]{0,24}", 0..4)),
        (name_like(), name_like()),
        proptest::option::of(version_like()),
    )
        .prop_map(metadata_and_spec)
}

/// What the generated resources vary: name, peer name, meta, partition, server addresses, the
/// Secret's name and key, and the rotation version.
type Parts = (
    String,
    Option<String>,
    Option<BTreeMap<String, String>>,
    Option<String>,
    Option<Vec<String>>,
    (String, String),
    Option<String>,
);

/// A resource's `metadata` (in `default`, the version as its rotation annotation) and `spec`,
/// as JSON.
fn metadata_and_spec(parts: Parts) -> Value {
    let (name, peer_name, meta, partition, addresses, (secret, key), version) = parts;
    let annotations: BTreeMap<String, String> = version
        .map(|v| ("consulpeering.io/peering-version".to_owned(), v))
        .into_iter()
        .collect();
    json!({
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {
            "peer": {"secret": {"name": secret, "key": key, "backend": "kubernetes"}},
            "peerName": peer_name,
            "meta": meta,
            "partition": partition,
            "serverExternalAddresses": addresses,
        },
    })
}

/// Consul's rule for a peer name, written out apart from the operator's.
fn consul_accepts_peer_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && alnum(&bytes[0])
        && alnum(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// Validation of one resource: a refusal names the field; what passes is what Consul takes.
fn check_validation<K: Peered>(resource: &K) -> Result<(), TestCaseError> {
    match resource.validate() {
        Ok(()) => {
            prop_assert!(
                consul_accepts_peer_name(resource.peer_name()),
                "passed with a peer name Consul refuses: {:?}",
                resource.peer_name()
            );
            prop_assert!(resource.rotation_version().is_ok());
        }
        Err(message) => {
            prop_assert!(
                message.contains("spec.")
                    || message.contains("metadata.")
                    || message.contains("annotation"),
                "a refusal that names no field: {message}"
            );
            prop_assert!(message.len() <= MAX_ERROR_TEXT, "{message}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_specs_are_validated_without_panic_and_refusals_name_the_field(spec in spec_json()) {
        let mut acceptor = spec.clone();
        acceptor["apiVersion"] = json!("consulpeering.io/v1alpha1");
        acceptor["kind"] = json!("PeeringAcceptor");
        // A body the API server's schema would refuse may not even decode: that is an error too.
        if let Ok(acceptor) = serde_json::from_value::<PeeringAcceptor>(acceptor) {
            check_validation(&acceptor)?;
        }
        let mut dialer = spec;
        dialer["apiVersion"] = json!("consulpeering.io/v1alpha1");
        dialer["kind"] = json!("PeeringDialer");
        dialer["spec"].as_object_mut().unwrap().remove("serverExternalAddresses");
        if let Ok(dialer) = serde_json::from_value::<PeeringDialer>(dialer) {
            check_validation(&dialer)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random bytes as dialer tokens

/// A token that decodes as base64 to JSON of the right shape with random values, or not.
fn token_like() -> impl Strategy<Value = String> {
    let json_value = prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,30}".prop_map(|s| json!(s)),
        prop::collection::vec(".{0,20}", 0..3).prop_map(|v| json!(v)),
    ];
    let shaped = prop::collection::btree_map(
        prop_oneof![
            Just("CA".to_owned()),
            Just("ServerAddresses".to_owned()),
            Just("ServerName".to_owned()),
            Just("PeerID".to_owned()),
            Just("EstablishmentSecret".to_owned()),
            Just("Remote".to_owned()),
            "[A-Za-z]{1,12}",
        ],
        json_value,
        0..7,
    )
    .prop_map(|fields| STANDARD.encode(serde_json::to_vec(&fields).unwrap()));
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| STANDARD.encode(bytes)),
        shaped.clone(),
        // Truncated.
        (shaped, any::<prop::sample::Index>()).prop_map(|(token, cut)| {
            let end = cut.index(token.len().max(1));
            token[..end].to_owned()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_tokens_decode_or_are_refused_without_quoting_them(token in token_like()) {
        let token = PeeringToken::new(token);
        match token.decode() {
            Ok(decoded) => {
                // Decoding is not accepting: the establish-time checks still say what is wrong.
                if let Err(message) = decoded.validate() {
                    prop_assert!(!message.is_empty());
                }
            }
            Err(error) => {
                prop_assert!(matches!(error, ConsulError::InvalidToken(_)), "{error:?}");
                let message = error.to_string();
                prop_assert!(message.starts_with("invalid peering token: "), "{message}");
                if token.expose().len() >= 12 {
                    prop_assert!(!message.contains(token.expose()), "{message}");
                }
            }
        }
        let shown = format!("{:?} {}", token, token);
        prop_assert!(token.expose().len() < 12 || !shown.contains(token.expose()), "{}", shown);
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed answers through the Consul client

/// What the fake Consul answers next.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
    /// Announce more body than is sent, then close (a cut connection).
    cut: bool,
}

/// A server on a free port that answers every request with the current [`Answer`].
async fn fake_consul(answer: Arc<Mutex<Answer>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.lock().unwrap().clone();
            tokio::spawn(async move {
                read_request(&mut stream).await;
                let mut head = format!(
                    "HTTP/1.1 {} Whatever\r\nConnection: close\r\nContent-Length: {}\r\n",
                    answer.status,
                    answer.body.len() + if answer.cut { 100 } else { 0 }
                );
                if let Some(content_type) = &answer.content_type {
                    head.push_str(&format!("Content-Type: {content_type}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&answer.body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

/// Reads one request (headers and a body of Content-Length), so that answering does not reset.
async fn read_request(stream: &mut tokio::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if seen.len() >= end + 4 + length {
            return;
        }
    }
}

/// Bodies a broken or impostor Consul may send: random bytes, truncated or mistyped JSON of
/// each endpoint's shape, an HTML page.
fn body_like() -> impl Strategy<Value = Vec<u8>> {
    let peering = json!([{"ID": "5d2e9f0a-1111-4222-8333-444455556666", "Name": "dc2",
        "State": "ACTIVE", "PeerServerAddresses": ["10.0.0.1:8503"], "Meta": {"a": "b"},
        "StreamStatus": {"LastHeartbeat": "2026-12-03T12:00:00Z"}, "ModifyIndex": 7}]);
    let token = json!({"PeeringToken": "eyJDQSI6bnVsbH0="});
    let mistyped = prop_oneof![
        Just(json!({"PeeringToken": 42})),
        Just(json!([{"ID": 5, "Name": ["dc2"], "State": {"x": 1}}])),
        Just(json!([{"Name": "dc2", "State": "NOT-A-STATE", "ModifyIndex": "seven"}])),
        Just(json!({"Peering": null})),
        Just(json!("a string")),
        Just(json!(null)),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000),
        (Just(peering.clone()), any::<prop::sample::Index>()).prop_map(truncated),
        (Just(token), any::<prop::sample::Index>()).prop_map(truncated),
        Just(serde_json::to_vec(&peering).unwrap()),
        mistyped.prop_map(|v| serde_json::to_vec(&v).unwrap()),
        "[ -~]{0,40}".prop_map(|title| format!(
            "<!DOCTYPE html><html><head><title>{title}</title></head><body>{}</body></html>",
            "<p>error</p>".repeat(300)
        )
        .into_bytes()),
    ]
}

fn truncated((value, cut): (Value, prop::sample::Index)) -> Vec<u8> {
    let bytes = serde_json::to_vec(&value).unwrap();
    let end = cut.index(bytes.len());
    bytes[..end].to_vec()
}

fn answer_like() -> impl Strategy<Value = Answer> {
    (
        prop::sample::select(vec![200u16, 200, 200, 400, 403, 404, 429, 500, 502, 503]),
        prop::option::of(prop::sample::select(vec![
            "application/json",
            "text/plain; charset=utf-8",
            "text/html",
            "application/octet-stream",
            "nonsense",
        ])),
        body_like(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(status, content_type, body, cut)| Answer {
            status,
            content_type: content_type.map(str::to_owned),
            body,
            cut,
        })
}

fn client(address: &str) -> consul::Client {
    consul::Client::new(&ConsulConfig {
        address: address.into(),
        retry: RetryPolicy::never(),
        ..ConsulConfig::default()
    })
    .expect("Consul client")
}

/// Every call the operator makes, against the current answer: an error is short, says
/// something, and quotes no token; a success is what the body held.
async fn every_call(client: &consul::Client) -> Vec<Result<(), ConsulError>> {
    let token = PeeringToken::new(STANDARD.encode(
        r#"{"ServerAddresses":["10.0.0.1:8503"],"PeerID":"p","EstablishmentSecret":"s3cr3t-s3cr3t-s3cr3t"}"#,
    ));
    let establish = EstablishRequest {
        peer_name: "dc1".into(),
        peering_token: token,
        partition: String::new(),
        meta: BTreeMap::new(),
    };
    let generate = GenerateTokenRequest {
        peer_name: "dc2".into(),
        ..GenerateTokenRequest::default()
    };
    vec![
        client.list(None).await.map(drop),
        client.read("dc2").await.map(drop),
        client.generate_token(&generate).await.map(drop),
        client.establish(&establish).await,
        client.delete("dc2").await,
    ]
}

fn check_errors(results: &[Result<(), ConsulError>]) -> Result<(), TestCaseError> {
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        let message = error.to_string();
        prop_assert!(!message.trim().is_empty(), "{error:?}");
        prop_assert!(
            message.len() <= MAX_ERROR_TEXT,
            "{} bytes: {message}",
            message.len()
        );
        prop_assert!(!message.contains("s3cr3t"), "{message}");
        // Every error maps to a condition reason.
        prop_assert!(!error.reason().is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn malformed_consul_answers_are_clear_errors(answer in answer_like()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = runtime.block_on(async {
            let current = Arc::new(Mutex::new(answer.clone()));
            let address = fake_consul(current).await;
            every_call(&client(&address)).await
        });
        check_errors(&results)?;
        if answer.status != 200 && !answer.cut {
            // Consul's status is kept (404 is "none" for read and delete).
            for result in &results[..3] {
                if let Err(error) = result {
                    prop_assert!(
                        error.status() == Some(answer.status) || answer.status == 404,
                        "{error:?}"
                    );
                }
            }
        }
    }
}

/// Bodies of 10 MB (read and refused as not JSON) and over the client's bound (not read at all),
/// with a 200 and with an error status.
#[tokio::test]
async fn huge_bodies_are_refused_with_a_short_error() {
    let answer = Arc::new(Mutex::new(Answer {
        status: 200,
        content_type: Some("application/json".into()),
        body: Vec::new(),
        cut: false,
    }));
    let client = client(&fake_consul(answer.clone()).await);
    for (size, status) in [
        (10 << 20, 200),
        (10 << 20, 500),
        (40 << 20, 200),
        (40 << 20, 503),
    ] {
        {
            let mut answer = answer.lock().unwrap();
            answer.status = status;
            answer.body = vec![b'['; size];
        }
        let results = every_call(&client).await;
        // Establish and delete read no body from a 200: only what is not read may pass.
        let decoding = if status == 200 && size < 32 << 20 {
            3
        } else {
            results.len()
        };
        for result in &results[..decoding] {
            let error = result.as_ref().expect_err("no success from a huge body");
            let message = error.to_string();
            assert!(
                message.len() <= MAX_ERROR_TEXT,
                "{size} {status}: {} bytes",
                message.len()
            );
            if size > 32 << 20 {
                assert!(message.contains("larger than 32 MiB"), "{message}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Specs through the API server and the reconciler

/// An acceptor's metadata and spec from random parts; names unique per `index` (valid or not),
/// so that no two acceptors share a peer name or a Secret.
fn acceptor_json(index: usize) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![0u8, 0, 0, 1, 1, 1, 2, 3]),
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 1]),
        prop_oneof![4 => Just("data".to_owned()), 1 => name_like()],
        proptest::option::of(prop::collection::btree_map(
            prop_oneof![4 => "[a-z][a-z0-9-]{0,10}", 1 => name_like()],
            ".{0,20}",
            0..4,
        )),
        proptest::option::of(prop::sample::select(vec![
            "",
            "default",
            "team-a",
            "Bad_Partition",
        ])),
        proptest::option::of(prop::collection::vec(
            prop_oneof![4 => "[a-z]{1,8}\\.example:[0-9]{1,5}", 1 => "[a-z0-9.:\\[\\]]{0,24}"],
            0..3,
        )),
        proptest::option::of(prop_oneof![4 => "[0-9]{1,3}", 1 => version_like()]),
    )
        .prop_map(
            move |(peer, secret, key, meta, partition, addresses, version)| {
                let peer_name = match peer {
                    0 => None,
                    1 => Some(format!("peer-{index}")),
                    2 => Some(format!("Peer_{index}")),
                    _ => Some(format!("{index}-")),
                };
                let secret = match secret {
                    0 => format!("token-{index}"),
                    _ => format!("Token {index}"),
                };
                let name = format!("fuzz-{index}");
                let partition = partition.map(str::to_owned);
                let parts = (
                    name,
                    peer_name,
                    meta,
                    partition,
                    addresses,
                    (secret, key),
                    version,
                );
                metadata_and_spec(parts)
            },
        )
}

/// Random acceptors through the API server's validation and the running operator: what the API
/// server takes, the operator answers with a `Ready` condition for its generation that says why
/// (never a silence, a panic, or a token storm).
#[tokio::test]
async fn random_acceptors_each_get_a_ready_condition_that_says_why() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use support::operator::Harness;

    let h = Harness::start().await;
    let mut runner = TestRunner::deterministic();
    let mut accepted = Vec::new();
    for index in 0..40 {
        let object = acceptor_json(index)
            .new_tree(&mut runner)
            .expect("a random acceptor")
            .current();
        match h.try_create_acceptor(object.clone()).await {
            Ok(acceptor) => accepted.push(acceptor.metadata.name.unwrap()),
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{status:?} for {object}");
                assert!(!status.message.is_empty(), "{object}");
            }
            Err(e) => panic!("{e} for {object}"),
        }
    }
    assert!(accepted.len() >= 8, "the API server took only {accepted:?}");
    for name in &accepted {
        let acceptor = h
            .wait_acceptor(name, "a Ready condition for its generation", |a| {
                support::operator::ready(a)
                    .is_some_and(|c| c.observed_generation == a.metadata.generation)
            })
            .await;
        let ready = support::operator::ready(&acceptor).unwrap();
        assert!(!ready.message.is_empty(), "{name}: {ready:?}");
        assert!(ready.message.len() <= MAX_ERROR_TEXT, "{name}: {ready:?}");
    }
    assert!(
        h.tokens_issued() <= accepted.len() as u64,
        "{} tokens for {} acceptors",
        h.tokens_issued(),
        accepted.len()
    );
    let mut h = h;
    h.stop_operator().await;
}
