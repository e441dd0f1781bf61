//! The operator under test: the release binary's `run` as a child process against one emulated
//! cluster and Consul, with its memory and CPU read from /proc and its reconciles from /metrics.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture it runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A running operator process; killed when dropped.
pub struct OperatorProcess {
    child: Child,
    endpoints: SocketAddr,
    http: reqwest::Client,
    log: PathBuf,
}

/// Resident memory of a process, in MiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// Now (VmRSS).
    pub rss_mib: f64,
    /// The highest since the process started (VmHWM).
    pub peak_mib: f64,
}

impl OperatorProcess {
    /// Starts `binary run` with the kubeconfig, Consul address and blocking-query wait given;
    /// logs (warnings and errors) go to `log`.
    pub fn spawn(
        binary: &Path,
        kubeconfig: &Path,
        consul_address: &str,
        log: &Path,
        consul_watch_wait_seconds: u64,
    ) -> anyhow::Result<OperatorProcess> {
        let endpoints = free_loopback_address()?;
        let stderr =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .args(["run", "--http-addr", consul_address])
            .arg("--listen-addr")
            .arg(endpoints.to_string())
            .arg("--consul-watch-wait-seconds")
            .arg(consul_watch_wait_seconds.to_string())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(OperatorProcess {
            child,
            endpoints,
            http: reqwest::Client::new(),
            log: log.to_owned(),
        })
    }

    /// Waits until /readyz answers 200 (the caches have synced); how long that took from now.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let url = format!("http://{}/readyz", self.endpoints);
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the operator exited ({status}): {}", self.log_tail());
            }
            if let Ok(reply) = self.http.get(&url).send().await
                && reply.status().is_success()
            {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("the operator not ready in {timeout:?}: {}", self.log_tail())
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the operator's /proc status")?;
        let kib = |field: &str| -> anyhow::Result<f64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .with_context(|| format!("no {field} in /proc status"))
        };
        Ok(Memory {
            rss_mib: kib("VmRSS:")? / 1024.0,
            peak_mib: kib("VmHWM:")? / 1024.0,
        })
    }

    /// User plus system CPU time so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .context("reading the operator's /proc stat")?;
        // Fields after the command name (which may hold spaces) start at the state, field 3;
        // utime and stime are fields 14 and 15.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(user), Some(system)) => Ok((user + system) / TICKS_PER_SECOND),
            _ => anyhow::bail!("unexpected /proc stat: {stat}"),
        }
    }

    /// `consul_peering_operator_reconciles_total` of one controller.
    pub async fn reconciles(&self, controller: &str) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(format!("http://{}/metrics", self.endpoints))
            .send()
            .await?
            .text()
            .await?;
        let series =
            format!("consul_peering_operator_reconciles_total{{controller=\"{controller}\"}} ");
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Waits until the reconcile count stops moving for `quiet` (at most `timeout`); the count.
    pub async fn settled_reconciles(
        &self,
        controller: &str,
        quiet: Duration,
        timeout: Duration,
    ) -> anyhow::Result<u64> {
        let started = Instant::now();
        let mut last = self.reconciles(controller).await?;
        let mut since = Instant::now();
        while started.elapsed() < timeout && since.elapsed() < quiet {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.reconciles(controller).await?;
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        Ok(last)
    }

    /// Stops it as Kubernetes does (SIGTERM), killing it if it has not exited in 20 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or_default().to_owned()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address no one listens on right now (the OS picks the port).
fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(listener.local_addr()?)
}
