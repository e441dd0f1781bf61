//! consul-peering-operator: Consul cluster peering as Kubernetes resources.
//!
//! `crd` holds the API types (PeeringAcceptor, PeeringDialer) and the names the operator writes
//! on Kubernetes objects.

pub mod crd;
