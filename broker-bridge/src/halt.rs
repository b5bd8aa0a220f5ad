//! The bridge-side trading halt: while halted, `POST /orders` is refused
//! (409 `trading_halted`) and nothing is sent; cancels and reads still work.
//! The Worker sets it from its kill switch, so a direct `POST /orders` to the
//! bridge cannot bypass a halt.
//!
//! Fail closed across restarts: with `BRIDGE_HALT_FILE` set, every change is
//! written to that small JSON file (temporary file, then rename) before it is
//! acknowledged; at start a missing file means "not halted", and a file that
//! cannot be read or parsed means "halted", with the reason.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use sas_bridge_api::halt::HaltState;

use crate::broker::{BrokerError, OrderGate};

/// Why a halt change could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum HaltError {
    /// The halt file could not be written; a halt is still applied in
    /// memory, a resume is not.
    #[error("cannot write the halt file {path}: {source}")]
    Persist {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The halt switch, shared by every request.
#[derive(Debug)]
pub struct Halt {
    state: Mutex<HaltState>,
    file: Option<PathBuf>,
}

impl Halt {
    /// A halt kept in memory only (not halted at start).
    #[must_use]
    pub fn in_memory() -> Self {
        Self {
            state: Mutex::new(HaltState::running()),
            file: None,
        }
    }

    /// The halt persisted in `file`: missing = not halted; unreadable or
    /// corrupt = halted, with the reason (fail closed).
    #[must_use]
    pub fn load(file: PathBuf) -> Self {
        let state = read_state(&file);
        Self {
            state: Mutex::new(state),
            file: Some(file),
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> HaltState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether new orders are refused now.
    #[must_use]
    pub fn is_halted(&self) -> bool {
        self.state().halted
    }

    /// Halts or resumes. The change is written to the halt file first; when
    /// that fails, a halt still takes effect in memory (fail closed) and a
    /// resume does not, and the error is returned.
    pub fn set(&self, halted: bool, reason: String) -> Result<HaltState, HaltError> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let since = if guard.halted == halted && guard.since.is_some() {
            guard.since
        } else {
            Some(Utc::now())
        };
        let next = HaltState {
            halted,
            reason: Some(reason),
            since,
        };
        let written = match &self.file {
            Some(path) => write_state(path, &next),
            None => Ok(()),
        };
        match written {
            Ok(()) => {
                *guard = next.clone();
                Ok(next)
            }
            Err(e) => {
                if halted {
                    *guard = next;
                }
                Err(e)
            }
        }
    }
}

/// The IB broker asks the halt again right before it sends an order.
impl OrderGate for Halt {
    fn check(&self) -> Result<(), BrokerError> {
        let state = self.state();
        if state.halted {
            Err(BrokerError::TradingHalted {
                reason: state.reason,
            })
        } else {
            Ok(())
        }
    }
}

fn read_state(file: &Path) -> HaltState {
    let shown = file.display();
    match std::fs::read(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HaltState::running(),
        Err(e) => HaltState {
            halted: true,
            reason: Some(format!("halt file {shown} is unreadable: {e}")),
            since: Some(Utc::now()),
        },
        Ok(bytes) => match serde_json::from_slice::<HaltState>(&bytes) {
            Ok(state) => state,
            Err(e) => HaltState {
                halted: true,
                reason: Some(format!("halt file {shown} is corrupt: {e}")),
                since: Some(Utc::now()),
            },
        },
    }
}

fn write_state(file: &Path, state: &HaltState) -> Result<(), HaltError> {
    let err = |source| HaltError::Persist {
        path: file.display().to_string(),
        source,
    };
    let body = serde_json::to_vec_pretty(state).map_err(|e| err(std::io::Error::other(e)))?;
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, body).map_err(err)?;
    std::fs::rename(&tmp, file).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sas-halt-{}-{name}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("halt.json")
    }

    #[test]
    fn halt_file_keeps_the_halt_across_restarts_and_fails_closed() {
        let file = temp_file("restart");
        let first = Halt::load(file.clone());
        assert!(!first.is_halted(), "a missing file means not halted");
        first.set(true, "kill switch".into()).unwrap();
        drop(first);

        let second = Halt::load(file.clone());
        let st = second.state();
        assert!(st.halted);
        assert_eq!(st.reason.as_deref(), Some("kill switch"));
        second.set(false, "resumed".into()).unwrap();
        assert!(!Halt::load(file.clone()).is_halted());

        std::fs::write(&file, b"{not json").unwrap();
        let corrupt = Halt::load(file.clone());
        let st = corrupt.state();
        assert!(st.halted, "a corrupt file halts");
        assert!(st.reason.unwrap_or_default().contains("corrupt"));
    }

    #[test]
    fn unwritable_halt_file_still_halts_but_never_resumes() {
        let file = temp_file("unwritable")
            .join("missing-dir")
            .join("halt.json");
        let halt = Halt::load(file);
        assert!(halt.set(true, "stop".into()).is_err());
        assert!(halt.is_halted(), "a halt applies even when not persisted");
        assert!(halt.set(false, "go".into()).is_err());
        assert!(
            halt.is_halted(),
            "a resume that is not persisted is refused"
        );
    }
}
