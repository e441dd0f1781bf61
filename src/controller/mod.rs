//! The reconcilers and what they share.

pub mod plan;
