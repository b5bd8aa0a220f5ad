-- Issue 11: the shadow P&L of rejected and expired proposals (docs/performance.md).
-- Chain snapshots are pruned after a few days, so each shadow trade is
-- followed incrementally by the 15-minute cron and its progress and result
-- are kept here: a result survives the pruning of the chains it came from.
-- Times are Unix milliseconds; money in micro-dollars.

CREATE TABLE IF NOT EXISTS shadow_trades (
  proposal_id INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  symbol TEXT NOT NULL,
  strategy TEXT NOT NULL,
  -- What happened to the proposal: 'rejected' or 'expired'.
  decision TEXT NOT NULL CHECK (decision IN ('rejected', 'expired')),
  -- The shadow entry time (when it was rejected or expired).
  decided_at INTEGER NOT NULL,
  units INTEGER NOT NULL,
  -- Net entry price per share at the legs' mid (+ debit, - credit).
  entry_mid REAL,
  -- following: marked each cron; closed: its exit rules fired; ended: its
  -- legs expired or no chain came for too long (result = last mark);
  -- invalid: the proposal cannot be followed (reason in outcome).
  status TEXT NOT NULL CHECK (status IN ('following', 'closed', 'ended', 'invalid')),
  -- The trade as followed (worker risk::shadow::ShadowSpec JSON: legs,
  -- entry prices, exit plan, each leg's half-spread at the proposal).
  spec TEXT NOT NULL,
  -- core::performance::ShadowProgress JSON (exit state, counters, last mark,
  -- newest chain time consumed).
  progress TEXT NOT NULL,
  -- core::performance::ShadowOutcome JSON.
  outcome TEXT NOT NULL,
  -- Flattened from the last trustworthy mark (NULL: never marked).
  mark_at INTEGER,
  value_mid_micros INTEGER,
  value_natural_micros INTEGER,
  pnl_mid_micros INTEGER,
  pnl_natural_micros INTEGER,
  exit_reason TEXT,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS shadow_trades_following ON shadow_trades (status, updated_at);
CREATE INDEX IF NOT EXISTS shadow_trades_decided ON shadow_trades (decided_at);
