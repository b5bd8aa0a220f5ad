-- The position engine's tables (Worker D1 migration 0005), archived like
-- proposals: a few typed columns for queries and the whole D1 row in `row`
-- (so a column the Worker adds later is kept without a migration here).
-- Positions, orders and fills keep every exported version (the Worker
-- exports a row again after each change, keyed by its change time). Kept
-- forever (no partitions).

CREATE TABLE positions (
    id         bigint      NOT NULL,
    updated_at timestamptz NOT NULL,
    key        text        NOT NULL,
    symbol     text        NOT NULL,
    strategy   text        NOT NULL,
    status     text        NOT NULL,
    row        jsonb       NOT NULL,
    PRIMARY KEY (id, updated_at)
);

CREATE TABLE orders (
    id          bigint      NOT NULL,
    updated_at  timestamptz NOT NULL,
    key         text        NOT NULL,
    position_id bigint      NOT NULL,
    purpose     text        NOT NULL,
    status      text        NOT NULL,
    row         jsonb       NOT NULL,
    PRIMARY KEY (id, updated_at)
);
CREATE INDEX orders_position ON orders (position_id);

CREATE TABLE fills (
    id          bigint      NOT NULL,
    changed_at  timestamptz NOT NULL,
    exec_id     text        NOT NULL,
    position_id bigint      NOT NULL,
    time        timestamptz NOT NULL,
    row         jsonb       NOT NULL,
    PRIMARY KEY (id, changed_at)
);
CREATE INDEX fills_position ON fills (position_id);

CREATE TABLE marks (
    position_id bigint      NOT NULL,
    at          timestamptz NOT NULL,
    ok          bigint      NOT NULL,
    row         jsonb       NOT NULL,
    PRIMARY KEY (position_id, at)
);

CREATE TABLE equity_snapshots (
    at  timestamptz PRIMARY KEY,
    row jsonb       NOT NULL
);

CREATE TABLE monitor_runs (
    id         bigint      PRIMARY KEY,
    started_at timestamptz NOT NULL,
    status     text        NOT NULL,
    row        jsonb       NOT NULL
);
