//! Consul's peering HTTP API: the client, its configuration and errors, the request and
//! response bodies, and the peering token.

mod client;
mod clients;
mod config;
mod error;
mod response;
mod retry;
mod tls;
mod token;
mod token_source;
mod types;

pub use client::{Client, RequestObserver};
pub use clients::ConsulClients;
pub use config::{AclToken, ConsulConfig, DEFAULT_ADDRESS, env, parse_go_bool};
pub use error::ConsulError;
pub use retry::{Idempotency, RetryPolicy};
pub use token::{DecodedToken, EstablishmentSecret, PeeringToken, TokenRemote};
pub use types::{
    EstablishRequest, GenerateTokenRequest, GenerateTokenResponse, Locality, Peering,
    PeeringRemote, PeeringState, StreamStatus,
};
