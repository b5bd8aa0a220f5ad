-- Issue 8 items 4-5: order states unknown, rejected and abandoned, and the
-- reason of the last order state (order_error). SQLite cannot change a CHECK
-- constraint in place: the proposals table is rebuilt with the same columns
-- (plus order_error) and its rows copied unchanged. Nothing references
-- proposals by foreign key; the audit log is untouched.

CREATE TABLE proposals_new (
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
  -- The Worker's state of the order (docs/approval-workflow.md):
  -- submitting, submitted, submit_failed (definitely not placed),
  -- unknown (answer lost: resolved by key), rejected and abandoned (final).
  order_status TEXT
    CHECK (order_status IS NULL OR order_status IN
      ('submitting', 'submitted', 'submit_failed', 'unknown', 'rejected', 'abandoned')),
  order_id TEXT,
  broker_order_status TEXT,
  order_attempts INTEGER NOT NULL DEFAULT 0,
  order_updated_at INTEGER,
  -- Why the order is in its state (codes only, never bridge message text).
  order_error TEXT,
  CHECK ((status = 'approved') = (order_request IS NOT NULL))
);

INSERT INTO proposals_new (id, idempotency_key, symbol, strategy, status, trade_date, created_at, expires_at, rank, legs, quote_snapshot, analytics_snapshot, score_breakdown, score, entry_mid, entry_natural, max_profit, max_loss, breakevens, probability_of_profit, expected_value, greeks, exit_plan, rationale, contracts, total_max_loss, limit_price, slippage_band, proposal_json, decided_at, decided_by, decision_reason, approved_limit_price, approved_contracts, order_request, order_status, order_id, broker_order_status, order_attempts, order_updated_at)
SELECT id, idempotency_key, symbol, strategy, status, trade_date, created_at, expires_at, rank, legs, quote_snapshot, analytics_snapshot, score_breakdown, score, entry_mid, entry_natural, max_profit, max_loss, breakevens, probability_of_profit, expected_value, greeks, exit_plan, rationale, contracts, total_max_loss, limit_price, slippage_band, proposal_json, decided_at, decided_by, decision_reason, approved_limit_price, approved_contracts, order_request, order_status, order_id, broker_order_status, order_attempts, order_updated_at FROM proposals;

DROP TABLE proposals;
ALTER TABLE proposals_new RENAME TO proposals;

CREATE INDEX IF NOT EXISTS proposals_status_expires ON proposals (status, expires_at);
CREATE INDEX IF NOT EXISTS proposals_trade_date ON proposals (trade_date);
CREATE INDEX IF NOT EXISTS proposals_order_status ON proposals (status, order_status);
