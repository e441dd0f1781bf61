//! The Consul client against the emulated Consul: the peering calls, errors that keep Consul's
//! answer, retries (only connection failures, timeouts and 5xx; establish only when nothing was
//! sent), ACL tokens from a file, HTTPS with a CA, client certificates and a server name, the
//! partition parameter, and no token in the logs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consul_emulator::{Access, Config, Failure, Handle, Rules};
use consul_peering_operator::consul::{
    AclToken, Client, ConsulConfig, ConsulError, EstablishRequest, GenerateTokenRequest,
    PeeringState, RetryPolicy,
};
use consul_peering_operator::crd::reason;

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    }
}

fn config_for(handle: &Handle) -> ConsulConfig {
    ConsulConfig {
        address: handle.url(),
        retry: fast_retries(3),
        ..Default::default()
    }
}

fn client_for(handle: &Handle) -> Client {
    Client::new(&config_for(handle)).unwrap()
}

fn generate(name: &str) -> GenerateTokenRequest {
    GenerateTokenRequest {
        peer_name: name.into(),
        ..Default::default()
    }
}

async fn start(config: Config) -> Handle {
    emulator_common::install_crypto_provider();
    consul_emulator::start(config).await.unwrap()
}

/// Polls `read` until the peering is in `state` (streams connect asynchronously).
async fn wait_for_state(client: &Client, name: &str, state: PeeringState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let current = client.read(name).await.unwrap().map(|p| p.state);
        if current.as_ref() == Some(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {current:?}, not {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cpo-consul-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test]
async fn generate_establish_read_list_delete() {
    let dc1 = start(Config::new("dc1")).await;
    let dc2 = start(Config::new("dc2")).await;
    let (acceptor, dialer) = (client_for(&dc1), client_for(&dc2));

    let mut request = generate("dc2");
    request.meta = [("env".to_string(), "test".to_string())].into();
    let token = acceptor.generate_token(&request).await.unwrap();
    let decoded = token.decode().unwrap();
    assert_eq!(decoded.remote.datacenter, "dc1");
    assert_eq!(decoded.server_name, dc1.server_name());
    assert_eq!(
        decoded.server_addresses.as_deref().unwrap(),
        [dc1.peering_addr().to_string()]
    );
    assert_eq!(decoded.validate(), Ok(()));

    let pending = acceptor.read("dc2").await.unwrap().unwrap();
    assert_eq!(pending.state, PeeringState::Pending);
    assert_eq!(pending.id, decoded.peer_id);
    assert_eq!(
        pending
            .meta
            .unwrap_or_default()
            .get("env")
            .map(String::as_str),
        Some("test")
    );

    dialer
        .establish(&EstablishRequest {
            peer_name: "dc1".into(),
            peering_token: token,
            ..Default::default()
        })
        .await
        .unwrap();
    wait_for_state(&dialer, "dc1", PeeringState::Active).await;
    wait_for_state(&acceptor, "dc2", PeeringState::Active).await;
    let dialing = dialer.read("dc1").await.unwrap().unwrap();
    assert_eq!(dialing.peer_id, decoded.peer_id);
    assert_eq!(dialing.remote.datacenter, "dc1");

    let (list, index) = acceptor.list(None).await.unwrap();
    assert_eq!(
        list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["dc2"]
    );
    assert!(index > 0);

    // A blocking list returns when something changes, long before its wait.
    let waiting = {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = acceptor.list(Some((index, Duration::from_secs(30)))).await;
            (result, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    acceptor.delete("dc2").await.unwrap();
    let (result, waited) = waiting.await.unwrap();
    let (list, new_index) = result.unwrap();
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(new_index > index);
    assert_eq!(list[0].state, PeeringState::Deleting);
    assert!(list[0].deleted_at.is_some());

    // Deleting an unknown peering is a no-op; reading it gives None, not an error.
    acceptor.delete("never-was").await.unwrap();
    assert_eq!(acceptor.read("never-was").await.unwrap(), None);
    wait_for_state(&dialer, "dc1", PeeringState::Terminated).await;
}

#[tokio::test]
async fn a_used_token_is_rejected_with_consuls_message() {
    let dc1 = start(Config::new("dc1")).await;
    let dc2 = start(Config::new("dc2")).await;
    let dc3 = start(Config::new("dc3")).await;
    let token = client_for(&dc1)
        .generate_token(&generate("dc2"))
        .await
        .unwrap();
    let establish = |name: &str| EstablishRequest {
        peer_name: name.into(),
        peering_token: token.clone(),
        ..Default::default()
    };
    client_for(&dc2).establish(&establish("dc1")).await.unwrap();

    let err = client_for(&dc3)
        .establish(&establish("dc1"))
        .await
        .unwrap_err();
    // gRPC PermissionDenied from the acceptor becomes a 403 (consul#15086).
    assert_eq!(err.status(), Some(403));
    assert!(
        err.to_string()
            .contains("a new peering token must be generated"),
        "{err}"
    );
    assert!(err.is_token_rejected());
    assert_eq!(err.reason(), reason::TOKEN_REJECTED);

    // A 500 on establish is not repeated either: the token may have been consumed.
    let fresh = client_for(&dc1)
        .generate_token(&generate("dc3"))
        .await
        .unwrap();
    dc3.reset_counters();
    dc3.fail_next(1, Failure::consul_like(500));
    let err = client_for(&dc3)
        .establish(&EstablishRequest {
            peering_token: fresh,
            ..establish("dc1")
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(dc3.count("POST", "/v1/peering/establish"), 1);
}

#[tokio::test]
async fn consul_errors_keep_status_and_body() {
    let dc1 = start(Config::new("dc1")).await;
    let client = client_for(&dc1);
    let err = client
        .generate_token(&generate("Not_Valid"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(
        err.to_string()
            .starts_with("Unexpected response code: 500 (rpc error: code = Unknown desc = Not_Valid is not a valid peer name"),
        "{err}"
    );
    assert_eq!(err.reason(), reason::CONSUL_REJECTED);

    let err = client
        .establish(&EstablishRequest {
            peer_name: "dc2".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unexpected response code: 400 (PeeringToken is required in the payload when establishing a peering.)"
    );
    assert!(matches!(
        client.generate_token(&generate("")).await,
        Err(ConsulError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn retries_5xx_and_connection_failures_but_never_4xx() {
    let dc1 = start(Config::new("dc1")).await;
    let client = client_for(&dc1);

    dc1.fail_next(2, Failure::consul_like(500));
    client.generate_token(&generate("dc2")).await.unwrap();
    assert_eq!(dc1.count("POST", "/v1/peering/token"), 3);

    dc1.reset_counters();
    dc1.fail_next(5, Failure::consul_like(503));
    let err = client.read("dc2").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.reason(), reason::CONSUL_UNAVAILABLE);
    assert_eq!(
        dc1.count("GET", "/v1/peering/:name"),
        3,
        "bounded by max_attempts"
    );
    dc1.clear_faults();

    dc1.reset_counters();
    dc1.fail_next(
        1,
        Failure {
            status: 403,
            body: "Permission denied: token with AccessorID 'x' lacks permission 'peering:write'"
                .into(),
        },
    );
    let err = client.generate_token(&generate("dc2")).await.unwrap_err();
    assert_eq!(err.reason(), reason::CONSUL_PERMISSION_DENIED);
    assert_eq!(dc1.count("POST", "/v1/peering/token"), 1);

    dc1.reset_counters();
    dc1.fail_next(1, Failure::consul_like(429));
    assert!(client.read("dc2").await.is_err());
    assert_eq!(dc1.count("GET", "/v1/peering/:name"), 1);

    // Refused connections: retried, then reported the way Go's client words them.
    dc1.outage(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let err = client.read("dc2").await.unwrap_err();
    assert!(matches!(err, ConsulError::Connect(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"{}/v1/peering/dc2\": dial tcp {}: connect: connection refused",
            dc1.url(),
            dc1.http_addr()
        )
    );
    // Two backoffs of 10 and 20 ms between the three attempts.
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(err.reason(), reason::CONSUL_UNAVAILABLE);
}

/// A server that accepts connections, counts them, reads, and never answers.
async fn silent_server() -> (String, Arc<std::sync::atomic::AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut open = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            open.push(socket);
        }
    });
    (address, accepted)
}

#[tokio::test]
async fn timeouts_repeat_reads_but_never_establish() {
    let (address, accepted) = silent_server().await;
    let client = Client::new(&ConsulConfig {
        address,
        request_timeout: Duration::from_millis(100),
        retry: fast_retries(3),
        ..Default::default()
    })
    .unwrap();
    let err = client.read("dc2").await.unwrap_err();
    assert!(matches!(err, ConsulError::Timeout(_)), "{err:?}");
    assert!(
        err.to_string().contains("context deadline exceeded"),
        "{err}"
    );
    assert_eq!(accepted.swap(0, std::sync::atomic::Ordering::SeqCst), 3);

    // A request that timed out may still have consumed the token: establish is not repeated.
    let err = client
        .establish(&EstablishRequest {
            peer_name: "dc1".into(),
            peering_token: consul_peering_operator::consul::PeeringToken::new("dG9rZW4="),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConsulError::Timeout(_)), "{err:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn establish_is_repeated_when_the_connection_was_refused() {
    let dc1 = start(Config::new("dc1")).await;
    let dc2 = start(Config::new("dc2")).await;
    let token = client_for(&dc1)
        .generate_token(&generate("dc2"))
        .await
        .unwrap();
    let patient = Client::new(&ConsulConfig {
        retry: RetryPolicy {
            max_attempts: 40,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(50),
        },
        ..config_for(&dc2)
    })
    .unwrap();
    dc2.outage(Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    patient
        .establish(&EstablishRequest {
            peer_name: "dc1".into(),
            peering_token: token,
            ..Default::default()
        })
        .await
        .unwrap();
    // It waited out the outage (refused attempts never reach the counters).
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(dc2.count("POST", "/v1/peering/establish"), 1);
    wait_for_state(&patient, "dc1", PeeringState::Active).await;
}

#[tokio::test]
async fn acl_token_from_flag_and_from_a_file_that_changes() {
    let dc1 = start(Config::new("dc1").with_acls()).await;
    let anonymous = client_for(&dc1);
    let err = anonymous
        .generate_token(&generate("dc2"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.reason(), reason::CONSUL_PERMISSION_DENIED);

    let reader = dc1.create_token(Rules::peering(Access::Read));
    let writer = dc1.create_token(Rules::peering(Access::Write));
    let with_token = Client::new(&ConsulConfig {
        token: Some(AclToken::new(writer.secret_id.clone())),
        ..config_for(&dc1)
    })
    .unwrap();
    with_token.generate_token(&generate("dc2")).await.unwrap();

    let path = temp_path("acl-token");
    std::fs::write(&path, format!("{}\n", reader.secret_id)).unwrap();
    let from_file = Client::new(&ConsulConfig {
        // The file wins over the static token, as in Consul's client.
        token: Some(AclToken::new(writer.secret_id.clone())),
        token_file: Some(path.clone()),
        ..config_for(&dc1)
    })
    .unwrap();
    assert!(from_file.read("dc2").await.unwrap().is_some());
    let err = from_file
        .generate_token(&generate("dc2"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("lacks permission 'peering:write'"),
        "{err}"
    );

    // Rotated in place (a longer content, so the change shows even within one mtime tick).
    std::fs::write(&path, format!("{}\n\n", writer.secret_id)).unwrap();
    from_file.generate_token(&generate("dc2")).await.unwrap();
}

#[tokio::test]
async fn https_with_ca_client_certificate_and_server_name() {
    let dc1 = start(Config::new("dc1").https(true)).await;
    let ca = temp_path("consul-ca.pem");
    std::fs::write(&ca, dc1.ca_pem().unwrap()).unwrap();
    let identity = dc1.client_identity().unwrap();
    let (cert, key) = (temp_path("client.pem"), temp_path("client-key.pem"));
    std::fs::write(&cert, &identity.cert_pem).unwrap();
    std::fs::write(&key, &identity.key_pem).unwrap();

    let https = ConsulConfig {
        ca_file: Some(ca.clone()),
        client_cert: Some(cert.clone()),
        client_key: Some(key.clone()),
        ..config_for(&dc1)
    };
    let client = Client::new(&https).unwrap();
    client.generate_token(&generate("dc2")).await.unwrap();

    // A bare host:port with CONSUL_HTTP_SSL, verified as Consul's server name.
    let by_name = Client::new(&ConsulConfig {
        address: dc1.http_addr().to_string(),
        https: true,
        tls_server_name: Some("server.dc1.consul:8501".into()),
        ..https.clone()
    })
    .unwrap();
    assert!(by_name.read("dc2").await.unwrap().is_some());

    // The server name is really what is verified.
    let wrong_name = Client::new(&ConsulConfig {
        tls_server_name: Some("server.dc9.consul".into()),
        ..https.clone()
    })
    .unwrap();
    let err = wrong_name.read("dc2").await.unwrap_err();
    assert!(matches!(err, ConsulError::Tls(_)), "{err:?}");

    // The system roots do not know the emulator's CA; a TLS failure is not retried.
    dc1.reset_counters();
    let no_ca = Client::new(&ConsulConfig {
        ca_file: None,
        ..https.clone()
    })
    .unwrap();
    let err = no_ca.read("dc2").await.unwrap_err();
    assert!(matches!(err, ConsulError::Tls(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("tls: "), "{err}");

    // Without the client certificate the server refuses the handshake.
    let no_identity = Client::new(&ConsulConfig {
        client_cert: None,
        client_key: None,
        ..https.clone()
    })
    .unwrap();
    assert!(no_identity.read("dc2").await.is_err());

    let half = ConsulConfig {
        client_key: None,
        ..https
    };
    assert_eq!(
        Client::new(&half).unwrap_err().to_string(),
        "both client cert and client key must be provided"
    );
}

#[tokio::test]
async fn partition_goes_into_every_request() {
    let ent = start(Config::new("dc1").enterprise()).await;
    let client = Client::new(&ConsulConfig {
        partition: Some("team-a".into()),
        ..config_for(&ent)
    })
    .unwrap();
    client.generate_token(&generate("dc2")).await.unwrap();
    assert!(client.read("dc2").await.unwrap().is_some());
    assert_eq!(ent.peerings("team-a").len(), 1);
    assert!(ent.peerings("").is_empty());

    let community = start(Config::new("dc2")).await;
    let client = Client::new(&ConsulConfig {
        partition: Some("team-a".into()),
        ..config_for(&community)
    })
    .unwrap();
    let err = client.list(None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unexpected response code: 400 (Invalid query parameter: \"partition\" - Partitions are a Consul Enterprise feature)"
    );
    assert_eq!(community.count("GET", "/v1/peerings"), 1);
}

/// A `tracing` writer that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_in_trace_logs_or_errors() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dc1 = start(Config::new("dc1").with_acls()).await;
    let dc2 = start(Config::new("dc2").with_acls()).await;
    let acl1 = dc1.management_token().unwrap().to_owned();
    let acl2 = dc2.management_token().unwrap().to_owned();
    let with_acl = |handle: &Handle, token: &str| {
        Client::new(&ConsulConfig {
            token: Some(AclToken::new(token)),
            ..config_for(handle)
        })
        .unwrap()
    };
    let (acceptor, dialer) = (with_acl(&dc1, &acl1), with_acl(&dc2, &acl2));
    let token = acceptor.generate_token(&generate("dc2")).await.unwrap();
    let secret = token
        .decode()
        .unwrap()
        .establishment_secret
        .expose()
        .to_owned();
    let request = EstablishRequest {
        peer_name: "dc1".into(),
        peering_token: token.clone(),
        ..Default::default()
    };
    dialer.establish(&request).await.unwrap();
    let reused = dialer.establish(&request).await.unwrap_err();
    dc2.fail_next(1, Failure::consul_like(500));
    let failed = dialer.establish(&request).await.unwrap_err();
    tracing::debug!(?request, ?token, error = %reused, "formatted by a careless caller");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Consul request"),
        "the client logs its requests"
    );
    for (what, value) in [
        ("peering token", token.expose()),
        ("establishment secret", secret.as_str()),
        ("ACL token", acl1.as_str()),
        ("ACL token", acl2.as_str()),
    ] {
        assert!(!logs.contains(value), "{what} in the logs");
        for err in [&reused, &failed] {
            assert!(!err.to_string().contains(value), "{what} in {err}");
            assert!(!format!("{err:?}").contains(value), "{what} in {err:?}");
        }
    }
}
