//! Commands of the binary other than the controller itself.

pub mod crds;
