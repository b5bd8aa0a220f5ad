//! The state machine of every order SAS sends (entries and exits).
//!
//! ```text
//! submitting ─ack─▶ submitted ─▶ working ─▶ partially_filled ─▶ filled
//!     │                 │            │              │
//!     │ answer lost     └────────────┴──────────────┴─▶ cancel_pending ─▶ cancelled
//!     ▼                                                     (or filled, or back to
//!  unknown ─ read the broker ─▶ any state the broker reports    working when refused)
//!                                  (never resent)
//! terminal: filled, cancelled, rejected, inactive
//! ```
//!
//! Broker reports carry the order's cumulative filled quantity and a
//! sequence number (report time in ms, or a counter): a report older than
//! the last applied one never changes the status, filled quantity never
//! decreases, terminal states are final, except that a late fill on a
//! cancelled order is applied (IB can fill while a cancel is pending).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Decided and being sent; nothing is known to have reached the broker.
    Submitting,
    /// The bridge accepted it; the broker has not yet shown it working.
    Submitted,
    /// Resting at the exchange.
    Working,
    PartiallyFilled,
    /// A cancel was requested and not yet confirmed.
    CancelPending,
    /// Sent, but the answer was lost: resolved only by reading the broker.
    Unknown,
    Filled,
    Cancelled,
    Rejected,
    /// IB's Inactive: held or refused without an explicit reject.
    Inactive,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::Submitting,
        OrderStatus::Submitted,
        OrderStatus::Working,
        OrderStatus::PartiallyFilled,
        OrderStatus::CancelPending,
        OrderStatus::Unknown,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
        OrderStatus::Inactive,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Submitting => "submitting",
            OrderStatus::Submitted => "submitted",
            OrderStatus::Working => "working",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::CancelPending => "cancel_pending",
            OrderStatus::Unknown => "unknown",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Inactive => "inactive",
        }
    }

    /// No further status change except a late fill on `Cancelled`.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Cancelled
                | OrderStatus::Rejected
                | OrderStatus::Inactive
        )
    }

    /// May still (or may already) be at the broker and fill: every
    /// non-terminal state, `Unknown` included.
    #[must_use]
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }

    /// The transition table. `from == to` is never listed: applying a report
    /// that does not change the status is a no-op, not a transition.
    #[must_use]
    pub fn can_transition(self, to: OrderStatus) -> bool {
        use OrderStatus as S;
        match self {
            S::Submitting => matches!(
                to,
                S::Submitted
                    | S::Working
                    | S::PartiallyFilled
                    | S::Filled
                    | S::Cancelled
                    | S::Rejected
                    | S::Inactive
                    | S::Unknown
            ),
            S::Submitted => matches!(
                to,
                S::Working
                    | S::PartiallyFilled
                    | S::Filled
                    | S::Cancelled
                    | S::Rejected
                    | S::Inactive
                    | S::CancelPending
            ),
            S::Working => matches!(
                to,
                S::PartiallyFilled
                    | S::Filled
                    | S::Cancelled
                    | S::Rejected
                    | S::Inactive
                    | S::CancelPending
            ),
            S::PartiallyFilled => matches!(
                to,
                S::Filled | S::Cancelled | S::Inactive | S::CancelPending
            ),
            // A refused cancel returns the order to working.
            S::CancelPending => matches!(
                to,
                S::Working | S::PartiallyFilled | S::Filled | S::Cancelled | S::Inactive
            ),
            S::Unknown => matches!(
                to,
                S::Submitted
                    | S::Working
                    | S::PartiallyFilled
                    | S::CancelPending
                    | S::Filled
                    | S::Cancelled
                    | S::Rejected
                    | S::Inactive
            ),
            // Late fill after a cancel: IB can fill while the cancel is pending.
            S::Cancelled => matches!(to, S::Filled),
            S::Filled | S::Rejected | S::Inactive => false,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the order opens a trade or closes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderPurpose {
    Entry,
    Exit,
}

/// The status a broker report states (IB's names in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerState {
    /// ApiPending, PendingSubmit, PreSubmitted.
    Accepted,
    /// Submitted (working at the exchange; may carry fills).
    Working,
    /// PendingCancel, ApiCancelled.
    PendingCancel,
    Filled,
    Cancelled,
    /// An explicit reject (error before the order worked).
    Rejected,
    Inactive,
    /// A read of the broker found no order with this key.
    NotFound,
}

/// One report about an order from the broker (status or execution read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerReport {
    /// Orders reports: larger is newer (report time in ms, or a counter).
    pub seq: u64,
    pub state: BrokerState,
    /// Cumulative filled quantity (contract sets) at the time of the report.
    pub filled: u32,
}

/// Why an order event was refused. The order is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum OrderError {
    #[error("illegal order transition {from} -> {to}")]
    IllegalTransition { from: OrderStatus, to: OrderStatus },
    #[error("filled quantity {filled} exceeds the order quantity {quantity}")]
    Overfill { quantity: u32, filled: u32 },
    #[error("a broker report saying {state:?} cannot carry {filled} filled")]
    InconsistentReport { state: BrokerState, filled: u32 },
    #[error("an order of zero contracts")]
    ZeroQuantity,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Applied {
    /// Status changed (the filled quantity may have grown too).
    Transition { from: OrderStatus, to: OrderStatus },
    /// Only the filled quantity grew.
    Fill { filled: u32 },
    /// Older than the last applied report: ignored, except fills it carries
    /// beyond what is known (reported as `Fill`).
    Stale,
    /// Nothing new.
    Unchanged,
}

/// One order SAS sent (or is sending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The idempotency key (IB `orderRef`).
    pub key: String,
    pub purpose: OrderPurpose,
    /// Contract sets (combo units) ordered.
    pub quantity: u32,
    /// Cumulative filled contract sets; never decreases.
    pub filled: u32,
    pub status: OrderStatus,
    /// Sequence of the newest broker report applied.
    pub last_seq: Option<u64>,
    /// When the send was decided.
    pub created_at: DateTime<Utc>,
}

impl Order {
    /// A new order being sent.
    pub fn new(
        key: impl Into<String>,
        purpose: OrderPurpose,
        quantity: u32,
        created_at: DateTime<Utc>,
    ) -> Result<Order, OrderError> {
        if quantity == 0 {
            return Err(OrderError::ZeroQuantity);
        }
        Ok(Order {
            key: key.into(),
            purpose,
            quantity,
            filled: 0,
            status: OrderStatus::Submitting,
            last_seq: None,
            created_at,
        })
    }

    /// Contract sets not (yet) filled.
    #[must_use]
    pub fn unfilled(&self) -> u32 {
        self.quantity - self.filled
    }

    fn transition(&mut self, to: OrderStatus) -> Result<Applied, OrderError> {
        let from = self.status;
        if from == to {
            return Ok(Applied::Unchanged);
        }
        if !from.can_transition(to) {
            return Err(OrderError::IllegalTransition { from, to });
        }
        self.status = to;
        Ok(Applied::Transition { from, to })
    }

    /// The bridge accepted the order.
    pub fn on_send_accepted(&mut self) -> Result<Applied, OrderError> {
        self.answer_to_send(OrderStatus::Submitted)
    }

    /// Answers to our own send only apply while it is in flight.
    fn answer_to_send(&mut self, to: OrderStatus) -> Result<Applied, OrderError> {
        if self.status == OrderStatus::Submitting {
            self.transition(to)
        } else {
            Err(OrderError::IllegalTransition {
                from: self.status,
                to,
            })
        }
    }

    /// The send's answer was lost (timeout, connection drop): the order may
    /// or may not be at the broker. Only a read of the broker resolves it.
    pub fn on_send_lost(&mut self) -> Result<Applied, OrderError> {
        self.answer_to_send(OrderStatus::Unknown)
    }

    /// The bridge refused the order before it reached the broker.
    pub fn on_send_refused(&mut self) -> Result<Applied, OrderError> {
        self.answer_to_send(OrderStatus::Rejected)
    }

    /// A cancel was sent. Not allowed before the order is known at the
    /// broker (`submitting`, `unknown`) or when it is already terminal.
    pub fn on_cancel_requested(&mut self) -> Result<Applied, OrderError> {
        match self.status {
            OrderStatus::Submitted | OrderStatus::Working | OrderStatus::PartiallyFilled => {
                self.transition(OrderStatus::CancelPending)
            }
            OrderStatus::CancelPending => Ok(Applied::Unchanged),
            from => Err(OrderError::IllegalTransition {
                from,
                to: OrderStatus::CancelPending,
            }),
        }
    }

    /// Applies a broker report. On error the order is unchanged.
    pub fn apply_report(&mut self, r: &BrokerReport) -> Result<Applied, OrderError> {
        if r.filled > self.quantity {
            return Err(OrderError::Overfill {
                quantity: self.quantity,
                filled: r.filled,
            });
        }
        let filled = self.filled.max(r.filled);
        let is_newer = self.last_seq.is_none_or(|s| r.seq > s);
        if !is_newer {
            // Older (or same) report: its status is history. A fill it knows
            // of is still a fact (fills never go away).
            if filled > self.filled {
                return self.apply_fill_only(filled);
            }
            return Ok(Applied::Stale);
        }
        let target = self.target_status(r.state, filled)?;
        let mut next = self.clone();
        next.filled = filled;
        next.last_seq = Some(r.seq);
        let applied = match target {
            Some(to) => next.transition(to)?,
            None => Applied::Unchanged,
        };
        let applied = match applied {
            Applied::Unchanged if filled > self.filled => Applied::Fill { filled },
            a => a,
        };
        *self = next;
        Ok(applied)
    }

    /// A fill learned from an older report or from executions.
    fn apply_fill_only(&mut self, filled: u32) -> Result<Applied, OrderError> {
        let mut next = self.clone();
        next.filled = filled;
        let to = if filled == self.quantity {
            Some(OrderStatus::Filled)
        } else if matches!(self.status, OrderStatus::Working | OrderStatus::Submitted) {
            Some(OrderStatus::PartiallyFilled)
        } else {
            None
        };
        let applied = match to {
            Some(to) => next.transition(to)?,
            None => Applied::Fill { filled },
        };
        *self = next;
        Ok(applied)
    }

    /// Applies the filled quantity counted from de-duplicated executions
    /// (the executions are the truth about fills; status reports can lag).
    pub fn apply_executed(&mut self, filled: u32) -> Result<Applied, OrderError> {
        if filled > self.quantity {
            return Err(OrderError::Overfill {
                quantity: self.quantity,
                filled,
            });
        }
        if filled <= self.filled {
            return Ok(Applied::Unchanged);
        }
        self.apply_fill_only(filled)
    }

    /// The status a newer report moves to (`None`: keep the current one).
    fn target_status(
        &self,
        state: BrokerState,
        filled: u32,
    ) -> Result<Option<OrderStatus>, OrderError> {
        use OrderStatus as S;
        if filled == self.quantity {
            return Ok(Some(S::Filled));
        }
        let partial = filled > 0;
        Ok(Some(match state {
            BrokerState::Filled => {
                return Err(OrderError::InconsistentReport { state, filled });
            }
            BrokerState::Accepted => {
                if partial {
                    S::PartiallyFilled
                } else if matches!(
                    self.status,
                    S::Working | S::PartiallyFilled | S::CancelPending
                ) {
                    // IB can show PreSubmitted again (e.g. outside hours):
                    // the order stays where it is.
                    return Ok(None);
                } else {
                    S::Submitted
                }
            }
            BrokerState::Working => {
                if self.status == S::CancelPending && !partial {
                    // Still working while our cancel is in flight: keep
                    // waiting for the confirmation.
                    return Ok(None);
                }
                if partial {
                    if self.status == S::CancelPending {
                        return Ok(None);
                    }
                    S::PartiallyFilled
                } else {
                    S::Working
                }
            }
            BrokerState::PendingCancel => S::CancelPending,
            BrokerState::Cancelled => S::Cancelled,
            BrokerState::Rejected => {
                if partial {
                    return Err(OrderError::InconsistentReport { state, filled });
                }
                S::Rejected
            }
            BrokerState::Inactive => S::Inactive,
            BrokerState::NotFound => {
                if partial {
                    return Err(OrderError::InconsistentReport { state, filled });
                }
                match self.status {
                    // Never reached the broker: it is safe to call it
                    // rejected (the send is not repeated under the same key).
                    S::Unknown | S::Submitting => S::Rejected,
                    _ => return Ok(None),
                }
            }
        }))
    }
}

/// What to do with an entry order when its proposal expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum EntryExpiryAction {
    /// Not expired yet, or configured to keep working.
    Keep,
    /// Cancel the unfilled remainder (what filled stays a position).
    CancelRemainder { unfilled: u32 },
    /// Its state is unknown: read the broker first, never cancel blind.
    ResolveFirst,
    /// Nothing left to cancel (terminal, or a cancel already pending).
    Nothing,
}

/// Decides whether an entry's unfilled remainder is cancelled at the
/// proposal's expiry (`cancel_at_expiry` is the configured switch).
#[must_use]
pub fn entry_expiry_action(
    order: &Order,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    cancel_at_expiry: bool,
) -> EntryExpiryAction {
    if order.purpose != OrderPurpose::Entry || !cancel_at_expiry || now < expires_at {
        return EntryExpiryAction::Keep;
    }
    match order.status {
        OrderStatus::Submitted | OrderStatus::Working | OrderStatus::PartiallyFilled => {
            EntryExpiryAction::CancelRemainder {
                unfilled: order.unfilled(),
            }
        }
        OrderStatus::Unknown | OrderStatus::Submitting => EntryExpiryAction::ResolveFirst,
        _ => EntryExpiryAction::Nothing,
    }
}
