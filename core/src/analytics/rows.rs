//! Storage rows for the Worker's 15-minute cron: one summary row per
//! underlying and ONE row per expiry with all of its valued contracts packed
//! into a JSON text column. Packing keeps D1's written-row count (billed, and
//! multiplied by every index) at `1 + expiries` per chain instead of one row
//! per contract, and each row binds only a handful of parameters.
//!
//! Pure functions: the Worker binds the fields; this module does no I/O.

use serde::{Deserialize, Serialize};

use crate::analytics::chain::{ChainAnalytics, SkipCounts};
use crate::market::OptionRight;

/// Column order of each packed contract in [`ExpiryRow::contracts_json`]:
/// `[strike, right ("C"/"P"), mid, iv, delta, gamma, theta_per_day,
/// vega_per_point, rho_per_point, volume|null, open_interest|null]`.
pub const PACKED_CONTRACT_COLUMNS: [&str; 11] = [
    "strike",
    "right",
    "mid",
    "iv",
    "delta",
    "gamma",
    "theta_per_day",
    "vega_per_point",
    "rho_per_point",
    "volume",
    "open_interest",
];

/// One row per underlying and snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnderlyingRow {
    pub symbol: String,
    /// RFC 3339 UTC timestamp of the chain snapshot.
    pub as_of: String,
    pub spot: f64,
    pub atm_iv_30d: Option<f64>,
    pub iv_rank: Option<f64>,
    pub iv_percentile: Option<f64>,
    /// Days of IV history behind rank/percentile.
    pub iv_history_days: Option<u32>,
    pub rv_20d: Option<f64>,
    pub skew_25d_30d: Option<f64>,
    pub gex_per_1pct: f64,
    pub dex: f64,
    /// Valued contracts.
    pub contracts_valued: u32,
    /// Skipped contracts by reason, JSON object `{code: count}`.
    pub skips_json: String,
    /// The full per-underlying metrics (everything in [`ChainAnalytics`] but
    /// the contracts and expiries), JSON object.
    pub metrics_json: String,
}

/// One row per expiry and snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiryRow {
    pub symbol: String,
    pub as_of: String,
    /// `YYYY-MM-DD`.
    pub expiry: String,
    pub dte: u32,
    pub forward: f64,
    pub atm_iv: Option<f64>,
    pub skew_25d: Option<f64>,
    /// JSON array of contracts, each an array in [`PACKED_CONTRACT_COLUMNS`]
    /// order, sorted as in the chain.
    pub contracts_json: String,
}

/// All rows of one chain snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRows {
    pub underlying: UnderlyingRow,
    pub expiries: Vec<ExpiryRow>,
}

#[derive(Serialize)]
struct PackedContract(
    f64,
    &'static str,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    Option<u64>,
    Option<u64>,
);

#[derive(Serialize)]
struct Metrics<'a> {
    atm_iv_30d: Option<f64>,
    atm_iv_30d_interpolated: bool,
    iv_rank: &'a Option<crate::analytics::vol::IvRankStats>,
    rv_10d: Option<f64>,
    rv_20d: Option<f64>,
    rv_30d: Option<f64>,
    rv_yang_zhang_20d: Option<f64>,
    iv_rv_spread: Option<f64>,
    vol_of_vol: Option<f64>,
    skew_25d_30d: Option<f64>,
    term_slope_per_30d: Option<f64>,
    volume_zscore_20d: Option<f64>,
    momentum: &'a crate::analytics::vol::Momentum,
    put_call_volume_ratio: Option<f64>,
    put_call_oi_ratio: Option<f64>,
    unusual_activity: &'a [crate::analytics::chain::UnusualActivity],
    gex_per_1pct: f64,
    dex: f64,
    rate: f64,
    div_yield: f64,
}

/// JSON numbers cannot be NaN/inf: such values become `null` (serde_json
/// already does this for `f64`), and `Option`s stay as they are.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Builds the storage rows of one analyzed chain.
#[must_use]
pub fn build_chain_rows(a: &ChainAnalytics, skips: &SkipCounts) -> ChainRows {
    let symbol = a.symbol.as_str().to_string();
    let as_of = a.as_of.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let expiries = a
        .expiries
        .iter()
        .map(|e| {
            let end = (e.first_contract + e.contract_count).min(a.contracts.len());
            let start = e.first_contract.min(end);
            let packed: Vec<PackedContract> = a.contracts[start..end]
                .iter()
                .map(|c| {
                    PackedContract(
                        c.strike,
                        match c.right {
                            OptionRight::Call => "C",
                            OptionRight::Put => "P",
                        },
                        c.mid,
                        c.iv,
                        c.greeks.delta,
                        c.greeks.gamma,
                        c.greeks.theta_per_day,
                        c.greeks.vega_per_point,
                        c.greeks.rho_per_point,
                        c.volume,
                        c.open_interest,
                    )
                })
                .collect();
            ExpiryRow {
                symbol: symbol.clone(),
                as_of: as_of.clone(),
                expiry: e.expiry.format("%Y-%m-%d").to_string(),
                dte: e.dte,
                forward: e.forward,
                atm_iv: e.atm_iv,
                skew_25d: e.skew_25d,
                contracts_json: to_json(&packed),
            }
        })
        .collect();
    let metrics = Metrics {
        atm_iv_30d: a.atm_iv_30d,
        atm_iv_30d_interpolated: a.atm_iv_30d_interpolated,
        iv_rank: &a.iv_rank,
        rv_10d: a.rv_10d,
        rv_20d: a.rv_20d,
        rv_30d: a.rv_30d,
        rv_yang_zhang_20d: a.rv_yang_zhang_20d,
        iv_rv_spread: a.iv_rv_spread,
        vol_of_vol: a.vol_of_vol,
        skew_25d_30d: a.skew_25d_30d,
        term_slope_per_30d: a.term_slope_per_30d,
        volume_zscore_20d: a.volume_zscore_20d,
        momentum: &a.momentum,
        put_call_volume_ratio: a.put_call_volume_ratio,
        put_call_oi_ratio: a.put_call_oi_ratio,
        unusual_activity: &a.unusual_activity,
        gex_per_1pct: a.gex_per_1pct,
        dex: a.dex,
        rate: a.rate,
        div_yield: a.div_yield,
    };
    ChainRows {
        underlying: UnderlyingRow {
            symbol,
            as_of,
            spot: a.spot,
            atm_iv_30d: a.atm_iv_30d,
            iv_rank: a.iv_rank.and_then(|s| s.iv_rank),
            iv_percentile: a.iv_rank.map(|s| s.iv_percentile),
            iv_history_days: a.iv_rank.map(|s| u32::try_from(s.days).unwrap_or(u32::MAX)),
            rv_20d: a.rv_20d,
            skew_25d_30d: a.skew_25d_30d,
            gex_per_1pct: a.gex_per_1pct,
            dex: a.dex,
            contracts_valued: u32::try_from(a.contracts.len()).unwrap_or(u32::MAX),
            skips_json: to_json(skips),
            metrics_json: to_json(&metrics),
        },
        expiries,
    }
}
