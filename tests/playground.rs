//! kubectl against the playground, as the README tells a newcomer to use it: the real binary's
//! `playground` command, then the real kubectl (v1.32, /usr/bin/kubectl) applying the example
//! acceptor, waiting for it to be Ready and listing it with the CRD's printer columns.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KUBECTL: &str = "/usr/bin/kubectl";
const BINARY: &str = env!("CARGO_BIN_EXE_consul-peering-operator");

/// The playground process; killed (by its id) if the test ends before stopping it.
struct Playground {
    child: Child,
    lines: mpsc::Receiver<String>,
    dir: PathBuf,
}

impl Playground {
    fn start(dir: &Path) -> Playground {
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("create stderr.log");
        let mut child = Command::new(BINARY)
            .arg("playground")
            .arg("--state-dir")
            .arg(dir)
            .arg("--empty")
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

    /// Runs kubectl with the playground's kubeconfig; returns stdout, failing the test with
    /// kubectl's stderr when it fails.
    fn kubectl(&self, args: &[&str]) -> String {
        let output = Command::new(KUBECTL)
            .args(args)
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache"))
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run kubectl");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {}: {}\nstdout: {stdout}\nstderr: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
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

fn state_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("playground-kubectl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the state dir");
    dir
}

/// The column titles of a `kubectl get` table and the cells of its rows.
fn table(output: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = output.lines();
    let split = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let header = split(lines.next().expect("a header line"));
    (header, lines.map(split).collect())
}

#[test]
fn kubectl_applies_waits_for_and_lists_the_example_acceptor_in_the_playground() {
    let dir = state_dir();
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

    let applied =
        playground.kubectl(&["apply", "-f", "examples/acceptor.yaml", "--context", "dc1"]);
    assert_eq!(
        applied.trim(),
        "peeringacceptor.consulpeering.io/dc2 created"
    );
    let waited = playground.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "peeringacceptor/dc2",
        "--context",
        "dc1",
        "--timeout=60s",
    ]);
    assert_eq!(
        waited.trim(),
        "peeringacceptor.consulpeering.io/dc2 condition met"
    );

    let listed = playground.kubectl(&["get", "peeringacceptors", "--context", "dc1"]);
    let (header, rows) = table(&listed);
    assert_eq!(
        header,
        ["NAME", "READY", "STATE", "SECRET", "AGE"],
        "{listed}"
    );
    assert_eq!(rows.len(), 1, "{listed}");
    let row = &rows[0];
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
    let wide = playground.kubectl(&["get", "pacc", "-o", "wide", "--context", "dc1"]);
    let (header, rows) = table(&wide);
    assert_eq!(
        header,
        [
            "NAME", "READY", "REASON", "STATE", "SECRET", "PEERING", "ID", "AGE"
        ],
        "{wide}"
    );
    let peering_id = playground.kubectl(&[
        "get",
        "peeringacceptor",
        "dc2",
        "--context",
        "dc1",
        "-o",
        "jsonpath={.status.peeringId}",
    ]);
    assert_eq!(
        rows[0][..5],
        ["dc2", "True", "Ready", "PENDING", "peering-token-dc2"],
        "{wide}"
    );
    assert_eq!(rows[0][5], peering_id, "{wide}");

    // The token is in the Secret the status names.
    let data = playground.kubectl(&[
        "get",
        "secret",
        "peering-token-dc2",
        "--context",
        "dc1",
        "-o",
        "jsonpath={.data.data}",
    ]);
    assert!(data.len() > 100, "a token in the Secret: {data:?}");

    let (status, rest) = playground.interrupt();
    assert!(status.success(), "{status}; stdout:\n{rest}");
    assert!(rest.contains("stopped"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
