-- Phase 2: trade proposals, their approval workflow, the append-only audit
-- log and the settings row holding the kill switch.
-- Times are Unix milliseconds (INTEGER); JSON columns hold TEXT.

CREATE TABLE IF NOT EXISTS proposals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  -- Deterministic key from core::strategy::idempotency_key. It travels
  -- unchanged to the bridge (POST /orders idempotency_key) and becomes the
  -- IB orderRef: the same proposal can never place a second order.
  idempotency_key TEXT NOT NULL UNIQUE,
  symbol TEXT NOT NULL,
  strategy TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
  trade_date TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  legs TEXT NOT NULL,
  quote_snapshot TEXT NOT NULL,
  analytics_snapshot TEXT NOT NULL,
  score_breakdown TEXT,
  score REAL,
  entry_mid REAL NOT NULL,
  entry_natural REAL NOT NULL,
  max_profit REAL,
  max_loss REAL NOT NULL,
  breakevens TEXT NOT NULL,
  probability_of_profit REAL NOT NULL,
  expected_value REAL NOT NULL,
  greeks TEXT NOT NULL,
  exit_plan TEXT NOT NULL,
  rationale TEXT NOT NULL,
  contracts INTEGER NOT NULL CHECK (contracts > 0),
  total_max_loss REAL NOT NULL,
  limit_price REAL NOT NULL,
  slippage_band REAL NOT NULL,
  -- The whole core::strategy::Proposal, re-read at approval for re-pricing.
  proposal_json TEXT NOT NULL,
  decided_at INTEGER,
  decided_by TEXT,
  decision_reason TEXT,
  -- Re-priced numbers the approval was given at.
  approved_limit_price REAL,
  approved_contracts INTEGER,
  -- The exact POST /orders body, written in the same update as the approval
  -- and re-sent byte for byte on every retry.
  order_request TEXT,
  order_status TEXT
    CHECK (order_status IS NULL OR order_status IN ('submitting', 'submitted', 'submit_failed')),
  order_id TEXT,
  broker_order_status TEXT,
  order_attempts INTEGER NOT NULL DEFAULT 0,
  order_updated_at INTEGER,
  CHECK ((status = 'approved') = (order_request IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS proposals_status_expires ON proposals (status, expires_at);
CREATE INDEX IF NOT EXISTS proposals_trade_date ON proposals (trade_date);

CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  entity TEXT NOT NULL,
  entity_id TEXT,
  from_state TEXT,
  to_state TEXT,
  details TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS audit_log_entity ON audit_log (entity, entity_id);

-- Append-only: rows can be added, never changed or removed.
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);

-- The kill switch starts OFF; while 'on', no proposal is generated, approved
-- or sent to the bridge.
INSERT OR IGNORE INTO settings (key, value, updated_at, updated_by)
VALUES ('kill_switch', 'off', 0, 'migration');
