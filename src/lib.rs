//! consul-peering-operator: Consul cluster peering as Kubernetes resources.
//!
//! `crd` holds the API types (PeeringAcceptor, PeeringDialer) and the names the operator writes
//! on Kubernetes objects; `cli` the commands of the binary other than the controller.

pub mod cli;
pub mod controller;
pub mod crd;
pub mod telemetry;
