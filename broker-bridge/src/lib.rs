//! Broker bridge: an authenticated HTTP API on loopback in front of a broker
//! session (the simulated market or Interactive Brokers).
//!
//! - [`broker`]: the `Broker` trait, `BrokerError`, session status.
//! - [`sim`]: `SimBroker` over `sas-sim-market` with a paper account.
//! - [`config`]: CLI/env configuration validated as a whole.
//! - [`api`]: the axum router (`api::router`).
//! - [`metrics`]: the Prometheus registry shared with broker implementations.

pub mod api;
pub mod broker;
pub mod clock;
pub mod config;
pub mod halt;
pub mod ib;
pub mod metrics;
pub mod sim;
pub mod startup;

pub use api::{router, AppState};
