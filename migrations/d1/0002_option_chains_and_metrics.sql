-- Phase 2 schema: option-chain snapshots, per-underlying analytics, daily bars.
--
-- Write budget (docs/d1-write-budget.md): D1 bills every row written, and
-- every secondary index adds one more written row per insert/update/delete.
-- So: every table here is WITHOUT ROWID with its primary key as the only
-- index; chains are packed ONE ROW PER (symbol, snapshot, expiry) with the
-- strikes as a JSON array; daily bars are packed ONE ROW PER SYMBOL.

-- One row per underlying and cron run (intraday history of the analytics).
CREATE TABLE underlying_metrics_intraday (
    symbol           TEXT    NOT NULL,
    ts               INTEGER NOT NULL,   -- chain snapshot time, Unix ms (UTC)
    spot             REAL    NOT NULL,
    atm_iv_30d       REAL,
    iv_rank          REAL,
    iv_percentile    REAL,
    iv_history_days  INTEGER NOT NULL DEFAULT 0,  -- days behind rank/percentile (incl. today)
    rv_20d           REAL,
    skew_25d_30d     REAL,
    gex_per_1pct     REAL,
    dex              REAL,
    contracts_valued INTEGER NOT NULL DEFAULT 0,
    skips_json       TEXT    NOT NULL DEFAULT '{}',  -- {reason_code: count}
    metrics_json     TEXT    NOT NULL,               -- every metric (see core analytics::rows)
    factors_json     TEXT    NOT NULL,               -- score inputs (core score::FactorInputs)
    PRIMARY KEY (symbol, ts)
) WITHOUT ROWID;

-- One row per underlying and New York trading date, upserted by every run of
-- that date (the last run of the session leaves the closing values). The
-- daily ATM IV here is the history behind IV rank / IV percentile.
CREATE TABLE underlying_metrics_daily (
    symbol           TEXT    NOT NULL,
    date             TEXT    NOT NULL,   -- YYYY-MM-DD (New York)
    ts               INTEGER NOT NULL,   -- snapshot time of the stored values, Unix ms
    spot             REAL    NOT NULL,
    atm_iv_30d       REAL,
    iv_rank          REAL,
    iv_percentile    REAL,
    iv_history_days  INTEGER NOT NULL DEFAULT 0,
    rv_20d           REAL,
    skew_25d_30d     REAL,
    gex_per_1pct     REAL,
    dex              REAL,
    contracts_valued INTEGER NOT NULL DEFAULT 0,
    skips_json       TEXT    NOT NULL DEFAULT '{}',
    metrics_json     TEXT    NOT NULL,
    factors_json     TEXT    NOT NULL,
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;

-- One row per underlying, snapshot and expiry; contracts packed as a JSON
-- array of arrays in core's PACKED_CONTRACT_COLUMNS order.
CREATE TABLE chain_snapshots (
    symbol         TEXT    NOT NULL,
    ts             INTEGER NOT NULL,     -- chain snapshot time, Unix ms (UTC)
    expiry         TEXT    NOT NULL,     -- YYYY-MM-DD
    dte            INTEGER NOT NULL,
    forward        REAL    NOT NULL,
    atm_iv         REAL,
    skew_25d       REAL,
    contracts_json TEXT    NOT NULL,
    PRIMARY KEY (symbol, ts, expiry)
) WITHOUT ROWID;

-- Daily OHLCV bars of each underlying, packed: one row per symbol holding
-- the newest bars as a JSON array of [date, open, high, low, close, volume].
-- Rewritten only when a new bar arrives (about once a day per symbol).
CREATE TABLE daily_bars (
    symbol     TEXT    NOT NULL PRIMARY KEY,
    first_date TEXT    NOT NULL,
    last_date  TEXT    NOT NULL,
    bar_count  INTEGER NOT NULL,
    bars_json  TEXT    NOT NULL,
    updated_at INTEGER NOT NULL          -- Unix ms
) WITHOUT ROWID;

-- Per-run accounting of the chain step.
ALTER TABLE ingest_runs ADD COLUMN chain_symbols_ok INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN chain_symbols_failed INTEGER NOT NULL DEFAULT 0;
-- {"SYMBOL": "reason"} for every symbol whose chain step failed (nothing of it written).
ALTER TABLE ingest_runs ADD COLUMN chain_failures TEXT;
-- {"table": rows} written by the run's chain step, plus how they were counted.
ALTER TABLE ingest_runs ADD COLUMN rows_by_table TEXT;
-- {"reason_code": count} of option contracts skipped by the analytics.
ALTER TABLE ingest_runs ADD COLUMN contract_skips TEXT;
-- Wall time of the whole run (quotes + chains + analytics + writes), ms.
ALTER TABLE ingest_runs ADD COLUMN duration_ms INTEGER;
