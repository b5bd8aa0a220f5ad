-- Home-side archive of the Worker's D1 (docs/archive.md, issue 13).
-- Column names are the D1 names; times become timestamptz (UTC), JSON text
-- becomes jsonb. High-volume tables are range-partitioned by month on ts; the
-- archiver creates the partitions it needs (and 3 months ahead) and drops
-- whole months older than the retention (default 24). The others are plain
-- and kept forever.

CREATE TABLE market_data (
    symbol    text        NOT NULL,
    ts        timestamptz NOT NULL,
    bid       double precision,
    ask       double precision,
    last      double precision,
    volume    bigint,
    data_type text        NOT NULL,
    PRIMARY KEY (symbol, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE chain_snapshots (
    symbol         text        NOT NULL,
    ts             timestamptz NOT NULL,
    expiry         date        NOT NULL,
    dte            integer     NOT NULL,
    forward        double precision NOT NULL,
    atm_iv         double precision,
    skew_25d       double precision,
    contracts_json jsonb       NOT NULL,
    PRIMARY KEY (symbol, ts, expiry)
) PARTITION BY RANGE (ts);

CREATE TABLE underlying_metrics_intraday (
    symbol           text        NOT NULL,
    ts               timestamptz NOT NULL,
    spot             double precision NOT NULL,
    atm_iv_30d       double precision,
    iv_rank          double precision,
    iv_percentile    double precision,
    iv_history_days  integer     NOT NULL,
    rv_20d           double precision,
    skew_25d_30d     double precision,
    gex_per_1pct     double precision,
    dex              double precision,
    contracts_valued integer     NOT NULL,
    skips_json       jsonb       NOT NULL,
    metrics_json     jsonb       NOT NULL,
    factors_json     jsonb       NOT NULL,
    PRIMARY KEY (symbol, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE ingest_runs (
    id                   bigint      PRIMARY KEY,
    trigger              text        NOT NULL,
    started_at           timestamptz NOT NULL,
    finished_at          timestamptz,
    status               text        NOT NULL,
    symbols_ok           bigint      NOT NULL,
    symbols_failed       bigint      NOT NULL,
    rows_written         bigint      NOT NULL,
    error                text,
    chain_symbols_ok     bigint,
    chain_symbols_failed bigint,
    chain_failures       jsonb,
    rows_by_table        jsonb,
    contract_skips       jsonb,
    duration_ms          bigint
);

CREATE TABLE audit_log (
    id         bigint      PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    entity     text        NOT NULL,
    entity_id  text,
    from_state text,
    to_state   text,
    details    jsonb       NOT NULL
);

-- Every exported version of a proposal (the Worker exports a proposal again
-- after each update, keyed by its updated_at): the decision history. The
-- whole D1 row is kept in `row`; the columns beside it are for queries.
CREATE TABLE proposals (
    id           bigint      NOT NULL,
    updated_at   timestamptz NOT NULL,
    symbol       text        NOT NULL,
    strategy     text        NOT NULL,
    status       text        NOT NULL,
    trade_date   date        NOT NULL,
    created_at   timestamptz NOT NULL,
    order_status text,
    row          jsonb       NOT NULL,
    PRIMARY KEY (id, updated_at)
);
CREATE INDEX proposals_trade_date ON proposals (trade_date);

-- One row per exported table: the cursor of the last committed page, written
-- in the same transaction as that page's rows.
CREATE TABLE archive_watermarks (
    table_name      text        PRIMARY KEY,
    cursor          text        NOT NULL,
    archived_rows   bigint      NOT NULL DEFAULT 0,
    pages           bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    acked_cursor    text,
    acked_at        timestamptz
);

-- The last error of each table (written outside the data transactions).
CREATE TABLE archive_errors (
    table_name text        PRIMARY KEY,
    error      text,
    at         timestamptz NOT NULL DEFAULT now()
);
