//! An in-memory Kubernetes API server (see the crate README).

pub mod resource;

// Pure building blocks with no HTTP in them; each has its own unit tests.
pub mod openapi;
pub mod protobuf;
pub mod schema;
pub mod ssa;
pub mod strategic_merge;
pub mod table;

// The server.
mod access_review;
mod api;
pub mod auth;
mod controllers;
mod defaults;
mod discovery;
mod ext;
mod faults;
mod http;
mod impersonation;
mod kinds;
mod rbac;
mod registry;
mod request;
mod selectors;
mod server;
mod service_account_tokens;
mod state;
pub mod status;
mod store;
mod validation;
mod watch;
mod write;

pub use auth::Rule;
pub use faults::KubeFault;
pub use server::{Config, KubeEmulator, RequestCount, run, start, start_with};
