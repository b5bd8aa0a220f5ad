-- Alerts (issue 15, docs/alerts.md): the outbox, one delivery per channel,
-- and the state of each alerting condition.
-- Times are Unix milliseconds (INTEGER); JSON columns hold TEXT.

-- The outbox: one row per event, written in the same D1 batch as the change
-- it reports. The event key is unique: the same event reported twice (a
-- retried cron step, a Worker restart) is stored, and therefore sent, once.
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  -- 1 = sent without sound (the event's setting was `silent`).
  silent INTEGER NOT NULL DEFAULT 0 CHECK (silent IN (0, 1)),
  -- 1 = a condition that cleared.
  resolved INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
  -- The whole sas_core::alerts::Alert (title, body, link, at_ms...).
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS alerts_created_at ON alerts (created_at);

-- One row per alert and channel configured when it was enqueued.
-- pending -> sending (claimed, attempts + 1, next_attempt_at = lease end)
--   -> delivered | retrying (next_attempt_at = backoff / retry_after)
--   | failed (permanent refusal or attempts used up).
-- A `sending` row whose lease ran out (the sender died) is due again: that
-- resend is what makes delivery at-least-once.
CREATE TABLE IF NOT EXISTS alert_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  channel TEXT NOT NULL
    CHECK (channel IN ('ntfy', 'telegram', 'discord', 'slack', 'webhook')),
  state TEXT NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'sending', 'retrying', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at INTEGER NOT NULL,
  -- Time of the last send (the per-channel rate cap counts these).
  last_attempt_at INTEGER,
  last_status INTEGER,
  last_error TEXT,
  delivered_at INTEGER,
  updated_at INTEGER NOT NULL,
  UNIQUE (alert_id, channel)
);

-- The sender's query: due rows by time.
CREATE INDEX IF NOT EXISTS alert_deliveries_due
  ON alert_deliveries (state, next_attempt_at);
-- The rate cap's query: sends of the last minute.
CREATE INDEX IF NOT EXISTS alert_deliveries_last_attempt
  ON alert_deliveries (last_attempt_at);

-- One row per condition (kind + subject): raised once when it starts,
-- resolved once when it clears (sas_core::alerts::condition). Written with a
-- compare-and-set on `version` in the same batch as its alert.
CREATE TABLE IF NOT EXISTS alert_conditions (
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  active INTEGER NOT NULL CHECK (active IN (0, 1)),
  since_ms INTEGER NOT NULL,
  observed_ms INTEGER NOT NULL,
  detail TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  PRIMARY KEY (kind, subject)
) WITHOUT ROWID;
