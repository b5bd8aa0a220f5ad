-- Issue 14: IV history from the broker, kept beside SAS's own 30-day ATM IV.
--
-- Write budget (docs/d1-write-budget.md): WITHOUT ROWID, the primary key is
-- the only index. A one-year backfill writes about 250 rows for a symbol,
-- once; afterwards each symbol writes one row per session for IB's close
-- and updates it once with SAS's own close of the day.

-- One row per underlying and New York session date.
CREATE TABLE iv_history (
    symbol     TEXT    NOT NULL,
    date       TEXT    NOT NULL,   -- YYYY-MM-DD (New York session)
    ib_iv      REAL,               -- the bridge's daily IV close (IB OPTION_IMPLIED_VOLATILITY, or the simulator), decimal
    ib_source  TEXT CHECK (ib_source IS NULL OR ib_source IN ('ib', 'sim')),
    own_iv     REAL,               -- SAS's own 30-day ATM IV at the day's newest snapshot (underlying_metrics_daily), decimal
    updated_at INTEGER NOT NULL,   -- Unix ms of the last write
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;

-- One row per underlying: where its IB history stands (backfill, daily
-- append, waiting after a pacing or permission refusal).
CREATE TABLE iv_history_state (
    symbol          TEXT    NOT NULL PRIMARY KEY,
    status          TEXT    NOT NULL
        CHECK (status IN ('pending', 'complete', 'no_options', 'no_permission')),
    backfilled_at   INTEGER,           -- Unix ms of the last full (one-year) fetch that was stored
    last_attempt_at INTEGER NOT NULL,  -- Unix ms of the last bridge request
    next_attempt_at INTEGER NOT NULL,  -- Unix ms before which the symbol is not asked again
    attempts        INTEGER NOT NULL DEFAULT 0,  -- failures in a row (backoff)
    last_error      TEXT               -- why the last attempt stored nothing (NULL after a success)
) WITHOUT ROWID;
