//! kubectl against the playground, as the README tells a newcomer to use it: the real binary's
//! `playground` command, then the real kubectl (each one found, see `test_support::kubectl`) applying
//! the example acceptor, waiting for it to be Ready and listing it with the CRD's printer columns.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::columns::ACCEPTOR_WIDE;
use test_support::kubectl::{Binary, Kubectl, binaries, table};

const BINARY: &str = env!("CARGO_BIN_EXE_consul-peering-operator");

/// The playground process; killed (by its id) if the test ends before stopping it.
struct Playground {
    child: Child,
    lines: mpsc::Receiver<String>,
    dir: PathBuf,
}

impl Playground {
    fn start(dir: &Path) -> Playground {
        Playground::start_with(dir, "--empty")
    }

    fn start_with(dir: &Path, mode: &str) -> Playground {
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("create stderr.log");
        let mut child = Command::new(BINARY)
            .arg("playground")
            .arg("--state-dir")
            .arg(dir)
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the playground");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Playground {
            child,
            lines,
            dir: dir.to_owned(),
        }
    }

    /// Waits for a stdout line containing `text`; returns everything printed up to it.
    fn wait_for_line(&self, text: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(text) {
                        return seen;
                    }
                }
                Err(_) => panic!(
                    "no {text:?} from the playground within {timeout:?}; stdout:\n{seen}\nstderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// kubectl with the playground's kubeconfig, run from the repository (for the README's relative paths).
    fn kubectl(&self, binary: &'static Binary) -> Kubectl {
        Kubectl::new(binary)
            .with_kubeconfig(self.dir.join("kubeconfig"))
            .in_dir(env!("CARGO_MANIFEST_DIR"))
    }

    /// Stops it as Ctrl-C does and returns what it printed until it exited.
    fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let status = self.child.wait().expect("wait for the playground");
        let rest: String = self.lines.try_iter().map(|l| l + "\n").collect();
        (status, rest)
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kubectl apply` of examples/acceptor.yaml in dc1, then `kubectl wait` until it is Ready;
/// returns both commands' output.
async fn apply_the_example_acceptor_and_wait_ready(kubectl: &Kubectl) -> (String, String) {
    let applied = kubectl
        .ok(&["apply", "-f", "examples/acceptor.yaml", "--context", "dc1"])
        .await;
    let waited = kubectl
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "peeringacceptor/dc2",
            "--context",
            "dc1",
            "--timeout=60s",
        ])
        .await;
    (applied, waited)
}

fn state_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("playground-kubectl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the state dir");
    dir
}

#[tokio::test]
async fn kubectl_applies_waits_for_and_lists_the_example_acceptor_in_the_playground() {
    for (n, binary) in binaries().iter().enumerate() {
        apply_wait_and_list_in_a_fresh_playground(binary, &n.to_string()).await;
    }
}

/// The README's steps with one kubectl, in a playground of their own.
async fn apply_wait_and_list_in_a_fresh_playground(binary: &'static Binary, name: &str) {
    let dir = state_dir(name);
    let playground = Playground::start(&dir);
    let started = playground.wait_for_line("playground ready", Duration::from_secs(60));
    assert!(
        started.contains(&format!("state dir: {}", dir.display())),
        "{started}"
    );

    // playground.json describes both clusters.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("playground.json")).expect("playground.json"),
    )
    .expect("JSON");
    let clusters = state["clusters"].as_array().expect("clusters");
    let names: Vec<&str> = clusters
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dc1", "dc2"]);
    for c in clusters {
        assert_eq!(c["context"], c["name"]);
        assert!(
            c["consul"]["address"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{c}"
        );
        assert!(c["consul"]["token"].is_null() && c["consul"]["caFile"].is_null());
    }
    let kubectl = playground.kubectl(binary);

    let (applied, waited) = apply_the_example_acceptor_and_wait_ready(&kubectl).await;
    assert_eq!(
        applied.trim(),
        "peeringacceptor.consulpeering.io/dc2 created"
    );
    assert_eq!(
        waited.trim(),
        "peeringacceptor.consulpeering.io/dc2 condition met"
    );

    let listed = kubectl
        .ok(&["get", "peeringacceptors", "--context", "dc1"])
        .await;
    let rows = table(&listed);
    assert_eq!(
        rows[0],
        ["NAME", "READY", "STATE", "SECRET", "AGE"],
        "{listed}"
    );
    assert_eq!(rows.len(), 2, "{listed}");
    let row = &rows[1];
    assert_eq!(
        row[..4],
        ["dc2", "True", "PENDING", "peering-token-dc2"],
        "{listed}"
    );
    assert!(
        row[4].ends_with('s') || row[4].ends_with('m'),
        "an age: {listed}"
    );

    // -o wide adds the priority-1 columns; the short name works too.
    let wide = kubectl
        .ok(&["get", "pacc", "-o", "wide", "--context", "dc1"])
        .await;
    let rows = table(&wide);
    assert_eq!(rows[0], ACCEPTOR_WIDE, "{wide}");
    let peering_id = kubectl
        .ok(&[
            "get",
            "peeringacceptor",
            "dc2",
            "--context",
            "dc1",
            "-o",
            "jsonpath={.status.peeringId}",
        ])
        .await;
    assert_eq!(
        rows[1][..5],
        ["dc2", "True", "Ready", "PENDING", "peering-token-dc2"],
        "{wide}"
    );
    assert_eq!(rows[1][6], peering_id, "{wide}");

    // The token is in the Secret the status names.
    let data = kubectl
        .ok(&[
            "get",
            "secret",
            "peering-token-dc2",
            "--context",
            "dc1",
            "-o",
            "jsonpath={.data.data}",
        ])
        .await;
    assert!(data.len() > 100, "a token in the Secret: {data:?}");

    drop(kubectl);
    let (status, rest) = playground.interrupt();
    assert!(status.success(), "{status}; stdout:\n{rest}");
    assert!(rest.contains("stopped"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The operator service account an embedded playground operator runs as.
const EMBEDDED_OPERATOR_USER: &str =
    "system:serviceaccount:consul-peering-operator:consul-peering-operator";

/// `playground --no-operator` serves both clusters and writes the kubeconfig and playground.json
/// but runs no operator: an operator started apart with the command it prints makes the example
/// acceptor Ready, and no request the API server counted came from an embedded operator.
#[tokio::test]
async fn no_operator_serves_the_clusters_to_an_operator_run_apart() {
    let dir = state_dir("no-operator");
    let playground = Playground::start_with(&dir, "--no-operator");
    playground.wait_for_line("playground ready", Duration::from_secs(60));
    let printed = playground.wait_for_line("--listen-addr 127.0.0.1:8082", Duration::from_secs(30));
    assert!(dir.join("kubeconfig").is_file(), "{printed}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("playground.json")).expect("playground.json"),
    )
    .expect("JSON");
    let clusters = state["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 2, "{state}");

    // "KUBECONFIG=<path> consul-peering-operator run --http-addr <address> --listen-addr …"
    let dc1_line = printed
        .lines()
        .find(|l| l.contains("dc1.kubeconfig"))
        .unwrap_or_else(|| panic!("a command for dc1: {printed}"));
    let words: Vec<&str> = dc1_line.split_whitespace().collect();
    let kubeconfig = words[0].strip_prefix("KUBECONFIG=").expect("KUBECONFIG=");
    assert_eq!(
        words[1..4],
        ["consul-peering-operator", "run", "--http-addr"]
    );
    assert_eq!(words[4], clusters[0]["consul"]["address"], "{printed}");
    let operator_log = std::fs::File::create(dir.join("operator.log")).expect("operator.log");
    let operator = Command::new(BINARY)
        .env("KUBECONFIG", kubeconfig)
        .args([
            "run",
            "--http-addr",
            words[4],
            "--listen-addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(operator_log)
        .spawn()
        .expect("start the operator apart");
    let _operator = KillOnDrop(operator);

    let kubectl = playground.kubectl(&binaries()[0]);
    apply_the_example_acceptor_and_wait_ready(&kubectl).await;
    let counted: serde_json::Value = serde_json::from_str(
        &kubectl
            .ok(&["get", "--raw", "/emulator/requests", "--context", "dc1"])
            .await,
    )
    .expect("JSON");
    let requests = counted["requests"].as_array().expect("requests");
    assert!(
        requests
            .iter()
            .any(|r| r["verb"] == "patch"
                && r["resource"] == "peeringacceptors.consulpeering.io/status"),
        "the operator run apart wrote the status: {counted}"
    );
    assert!(
        requests.iter().all(|r| r["user"] != EMBEDDED_OPERATOR_USER),
        "no embedded operator: {counted}"
    );
    drop(kubectl);
    let (status, rest) = playground.interrupt();
    assert!(status.success(), "{status}; stdout:\n{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A child process killed (by its id) when the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
