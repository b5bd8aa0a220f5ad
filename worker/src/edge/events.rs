//! Runtime adapter of the events (issue 14): the [`EventsStore`] over D1,
//! `GET /events` / `PUT /events`, the dividend step of the 15-minute cron,
//! and the calendars generation reads. The workflows are
//! [`crate::events::service`], tested natively; this file only binds their
//! SQL and logs.

use std::result::Result as StdResult;

use chrono::NaiveDate;
use sas_core::market::Symbol;
use sas_core::strategy::EventCalendar;
use worker::{console_error, D1Database, D1Type, Request, Response};

use super::proposals::FetchBridge;
use super::{d1, error_response, json_response, now, read_body};
use crate::audit::{actor_label, AuditEntry, INSERT_AUDIT};
use crate::auth::Principal;
use crate::config::Config;
use crate::events::model::{
    DividendRow, EarningsDate, EarningsRow, DELETE_EARNINGS, INSERT_EARNINGS, SELECT_DIVIDENDS,
    SELECT_EARNINGS, UPSERT_DIVIDEND_FAILURE, UPSERT_DIVIDEND_SUCCESS,
};
use crate::events::service;
use crate::events::store::{DividendFailure, DividendWrite, EventsStore};
use crate::events::EventsError;
use crate::http::events::{events_error, parse_put, EventsRoute};
use crate::store::StoreError;

/// The events store over D1.
pub struct D1Events<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn real(x: Option<f64>) -> D1Type<'static> {
    x.map_or(D1Type::Null, D1Type::Real)
}

impl EventsStore for D1Events<'_> {
    async fn earnings(&self, from: &str) -> StdResult<Vec<EarningsRow>, StoreError> {
        d1::rows(self.0, SELECT_EARNINGS, &[d1::text(from)])
            .await
            .map_err(d1_err)
    }

    async fn dividends(&self) -> StdResult<Vec<DividendRow>, StoreError> {
        d1::rows(self.0, SELECT_DIVIDENDS, &[])
            .await
            .map_err(d1_err)
    }

    async fn change_earnings(
        &self,
        add: &[EarningsDate],
        remove: &[EarningsDate],
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> StdResult<(), StoreError> {
        let db = self.0;
        let mut statements = Vec::with_capacity(add.len() + remove.len() + 1);
        for a in add {
            let (symbol, date) = (a.symbol.to_string(), a.date.to_string());
            statements.push(d1::statement(
                db,
                INSERT_EARNINGS,
                &[
                    d1::text(&symbol),
                    d1::text(&date),
                    d1::opt_text(a.note.as_deref()),
                    d1::millis(at_ms),
                    d1::text(actor),
                ],
            ));
        }
        for r in remove {
            let (symbol, date) = (r.symbol.to_string(), r.date.to_string());
            statements.push(d1::statement(
                db,
                DELETE_EARNINGS,
                &[d1::text(&symbol), d1::text(&date)],
            ));
        }
        let details = audit.details_json();
        statements.push(d1::statement(
            db,
            INSERT_AUDIT,
            &[
                d1::millis(audit.at),
                d1::text(&audit.actor),
                d1::text(audit.action.as_str()),
                d1::text(audit.entity),
                d1::opt_text(audit.entity_id.as_deref()),
                d1::opt_text(audit.from_state.as_deref()),
                d1::opt_text(audit.to_state.as_deref()),
                d1::text(&details),
            ],
        ));
        let statements = statements
            .into_iter()
            .collect::<worker::Result<Vec<_>>>()
            .map_err(d1_err)?;
        // One batch: one transaction, the dates and their audit row or nothing.
        db.batch(statements).await.map_err(d1_err)?;
        Ok(())
    }

    async fn save_dividend(&self, w: &DividendWrite) -> StdResult<(), StoreError> {
        d1::statement(
            self.0,
            UPSERT_DIVIDEND_SUCCESS,
            &[
                d1::text(&w.symbol),
                d1::millis(w.now_ms),
                d1::millis(w.next_attempt_at),
                d1::opt_text(w.next_ex_date.as_deref()),
                real(w.next_amount),
                real(Some(w.past_12m)),
                real(Some(w.next_12m)),
                d1::text(&w.source),
            ],
        )
        .map_err(d1_err)?
        .run()
        .await
        .map_err(d1_err)?;
        Ok(())
    }

    async fn record_dividend_failure(&self, w: &DividendFailure) -> StdResult<(), StoreError> {
        d1::statement(
            self.0,
            UPSERT_DIVIDEND_FAILURE,
            &[
                d1::text(&w.symbol),
                d1::millis(w.now_ms),
                d1::millis(w.next_attempt_at),
                d1::text(&w.error),
            ],
        )
        .map_err(d1_err)?
        .run()
        .await
        .map_err(d1_err)?;
        Ok(())
    }
}

fn answer<T: serde::Serialize>(context: &str, r: StdResult<T, EventsError>) -> Response {
    match r {
        Ok(v) => json_response(200, &v),
        Err(e) => {
            if matches!(e, EventsError::Store(_)) {
                console_error!(
                    "{}",
                    serde_json::json!({ "event": "internal_error", "context": context, "error": e.to_string() })
                );
            }
            error_response(&events_error(&e))
        }
    }
}

/// Serves `GET /events` and `PUT /events`.
pub async fn handle(
    route: EventsRoute,
    req: &mut Request,
    db: &D1Database,
    principal: &Principal,
) -> Response {
    let store = D1Events(db);
    match route {
        EventsRoute::List { symbol } => answer(
            "events_list",
            service::list(&store, symbol.as_ref(), now()).await,
        ),
        EventsRoute::Change => match read_body(req).await.and_then(|b| parse_put(&b)) {
            Err(e) => error_response(&e),
            Ok(body) => answer(
                "events_change",
                service::change(&store, &body, &actor_label(principal), now()).await,
            ),
        },
    }
}

/// The dividend step of the 15-minute cron: at most
/// `EVENTS_DIVIDENDS_PER_RUN` bridge reads. Logs one JSON line; never fails
/// the run.
pub async fn cron_step(db: &D1Database, cfg: &Config, clock: super::RunClock) {
    let started = now();
    let report = service::cron_step(
        &D1Events(db),
        &FetchBridge(cfg),
        &cfg.watchlist,
        &cfg.events,
        cfg.bridge_timeout_ms,
        clock.now(),
    )
    .await;
    let ms = (now() - started).num_milliseconds();
    if matches!(&report, Ok(r) if r.fetches.is_empty() && r.deferred.is_empty()) {
        return; // nothing was due: no line
    }
    super::log_step("events_dividends", ms, &report, |r| {
        r.fetches.iter().any(|f| f.error.is_some())
    });
}

/// The event calendars of `symbols` from `from` on, for generation.
pub async fn calendars(
    db: &D1Database,
    symbols: &[Symbol],
    from: NaiveDate,
) -> StdResult<Vec<(Symbol, EventCalendar)>, StoreError> {
    service::calendars(&D1Events(db), symbols, from)
        .await
        .map_err(|e| match e {
            EventsError::Store(s) => s,
            EventsError::Invalid(m) => StoreError(m),
        })
}
