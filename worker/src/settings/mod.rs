//! Settings: the kill switch. [`model`]: its row, SQL and the fail-closed
//! reading; [`store`]: the [`store::SettingsStore`] trait (read; set with
//! its audit row in one batch); [`service`]: turning it on or off; [`view`]:
//! its JSON. The approvals read it right before every send
//! (`approvals::service`) and in the conditional approve update itself.

pub mod model;
pub mod service;
pub mod store;
pub mod view;

pub use model::*;
