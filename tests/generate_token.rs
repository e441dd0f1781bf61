//! `consul-peering-operator generate-token` against the emulated Consul, compared with what
//! `consul peering generate-token` prints and exits with (section C of the reference).

use std::path::PathBuf;
use std::process::Output;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consul_emulator::{Access, Config, Failure, Handle, Rules};
use consul_peering_operator::consul::env;

const BINARY: &str = env!("CARGO_BIN_EXE_consul-peering-operator");

/// Runs `generate-token` with `args` and `envs` only (no CONSUL_* or RUST_LOG from outside).
async fn generate_token(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BINARY);
    command.arg("generate-token").args(args);
    for name in [
        env::HTTP_ADDR,
        env::HTTP_TOKEN,
        env::HTTP_TOKEN_FILE,
        env::HTTP_SSL,
        env::HTTP_SSL_VERIFY,
        env::CACERT,
        env::CAPATH,
        env::CLIENT_CERT,
        env::CLIENT_KEY,
        env::TLS_SERVER_NAME,
        env::PARTITION,
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
    command.envs(envs.iter().copied());
    command.output().await.unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Exit code 1, nothing on stdout, exactly `message` (and a newline) first on stderr.
fn assert_fails_with(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert_eq!(stdout(output), "");
    let first_line = stderr(output).lines().next().unwrap_or_default().to_owned();
    assert_eq!(first_line, message);
}

async fn start(config: Config) -> Handle {
    emulator_common::install_crypto_provider();
    consul_emulator::start(config).await.unwrap()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cpo-generate-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn decode(token: &str) -> serde_json::Value {
    serde_json::from_slice(&STANDARD.decode(token).unwrap()).unwrap()
}

#[tokio::test]
async fn pretty_prints_the_raw_token_and_a_newline() {
    let dc1 = start(Config::new("dc1")).await;
    let output = generate_token(&["-name", "dc2"], &[(env::HTTP_ADDR, &dc1.url())]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    let out = stdout(&output);
    let token = out.strip_suffix('\n').unwrap();
    assert!(!token.contains('\n'));
    let decoded = decode(token);
    let keys: Vec<&str> = decoded
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "CA",
        "ManualServerAddresses",
        "ServerAddresses",
        "ServerName",
        "PeerID",
        "EstablishmentSecret",
        "Remote",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(decoded["ServerName"], dc1.server_name());
    assert_eq!(decoded["Remote"]["Datacenter"], "dc1");
    let peering = dc1.peering("", "dc2").unwrap();
    assert_eq!(decoded["PeerID"], peering.id.as_str());
}

#[tokio::test]
async fn json_prints_the_api_response_on_one_line() {
    let dc1 = start(Config::new("dc1")).await;
    let output = generate_token(
        &["-format=json", "-name=dc2", "-http-addr", &dc1.url()],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let json: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    let token = json["PeeringToken"].as_str().unwrap();
    assert_eq!(out, format!("{{\"PeeringToken\":\"{token}\"}}\n"));
    assert_eq!(decode(token)["Remote"]["Datacenter"], "dc1");
}

#[tokio::test]
async fn go_flag_spellings_meta_and_external_addresses() {
    let dc1 = start(Config::new("dc1")).await;
    let url = dc1.url();
    for (name, args) in [
        ("a", vec!["-name", "a"]),
        ("b", vec!["-name=b"]),
        ("c", vec!["--name", "c"]),
        ("d", vec!["--name=d"]),
    ] {
        let output = generate_token(&args, &[(env::HTTP_ADDR, &url)]).await;
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        assert!(dc1.peering("", name).is_some(), "{name}");
    }

    let output = generate_token(
        &[
            "-name",
            "dc2",
            "-meta",
            "env=prod",
            "--meta=chain=a=b",
            "-server-external-addresses",
            "lb1.example.com:8502,10.0.0.9:443",
        ],
        &[(env::HTTP_ADDR, &url)],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let meta = dc1.peering("", "dc2").unwrap().meta;
    assert_eq!(meta.get("env").map(String::as_str), Some("prod"));
    assert_eq!(meta.get("chain").map(String::as_str), Some("a=b"));
    let decoded = decode(stdout(&output).trim_end());
    assert_eq!(
        decoded["ManualServerAddresses"],
        serde_json::json!(["lb1.example.com:8502", "10.0.0.9:443"])
    );
}

#[tokio::test]
async fn usage_errors_match_consuls() {
    assert_fails_with(
        &generate_token(&[], &[]).await,
        "Missing the required -name flag",
    );
    assert_fails_with(
        &generate_token(&["-name", "dc2", "-format", "yaml"], &[]).await,
        "Invalid format, valid formats are {json|pretty}",
    );
    // Flags are parsed (and -meta checked) before the name is.
    assert_fails_with(
        &generate_token(&["-meta", "novalue"], &[]).await,
        "invalid value \"novalue\" for flag -meta: Missing \"=\" value in argument: novalue",
    );
    assert_fails_with(
        &generate_token(&["-name", "dc2", "-datacenter", "dc1"], &[]).await,
        "flag provided but not defined: -datacenter",
    );
    assert_fails_with(
        &generate_token(&["-name"], &[]).await,
        "flag needs an argument: -name",
    );
    assert_fails_with(
        &generate_token(&["-name", "dc2", "-http-addr", "ftp://consul:8500"], &[]).await,
        "Error connect to Consul agent: Unknown protocol scheme: ftp",
    );
    let missing = temp_path("no-such-token-file");
    assert_fails_with(
        &generate_token(
            &["-name", "dc2", "-token-file", missing.to_str().unwrap()],
            &[],
        )
        .await,
        &format!(
            "Error connect to Consul agent: Error loading token file: open {}: no such file or directory",
            missing.display()
        ),
    );
}

#[tokio::test]
async fn consul_errors_are_printed_with_status_and_body() {
    let dc1 = start(Config::new("dc1").with_acls()).await;
    let url = dc1.url();

    let denied = generate_token(&["-name", "dc2"], &[(env::HTTP_ADDR, &url)]).await;
    assert_eq!(denied.status.code(), Some(1));
    let message = stderr(&denied);
    assert!(
        message
            .starts_with("Error generating peering token for dc2: Unexpected response code: 403 (")
            && message.contains("lacks permission 'peering:write'"),
        "{message}"
    );

    let management = dc1.management_token().unwrap().to_owned();
    let invalid = generate_token(
        &["-name", "Not_Valid"],
        &[(env::HTTP_ADDR, &url), (env::HTTP_TOKEN, &management)],
    )
    .await;
    assert_fails_with(
        &invalid,
        "Error generating peering token for Not_Valid: Unexpected response code: 500 (rpc error: code = Unknown desc = Not_Valid is not a valid peer name: a valid peering name must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character)",
    );

    // One attempt, as Consul's CLI: a 500 is reported, not retried.
    dc1.reset_counters();
    dc1.fail_next(1, Failure::consul_like(500));
    let failed = generate_token(
        &["-name", "dc2", "-token", &management],
        &[(env::HTTP_ADDR, &url)],
    )
    .await;
    assert_fails_with(
        &failed,
        "Error generating peering token for dc2: Unexpected response code: 500 (rpc error: code = Unknown desc = No cluster leader)",
    );
    assert_eq!(dc1.count("POST", "/v1/peering/token"), 1);

    // The token file wins over the token flag.
    let reader = dc1.create_token(Rules::peering(Access::Read));
    let file = temp_path("reader-token");
    std::fs::write(&file, format!("{}\n", reader.secret_id)).unwrap();
    let from_file = generate_token(
        &[
            "-name",
            "dc2",
            "-token",
            &management,
            "-token-file",
            file.to_str().unwrap(),
        ],
        &[(env::HTTP_ADDR, &url)],
    )
    .await;
    assert!(
        stderr(&from_file).contains("lacks permission 'peering:write'"),
        "{}",
        stderr(&from_file)
    );
}

#[tokio::test]
async fn connection_refused() {
    let dc1 = start(Config::new("dc1")).await;
    let address = dc1.http_addr();
    dc1.stop().await;
    let output = generate_token(&["-name", "dc2"], &[(env::HTTP_ADDR, &address.to_string())]).await;
    assert_fails_with(
        &output,
        &format!(
            "Error generating peering token for dc2: Post \"http://{address}/v1/peering/token\": dial tcp {address}: connect: connection refused"
        ),
    );
}

#[tokio::test]
async fn https_with_ca_client_certificate_and_server_name() {
    let dc1 = start(Config::new("dc1").https(true)).await;
    let (ca, cert, key) = (
        temp_path("https-ca.pem"),
        temp_path("https-cert.pem"),
        temp_path("https-key.pem"),
    );
    std::fs::write(&ca, dc1.ca_pem().unwrap()).unwrap();
    let identity = dc1.client_identity().unwrap();
    std::fs::write(&cert, &identity.cert_pem).unwrap();
    std::fs::write(&key, &identity.key_pem).unwrap();
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );

    // From the environment, with CONSUL_HTTP_SSL on a bare host:port.
    let output = generate_token(
        &["-name", "dc2"],
        &[
            (env::HTTP_ADDR, &dc1.http_addr().to_string()),
            (env::HTTP_SSL, "true"),
            (env::CACERT, ca),
            (env::CLIENT_CERT, cert),
            (env::CLIENT_KEY, key),
            (env::TLS_SERVER_NAME, "server.dc1.consul"),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // From flags.
    let url = dc1.url();
    let flags = [
        "-http-addr",
        &url,
        "-ca-file",
        ca,
        "-client-cert",
        cert,
        "-client-key",
        key,
    ];
    let output = generate_token(&[&["-name", "dc3"][..], &flags].concat(), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // A name the certificate does not hold.
    let wrong_name = ["-name", "dc4", "-tls-server-name", "server.dc9.consul"];
    let output = generate_token(&[&wrong_name[..], &flags].concat(), &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!(
            "Error generating peering token for dc4: Post \"{}/v1/peering/token\": tls: ",
            dc1.url()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn partition_flag() {
    let community = start(Config::new("dc1")).await;
    let output = generate_token(
        &["-name", "dc2", "-partition", "team-a"],
        &[(env::HTTP_ADDR, &community.url())],
    )
    .await;
    assert_fails_with(
        &output,
        "Error generating peering token for dc2: Unexpected response code: 400 (Invalid query parameter: \"partition\" - Partitions are a Consul Enterprise feature)",
    );

    let enterprise = start(Config::new("dc1").enterprise()).await;
    let output = generate_token(
        &["-name", "dc2", "-partition", "team-a"],
        &[(env::HTTP_ADDR, &enterprise.url())],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        decode(stdout(&output).trim_end())["Remote"]["Partition"],
        "team-a"
    );
    assert!(enterprise.peering("team-a", "dc2").is_some());
}

#[tokio::test]
async fn trace_logs_never_hold_the_token() {
    let dc1 = start(Config::new("dc1").with_acls()).await;
    let management = dc1.management_token().unwrap().to_owned();
    let output = generate_token(
        &["-name", "dc2", "-token", &management],
        &[(env::HTTP_ADDR, &dc1.url()), ("RUST_LOG", "trace")],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let token = stdout(&output).trim_end().to_owned();
    let secret = decode(&token)["EstablishmentSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = stderr(&output);
    assert!(
        logs.contains("Consul request"),
        "trace logging is on: {logs}"
    );
    assert!(!logs.contains(&token));
    assert!(!logs.contains(&secret));
    assert!(!logs.contains(&management));
}
