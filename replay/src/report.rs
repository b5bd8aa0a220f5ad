//! The report: every figure through `sas_core::performance` (the functions
//! of the live analytics), per configuration, for the scorer and for its
//! random-entry baseline, by strategy and by DTE × delta bucket; as JSON
//! (deterministic: ordered maps, no wall-clock values) and as a text table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use sas_core::performance::returns::{daily_equity, equity_figures, EquityFigures};
use sas_core::performance::trades::{attribution, dte_bucket, trade_stats, Dimension, TradeStats};
use serde::Serialize;

use crate::archive::Unusable;
use crate::engine::{EntryMode, OpenAtEnd, ReplayTrade, SimResult};

/// Delta bucket of a trade's entry (|delta| of its first sold leg, else its
/// first leg).
#[must_use]
pub fn delta_bucket(delta: Option<f64>) -> &'static str {
    match delta {
        Some(d) if d.is_finite() && d < 0.20 => "d<0.20",
        Some(d) if d.is_finite() && d < 0.30 => "d0.20-0.30",
        Some(d) if d.is_finite() && d < 0.45 => "d0.30-0.45",
        Some(d) if d.is_finite() && d < 0.60 => "d0.45-0.60",
        Some(d) if d.is_finite() => "d0.60+",
        _ => "d?",
    }
}

/// `"<dte bucket> x <delta bucket>"`.
#[must_use]
pub fn dte_delta_key(t: &ReplayTrade) -> String {
    format!(
        "{} x {}",
        dte_bucket(t.trade.dte_at_entry),
        delta_bucket(t.entry_delta)
    )
}

/// The figures of one simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub entry: EntryMode,
    pub proposals: u32,
    pub overall: TradeStats,
    pub equity: EquityFigures,
    pub by_strategy: BTreeMap<String, TradeStats>,
    pub by_dte_delta: BTreeMap<String, TradeStats>,
    pub daily_equity: Vec<(NaiveDate, f64)>,
    pub open_at_end: Vec<OpenAtEnd>,
    pub marks_refused: u32,
    pub skips: BTreeMap<String, u32>,
    pub trades: Vec<ReplayTrade>,
}

/// Scorer minus baseline, the question the report answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub expectancy_diff: Option<f64>,
    pub win_rate_diff: Option<f64>,
    pub net_pnl_diff: f64,
    pub total_return_diff: Option<f64>,
    pub verdict: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigReport {
    pub name: String,
    pub scored: RunReport,
    pub baseline: RunReport,
    pub scorer_vs_baseline: Comparison,
}

/// Which archived days are missing.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Gaps {
    /// Sessions (NYSE calendar) of the range with no snapshot at all.
    pub missing_days: Vec<NaiveDate>,
    /// Sessions where some watchlist symbols have no snapshot.
    pub missing_symbol_days: BTreeMap<String, Vec<NaiveDate>>,
    /// Archived snapshots left out (unparseable or incomplete).
    pub unusable: Vec<Unusable>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub watchlist: Vec<String>,
    pub seed: u64,
    pub slots: u64,
    pub snapshots: u64,
    pub sessions_with_data: u64,
    pub gaps: Gaps,
    pub configs: Vec<ConfigReport>,
}

/// Figures of one simulation.
#[must_use]
pub fn run_report(r: SimResult) -> RunReport {
    let closed: Vec<_> = r.trades.iter().map(|t| t.trade.clone()).collect();
    let mut groups: BTreeMap<String, Vec<&ReplayTrade>> = BTreeMap::new();
    for t in &r.trades {
        groups.entry(dte_delta_key(t)).or_default().push(t);
    }
    let by_dte_delta = groups
        .into_iter()
        .map(|(k, v)| (k, trade_stats(v.into_iter().map(|t| &t.trade))))
        .collect();
    RunReport {
        entry: r.entry,
        proposals: r.proposals,
        overall: trade_stats(&closed),
        equity: equity_figures(&r.equity),
        by_strategy: attribution(&closed, Dimension::Strategy),
        by_dte_delta,
        daily_equity: daily_equity(&r.equity)
            .into_iter()
            .map(|d| (d.date, d.equity))
            .collect(),
        open_at_end: r.open_at_end,
        marks_refused: r.marks_refused,
        skips: r.skips,
        trades: r.trades,
    }
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// Compares the scorer's run with its baseline.
#[must_use]
pub fn compare(scored: &RunReport, baseline: &RunReport) -> Comparison {
    let e = diff(scored.overall.expectancy, baseline.overall.expectancy);
    let verdict = match (scored.overall.trades, baseline.overall.trades, e) {
        (0, _, _) => "the scorer closed no trade: nothing to compare".to_string(),
        (_, 0, _) => "the baseline closed no trade: nothing to compare".to_string(),
        (s, b, Some(d)) if d > 0.0 => format!(
            "scorer ahead: {d:+.2} $/trade over the random baseline ({s} vs {b} trades; one seeded baseline, not a significance test)"
        ),
        (s, b, Some(d)) => format!(
            "scorer NOT ahead: {d:+.2} $/trade against the random baseline ({s} vs {b} trades; one seeded baseline, not a significance test)"
        ),
        _ => "no comparison".to_string(),
    };
    Comparison {
        expectancy_diff: e,
        win_rate_diff: diff(scored.overall.win_rate, baseline.overall.win_rate),
        net_pnl_diff: (scored.overall.net_pnl - baseline.overall.net_pnl).dollars(),
        total_return_diff: diff(scored.equity.total_return, baseline.equity.total_return),
        verdict,
    }
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.2}%", x * 100.0))
}

fn stats_row(out: &mut String, label: &str, s: &TradeStats) {
    let _ = writeln!(
        out,
        "  {label:<34} {:>6} {:>7} {:>12.2} {:>10} {:>8} {:>9}",
        s.trades,
        pct(s.win_rate),
        s.net_pnl.dollars(),
        f(s.expectancy, 2),
        f(s.profit_factor, 2),
        f(s.average_holding_hours, 1),
    );
}

fn run_table(out: &mut String, title: &str, r: &RunReport) {
    let e = &r.equity;
    let _ = writeln!(
        out,
        " {title}: {} proposals, {} closed, {} open at end; return {}, Sharpe {}, Sortino {}, max drawdown {}",
        r.proposals,
        r.overall.trades,
        r.open_at_end.len(),
        pct(e.total_return),
        f(e.sharpe, 2),
        f(e.sortino, 2),
        pct(e.max_drawdown.as_ref().map(|d| d.depth)),
    );
    let _ = writeln!(
        out,
        "  {:<34} {:>6} {:>7} {:>12} {:>10} {:>8} {:>9}",
        "group", "trades", "win", "net P&L $", "exp $/tr", "PF", "hold h"
    );
    stats_row(out, "all", &r.overall);
    for (k, s) in &r.by_strategy {
        stats_row(out, k, s);
    }
    for (k, s) in &r.by_dte_delta {
        stats_row(out, k, s);
    }
}

/// One figure of a run, formatted.
type Figure = fn(&RunReport) -> String;

/// One column per configuration and entry mode.
fn side_by_side(out: &mut String, rep: &Report) {
    let mut cols: Vec<(String, &RunReport)> = Vec::new();
    for c in &rep.configs {
        cols.push((format!("{} scorer", c.name), &c.scored));
        cols.push((format!("{} baseline", c.name), &c.baseline));
    }
    let _ = write!(out, "\n{:<18}", "");
    for (name, _) in &cols {
        let _ = write!(out, " {name:>26}");
    }
    let _ = writeln!(out);
    let rows: [(&str, Figure); 8] = [
        ("closed trades", |r| r.overall.trades.to_string()),
        ("win rate", |r| pct(r.overall.win_rate)),
        ("net P&L $", |r| {
            format!("{:.2}", r.overall.net_pnl.dollars())
        }),
        ("expectancy $/tr", |r| f(r.overall.expectancy, 2)),
        ("profit factor", |r| f(r.overall.profit_factor, 2)),
        ("total return", |r| pct(r.equity.total_return)),
        ("Sharpe", |r| f(r.equity.sharpe, 2)),
        ("max drawdown", |r| {
            pct(r.equity.max_drawdown.as_ref().map(|d| d.depth))
        }),
    ];
    for (label, get) in rows {
        let _ = write!(out, "{label:<18}");
        for (_, r) in &cols {
            let _ = write!(out, " {:>26}", get(r));
        }
        let _ = writeln!(out);
    }
}

/// The human-readable table (stdout).
#[must_use]
pub fn table(rep: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay {} .. {} of {} ({} slots, {} snapshots, {} sessions with data, seed {})",
        rep.from,
        rep.to,
        rep.watchlist.join(","),
        rep.slots,
        rep.snapshots,
        rep.sessions_with_data,
        rep.seed
    );
    if rep.gaps.missing_days.is_empty() && rep.gaps.missing_symbol_days.is_empty() {
        let _ = writeln!(out, "no missing sessions");
    } else {
        let days: Vec<String> = rep
            .gaps
            .missing_days
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "MISSING sessions (not invented, left out): {}",
            if days.is_empty() {
                "none".into()
            } else {
                days.join(", ")
            }
        );
        for (sym, d) in &rep.gaps.missing_symbol_days {
            let d: Vec<String> = d.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "MISSING {sym} on: {}", d.join(", "));
        }
    }
    if !rep.gaps.unusable.is_empty() {
        let _ = writeln!(
            out,
            "{} archived snapshots unusable (see JSON)",
            rep.gaps.unusable.len()
        );
    }
    side_by_side(&mut out, rep);
    for c in &rep.configs {
        let _ = writeln!(out, "\n== config {} ==", c.name);
        run_table(&mut out, "scorer", &c.scored);
        run_table(&mut out, "random baseline", &c.baseline);
        let _ = writeln!(out, " verdict: {}", c.scorer_vs_baseline.verdict);
    }
    out
}

/// Deterministic JSON of the report.
pub fn to_json(rep: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(rep)
}
