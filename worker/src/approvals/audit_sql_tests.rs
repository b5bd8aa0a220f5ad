//! `GET /audit`'s SQL on REAL SQLite (every D1 migration applied), checked
//! against the approvals' in-memory audit store the workflow tests use: the same entries,
//! every filter and their combinations, the same ids in the same order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_executor::block_on;
use serde_json::json;

use super::memory::MemoryStore;
use crate::audit::store::AuditStore;
use crate::audit::{AuditAction as A, AuditEntry, AuditQuery, INSERT_AUDIT, SELECT_AUDIT};
use crate::test_sqlite::{inline, quote, Sqlite};

fn entry(
    action: A,
    entity: &'static str,
    id: Option<&str>,
    details: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        at: 1_700_000_000_000,
        actor: "system:cron".into(),
        action,
        entity,
        entity_id: id.map(str::to_owned),
        from_state: None,
        to_state: None,
        details,
    }
}

fn entries() -> Vec<AuditEntry> {
    vec![
        entry(A::ProposalCreated, "proposal", Some("1"), json!({})),
        entry(
            A::ProposalApproved,
            "proposal",
            Some("1"),
            json!({ "limit_price": 1.25 }),
        ),
        entry(
            A::PositionTracked,
            "position",
            Some("1"),
            json!({ "proposal_id": 1 }),
        ),
        // A position's order and fills name it in their details.
        entry(
            A::OrderStateChanged,
            "order",
            Some("KEY:x0"),
            json!({ "position_id": 1 }),
        ),
        entry(
            A::FillsRecorded,
            "position",
            Some("1"),
            json!({ "fills": 2 }),
        ),
        entry(A::ProposalCreated, "proposal", Some("2"), json!({})),
        entry(
            A::PositionTracked,
            "position",
            Some("2"),
            json!({ "proposal_id": 2 }),
        ),
        // A position id written as text is the same position.
        entry(
            A::OrderStateChanged,
            "order",
            Some("KEY2:x0"),
            json!({ "position_id": "2" }),
        ),
        entry(
            A::ExitTriggered,
            "position",
            Some("1"),
            json!({ "reason": "stop_loss" }),
        ),
        entry(
            A::KillSwitchChanged,
            "setting",
            Some("kill_switch"),
            json!({ "on": true }),
        ),
        // The proposal with id 1 is not the position with id 1.
        entry(A::RiskStateChanged, "risk", None, json!({ "proposal": 1 })),
    ]
}

fn sql_ids(db: &Sqlite, q: &AuditQuery) -> Vec<i64> {
    let text = |v: Option<i64>| v.map_or("NULL".to_owned(), |n| quote(&n.to_string()));
    let sql = inline(
        SELECT_AUDIT,
        &[
            q.limit.to_string(),
            text(q.proposal),
            text(q.position),
            q.action.map_or("NULL".to_owned(), |a| quote(a.as_str())),
            q.before.map_or("NULL".to_owned(), |b| b.to_string()),
        ],
    );
    db.select(&sql)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

fn memory_ids(store: &MemoryStore, q: &AuditQuery) -> Vec<i64> {
    block_on(store.audit_log(q))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

#[test]
fn every_audit_filter_reads_the_same_entries_from_d1_sql_and_from_memory() {
    let db = Sqlite::migrated();
    let store = MemoryStore::new();
    for e in entries() {
        let sql = inline(
            INSERT_AUDIT,
            &[
                e.at.to_string(),
                quote(&e.actor),
                quote(e.action.as_str()),
                quote(e.entity),
                e.entity_id.as_deref().map_or("NULL".to_owned(), quote),
                "NULL".into(),
                "NULL".into(),
                quote(&e.details.to_string()),
            ],
        );
        db.exec(&format!("{sql};"));
        block_on(store.append_audit(&e)).unwrap();
    }
    let q = |proposal, position, action, before, limit| AuditQuery {
        limit,
        proposal,
        position,
        action,
        before,
    };
    let cases: Vec<(AuditQuery, Vec<i64>)> = vec![
        (q(None, None, None, None, 100), (1..=11).rev().collect()),
        (q(None, None, None, None, 3), vec![11, 10, 9]),
        (q(None, None, None, Some(9), 3), vec![8, 7, 6]),
        (q(Some(1), None, None, None, 100), vec![2, 1]),
        (q(None, Some(1), None, None, 100), vec![9, 5, 4, 3]),
        (q(None, Some(2), None, None, 100), vec![8, 7]),
        (
            q(None, None, Some(A::PositionTracked), None, 100),
            vec![7, 3],
        ),
        (q(None, Some(1), Some(A::ExitTriggered), None, 100), vec![9]),
        (
            q(Some(2), None, Some(A::ProposalApproved), None, 100),
            vec![],
        ),
        (q(None, Some(1), None, Some(5), 100), vec![4, 3]),
        (q(None, Some(3), None, None, 100), vec![]),
    ];
    for (query, want) in cases {
        assert_eq!(sql_ids(&db, &query), want, "SQL {query:?}");
        assert_eq!(memory_ids(&store, &query), want, "memory {query:?}");
    }
}

#[test]
fn a_row_whose_details_are_not_json_does_not_break_the_position_filter() {
    let db = Sqlite::migrated();
    db.exec(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, details) \
         VALUES (1, 'x', 'order_state_changed', 'order', 'K', 'not json'), \
         (2, 'x', 'fills_recorded', 'position', '5', '{}');",
    );
    let q = AuditQuery {
        limit: 10,
        proposal: None,
        position: Some(5),
        action: None,
        before: None,
    };
    assert_eq!(sql_ids(&db, &q), vec![2]);
}
