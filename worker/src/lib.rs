//! SAS Worker: the edge half of SAS.
//!
//! Every 15 minutes the cron pulls the watchlist's quotes from the home broker
//! bridge and stores them in D1; the fetch handler serves the JSON API (health,
//! broker proxy, ingestion runs, stored market data, ranked opportunities); the
//! static dashboard in `web/dist` is served by Workers static assets.
//!
//! Layers, dependencies pointing one way (docs/architecture.md): [`config`]
//! (depends on nothing) ← leaves ([`auth`], [`access`], [`store`], [`order_answers`],
//! [`bridge`]) ← features, each split into model (rows, SQL), service (the
//! workflow over a store trait and the [`bridge::Bridge`], clock passed in)
//! and view (JSON): [`audit`], [`settings`], [`ingest`], [`chains`],
//! [`opportunities`], [`proposals`], [`approvals`] ← [`http`] (the one route
//! table, the gate, errors and replies) ← `edge` (the runtime: env, D1,
//! fetch, clock). Everything but `edge` is natively tested.

pub mod access;
pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod bridge;
pub mod chains;
pub mod config;
mod edge;
pub mod events;
pub mod export;
pub mod http;
pub mod ingest;
pub mod iv_history;
pub mod metrics;
pub mod opportunities;
pub mod order_answers;
pub mod positions;
pub mod proposals;
pub mod risk;
pub mod settings;
pub mod store;
#[cfg(test)]
mod test_sqlite;
pub mod views;

use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(edge::handle(req, env).await)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    edge::scheduled(env, &event.cron(), event.schedule()).await;
}
