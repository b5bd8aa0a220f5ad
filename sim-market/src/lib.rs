//! Seeded simulated market.
