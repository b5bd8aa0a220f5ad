//! SAS home-side archiver: pulls the Worker's export pages (docs/archive.md)
//! into Postgres. Modules: `tables` (what is exported, strict row parse,
//! keys, canonical rows), `store` (Postgres), `export` (HTTP client), `run`
//! (one run), `verify` (archive against Worker), `metrics` (`/metrics` on
//! loopback), `config`.

pub mod config;
pub mod export;
pub mod metrics;
pub mod run;
pub mod store;
pub mod tables;
pub mod verify;
