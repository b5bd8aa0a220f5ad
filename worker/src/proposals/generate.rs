//! Proposal generation (the cron's last step) over a [`GenerationStore`]
//! and a [`Bridge`], with the time passed in: existing trades and the daily
//! limit, the multi-factor ranking of the watchlist, the broker's expiries
//! and a chain per pick, regime inputs (stored analytics when fresh, else
//! computed), core's strategy engine, and ONE batch that stores every new
//! proposal with its `proposal_created` audit row.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_bridge_api::account::Account;
use sas_bridge_api::market::HistoryBody;
use sas_core::analytics::chain::{analyze, ChainHistory};
use sas_core::market::{OptionChain, Symbol};
use sas_core::strategy::{
    generate_proposals, EventCalendar, GenerationInputs, StrategyConfig, UnderlyingCandidate,
};

use super::{
    existing_trades, generation_chain_path, proposal_expiry, scores_from_ranking, trade_date,
    vol_snapshot_from_metrics_json, ExistingRow, GenerateError, GenerationSummary, MetricsRow,
    ProposalRecord, VolSnapshot, MAX_CANDIDATES_PER_RUN, MAX_METRICS_AGE_MINUTES,
    OPEN_TRADE_LOOKBACK_DAYS,
};
use crate::bridge::{self, Bridge};
use crate::config::Config;
use crate::opportunities::LatestMetricsRow;
use crate::store::{SnapshotRow, StoreError};

/// A proposal to store with the details of its audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProposal {
    pub record: ProposalRecord,
    pub details: serde_json::Value,
}

/// What generation reads and writes.
#[allow(async_fn_in_trait)]
pub trait GenerationStore {
    /// [`super::SELECT_EXISTING_TRADES`] (`?1` today, `?2` since).
    async fn existing_trades(
        &self,
        today: NaiveDate,
        since: NaiveDate,
    ) -> Result<Vec<ExistingRow>, StoreError>;
    /// Stored quote snapshots of `watchlist` since `since_ms`
    /// (`store::SELECT_SNAPSHOTS_PACKED`).
    async fn snapshots(
        &self,
        watchlist: &[Symbol],
        since_ms: i64,
    ) -> Result<Vec<SnapshotRow>, StoreError>;
    /// Latest chain metrics per symbol since `since_ms`
    /// (`metrics::SELECT_LATEST_METRICS`).
    async fn latest_metrics(
        &self,
        watchlist: &[Symbol],
        since_ms: i64,
    ) -> Result<Vec<LatestMetricsRow>, StoreError>;
    /// The stored analytics of `symbols` since `since_ms`
    /// ([`super::SELECT_LATEST_METRICS`]).
    async fn regime_metrics(
        &self,
        symbols: &[Symbol],
        since_ms: i64,
    ) -> Result<Vec<MetricsRow>, StoreError>;
    /// Known events of `symbols` from `from` on (earnings entered by hand,
    /// the next ex-dividend dates; [`crate::events`]), symbols without any
    /// left out. A store that keeps no events answers none.
    async fn event_calendars(
        &self,
        symbols: &[Symbol],
        from: NaiveDate,
    ) -> Result<Vec<(Symbol, EventCalendar)>, StoreError> {
        let _ = (symbols, from);
        Ok(Vec::new())
    }
    /// [`super::INSERT_PROPOSAL`] + [`super::INSERT_CREATED_AUDIT`] per
    /// proposal, all in ONE batch; how many were new (a key already stored
    /// changes nothing and gets no audit row).
    async fn insert_proposals(
        &self,
        new: &[NewProposal],
        at_ms: i64,
        actor: &str,
    ) -> Result<usize, StoreError>;
    /// [`Self::insert_proposals`] with the "new proposals" alert's
    /// statements appended to the SAME batch
    /// ([`crate::alerts::service::new_proposals_statements`]). A store
    /// without an outbox (the tests' fakes) stores the proposals only.
    async fn insert_proposals_with_alert(
        &self,
        new: &[NewProposal],
        at_ms: i64,
        actor: &str,
        alert: &[crate::alerts::Statement],
    ) -> Result<usize, StoreError> {
        let _ = alert;
        self.insert_proposals(new, at_ms, actor).await
    }
}

/// The chain generation needs: the broker's expiry list first (no market
/// data), then strikes of the few expiries the strategies would use
/// ([`sas_core::strategy::requests::generation_expiries`]).
async fn generation_chain(
    bridge: &impl Bridge,
    cfg: &Config,
    symbol: &Symbol,
    today: NaiveDate,
    strategy_cfg: &StrategyConfig,
) -> Result<OptionChain, GenerateError> {
    let answer = bridge
        .get(&super::expiries_path(symbol), cfg.bridge_timeout_ms)
        .await
        .map_err(|e| GenerateError::Bridge(e.to_string()))?;
    if answer.status != 200 {
        return Err(GenerateError::ExpiriesStatus(answer.status));
    }
    let available = super::parse_expiries(&answer.body, symbol)?;
    let picked = sas_core::strategy::requests::generation_expiries(&available, today, strategy_cfg);
    if picked.is_empty() {
        return Err(GenerateError::NoExpiryFits);
    }
    let path = generation_chain_path(symbol, &picked);
    bridge::chain(bridge, symbol, &path, cfg.bridge_timeout_ms)
        .await
        .map_err(|e| GenerateError::Bridge(e.to_string()))
}

/// 90 days of daily bars (empty when the bridge has none).
async fn daily_bars(
    bridge: &impl Bridge,
    cfg: &Config,
    symbol: &Symbol,
) -> Vec<sas_core::market::DailyBar> {
    let path = format!("/history/daily?symbol={symbol}&days=90");
    bridge::get_json::<HistoryBody>(bridge, &path, "/history/daily", cfg.bridge_timeout_ms)
        .await
        .map(|h| h.bars)
        .unwrap_or_default()
}

/// Generates up to the daily limit at `at`, recording what it did in
/// `summary`; only strategies in `enabled` (the trader's run-time switches,
/// `GET/PUT /strategies`) are stored. `Err` stops the step (store or account
/// unreadable).
pub async fn generate(
    store: &impl GenerationStore,
    bridge: &impl Bridge,
    cfg: &Config,
    at: DateTime<Utc>,
    actor: &str,
    enabled: &[sas_core::strategy::StrategyKind],
    summary: &mut GenerationSummary,
) -> Result<(), GenerateError> {
    let store_err = |e: StoreError| GenerateError::Store(e.to_string());
    let limits = cfg.approval.limits;
    let strategy_cfg = super::generation_config(cfg);
    let today = trade_date(at);
    let since = today - Duration::days(OPEN_TRADE_LOOKBACK_DAYS);
    let existing = store
        .existing_trades(today, since)
        .await
        .map_err(store_err)?;
    let (open_positions, pending_proposals, proposals_today) = existing_trades(&existing, today);
    let made = u32::try_from(proposals_today.len()).unwrap_or(u32::MAX);
    if made >= limits.max_per_day {
        summary
            .skipped
            .push(serde_json::json!({ "all": format!("daily limit reached ({made})") }));
        return Ok(());
    }

    // Ranking from the stored quote snapshots of the last trading days: the
    // same multi-factor ranking as /search/opportunities.
    let since_ms = (at - Duration::days(i64::from(cfg.retention_days))).timestamp_millis();
    let snapshots = store
        .snapshots(&cfg.watchlist, since_ms)
        .await
        .map_err(store_err)?;
    let latest = store
        .latest_metrics(&cfg.watchlist, since_ms)
        .await
        .map_err(store_err)?;
    let ranking = crate::opportunities::opportunities(
        &cfg.watchlist,
        &latest,
        &snapshots,
        &cfg.chains.score_weights,
        usize::MAX,
    );
    let ranked = scores_from_ranking(&ranking);
    let busy: Vec<&Symbol> = open_positions
        .iter()
        .chain(&pending_proposals)
        .chain(&proposals_today)
        .map(|t| &t.symbol)
        .collect();
    let picks: Vec<_> = ranked
        .into_iter()
        .filter(|s| !busy.contains(&&s.symbol))
        .take(MAX_CANDIDATES_PER_RUN)
        .collect();
    if picks.is_empty() {
        summary
            .skipped
            .push(serde_json::json!({ "all": "no ranked underlying without a trade" }));
        return Ok(());
    }
    let acct: Account = bridge::get_json(bridge, "/account", "/account", cfg.bridge_timeout_ms)
        .await
        .map_err(|e| GenerateError::Bridge(e.to_string()))?;

    // Analytics from the chain step when fresh, else computed here.
    let pick_symbols: Vec<Symbol> = picks.iter().map(|s| s.symbol.clone()).collect();
    let metrics_since = (at - Duration::minutes(MAX_METRICS_AGE_MINUTES)).timestamp_millis();
    let metrics = store
        .regime_metrics(&pick_symbols, metrics_since)
        .await
        .unwrap_or_default();
    // No proposal spans a known event; an unreadable calendar stops the
    // step (fail closed).
    let calendars = store
        .event_calendars(&pick_symbols, today)
        .await
        .map_err(store_err)?;

    let mut candidates = Vec::with_capacity(picks.len());
    for score in picks {
        summary.considered += 1;
        let sym = score.symbol.clone();
        let chain = match generation_chain(bridge, cfg, &sym, today, &strategy_cfg).await {
            Ok(c) => c,
            Err(e) => {
                summary
                    .skipped
                    .push(serde_json::json!({ "symbol": sym.as_str(), "reason": e.to_string() }));
                continue;
            }
        };
        // The data-quality gate: a symbol whose data is delayed or failing
        // proposes nothing; otherwise only the contracts that passed are used.
        let gated =
            super::gate_for_generation(&chain, strategy_cfg.risk_free_rate, at, &cfg.quality);
        let chain = match gated {
            Ok(kept) => kept,
            Err(skip) => {
                summary.skipped.push(skip);
                continue;
            }
        };
        let stored = metrics
            .iter()
            .find(|m| m.symbol == sym.as_str())
            .and_then(|m| vol_snapshot_from_metrics_json(&m.metrics_json));
        let vol = match stored {
            Some(v) => v,
            None => {
                let bars = daily_bars(bridge, cfg, &sym).await;
                let history = ChainHistory {
                    daily_bars: &bars,
                    atm_iv_30d: &[],
                };
                let (a, _) = analyze(&chain, strategy_cfg.risk_free_rate, &history);
                VolSnapshot::from_analytics(&a)
            }
        };
        let events = calendars
            .iter()
            .find(|(s, _)| *s == sym)
            .map(|(_, c)| c.clone());
        candidates.push(UnderlyingCandidate {
            symbol: sym,
            chain,
            regime: vol.regime_inputs(),
            score: Some(score),
            events,
        });
    }
    let inputs = GenerationInputs {
        trade_date: today,
        expires_at: proposal_expiry(at, limits.ttl_seconds),
        net_liquidation: acct.net_liquidation,
        ranked: candidates,
        open_positions,
        pending_proposals,
        proposals_today,
    };
    let (made, skipped) = generate_proposals(&inputs, &strategy_cfg, at);
    for s in &skipped {
        summary
            .skipped
            .push(serde_json::json!({ "symbol": s.symbol.as_str(), "reason": s.message }));
    }
    let mut new = Vec::with_capacity(made.len());
    for p in &made {
        if !enabled.contains(&p.strategy) {
            summary.skipped.push(serde_json::json!({
                "symbol": p.symbol.as_str(),
                "reason": format!("strategy {} is disabled", p.strategy.as_str()),
            }));
            continue;
        }
        let record = match ProposalRecord::from_proposal(p) {
            Ok(r) => r,
            Err(e) => {
                summary.skipped.push(
                    serde_json::json!({ "symbol": p.symbol.as_str(), "reason": e.to_string() }),
                );
                continue;
            }
        };
        let details = serde_json::json!({
            "idempotency_key": record.idempotency_key,
            "symbol": record.symbol,
            "strategy": record.strategy,
            "entry_mid": record.entry_mid,
            "entry_natural": record.entry_natural,
            "contracts": record.contracts,
            "total_max_loss": record.total_max_loss,
            "expires_at": crate::audit::iso_ms(record.expires_at),
            "legs": p.legs.iter().map(|l| serde_json::json!({
                "right": l.right, "strike": l.strike, "expiry": l.expiry, "action": l.action,
                "bid": l.quote.bid, "ask": l.quote.ask,
            })).collect::<Vec<_>>(),
        });
        new.push(NewProposal { record, details });
    }
    if new.is_empty() {
        return Ok(());
    }
    let records: Vec<crate::alerts::NewProposalDigest<'_>> = new
        .iter()
        .map(|n| crate::alerts::NewProposalDigest {
            digest: crate::alerts::ProposalDigest {
                symbol: &n.record.symbol,
                strategy: &n.record.strategy,
                contracts: i64::from(n.record.contracts),
                total_max_loss: n.record.total_max_loss,
                rationale: &n.record.rationale,
            },
            rank: n.record.rank,
            trade_date: &n.record.trade_date,
            idempotency_key: &n.record.idempotency_key,
            created_at: n.record.created_at,
        })
        .collect();
    let alert = crate::alerts::service::new_proposals_statements(
        &cfg.alerts,
        &records,
        at.timestamp_millis(),
    );
    let created = store
        .insert_proposals_with_alert(&new, at.timestamp_millis(), actor, &alert)
        .await
        .map_err(store_err)?;
    summary.created += created;
    summary.duplicates += new.len() - created;
    Ok(())
}
