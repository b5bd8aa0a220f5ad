-- Issue 10: the position engine (docs/positions.md). Every order SAS sends
-- (entries and exits), the fills read back from the broker, one position per
-- approved trade, its marks, equity snapshots, the monitor's runs and the
-- reconciliation state. Money columns ending in _micros are exact integer
-- micro-dollars (core::money::Money); times are Unix milliseconds.

CREATE TABLE IF NOT EXISTS positions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  -- The entry's idempotency key (IB orderRef); closing orders derive theirs
  -- from it (core::portfolio::closing_key).
  key TEXT NOT NULL UNIQUE,
  proposal_id INTEGER NOT NULL UNIQUE,
  symbol TEXT NOT NULL,
  strategy TEXT NOT NULL,
  -- core::portfolio::PositionSpec (legs with signed ratios, units) and
  -- core::strategy::ExitPlan, as JSON.
  spec TEXT NOT NULL,
  exit_plan TEXT NOT NULL,
  -- pending: entry sent, nothing filled; open; closed: flat again;
  -- void: the entry ended without any fill.
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'open', 'closed', 'void')),
  -- Set once when an exit fires (or the trader asks): the position is
  -- closing until flat.
  exit_reason TEXT,
  exit_requested_at INTEGER,
  exit_requested_by TEXT,
  -- The trader paused this position's automated exits.
  exits_paused INTEGER NOT NULL DEFAULT 0 CHECK (exits_paused IN (0, 1)),
  -- core::portfolio::ExitState (stop confirmations, peak P&L).
  exit_state TEXT NOT NULL DEFAULT '{}',
  -- The position as last computed from its fills (core::portfolio::Position).
  summary TEXT,
  -- Realized P&L to date, commissions included (unrealized P&L is on the
  -- newest mark: the position row changes only when the position does).
  realized_micros INTEGER NOT NULL DEFAULT 0,
  -- When the proposal expires: what stays unfilled of the entry is then
  -- cancelled (CANCEL_ENTRY_AT_EXPIRY).
  entry_expires_at INTEGER NOT NULL,
  opened_at INTEGER,
  closed_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS positions_status ON positions (status);

CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  position_id INTEGER NOT NULL REFERENCES positions (id),
  purpose TEXT NOT NULL CHECK (purpose IN ('entry', 'exit')),
  -- Closing attempt number (exits).
  attempt INTEGER,
  exit_reason TEXT,
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  filled INTEGER NOT NULL DEFAULT 0 CHECK (filled >= 0 AND filled <= quantity),
  -- core::orders::OrderStatus.
  status TEXT NOT NULL CHECK (status IN ('submitting', 'submitted', 'working',
    'partially_filled', 'cancel_pending', 'unknown', 'filled', 'cancelled', 'rejected', 'inactive')),
  -- Signed limit per share of one combo unit (positive debit, negative credit).
  limit_micros INTEGER NOT NULL,
  -- The exact POST /orders body (exits; an entry's is on its proposal).
  request TEXT,
  broker_order_id TEXT,
  broker_status TEXT,
  last_seq INTEGER,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS orders_position ON orders (position_id);
-- Never two live closing orders for one position, whatever races.
CREATE UNIQUE INDEX IF NOT EXISTS orders_one_live_exit ON orders (position_id)
  WHERE purpose = 'exit' AND status IN ('submitting', 'submitted', 'working',
    'partially_filled', 'cancel_pending', 'unknown');

CREATE TABLE IF NOT EXISTS fills (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  -- The broker's execution id: a replayed fill is the same row.
  exec_id TEXT NOT NULL UNIQUE,
  position_id INTEGER NOT NULL REFERENCES positions (id),
  order_key TEXT NOT NULL,
  -- core::portfolio::ContractId JSON.
  contract TEXT NOT NULL,
  -- Signed: positive bought, negative sold.
  quantity INTEGER NOT NULL CHECK (quantity != 0),
  price_micros INTEGER NOT NULL,
  -- NULL until the broker's commission report arrived.
  commission_micros INTEGER,
  time INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS fills_position ON fills (position_id);

-- Every mark of an open position (trustworthy or refused with its reason);
-- compacted to one per position and day once closed. Keyed by (position,
-- time) WITHOUT ROWID: one b-tree, so a mark costs one written row (the
-- monitor writes one per open position per minute; docs/d1-write-budget.md).
CREATE TABLE IF NOT EXISTS marks (
  position_id INTEGER NOT NULL REFERENCES positions (id),
  at INTEGER NOT NULL,
  ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
  value_mid_micros INTEGER,
  value_natural_micros INTEGER,
  unrealized_mid_micros INTEGER,
  unrealized_natural_micros INTEGER,
  realized_micros INTEGER,
  pnl_per_unit_micros INTEGER,
  -- core::portfolio::ExitDecision JSON (a refusal carries its reason).
  decision TEXT NOT NULL,
  greeks TEXT,
  dte INTEGER,
  PRIMARY KEY (position_id, at)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS equity_snapshots (
  -- Unix ms of the monitor run (one run at a time): the row's key.
  at INTEGER PRIMARY KEY,
  -- From the bridge's account; NULL when it could not be read.
  net_liquidation REAL,
  realized_micros INTEGER NOT NULL,
  unrealized_mid_micros INTEGER NOT NULL,
  open_positions INTEGER NOT NULL,
  unmarked_positions INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS monitor_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped')),
  positions INTEGER NOT NULL DEFAULT 0,
  marks_ok INTEGER NOT NULL DEFAULT 0,
  marks_rejected INTEGER NOT NULL DEFAULT 0,
  orders_placed INTEGER NOT NULL DEFAULT 0,
  cancels INTEGER NOT NULL DEFAULT 0,
  rows_written INTEGER NOT NULL DEFAULT 0,
  error TEXT
);

-- One row: the last comparison of SAS's open legs with the broker's
-- positions. A drift stands while `drifts` is not empty and its fingerprint
-- was not acknowledged; it stops new entries and pauses the exits of the
-- positions it touches.
CREATE TABLE IF NOT EXISTS reconciliation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER,
  drifts TEXT NOT NULL DEFAULT '[]',
  fingerprint TEXT,
  -- 1 once the same fingerprint was seen on two consecutive runs (a fill
  -- landing between the reads of executions and positions is not a drift).
  confirmed INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),
  since INTEGER,
  acknowledged_fingerprint TEXT,
  acknowledged_at INTEGER,
  acknowledged_by TEXT
);

INSERT OR IGNORE INTO reconciliation (id) VALUES (1);
