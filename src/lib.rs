//! consul-peering-operator: Consul cluster peering as Kubernetes resources.
//!
//! `crd` holds the API types (PeeringAcceptor, PeeringDialer) and the names the operator writes
//! on Kubernetes objects; `consul` the Consul peering API client; `cli` the commands of the
//! binary other than the controller.

#[cfg(feature = "playground")]
pub mod bench;
pub mod cli;
pub mod consul;
pub mod controller;
pub mod crd;
#[cfg(feature = "playground")]
pub mod playground;
pub mod run;
pub mod telemetry;
