//! The benchmark's smoke run: `bench` with small numbers goes through every phase against the
//! operator as a process of its own and writes its JSON in the shape, with counts that
//! make sense. No figure of time is asserted: those belong to the benchmark's own runs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn a_small_bench_run_writes_its_json_with_sane_counts() {
    let output = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-smoke-{}.json", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_consul-peering-operator"))
        .args([
            "bench",
            "--n",
            "20",
            "--small-n",
            "10",
            "--latency-samples",
            "5",
        ])
        .args(["--propagation-samples", "3", "--unrelated-secrets", "50"])
        .args([
            "--quiet-seconds",
            "1",
            "--consul-watch-wait-seconds",
            "1",
            "--output",
        ])
        .arg(&output)
        .output()
        .expect("run the bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{}\n{stdout}\n{stderr}", run.status);
    assert!(stdout.contains("| ratio_p50"), "the table: {stdout}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(&output).expect("the JSON")).expect("JSON");
    assert!(
        results["machine"]["cores"].as_u64().unwrap() >= 1,
        "{results}"
    );
    for figure in ["create_to_secret_ms", "floor_ms"] {
        let p50 = results[figure]["p50"].as_f64().unwrap();
        let p99 = results[figure]["p99"].as_f64().unwrap();
        assert!(p50 > 0.0 && p99 >= p50, "{figure}: {results}");
    }
    let bursts = results["burst"].as_array().expect("burst");
    let sizes: Vec<u64> = bursts.iter().map(|b| b["n"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [10, 20]);
    for burst in bursts {
        // Each acceptor costs at least its token call, its Secret and one reconcile.
        for per in [
            "k8s_writes_per_acceptor",
            "consul_calls_per_acceptor",
            "reconciles_per_acceptor",
        ] {
            assert!(burst[per].as_f64().unwrap() >= 1.0, "{per}: {burst}");
        }
        assert_eq!(
            burst["consul_calls"]["POST /v1/peering/token"], burst["n"],
            "one token per acceptor: {burst}"
        );
        assert!(burst["operator_peak_rss_mib"].as_f64().unwrap() > 0.0);
    }
    // A restarted operator finds every token in its Secret and generates none; nothing
    // changing means no token either.
    assert_eq!(results["startup_token_calls"], 0, "{results}");
    assert_eq!(results["quiet_60s"]["consul_token_calls"], 0, "{results}");
    assert_eq!(results["run"]["acceptors_at_startup"], 35, "{results}");
    for figure in [
        "stored_change_p99",
        "established_to_active_p99",
        "failing_p99",
    ] {
        assert!(
            results["propagation_ms"][figure].as_f64().unwrap() > 0.0,
            "{figure}: {results}"
        );
    }
    let _ = std::fs::remove_file(&output);
}
