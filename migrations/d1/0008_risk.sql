-- Issue 11: the risk engine at the edge (docs/risk.md). The trading state
-- (core::risk::TradingState as JSON, with its causes and who/why/when), the
-- strategy switches, and the pre-trade check report of each approval.
-- Every change is written in the same batch as its audit_log rows.
-- Times are Unix milliseconds.

-- One row: the trading state. `version` is the compare-and-set guard between
-- the every-minute evaluation and the trader's actions. It starts `halted`
-- and never evaluated: nothing is approved before the first evaluation.
CREATE TABLE IF NOT EXISTS risk_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- core::risk::TradingState JSON (halts with their stamps, reducing,
  -- exits paused, cooldowns, session high-water mark, stop resets).
  state TEXT NOT NULL DEFAULT '{}',
  -- Derived from `state` (TradingState::mode), kept for SQL guards.
  mode TEXT NOT NULL DEFAULT 'halted' CHECK (mode IN ('active', 'reducing', 'halted')),
  version INTEGER NOT NULL DEFAULT 0,
  -- Last evaluation by the rules that changed the row (NULL: never).
  evaluated_at INTEGER,
  updated_at INTEGER NOT NULL DEFAULT 0,
  updated_by TEXT NOT NULL DEFAULT 'migration'
);

INSERT OR IGNORE INTO risk_state (id) VALUES (1);

-- Disabled (or re-enabled) strategies; a strategy without a row is enabled.
CREATE TABLE IF NOT EXISTS strategy_switches (
  strategy TEXT PRIMARY KEY,
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  reason TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
) WITHOUT ROWID;

-- The pre-trade check report of each approval attempt (every check with its
-- inputs, limit, use and verdict: worker risk::RiskVerdict JSON). Written in
-- the approval's batch when approved, alone when refused.
CREATE TABLE IF NOT EXISTS risk_checks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  proposal_id INTEGER NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
  report TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS risk_checks_proposal ON risk_checks (proposal_id);
