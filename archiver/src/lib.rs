//! SAS home-side archiver: pulls the Worker's export pages (docs/archive.md)
//! into Postgres. Modules: `tables` (what is exported, strict row parse),
//! `store` (Postgres), `export` (HTTP client), `run` (one run), `config`.

pub mod config;
pub mod export;
pub mod run;
pub mod store;
pub mod tables;
