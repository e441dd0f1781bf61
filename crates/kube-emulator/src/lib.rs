//! An in-memory Kubernetes API server (see the crate README).

pub mod resource;

// Pure building blocks with no HTTP in them; each has its own unit tests.
pub mod openapi;
pub mod protobuf;
pub mod schema;
pub mod ssa;
pub mod strategic_merge;
pub mod table;
