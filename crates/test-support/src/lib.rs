//! What the tests of several workspace crates share, kept out of every production build: the crate is only ever a
//! dev-dependency.
//!
//! - [`kubectl`]: every kubectl the tests can find (the user's and the pinned one from PyPI) and a runner for it.
//! - [`pytools`]: the venv under target/ with the tools the tests take from PyPI (Helm, kubernetes-validate,
//!   hadolint, kubectl).

pub mod kubectl;
pub mod pytools;
