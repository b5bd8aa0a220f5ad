//! The bridge ↔ Worker wire contract: every request and response body of the
//! broker bridge's HTTP API, its error codes, and the money rules of the wire
//! (paper accounts, idempotency keys). The bridge serves these types and the
//! Worker reads them; nothing else declares them. Pure: no I/O; builds for
//! native and wasm32. `docs/bridge-api.md` describes the routes.
//!
//! - [`health`]: `GET /health` body, broker mode, session state.
//! - [`account`]: `GET /account`, `GET /positions`, [`is_paper_account`].
//! - [`market`]: `GET /quote`, `/quotes`, `/chain`, `/chain/expiries`,
//!   `/history/daily`, `/history/iv`, `/events/dividends` bodies (market types re-exported from `sas-core`).
//! - [`chain`]: the `GET /chain` query (window, expiries or contracts).
//! - [`orders`]: order request and its validation, order, order status,
//!   placement outcome, executions.
//! - [`halt`]: `GET /halt` / `POST /halt`.
//! - [`sim`]: `POST /sim/control` (simulated broker only).
//! - [`error`]: [`ErrorCode`] (with its HTTP status) and the error body.
//! - [`key`]: [`IdempotencyKey`] and the one key rule.

pub mod account;
pub mod chain;
pub mod error;
pub mod halt;
pub mod health;
pub mod key;
pub mod market;
pub mod orders;
pub mod sim;

pub use account::is_paper_account;
pub use error::{ErrorBody, ErrorCode};
pub use key::{is_valid_key, IdempotencyKey, InvalidKey, MAX_IDEMPOTENCY_KEY_LEN};
