//! The IV-history workflows over an [`IvHistoryStore`] and the [`Bridge`],
//! with the clock passed in:
//!
//! * [`cron_step`]: copy SAS's own daily IV of completed days, then at most
//!   `IV_BACKFILL_PER_RUN` bridge `/history/iv` requests, one at a time
//!   (backfills first, then daily appends); each answer is stored as ONE
//!   batch or not at all; a pacing refusal ends the run's requests.
//! * [`rank`] / [`rank_from_rows`]: IV rank and percentile from the stored
//!   history (IB's close per date, else SAS's own) with the days they rest on
//!   and how far SAS's own IV is from IB's.
//! * [`quality`]: the data-quality gate's verdict on the symbol's newest
//!   stored quote and its chain, with the IV-history coverage.

use chrono::{DateTime, Days, NaiveDate, Utc};
use sas_core::analytics::iv_history::{
    compare_iv_series, iv_rank_from_history, plausible_iv, IvHistoryRank, IvRankConfig,
    IvSeriesDiff,
};
use sas_core::market::{DataType, Quote, Symbol};
use sas_core::quality::{check_quote, data_type_ok, gate_chain, DropCounts, SymbolVerdict};
use serde::Serialize;

use super::model::{
    after_failure, iv_path, own_and_ib, parse_answer, plan, rank_series, stored_quality,
    BackfillWrite, CoverageRow, FetchKind, SeriesRow, SeriesSource, StoredQuality, BACKFILL_DAYS,
    OWN_APPEND_DAYS,
};
use super::store::IvHistoryStore;
use super::IvHistoryError;
use crate::bridge::Bridge;
use crate::chains::{chain_path, trading_date};
use crate::config::iv_history::IvHistoryConfig;
use crate::config::Config;

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn list_json(symbols: &[Symbol]) -> String {
    let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

/// One symbol's bridge request in a cron step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchOutcome {
    pub symbol: String,
    pub kind: FetchKind,
    /// IV rows written (0 on failure).
    pub rows_written: u64,
    /// Daily closes in the answer (after clean-up).
    pub bars: usize,
    /// Why nothing was stored.
    pub error: Option<String>,
}

/// What one cron step did.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CronReport {
    /// Rows of SAS's own daily IV copied.
    pub own_rows_written: u64,
    /// Bridge requests made, in order.
    pub fetches: Vec<FetchOutcome>,
    /// Requests planned but not made (the bridge asked to wait).
    pub deferred: Vec<String>,
}

/// The cron step over `watchlist` at `now`. Store failures of the reads end
/// the step (`Err`); a symbol's bridge or write failure is recorded in its
/// state and in the report, and the others go on, except that a pacing
/// refusal (429) defers the rest of the run's requests.
pub async fn cron_step(
    store: &impl IvHistoryStore,
    bridge: &impl Bridge,
    watchlist: &[Symbol],
    cfg: &IvHistoryConfig,
    timeout_ms: u32,
    now: DateTime<Utc>,
) -> Result<CronReport, IvHistoryError> {
    let today = trading_date(now);
    let now_ms = now.timestamp_millis();
    let list = list_json(watchlist);
    let own_from = today
        .checked_sub_days(Days::new(OWN_APPEND_DAYS))
        .unwrap_or(today);
    let mut report = CronReport {
        own_rows_written: store
            .append_own(&list, &ymd(own_from), &ymd(today), now_ms)
            .await?,
        ..CronReport::default()
    };
    let from = today
        .checked_sub_days(Days::new(u64::from(BACKFILL_DAYS)))
        .unwrap_or(today);
    let coverage = store.coverage(&list, &ymd(from)).await?;
    let planned = plan(watchlist, &coverage, today, now_ms, cfg.backfill_per_run);
    let mut paced = false;
    for p in planned {
        if paced {
            report.deferred.push(p.symbol.to_string());
            continue;
        }
        let row = coverage.iter().find(|r| r.symbol == p.symbol.as_str());
        let answer = bridge
            .get(&iv_path(&p.symbol, p.kind.days()), timeout_ms)
            .await
            .map_err(IvHistoryError::Bridge);
        let fetched = answer.and_then(|a| parse_answer(&a, &p.symbol));
        let (rows_written, bars, error) = match fetched {
            Ok(fetched) => {
                let bars = fetched.bars.len();
                let write = BackfillWrite {
                    symbol: p.symbol.clone(),
                    kind: p.kind,
                    fetched,
                    now_ms,
                };
                match store.save_fetch(&write).await {
                    Ok(n) => (n, bars, None),
                    Err(e) => {
                        let failure = IvHistoryError::Store(e);
                        // Best effort: the state says why; nothing of the
                        // batch was written.
                        let state = after_failure(&p.symbol, row, &failure, now_ms);
                        let _ = store.record_failure(&state).await;
                        (0, bars, Some(failure.to_string()))
                    }
                }
            }
            Err(failure) => {
                paced = failure == IvHistoryError::Paced;
                let state = after_failure(&p.symbol, row, &failure, now_ms);
                store.record_failure(&state).await?;
                (0, 0, Some(failure.to_string()))
            }
        };
        report.fetches.push(FetchOutcome {
            symbol: p.symbol.to_string(),
            kind: p.kind,
            rows_written,
            bars,
            error,
        });
    }
    Ok(report)
}

/// IV rank and percentile from the stored history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankReport {
    /// Core's figures: `days` (current included), `first_date`,
    /// `short_history` (fewer than `IV_RANK_MIN_DAYS`: show, do not act).
    #[serde(flatten)]
    pub rank: IvHistoryRank,
    /// Earlier days of the figures that are IB's close.
    pub ib_days: usize,
    /// Earlier days of the figures that are SAS's own (IB had none).
    pub own_days: usize,
    /// Whether the current value is SAS's own (`true`) or a stored close.
    pub current_is_own: bool,
    /// SAS's own 30-day ATM IV vs IB's on the dates both have (> 0: own reads higher).
    pub own_vs_ib: Option<IvSeriesDiff>,
}

impl RankReport {
    /// The rank when the history is long enough to act on.
    pub fn usable_rank(&self) -> Option<f64> {
        self.rank.usable_rank()
    }
}

/// IV rank of `current_iv` at `as_of` (or, without a plausible current
/// value, of the newest stored value on or before `as_of`) against the
/// stored series of `rows` (IB's close per date, else SAS's own) over the
/// look-back of `cfg`; `None` when nothing usable is stored or given.
pub fn rank_from_rows(
    rows: &[SeriesRow],
    as_of: NaiveDate,
    current_iv: Option<f64>,
    cfg: &IvRankConfig,
) -> Option<RankReport> {
    let current = current_iv.filter(|v| plausible_iv(*v));
    let until = as_of.checked_add_days(Days::new(1)).unwrap_or(as_of);
    let mut series = rank_series(rows, until);
    if let Some(v) = current {
        series.retain(|p| p.0 != as_of);
        series.push((as_of, v, SeriesSource::Own));
    }
    let points: Vec<(NaiveDate, f64)> = series.iter().map(|p| (p.0, p.1)).collect();
    let rank = iv_rank_from_history(&points, as_of, cfg)?;
    let earlier = || {
        series
            .iter()
            .filter(|p| p.0 >= rank.first_date && p.0 < rank.date)
    };
    let ib_days = earlier().filter(|p| p.2 == SeriesSource::Ib).count();
    let own_days = earlier().filter(|p| p.2 == SeriesSource::Own).count();
    let current_is_own = series
        .iter()
        .find(|p| p.0 == rank.date)
        .is_some_and(|p| p.2 == SeriesSource::Own);
    let (own, ib) = own_and_ib(rows);
    Some(RankReport {
        rank,
        ib_days,
        own_days,
        current_is_own,
        own_vs_ib: compare_iv_series(&own, &ib),
    })
}

/// [`rank_from_rows`] over the stored series of `symbol` (the function the
/// chain and opportunity code can call with the chain's current 30-day ATM IV).
pub async fn rank(
    store: &impl IvHistoryStore,
    symbol: &Symbol,
    as_of: NaiveDate,
    current_iv: Option<f64>,
    cfg: &IvRankConfig,
) -> Result<Option<RankReport>, IvHistoryError> {
    let from = as_of
        .checked_sub_days(Days::new(u64::from(cfg.lookback_calendar_days)))
        .unwrap_or(as_of);
    let rows = store
        .series(symbol.as_str(), &ymd(from), &ymd(as_of))
        .await?;
    Ok(rank_from_rows(&rows, as_of, current_iv, cfg))
}

/// The underlying's quote as checked by the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuoteCheck {
    /// `bridge` (asked now) or `stored` (the newest in D1, when the bridge
    /// gave none).
    pub source: &'static str,
    /// Quote time, Unix ms.
    pub ts: i64,
    pub data_type: DataType,
    /// The data type may drive decisions.
    pub live_enough: bool,
    /// `None`: passed; else the failed check's code.
    pub failed: Option<&'static str>,
}

/// The chain as checked by the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainCheck {
    pub as_of: DateTime<Utc>,
    pub data_type: DataType,
    pub input_contracts: usize,
    pub kept_contracts: usize,
    pub dropped: DropCounts,
    pub verdict: SymbolVerdict,
}

/// IV-history coverage of a symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// `pending` (never asked, or waiting) | `complete` | `no_options` | `no_permission`.
    pub status: String,
    pub ib_days: i64,
    pub own_days: i64,
    pub first_ib_date: Option<String>,
    pub last_ib_date: Option<String>,
    /// Why the last request stored nothing.
    pub last_error: Option<String>,
    /// Unix ms before which the bridge is not asked again.
    pub next_attempt_at: Option<i64>,
    /// IV rank of the newest stored value, with the days it rests on.
    pub rank: Option<RankReport>,
}

/// `GET /symbols/{symbol}/quality`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    pub symbol: String,
    pub checked_at: DateTime<Utc>,
    /// `clear` (proposals and exits may act), `hold` (they wait; see the
    /// reasons), or `unknown` (no quote, or no chain from the bridge).
    pub verdict: &'static str,
    pub may_propose: bool,
    /// `None`: no quote from the bridge and none stored.
    pub quote: Option<QuoteCheck>,
    pub chain: Option<ChainCheck>,
    /// Why the chain could not be checked.
    pub chain_error: Option<String>,
    pub iv_history: Coverage,
    /// What the chain step last stored (`symbol_quality`): the state,
    /// since when it has held, its reasons and counts; `unknown` before
    /// the first check.
    pub stored: StoredQuality,
}

fn stored_quote(row: &crate::store::LatestRow, symbol: &Symbol) -> Option<Quote> {
    let data_type: DataType =
        serde_json::from_value(serde_json::Value::String(row.data_type.clone())).ok()?;
    Some(Quote {
        symbol: symbol.clone(),
        bid: row.bid.unwrap_or(f64::NAN),
        ask: row.ask.unwrap_or(f64::NAN),
        last: row.last.unwrap_or(f64::NAN),
        volume: u64::try_from(row.volume.unwrap_or(0)).unwrap_or(0),
        timestamp: DateTime::<Utc>::from_timestamp_millis(row.ts)?,
        data_type,
    })
}

/// The gate's verdict for `symbol` at `now`: its quote and chain as the
/// bridge serves them now (the chain step's window; the newest stored quote
/// when the bridge gives none), and the IV-history coverage. A symbol off the watchlist is
/// [`IvHistoryError::UnknownSymbol`]; a bridge failure is reported in the
/// body (`verdict: unknown`), a store failure is an error.
pub async fn quality(
    store: &impl IvHistoryStore,
    bridge: &impl Bridge,
    cfg: &Config,
    iv_cfg: &IvHistoryConfig,
    symbol: &Symbol,
    now: DateTime<Utc>,
) -> Result<QualityReport, IvHistoryError> {
    if !cfg.watchlist.contains(symbol) {
        return Err(IvHistoryError::UnknownSymbol(symbol.to_string()));
    }
    let gate = cfg.quality;
    let list = list_json(std::slice::from_ref(symbol));
    // The quote and the chain as the bridge serves them now (the same
    // instant); the newest stored quote only when the bridge gives none.
    let quote_path = format!("/quote?symbol={symbol}");
    let chain_path = chain_path(symbol, &cfg.chains.window);
    let (live_quote, chain) = futures_util::future::join(
        crate::bridge::get_json::<Quote>(bridge, &quote_path, "/quote", cfg.bridge_timeout_ms),
        crate::bridge::chain(bridge, symbol, &chain_path, cfg.bridge_timeout_ms),
    )
    .await;
    let (quote, quote_source) = match live_quote {
        Ok(q) if &q.symbol == symbol => (Some(q), "bridge"),
        _ => {
            let latest = store.latest_quotes(&list).await?;
            let row = latest.iter().find(|r| r.symbol == symbol.as_str());
            (row.and_then(|r| stored_quote(r, symbol)), "stored")
        }
    };
    let quote_check = quote.as_ref().map(|q| QuoteCheck {
        source: quote_source,
        ts: q.timestamp.timestamp_millis(),
        data_type: q.data_type,
        live_enough: data_type_ok(q.data_type, &gate),
        failed: check_quote(q, now, &gate).err().map(|d| d.code()),
    });
    let (chain_check, chain_error) = match chain {
        Ok(chain) => {
            let q = gate_chain(
                &chain,
                quote.as_ref(),
                cfg.chains.risk_free_rate,
                now,
                &gate,
            );
            (
                Some(ChainCheck {
                    as_of: chain.as_of,
                    data_type: chain.data_type,
                    input_contracts: q.input_contracts,
                    kept_contracts: q.kept_contracts,
                    dropped: q.dropped,
                    verdict: q.verdict,
                }),
                None,
            )
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let today = trading_date(now);
    let from = today
        .checked_sub_days(Days::new(u64::from(BACKFILL_DAYS)))
        .unwrap_or(today);
    let coverage = store.coverage(&list, &ymd(from)).await?;
    let cov = coverage
        .into_iter()
        .find(|r| r.symbol == symbol.as_str())
        .unwrap_or_else(|| CoverageRow {
            symbol: symbol.to_string(),
            ..CoverageRow::default()
        });
    let rank = rank(store, symbol, today, None, &iv_cfg.rank).await?;
    let stored = store.stored_quality(symbol.as_str()).await?;
    let stored = stored_quality(stored.as_ref(), now.timestamp_millis());
    let (verdict, may_propose) = match (&quote_check, &chain_check) {
        (Some(q), Some(c)) => {
            let clear = q.failed.is_none() && q.live_enough && c.verdict.may_propose();
            (if clear { "clear" } else { "hold" }, clear)
        }
        (_, Some(c)) if !c.verdict.may_propose() => ("hold", false),
        (Some(q), _) if q.failed.is_some() || !q.live_enough => ("hold", false),
        _ => ("unknown", false),
    };
    Ok(QualityReport {
        symbol: symbol.to_string(),
        checked_at: now,
        verdict,
        may_propose,
        quote: quote_check,
        chain: chain_check,
        chain_error,
        iv_history: Coverage {
            status: cov.status.unwrap_or_else(|| "pending".to_owned()),
            ib_days: cov.ib_days,
            own_days: cov.own_days,
            first_ib_date: cov.first_ib_date,
            last_ib_date: cov.last_ib_date,
            last_error: cov.last_error,
            next_attempt_at: cov.next_attempt_at,
            rank,
        },
        stored,
    })
}
