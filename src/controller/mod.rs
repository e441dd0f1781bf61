//! The reconcilers and what they share.

pub mod plan;
pub mod token_secret;
