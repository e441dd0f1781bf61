//! The integration tests' helpers: a library (package `operator-test-support`, a dev-dependency of the operator
//! only), so that every test uses just what it needs of them.

pub mod columns;
pub mod delivery;
pub mod helm;
pub mod invariants;
pub mod n_clusters;
pub mod operator;
pub mod process;
pub mod two_clusters;
