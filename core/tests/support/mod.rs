//! Helpers shared by the integration tests.

pub mod iv_sample;
