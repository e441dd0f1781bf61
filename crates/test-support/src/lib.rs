//! What the tests of several workspace crates share, kept out of every production build: the crate is only ever a
//! dev-dependency.
//!
//! - [`kubectl`]: every kubectl the tests can find (the user's and the pinned one from PyPI) and a runner for it.
//! - [`pytools`]: the venv under target/ with the tools the tests take from PyPI (Helm, kubernetes-validate,
//!   hadolint, kubectl).
//! - [`profile_dir`] and [`target_tmpdir`]: where cargo builds, for helper libraries that cannot use the
//!   `CARGO_BIN_EXE_*` and `CARGO_TARGET_TMPDIR` of test crates.

pub mod kubectl;
pub mod pytools;

use std::path::PathBuf;

/// Where cargo put the running test binary's profile: `target/debug` (test binaries run from
/// `target/<profile>/deps/`). The package's binaries are there: cargo builds them for its integration tests.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "deps"))
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{} is not under target/<profile>/deps", exe.display()))
}

/// `target/tmp`, which outlives a test run: what cargo gives test crates as `CARGO_TARGET_TMPDIR` at build time,
/// for libraries that test crates use.
pub fn target_tmpdir() -> PathBuf {
    let profile = profile_dir();
    profile.parent().unwrap_or(&profile).join("tmp")
}
