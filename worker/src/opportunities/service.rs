//! The reads of `/market/latest`, `/market/history`, `/symbols/{s}/metrics`,
//! `/symbols/{s}/chain` and `/search/opportunities` over an
//! [`OpportunityStore`], with the request time passed in. Each returns its
//! body or a typed [`ReadError`] (`http::reads` maps it to a reply).

use chrono::{DateTime, Duration, Utc};
use sas_core::market::Symbol;

use super::model::{ChainExpiryRow, LatestMetricsRow, MetricsInterval, MetricsRow};
use super::ranking::opportunities;
use super::view::{
    chain_view, history as history_view, latest as latest_view, symbol_metrics as metrics_view,
    ChainView, History, Latest, RankedOpportunities, SymbolMetrics,
};
use crate::chains::trading_date;
use crate::config::Config;
use crate::store::{HistoryRow, LatestRow, SnapshotRow, StoreError};

/// Where the reads find stored market data and analytics (D1 in
/// `edge::opportunities`, an in-memory fake in the tests). `symbols_json` is
/// a JSON array of symbols (the watchlist, in order).
#[allow(async_fn_in_trait)]
pub trait OpportunityStore {
    /// `store::SELECT_LATEST`.
    async fn latest(&self, symbols_json: &str) -> Result<Vec<LatestRow>, StoreError>;
    /// `store::SELECT_HISTORY`.
    async fn history(&self, symbol: &Symbol, since_ms: i64) -> Result<Vec<HistoryRow>, StoreError>;
    /// `store::SELECT_SNAPSHOTS_PACKED`, unpacked.
    async fn snapshots(
        &self,
        symbols_json: &str,
        since_ms: i64,
    ) -> Result<Vec<SnapshotRow>, StoreError>;
    /// [`super::SELECT_LATEST_METRICS`].
    async fn latest_metrics(
        &self,
        symbols_json: &str,
        since_ms: i64,
    ) -> Result<Vec<LatestMetricsRow>, StoreError>;
    /// [`super::SELECT_METRICS_DAILY`] (`from`: `YYYY-MM-DD`).
    async fn metrics_daily(
        &self,
        symbol: &Symbol,
        from: &str,
    ) -> Result<Vec<MetricsRow>, StoreError>;
    /// [`super::SELECT_METRICS_INTRADAY`].
    async fn metrics_intraday(
        &self,
        symbol: &Symbol,
        since_ms: i64,
    ) -> Result<Vec<MetricsRow>, StoreError>;
    /// [`super::SELECT_SYMBOL_KNOWN`]: anything ever stored for `symbol`.
    async fn symbol_known(&self, symbol: &Symbol) -> Result<bool, StoreError>;
    /// [`super::SELECT_LATEST_CHAIN`].
    async fn latest_chain(&self, symbol: &Symbol) -> Result<Vec<ChainExpiryRow>, StoreError>;
    /// [`super::SELECT_SPOT_AT`].
    async fn spot_at(&self, symbol: &Symbol, ts: i64) -> Result<Option<f64>, StoreError>;
}

/// Why a read gave no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not on the watchlist and nothing stored for it (404 `unknown_symbol`).
    #[error("{0} is not on the watchlist and has no stored analytics")]
    UnknownSymbol(Symbol),
    /// Known, but no chain snapshot stored yet (404 `no_snapshot`).
    #[error("no option-chain snapshot is stored for {0} yet")]
    NoSnapshot(Symbol),
    /// The store failed (500, logged with `context`).
    #[error("{context}: {source}")]
    Store {
        context: &'static str,
        source: StoreError,
    },
    /// Stored rows that cannot be shown (500).
    #[error("{0}: stored rows could not be read")]
    Unreadable(&'static str),
}

fn store_err(context: &'static str) -> impl Fn(StoreError) -> ReadError {
    move |source| ReadError::Store { context, source }
}

fn watchlist_json(cfg: &Config) -> String {
    let names: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

/// `GET /market/latest`.
pub async fn latest(store: &impl OpportunityStore, cfg: &Config) -> Result<Latest, ReadError> {
    let rows = store
        .latest(&watchlist_json(cfg))
        .await
        .map_err(store_err("market latest"))?;
    Ok(latest_view(rows))
}

/// `GET /market/history`.
pub async fn history(
    store: &impl OpportunityStore,
    symbol: &Symbol,
    days: u32,
    started: DateTime<Utc>,
) -> Result<History, ReadError> {
    let since = started - Duration::days(i64::from(days));
    let rows = store
        .history(symbol, since.timestamp_millis())
        .await
        .map_err(store_err("market history"))?;
    Ok(history_view(symbol, rows))
}

async fn is_known(
    store: &impl OpportunityStore,
    cfg: &Config,
    symbol: &Symbol,
) -> Result<bool, StoreError> {
    if cfg.watchlist.contains(symbol) {
        return Ok(true);
    }
    store.symbol_known(symbol).await
}

/// `GET /symbols/{symbol}/metrics`.
pub async fn symbol_metrics(
    store: &impl OpportunityStore,
    cfg: &Config,
    symbol: &Symbol,
    days: u32,
    interval: MetricsInterval,
    started: DateTime<Utc>,
) -> Result<SymbolMetrics, ReadError> {
    let since = started - Duration::days(i64::from(days));
    let rows = match interval {
        MetricsInterval::Daily => {
            let from = trading_date(since).format("%Y-%m-%d").to_string();
            store.metrics_daily(symbol, &from).await
        }
        MetricsInterval::Intraday => {
            store
                .metrics_intraday(symbol, since.timestamp_millis())
                .await
        }
    }
    .map_err(store_err("symbol metrics"))?;
    if rows.is_empty()
        && !is_known(store, cfg, symbol)
            .await
            .map_err(store_err("symbol metrics"))?
    {
        return Err(ReadError::UnknownSymbol(symbol.clone()));
    }
    Ok(metrics_view(symbol, interval, days, &rows))
}

/// `GET /symbols/{symbol}/chain`: the newest snapshot (spot from the
/// intraday metrics of the same run; a failed spot read shows no spot).
pub async fn symbol_chain(
    store: &impl OpportunityStore,
    cfg: &Config,
    symbol: &Symbol,
) -> Result<ChainView, ReadError> {
    let rows = store
        .latest_chain(symbol)
        .await
        .map_err(store_err("symbol chain"))?;
    let Some(ts) = rows.first().map(|r| r.ts) else {
        return Err(
            if is_known(store, cfg, symbol)
                .await
                .map_err(store_err("symbol chain"))?
            {
                ReadError::NoSnapshot(symbol.clone())
            } else {
                ReadError::UnknownSymbol(symbol.clone())
            },
        );
    };
    let spot = store.spot_at(symbol, ts).await.ok().flatten();
    chain_view(symbol, &rows, spot).ok_or(ReadError::Unreadable("symbol chain"))
}

/// `GET /search/opportunities`: the multi-factor ranking over the stored
/// quote snapshots and the latest chain analytics within the retention.
pub async fn ranked(
    store: &impl OpportunityStore,
    cfg: &Config,
    limit: u32,
    started: DateTime<Utc>,
) -> Result<RankedOpportunities, ReadError> {
    let list = watchlist_json(cfg);
    let since = (started - Duration::days(i64::from(cfg.retention_days))).timestamp_millis();
    let (snapshots, latest) = futures_util::future::join(
        store.snapshots(&list, since),
        store.latest_metrics(&list, since),
    )
    .await;
    let snapshots = snapshots.map_err(store_err("opportunities"))?;
    let latest = latest.map_err(store_err("opportunities"))?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(opportunities(
        &cfg.watchlist,
        &latest,
        &snapshots,
        &cfg.chains.score_weights,
        limit,
    ))
}
