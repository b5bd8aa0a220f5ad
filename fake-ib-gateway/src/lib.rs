//! Fake IB Gateway.
