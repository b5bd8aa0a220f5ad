//! The risk engine's SQL run on REAL SQLite (the `sqlite3` shell, as D1
//! runs it) over every D1 migration: the compare-and-set of the state with
//! its kill switch and audit rows (all or nothing), the strategy switch
//! upsert, and every read deserialized into its Rust row type (so a column
//! renamed on either side fails here, not in production).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde::de::DeserializeOwned;

use super::model::*;
use crate::audit::INSERT_AUDIT_IF_CHANGED;
use crate::chains::model::{StoredBarsRow, SELECT_DAILY_BARS};
use crate::positions::model::{
    select_active_orders_sql, select_active_positions_sql, OrderRow, PositionRow,
    ReconciliationRow, SELECT_RECONCILIATION,
};
use crate::settings::{KillSwitchRow, SELECT_KILL_SWITCH};
use crate::test_sqlite::{quote, Sqlite};

/// A literal parameter.
#[derive(Clone)]
enum P {
    I(i64),
    T(&'static str),
    S(String),
    Null,
}

fn inline(sql: &str, params: &[P]) -> String {
    let literals: Vec<String> = params
        .iter()
        .map(|p| match p {
            P::I(n) => n.to_string(),
            P::T(s) => quote(s),
            P::S(s) => quote(s),
            P::Null => "NULL".into(),
        })
        .collect();
    crate::test_sqlite::inline(sql, &literals)
}

/// The shared real-SQLite database, read with this file's parameters.
struct Db(Sqlite);

impl Db {
    fn migrated() -> Self {
        Db(Sqlite::migrated())
    }

    fn exec(&self, script: &str) {
        self.0.exec(script);
    }

    fn batch(&self, statements: &[String]) {
        self.0.batch(statements);
    }

    fn select<T: DeserializeOwned>(&self, sql: &str, params: &[P]) -> Vec<T> {
        self.0.select_as(&inline(sql, params))
    }
}

fn audit(action: &'static str) -> String {
    inline(
        INSERT_AUDIT_IF_CHANGED,
        &[
            P::I(5),
            P::T("api_token"),
            P::T(action),
            P::T("risk_state"),
            P::T("1"),
            P::T("active"),
            P::T("halted"),
            P::T("{}"),
        ],
    )
}

fn audit_count(db: &Db) -> usize {
    #[derive(serde::Deserialize)]
    struct N {
        n: i64,
    }
    let r: Vec<N> = db.select("SELECT COUNT(*) AS n FROM audit_log", &[]);
    usize::try_from(r[0].n).unwrap()
}

#[test]
fn the_state_write_is_all_or_nothing_with_its_kill_switch_and_audit_rows() {
    let db = Db::migrated();
    let before: Vec<RiskStateRow> = db.select(SELECT_STATE, &[]);
    assert_eq!(before[0].version, 0);
    assert_eq!(before[0].mode, "halted", "never evaluated: halted");
    let write = |expected: i64, switch: &'static str| {
        vec![
            inline(
                UPDATE_STATE,
                &[
                    P::T(r#"{"halts":[]}"#),
                    P::T("halted"),
                    P::I(expected),
                    P::I(5),
                    P::T("api_token"),
                    P::Null,
                ],
            ),
            inline(
                SET_KILL_SWITCH_IF_CHANGED,
                &[P::T(switch), P::I(5), P::T("api_token")],
            ),
            audit("risk_state_changed"),
            audit("kill_switch_changed"),
        ]
    };
    db.batch(&write(0, "on"));
    let row: Vec<RiskStateRow> = db.select(SELECT_STATE, &[]);
    assert_eq!(row[0].version, 1);
    assert_eq!(row[0].evaluated_at, None, "kept when NULL");
    let k: Vec<KillSwitchRow> = db.select(SELECT_KILL_SWITCH, &[]);
    assert_eq!(k[0].value, "on");
    assert_eq!(audit_count(&db), 2);
    // A stale version loses: nothing of the batch is applied.
    db.batch(&write(0, "off"));
    let k: Vec<KillSwitchRow> = db.select(SELECT_KILL_SWITCH, &[]);
    assert_eq!(k[0].value, "on");
    assert_eq!(audit_count(&db), 2);
    let row: Vec<RiskStateRow> = db.select(SELECT_STATE, &[]);
    assert_eq!(row[0].version, 1);
}

#[test]
fn a_strategy_switch_is_written_and_audited_only_when_it_changes() {
    let db = Db::migrated();
    let set = |enabled: i64| {
        vec![
            inline(
                SET_SWITCH,
                &[
                    P::T("iron_condor"),
                    P::I(enabled),
                    P::T("why"),
                    P::I(7),
                    P::T("api_token"),
                ],
            ),
            audit("strategy_switched"),
        ]
    };
    // Enabling what was never disabled: nothing.
    db.batch(&set(1));
    assert!(db
        .select::<StrategySwitchRow>(SELECT_SWITCHES, &[])
        .is_empty());
    assert_eq!(audit_count(&db), 0);
    db.batch(&set(0));
    db.batch(&set(0));
    let rows: Vec<StrategySwitchRow> = db.select(SELECT_SWITCHES, &[]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].enabled, 0);
    assert_eq!(audit_count(&db), 1, "the repeated disable is not audited");
    db.batch(&set(1));
    let rows: Vec<StrategySwitchRow> = db.select(SELECT_SWITCHES, &[]);
    assert_eq!(rows[0].enabled, 1);
    assert_eq!(audit_count(&db), 2);
}

const PROPOSAL_COLUMNS: &str = "id, idempotency_key, symbol, strategy, status, trade_date, \
created_at, expires_at, rank, legs, quote_snapshot, analytics_snapshot, entry_mid, entry_natural, \
max_loss, breakevens, probability_of_profit, expected_value, greeks, exit_plan, rationale, \
contracts, total_max_loss, limit_price, slippage_band, proposal_json, order_request, order_status, \
approved_contracts, approved_limit_price";

fn proposal(id: i64, symbol: &str, order_status: &str) -> String {
    format!(
        "INSERT INTO proposals ({PROPOSAL_COLUMNS}) VALUES ({id}, 'k{id}', '{symbol}', \
'long_call', 'approved', '2026-11-17', 1, 9999999999999, 1, '[]', '{{}}', '{{}}', 1.0, 1.1, \
100.0, '[]', 0.5, 1.0, '{{}}', '{{}}', 'r', 1, 100.0, 1.0, 0.05, '{{}}', '{{}}', '{order_status}', \
1, 1.0)"
    )
}

#[test]
fn every_read_runs_and_deserializes_into_its_row() {
    let db = Db::migrated();
    let t = 1_800_000_000_000_i64;
    let mut s = vec![
        proposal(1, "SPY", "submitted"),
        proposal(2, "QQQ", "abandoned"),
        proposal(3, "IWM", "submitted"),
        proposal(4, "AAPL", "submitted"),
    ];
    s.push(
        "INSERT INTO positions (id, key, proposal_id, symbol, strategy, spec, exit_plan, status, \
entry_expires_at, created_at, updated_at) VALUES (1, 'k3', 3, 'IWM', 'long_call', '{}', '{}', \
'open', 0, 0, 0)"
            .into(),
    );
    s.push(format!(
        "INSERT INTO positions (id, key, proposal_id, symbol, strategy, spec, exit_plan, status, \
exit_reason, summary, realized_micros, opened_at, closed_at, entry_expires_at, created_at, updated_at) \
VALUES (2, 'k4', 4, 'AAPL', 'long_call', '{{}}', '{{}}', 'closed', 'stop_loss', '{{}}', -5, {}, {}, 0, 0, 0)",
        t - 5_000,
        t - 1_000
    ));
    s.push(
        "INSERT INTO orders (key, position_id, purpose, quantity, status, limit_micros, \
created_at, updated_at) VALUES ('k3', 1, 'entry', 1, 'filled', 1000000, 0, 0)"
            .into(),
    );
    s.push(
        "INSERT INTO fills (exec_id, position_id, order_key, contract, quantity, price_micros, \
commission_micros, time, recorded_at) VALUES ('e1', 2, 'k4', '{}', 1, 1000000, 1000000, 0, 0)"
            .into(),
    );
    for (at, ok, greeks) in [
        (t - 120_000, 1, "'{\"delta\":1.0}'"),
        (t - 60_000, 0, "NULL"),
    ] {
        s.push(format!(
            "INSERT INTO marks (position_id, at, ok, decision, greeks) VALUES (1, {at}, {ok}, '{{}}', {greeks})"
        ));
    }
    // Snapshots: yesterday, and two today (day start = t - 3,600,000).
    for (at, nl) in [
        (t - 7_200_000, "100000.0"),
        (t - 1_800_000, "101000.0"),
        (t - 60_000, "NULL"),
        (t - 30_000, "99000.0"),
    ] {
        s.push(format!(
            "INSERT INTO equity_snapshots (at, net_liquidation, realized_micros, \
unrealized_mid_micros, open_positions, unmarked_positions) VALUES ({at}, {nl}, 0, 0, 1, 0)"
        ));
    }
    s.push(format!(
        "INSERT INTO monitor_runs (started_at, finished_at, status) VALUES ({}, {}, 'ok')",
        t - 20_000,
        t - 19_000
    ));
    s.push(format!(
        "INSERT INTO monitor_runs (started_at, finished_at, status) VALUES ({}, {}, 'failed')",
        t - 10_000,
        t - 9_000
    ));
    s.push(
        "INSERT INTO daily_bars (symbol, first_date, last_date, bar_count, bars_json, updated_at) \
VALUES ('SPY', '2026-11-16', '2026-11-16', 1, '[]', 0)"
            .into(),
    );
    db.batch(&s);

    let e: Vec<EquityPoints> = db.select(SELECT_EQUITY_POINTS, &[P::I(t - 3_600_000)]);
    assert_eq!(
        e[0],
        EquityPoints {
            last_at: Some(t - 30_000),
            last_nl: Some(99_000.0),
            before_day_nl: Some(100_000.0),
            first_of_day_nl: Some(101_000.0),
            day_high: Some(101_000.0),
        }
    );
    let marks: Vec<OpenMarkRow> = db.select(SELECT_OPEN_MARK_AGES, &[]);
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0].last_ok_at, Some(t - 120_000));
    let ok: Vec<OkMarkRow> = db.select(SELECT_OPEN_OK_MARKS, &[]);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].greeks.as_deref(), Some("{\"delta\":1.0}"));
    #[derive(serde::Deserialize)]
    struct At {
        at: Option<i64>,
    }
    let run: Vec<At> = db.select(SELECT_LAST_OK_RUN, &[]);
    assert_eq!(run[0].at, Some(t - 19_000));
    let stops: Vec<StopOutRow> = db.select(SELECT_STOP_OUTS, &[P::I(t - 10_000)]);
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].symbol, "AAPL");
    let live: Vec<ApprovedRow> = db.select(SELECT_LIVE_APPROVED, &[]);
    let symbols: Vec<&str> = live.iter().map(|r| r.symbol.as_str()).collect();
    // SPY: sent, no position; IWM: open position. QQQ abandoned, AAPL closed.
    assert_eq!(symbols, vec!["SPY", "IWM"]);
    assert_eq!(live[1].position_status.as_deref(), Some("open"));
    let _: Vec<PositionRow> = db.select(&select_active_positions_sql(), &[]);
    let orders: Vec<OrderRow> = db.select(&select_active_orders_sql(), &[]);
    assert_eq!(orders.len(), 1);
    let _: Vec<ReconciliationRow> = db.select(SELECT_RECONCILIATION, &[]);
    let closed: Vec<ClosedTradeRow> =
        db.select(SELECT_CLOSED_TRADES, &[P::I(0), P::I(t), P::I(10)]);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].approved_limit_price, Some(1.0));
    let fills: Vec<TradeFillRow> = db.select(SELECT_FILLS_OF, &[P::S("[2]".into())]);
    assert_eq!(fills.len(), 1);
    let bars: Vec<StoredBarsRow> =
        db.select(SELECT_DAILY_BARS, &[P::S("[\"SPY\",\"QQQ\"]".into())]);
    assert_eq!(bars.len(), 1);
    let days: Vec<DailyEquityRow> = db.select(SELECT_DAILY_EQUITY, &[P::I(0), P::I(t + 1)]);
    // 2027-01-15 08:00 UTC is outside 13-21 UTC: no trading-day close.
    assert!(days.is_empty(), "{days:?}");
    // A risk check row inserts.
    db.exec(&format!(
        "{};",
        inline(
            INSERT_RISK_CHECK,
            &[P::I(1), P::I(t), P::T("api_token"), P::I(0), P::T("{}")]
        )
    ));
    // The approval guard parses in a WHERE clause.
    let _: Vec<At> = db.select(&format!("SELECT 1 AS at WHERE {APPROVE_GUARD}"), &[]);
}

#[test]
fn the_exit_mark_the_exits_pause_and_the_shadow_trades_run_on_sqlite() {
    use super::shadow::{
        select_following_sql, select_shadows_sql, CandidateRow, ChainRow, ShadowRow, INSERT_SHADOW,
        SELECT_CHAIN_AFTER, SELECT_NEW_CANDIDATES, UPDATE_SHADOW,
    };
    let db = Db::migrated();
    let t = 1_800_000_000_000_i64;
    #[derive(serde::Deserialize)]
    struct Paused {
        paused: i64,
    }
    let paused = |db: &Db| db.select::<Paused>(SELECT_EXITS_PAUSED, &[])[0].paused;
    // The migration's '{}' and a stored null: not paused; a stamp: paused.
    assert_eq!(paused(&db), 0);
    db.exec("UPDATE risk_state SET state = '{\"exits_paused\":null}';");
    assert_eq!(paused(&db), 0);
    db.exec(
        "UPDATE risk_state SET state = '{\"exits_paused\":{\"by\":{\"trader\":\"x\"},\"reason\":\"r\",\"at\":\"2026-11-17T15:00:00Z\"}}';",
    );
    assert_eq!(paused(&db), 1);

    // The mark that triggered a closed position's exit, from its newest
    // exit_triggered audit row.
    let mut s = vec![proposal(4, "AAPL", "submitted")];
    s.push(format!(
        "INSERT INTO positions (id, key, proposal_id, symbol, strategy, spec, exit_plan, status, \
exit_reason, summary, realized_micros, opened_at, closed_at, entry_expires_at, created_at, updated_at) \
VALUES (2, 'k4', 4, 'AAPL', 'long_call', '{{}}', '{{}}', 'closed', 'take_profit', '{{}}', 5, {}, {}, 0, 0, 0)",
        t - 5_000,
        t - 1_000
    ));
    for (value, entity) in [(1.0, "2"), (250.5, "2"), (9.0, "3")] {
        s.push(format!(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, details) VALUES \
({t}, 'system:monitor', 'exit_triggered', 'position', '{entity}', \
'{{\"mark\":{{\"value_mid\":{value}}}}}')"
        ));
    }
    // Rejected and expired proposals to shadow; a pending one is not.
    s.push(proposal(5, "SPY", "submitted"));
    s.push(proposal(6, "SPY", "submitted"));
    s.push(proposal(7, "SPY", "submitted"));
    s.push(
        "UPDATE proposals SET status = 'rejected', decided_at = 1000, order_request = NULL, \
order_status = NULL, approved_contracts = NULL, approved_limit_price = NULL WHERE id = 5"
            .into(),
    );
    s.push(
        "UPDATE proposals SET status = 'expired', order_request = NULL, order_status = NULL, \
approved_contracts = NULL, approved_limit_price = NULL WHERE id = 6"
            .into(),
    );
    s.push(
        "UPDATE proposals SET status = 'pending', order_request = NULL, order_status = NULL, \
approved_contracts = NULL, approved_limit_price = NULL WHERE id = 7"
            .into(),
    );
    for (ts, expiry) in [
        (10, "2026-12-18"),
        (20, "2026-12-18"),
        (20, "2027-01-15"),
        (30, "2026-11-20"),
    ] {
        s.push(format!(
            "INSERT INTO chain_snapshots (symbol, ts, expiry, dte, forward, contracts_json) \
VALUES ('SPY', {ts}, '{expiry}', 30, 600.0, '[]')"
        ));
    }
    db.batch(&s);
    let closed: Vec<ClosedTradeRow> =
        db.select(SELECT_CLOSED_TRADES, &[P::I(0), P::I(t), P::I(10)]);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].exit_mark_value_mid, Some(250.5));

    let c: Vec<CandidateRow> = db.select(SELECT_NEW_CANDIDATES, &[P::I(10)]);
    let ids: Vec<i64> = c.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![5, 6]);
    assert_eq!(c[0].decided_at, Some(1000));
    assert_eq!(c[0].status, "rejected");
    let insert = |id: i64, status: &'static str, decided: i64| {
        inline(
            INSERT_SHADOW,
            &[
                P::I(id),
                P::S(format!("k{id}")),
                P::T("SPY"),
                P::T("long_call"),
                P::T(if id == 5 { "rejected" } else { "expired" }),
                P::I(decided),
                P::I(1),
                P::Null,
                P::T(status),
                P::T("{}"),
                P::T("{}"),
                P::T("{}"),
                P::Null,
                P::I(decided),
            ],
        )
    };
    db.batch(&[
        insert(5, "following", 1000),
        insert(6, "invalid", 2000),
        insert(5, "invalid", 1),
    ]);
    let c: Vec<CandidateRow> = db.select(SELECT_NEW_CANDIDATES, &[P::I(10)]);
    assert!(c.is_empty(), "taken up once");
    let f: Vec<ShadowRow> = db.select(&select_following_sql(), &[P::I(10)]);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].proposal_id, f[0].entry_mid), (5, None));
    let chains: Vec<ChainRow> = db.select(
        SELECT_CHAIN_AFTER,
        &[
            P::T("SPY"),
            P::T("[\"2026-12-18\",\"2027-01-15\"]"),
            P::I(10),
            P::I(100),
        ],
    );
    let keys: Vec<(i64, &str)> = chains.iter().map(|r| (r.ts, r.expiry.as_str())).collect();
    assert_eq!(keys, vec![(20, "2026-12-18"), (20, "2027-01-15")]);
    db.exec(&format!(
        "{};",
        inline(
            UPDATE_SHADOW,
            &[
                P::I(5),
                P::T("closed"),
                P::T("{\"marks_used\":1}"),
                P::T("{}"),
                P::I(20),
                P::I(-60_000_000),
                P::I(-64_000_000),
                P::I(60_000_000),
                P::I(56_000_000),
                P::T("take_profit"),
                P::I(3000),
            ]
        )
    ));
    let all: Vec<ShadowRow> = db.select(&select_shadows_sql(), &[P::I(0), P::I(5000), P::I(10)]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, "closed");
    assert_eq!(all[0].pnl_natural_micros, Some(56_000_000));
    assert_eq!(all[0].exit_reason.as_deref(), Some("take_profit"));
    assert!(db
        .select::<ShadowRow>(&select_following_sql(), &[P::I(10)])
        .is_empty());
}
