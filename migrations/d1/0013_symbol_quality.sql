-- Issue 14: the data-quality gate's verdict per symbol, written by the
-- chain step every run (one row per symbol, upserted). `since_ms` is when
-- the symbol entered `state` (kept while the state does not change); read
-- by GET /health (state and since) and shown with the hold reasons.
CREATE TABLE symbol_quality (
  symbol TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('live', 'delayed', 'failing')),
  since_ms INTEGER NOT NULL,
  checked_ms INTEGER NOT NULL,
  reasons_json TEXT NOT NULL DEFAULT '[]',
  dropped_json TEXT NOT NULL DEFAULT '{}',
  input_contracts INTEGER NOT NULL DEFAULT 0,
  kept_contracts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
