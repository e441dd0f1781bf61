//! Helpers shared by the integration tests.

pub mod operator;
pub mod two_clusters;
