//! Commands of the binary other than the controller itself.

pub mod consul_args;
pub mod crds;
pub mod generate_token;
pub mod go_flags;
