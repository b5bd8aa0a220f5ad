-- Events the strategy engine's rule "no trade spans an event" uses
-- (docs/events.md): earnings dates the trader enters by hand (PUT /events,
-- each change audited in the same batch), and the broker's next ex-dividend
-- date and amount per underlying (IB's dividends tick through the bridge's
-- GET /events/dividends), refreshed at most daily by the 15-minute cron.

CREATE TABLE IF NOT EXISTS earnings_events (
  symbol TEXT NOT NULL,
  -- YYYY-MM-DD (exchange date)
  date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
  note TEXT,
  added_at INTEGER NOT NULL,
  added_by TEXT NOT NULL,
  PRIMARY KEY (symbol, date)
) WITHOUT ROWID;

-- One row per underlying: the newest answer of the bridge (the last good
-- values stay when a refresh fails; error says why).
CREATE TABLE IF NOT EXISTS dividend_events (
  symbol TEXT PRIMARY KEY,
  -- Unix ms of the last attempt, and when the next one is due.
  checked_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  -- The last good answer (NULL dates/amounts: no dividend known).
  fetched_at INTEGER,
  next_ex_date TEXT,
  next_amount REAL,
  past_12m REAL,
  next_12m REAL,
  -- 'ib' or 'sim'.
  source TEXT,
  error TEXT
) WITHOUT ROWID;
