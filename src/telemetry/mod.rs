//! What the operator tells the outside world about itself: Prometheus metrics, the health and
//! readiness endpoints, and log setup.

pub mod health;
pub mod logging;
pub mod metrics;
pub mod server;

pub use health::{Health, LeaderState};
pub use metrics::Metrics;
