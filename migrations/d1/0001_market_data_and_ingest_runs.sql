-- Phase 1 schema: quote snapshots and the ingestion log.
--
-- market_data holds one row per (symbol, quote timestamp). The primary key is
-- the only index: every extra index costs one more written row per insert
-- (D1 bills rows written), and all queries either filter by symbol (key
-- prefix) or scan the small table (pruning).

CREATE TABLE market_data (
    symbol    TEXT    NOT NULL,
    ts        INTEGER NOT NULL,          -- quote time, Unix milliseconds (UTC)
    bid       REAL,
    ask       REAL,
    last      REAL,
    volume    INTEGER,                   -- cumulative session volume
    data_type TEXT    NOT NULL,          -- live | frozen | delayed | delayed_frozen | simulated
    PRIMARY KEY (symbol, ts)
) WITHOUT ROWID;

CREATE TABLE ingest_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger        TEXT    NOT NULL CHECK (trigger IN ('cron', 'manual')),
    started_at     TEXT    NOT NULL,     -- RFC 3339 UTC
    finished_at    TEXT,                 -- RFC 3339 UTC
    status         TEXT    NOT NULL CHECK (status IN ('ok', 'partial', 'failed', 'skipped')),
    symbols_ok     INTEGER NOT NULL DEFAULT 0,
    symbols_failed INTEGER NOT NULL DEFAULT 0,
    rows_written   INTEGER NOT NULL DEFAULT 0,
    error          TEXT
);
