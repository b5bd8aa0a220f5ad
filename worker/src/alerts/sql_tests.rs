//! The watch's SQL and the in-batch "new proposals" alert on real SQLite
//! over every D1 migration ([`crate::test_sqlite`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sas_core::alerts::{AlertEvent, AlertSettings, ChannelKind};

use super::model::{new_proposals_statements, Param, Statement, SELECT_ALERT_EXISTS};
use super::watch::{
    DailyFigures, DataTypeRow, WatchedOrderRow, SELECT_DAILY_FIGURES, SELECT_LATEST_DATA_TYPES,
    SELECT_WATCHED_ORDERS,
};
use crate::test_sqlite::{quote, Sqlite};

fn inline(st: &Statement) -> String {
    let literals: Vec<String> = st
        .params
        .iter()
        .map(|p| match p {
            Param::Text(t) => quote(t),
            Param::Int(n) => n.to_string(),
            Param::Null => "NULL".to_owned(),
        })
        .collect();
    crate::test_sqlite::inline(st.sql, &literals)
}

fn q(sql: &'static str, params: Vec<Param>) -> String {
    inline(&Statement { sql, params })
}

fn position(db: &Sqlite, id: i64, status: &str, realized: i64, closed_at: Option<i64>) {
    db.exec(&format!(
        "INSERT INTO positions (id, key, proposal_id, symbol, strategy, spec, exit_plan, status, \
realized_micros, entry_expires_at, closed_at, created_at, updated_at) VALUES ({id}, 'pos-{id}', \
{id}0, 'SPY', 'put_credit_spread', '{{}}', '{{}}', '{status}', {realized}, 0, {}, 0, 0);",
        closed_at.map_or("NULL".to_owned(), |c| c.to_string())
    ));
}

fn order(db: &Sqlite, key: &str, position: i64, status: &str, created: i64, error: Option<&str>) {
    db.exec(&format!(
        "INSERT INTO orders (key, position_id, purpose, quantity, status, limit_micros, error, \
created_at, updated_at) VALUES ('{key}', {position}, 'entry', 1, '{status}', -1000000, {}, \
{created}, {created});",
        error.map_or("NULL".to_owned(), quote)
    ));
}

#[test]
fn watched_orders_and_daily_figures_read_as_the_rules_expect() {
    let db = Sqlite::migrated();
    let day = 1_796_000_000_000_i64;
    position(&db, 1, "open", 0, None);
    position(&db, 2, "closed", 62_500_000, Some(day + 1_000));
    position(&db, 3, "closed", 10_000_000, Some(day - 86_400_000));
    order(&db, "o-working", 1, "working", day, None);
    order(&db, "o-filled", 2, "filled", day, None);
    order(&db, "o-rej-new", 1, "rejected", day + 5, Some("IB 201"));
    order(&db, "o-rej-old", 1, "rejected", day - 100, None);
    db.exec(&format!(
        "INSERT INTO fills (exec_id, position_id, order_key, contract, quantity, price_micros, time, recorded_at) VALUES \
('e1', 2, 'o-filled', '{{}}', 1, 1000000, {day}, {day}), ('e2', 2, 'o-filled', '{{}}', 1, 1000000, {day}, {day}), \
('e3', 1, 'o-old', '{{}}', 1, 1000000, {}, 0);",
        day - 86_400_000
    ));
    db.exec(&format!(
        "INSERT INTO marks (position_id, at, ok, unrealized_mid_micros, decision) VALUES \
(1, {day}, 1, -5000000, '{{}}'), (1, {}, 1, -12000000, '{{}}'), (1, {}, 0, 99000000, '{{}}');",
        day + 60_000,
        day + 120_000
    ));

    let rows: Vec<WatchedOrderRow> = db.select_as(&q(SELECT_WATCHED_ORDERS, vec![Param::Int(day)]));
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["o-working", "o-rej-new"]);
    assert_eq!(rows[0].summary, "SPY put_credit_spread");
    assert_eq!(rows[0].proposal_id, 10);
    assert_eq!(rows[1].error.as_deref(), Some("IB 201"));

    let f: Vec<DailyFigures> = db.select_as(&q(
        SELECT_DAILY_FIGURES,
        vec![Param::Int(day - 1_000), Param::Int(day + 86_000_000)],
    ));
    assert_eq!(
        f[0],
        DailyFigures {
            realized_micros: 62_500_000,
            // The newest trustworthy mark (a refused one does not count).
            unrealized_micros: -12_000_000,
            trades: 1,
            open_positions: 1,
            pending_proposals: 0,
            working_orders: 1,
        }
    );
}

#[test]
fn latest_data_type_per_symbol() {
    let db = Sqlite::migrated();
    db.exec(
        "INSERT INTO market_data (symbol, ts, bid, ask, last, volume, data_type) VALUES \
('SPY', 100, 1, 1, 1, 1, 'live'), ('SPY', 200, 1, 1, 1, 1, 'delayed'), \
('QQQ', 150, 1, 1, 1, 1, 'live'), ('IWM', 10, 1, 1, 1, 1, 'delayed');",
    );
    let rows: Vec<DataTypeRow> = db.select_as(&q(SELECT_LATEST_DATA_TYPES, vec![Param::Int(50)]));
    assert_eq!(
        rows,
        vec![
            DataTypeRow {
                symbol: "QQQ".into(),
                data_type: "live".into()
            },
            DataTypeRow {
                symbol: "SPY".into(),
                data_type: "delayed".into()
            },
        ]
    );
}

fn proposal(db: &Sqlite, key: &str, created_at: i64) {
    db.exec(&format!(
        "INSERT INTO proposals (idempotency_key, symbol, strategy, status, trade_date, created_at, \
expires_at, rank, legs, quote_snapshot, analytics_snapshot, entry_mid, entry_natural, max_loss, \
breakevens, probability_of_profit, expected_value, greeks, exit_plan, rationale, contracts, \
total_max_loss, limit_price, slippage_band, proposal_json) VALUES ('{key}', 'SPY', \
'put_credit_spread', 'pending', '2026-12-01', {created_at}, {}, 1, '[]', '{{}}', '{{}}', 1, 1, 1, \
'[]', 0.5, 1, '{{}}', '{{}}', 'r', 1, 1, 1, 0.1, '{{}}') ON CONFLICT (idempotency_key) DO NOTHING;",
        created_at + 3_600_000
    ));
}

#[test]
fn the_new_proposals_alert_is_stored_only_when_the_batch_stored_one() {
    let db = Sqlite::migrated();
    let alert_for = |batch: i64| {
        AlertEvent::ProposalsBatch {
            trading_date: "2026-12-01".into(),
            batch: batch.to_string(),
            count: 2,
            best_id: None,
            best_summary: "SPY".into(),
        }
        .to_alert(batch, &AlertSettings::default())
        .unwrap()
    };
    let keys = vec!["k1".to_owned(), "k2".to_owned()];
    let run = |batch: i64| {
        let sts = new_proposals_statements(
            &alert_for(batch),
            &[ChannelKind::Webhook, ChannelKind::Ntfy],
            batch,
            &keys,
            batch,
        );
        let script: Vec<String> = sts.iter().map(|s| format!("{};", inline(s))).collect();
        db.exec(&script.join("\n"));
    };
    let count = |sql: &str| db.scalar(sql);
    // The first run stores both proposals and the alert with 2 deliveries.
    proposal(&db, "k1", 1_000);
    proposal(&db, "k2", 1_000);
    run(1_000);
    assert_eq!(count("SELECT COUNT(*) FROM alerts"), 1);
    assert_eq!(count("SELECT COUNT(*) FROM alert_deliveries"), 2);
    // Replayed (same run): the same key, nothing new.
    run(1_000);
    assert_eq!(count("SELECT COUNT(*) FROM alert_deliveries"), 2);
    // A later run that only finds the same trades (duplicates): no alert.
    proposal(&db, "k1", 2_000);
    proposal(&db, "k2", 2_000);
    run(2_000);
    assert_eq!(count("SELECT COUNT(*) FROM alerts"), 1);
    // One new among duplicates: alerted.
    proposal(&db, "k3", 3_000);
    let sts = new_proposals_statements(
        &alert_for(3_000),
        &[ChannelKind::Webhook],
        3_000,
        &["k1".to_owned(), "k3".to_owned()],
        3_000,
    );
    let script: Vec<String> = sts.iter().map(|s| format!("{};", inline(s))).collect();
    db.exec(&script.join("\n"));
    assert_eq!(count("SELECT COUNT(*) FROM alerts"), 2);
    let exists = |key: &str| count(&q(SELECT_ALERT_EXISTS, vec![Param::Text(key.into())]));
    assert_eq!(exists("proposals:2026-12-01:3000"), 1);
    assert_eq!(exists("proposals:2026-12-01:2000"), 0);
}
