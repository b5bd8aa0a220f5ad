-- Issue 13: the Postgres archive (docs/archive.md). The Worker exports its
-- tables in the order of a monotonic export key; the home-side archiver
-- acknowledges what Postgres holds; with an archiver configured
-- (ARCHIVE_TOKEN) pruning deletes only acknowledged rows.

-- One row per exported table: the newest acknowledged cursor, and its key
-- split into columns so the prune statements can compare row values with it
-- (`(ts, symbol) <= (SELECT k1, k2 FROM archive_acks WHERE ...)`). Unused
-- key parts hold '' (so a row-value comparison never meets NULL). k2 and k3
-- have no type affinity: an integer id and a text symbol compare as stored.
CREATE TABLE IF NOT EXISTS archive_acks (
  table_name TEXT PRIMARY KEY,
  through TEXT NOT NULL,
  k1 INTEGER NOT NULL,
  k2 NOT NULL DEFAULT '',
  k3 NOT NULL DEFAULT '',
  acked_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Export order of the time-keyed tables: (ts, ...) ascending from a cursor.
-- Without these, every page would sort the whole table (their primary keys
-- start with symbol). One more written row per insert on these tables
-- (about 100 rows per cron run for a 10-name watchlist).
CREATE INDEX IF NOT EXISTS market_data_export ON market_data (ts, symbol);
CREATE INDEX IF NOT EXISTS chain_snapshots_export ON chain_snapshots (ts, symbol, expiry);
CREATE INDEX IF NOT EXISTS underlying_metrics_intraday_export
  ON underlying_metrics_intraday (ts, symbol);

-- Proposals change after insert (decisions, order states), so they are
-- exported by a change key: updated_at (Unix ms), set by every statement
-- that inserts or changes a proposal, inside the writing transaction, to
-- MAX(now, newest updated_at + 1). D1 runs writes one at a time, so the key
-- is strictly increasing in commit order: a change made after a cursor was
-- handed out always sorts after it, with no settle window.
ALTER TABLE proposals ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;

UPDATE proposals SET updated_at = MAX(created_at, COALESCE(decided_at, 0),
  COALESCE(order_updated_at, 0));

CREATE INDEX IF NOT EXISTS proposals_updated_at ON proposals (updated_at, id);

-- No trigger keeps it: every statement that writes a proposal sets it
-- (worker/src/approvals/model.rs `next_proposal_updated_at!`, and
-- INSERT_PROPOSAL). A trigger's own UPDATE changed the `changes` D1 reports
-- for the statement, and the approval's compare-and-set reads it.

-- Fills (migration 0005) change once after insert: the commission learned
-- later. They are exported by (changed_at, id), changed_at kept strictly
-- increasing in commit order by the triggers below (the same rule as
-- proposals.updated_at; no compare-and-set reads a fill's `changes`)
-- (one more written row per fill insert and per commission update). The
-- position engine's positions and orders need no trigger: every statement
-- that changes them sets updated_at.
ALTER TABLE fills ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;

UPDATE fills SET changed_at = recorded_at;

CREATE TRIGGER IF NOT EXISTS fills_changed_at_insert AFTER INSERT ON fills
BEGIN
  UPDATE fills SET changed_at = MAX(
      CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER),
      (SELECT COALESCE(MAX(changed_at), 0) FROM fills) + 1)
    WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS fills_changed_at_update AFTER UPDATE ON fills
WHEN NEW.changed_at = OLD.changed_at
BEGIN
  UPDATE fills SET changed_at = MAX(
      CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER),
      (SELECT COALESCE(MAX(changed_at), 0) FROM fills) + 1)
    WHERE id = NEW.id;
END;
