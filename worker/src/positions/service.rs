//! The positions API's workflows over a [`PositionStore`]: lists and
//! details with the newest marks, the trader's close (same machinery as an
//! automated exit: the next monitor run places the closing order), pausing
//! a position's exits, P&L, and acknowledging a reconciliation drift.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sas_core::portfolio::{ExitState, Position};
use sas_core::strategy::ExitPlan;

use super::model::{millis_to_utc, PositionRow, PositionState};
use super::store::PositionStore;
use super::view::{
    dollars, ny_date, EquityPoint, ExitProgress, FillView, LegView, MarkView, MonitorRunView,
    OrderView, PnlDay, PnlView, PositionDetail, PositionView, ReconciliationView,
};
use super::PositionsError;
use crate::audit::{AuditAction, AuditEntry};

/// Marks returned with one position.
pub const DETAIL_MARKS: u32 = 500;
/// Equity snapshots returned by `/pnl` at most.
pub const MAX_EQUITY_POINTS: u32 = 5_000;

/// Positions of a status (`None`: pending, open and recent ones of every
/// status, newest first) with their newest marks.
pub async fn list(
    store: &impl PositionStore,
    status: Option<PositionState>,
    limit: u32,
) -> Result<Vec<PositionView>, PositionsError> {
    let rows = store
        .positions(status.map(PositionState::as_str), limit)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let marks = store.latest_marks(&ids).await?;
    let by_position: BTreeMap<i64, _> = marks.iter().map(|m| (m.position_id, m)).collect();
    Ok(rows
        .iter()
        .map(|r| PositionView::new(r, by_position.get(&r.id).copied()))
        .collect())
}

async fn load(store: &impl PositionStore, id: i64) -> Result<PositionRow, PositionsError> {
    store
        .position(id)
        .await?
        .ok_or(PositionsError::NotFound(id))
}

/// `GET /positions/{id}`.
pub async fn detail(
    store: &impl PositionStore,
    id: i64,
    now: DateTime<Utc>,
    stop_confirmations: u32,
) -> Result<PositionDetail, PositionsError> {
    let row = load(store, id).await?;
    let orders = store.orders_of(id).await?;
    let fills = store.fills_of(id).await?;
    let marks = store.marks_of(id, DETAIL_MARKS).await?;
    let recon = store.reconciliation().await?;
    let summary: Option<Position> = row
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let plan: Option<ExitPlan> = serde_json::from_str(&row.exit_plan).ok();
    let state: ExitState = serde_json::from_str(&row.exit_state).unwrap_or_default();
    let newest_ok = marks.iter().find(|m| m.ok == 1);
    let progress = plan.as_ref().map(|p| {
        ExitProgress::new(
            p,
            &state,
            newest_ok.and_then(|m| m.pnl_per_unit_micros).map(dollars),
            ny_date(now),
            stop_confirmations,
        )
    });
    let legs = summary
        .as_ref()
        .map(|p| {
            p.legs
                .iter()
                .map(|l| LegView {
                    contract: l.contract.clone(),
                    description: l.contract.to_string(),
                    ratio: l.ratio,
                    quantity: l.quantity,
                    average_price: {
                        #[allow(clippy::cast_precision_loss)]
                        let px = l.average_price().micros() as f64 / 1_000_000.0;
                        px
                    },
                    commissions: dollars(l.commissions.micros()),
                })
                .collect()
        })
        .unwrap_or_default();
    let paused_by_drift = recon.standing()
        && recon
            .drifts()
            .iter()
            .any(|d| d.positions.contains(&row.key));
    Ok(PositionDetail {
        position: PositionView::new(&row, marks.first()),
        legs,
        exit_plan: serde_json::from_str(&row.exit_plan).unwrap_or(serde_json::Value::Null),
        progress,
        paused_by_drift,
        orders: orders.iter().map(OrderView::from).collect(),
        fills: fills.iter().map(FillView::from).collect(),
        marks: marks.iter().map(MarkView::from).collect(),
    })
}

/// `POST /positions/{id}/close`: the position becomes `closing` with reason
/// `manual`; the monitor's next run places the closing order (walking from
/// mid toward natural like any exit). 409 unless open and not closing.
pub async fn request_close(
    store: &impl PositionStore,
    id: i64,
    actor: &str,
    note: Option<&str>,
    now_ms: i64,
) -> Result<PositionView, PositionsError> {
    let row = load(store, id).await?;
    let refuse = |row: &PositionRow| PositionsError::Conflict {
        code: if row.exit_reason.is_some() {
            "already_closing"
        } else {
            "not_open"
        },
        message: format!(
            "position {id} is {}{}: it cannot be closed now",
            row.status,
            row.exit_reason
                .as_deref()
                .map(|r| format!(" (closing: {r})"))
                .unwrap_or_default()
        ),
        position: Box::new(PositionView::new(row, None)),
    };
    if row.status != "open" || row.exit_reason.is_some() {
        return Err(refuse(&row));
    }
    let entry = AuditEntry::about(
        "position",
        id,
        now_ms,
        actor,
        AuditAction::CloseRequested,
        Some("open"),
        Some("closing"),
        serde_json::json!({ "key": row.key, "note": note }),
    );
    if store.request_close(id, now_ms, actor, &entry).await? {
        let row = load(store, id).await?;
        Ok(PositionView::new(&row, None))
    } else {
        let row = load(store, id).await?;
        Err(refuse(&row))
    }
}

/// `POST /positions/{id}/exits`: pauses or resumes the automated exits.
pub async fn set_exits_paused(
    store: &impl PositionStore,
    id: i64,
    paused: bool,
    actor: &str,
    reason: &str,
    now_ms: i64,
) -> Result<PositionView, PositionsError> {
    let row = load(store, id).await?;
    let word = |p: bool| if p { "paused" } else { "running" };
    let entry = AuditEntry::about(
        "position",
        id,
        now_ms,
        actor,
        AuditAction::ExitsPauseChanged,
        Some(word(row.exits_paused != 0)),
        Some(word(paused)),
        serde_json::json!({ "key": row.key, "reason": reason }),
    );
    store.set_exits_paused(id, paused, now_ms, &entry).await?;
    let row = load(store, id).await?;
    Ok(PositionView::new(&row, None))
}

/// `GET /pnl?days=`: totals over every position (realized) and the newest
/// marks of the open ones (unrealized), realized by New York day of close,
/// and the equity snapshots of the period.
pub async fn pnl(
    store: &impl PositionStore,
    days: u32,
    now: DateTime<Utc>,
) -> Result<PnlView, PositionsError> {
    let rows = store.positions(None, 10_000).await?;
    let open_ids: Vec<i64> = rows
        .iter()
        .filter(|r| r.status == "open")
        .map(|r| r.id)
        .collect();
    let marks = store.latest_marks(&open_ids).await?;
    let since = now - Duration::days(i64::from(days));
    let mut realized = 0i64;
    let mut commissions = 0i64;
    let mut by_day: BTreeMap<chrono::NaiveDate, (i64, u32)> = BTreeMap::new();
    for r in &rows {
        realized += r.realized_micros;
        if let Some(p) = r
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str::<Position>(s).ok())
        {
            commissions += p.commissions.micros();
        }
        if let (Some(closed), "closed") = (r.closed_at, r.status.as_str()) {
            let at = millis_to_utc(closed);
            if at >= since {
                let e = by_day.entry(ny_date(at)).or_default();
                e.0 += r.realized_micros;
                e.1 += 1;
            }
        }
    }
    let (mut um, mut un, mut unmarked) = (0i64, 0i64, 0u32);
    for id in &open_ids {
        match marks.iter().find(|m| m.position_id == *id && m.ok == 1) {
            Some(m) => {
                um += m.unrealized_mid_micros.unwrap_or(0);
                un += m.unrealized_natural_micros.unwrap_or(0);
            }
            None => unmarked += 1,
        }
    }
    let equity = store
        .equity(since.timestamp_millis(), MAX_EQUITY_POINTS)
        .await?;
    Ok(PnlView {
        realized: dollars(realized),
        unrealized_mid: dollars(um),
        unrealized_natural: dollars(un),
        total_mid: dollars(realized + um),
        commissions: dollars(commissions),
        open_positions: u32::try_from(open_ids.len()).unwrap_or(u32::MAX),
        unmarked_positions: unmarked,
        by_day: by_day
            .into_iter()
            .map(|(date, (r, n))| PnlDay {
                date,
                realized: dollars(r),
                positions_closed: n,
            })
            .collect(),
        equity: equity.iter().map(EquityPoint::from).collect(),
    })
}

/// `GET /orders?limit=`.
pub async fn orders(
    store: &impl PositionStore,
    limit: u32,
) -> Result<Vec<OrderView>, PositionsError> {
    Ok(store
        .orders(limit)
        .await?
        .iter()
        .map(OrderView::from)
        .collect())
}

/// `GET /monitor/runs?limit=`.
pub async fn runs(
    store: &impl PositionStore,
    limit: u32,
) -> Result<Vec<MonitorRunView>, PositionsError> {
    Ok(store
        .runs(limit)
        .await?
        .iter()
        .map(MonitorRunView::from)
        .collect())
}

/// `GET /reconciliation`.
pub async fn reconciliation(
    store: &impl PositionStore,
) -> Result<ReconciliationView, PositionsError> {
    Ok(ReconciliationView::from(&store.reconciliation().await?))
}

/// `POST /reconciliation/ack`: acknowledges the drift whose fingerprint
/// the trader saw (409 when it is not the current one or nothing stands).
pub async fn acknowledge(
    store: &impl PositionStore,
    fingerprint: &str,
    actor: &str,
    note: &str,
    now_ms: i64,
) -> Result<ReconciliationView, PositionsError> {
    let current = store.reconciliation().await?;
    let conflict = |message: String, r: &super::model::ReconciliationRow| {
        PositionsError::ReconciliationConflict {
            message,
            state: Box::new(ReconciliationView::from(r)),
        }
    };
    if current.fingerprint.as_deref() != Some(fingerprint) {
        return Err(conflict(
            "that drift is not the current one (the books changed since): read /reconciliation again".into(),
            &current,
        ));
    }
    if current.acknowledged_fingerprint.as_deref() == Some(fingerprint) {
        return Err(conflict(
            "that drift is already acknowledged".into(),
            &current,
        ));
    }
    let entry = AuditEntry::about(
        "reconciliation",
        1,
        now_ms,
        actor,
        AuditAction::DriftAcknowledged,
        Some("drift"),
        Some("acknowledged"),
        serde_json::json!({ "fingerprint": fingerprint, "note": note, "drifts": current.drifts() }),
    );
    if !store
        .ack_reconciliation(fingerprint, now_ms, actor, &entry)
        .await?
    {
        let now_row = store.reconciliation().await?;
        return Err(conflict(
            "the drift changed while acknowledging".into(),
            &now_row,
        ));
    }
    Ok(ReconciliationView::from(&store.reconciliation().await?))
}
