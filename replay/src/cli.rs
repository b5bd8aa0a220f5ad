//! Command line: `sas-replay run …` (the replay and its report) and
//! `sas-replay seed-sim …` (a simulated archive for the benchmark and the
//! tests). Arguments are checked together: every problem is listed at once.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sas_core::calendar::{utc_to_eastern, MarketCalendar};
use sas_core::market::Symbol;

use crate::archive::slots;
use crate::config::ReplayConfig;
use crate::engine::{EntryMode, Sim};
use crate::pg::Archive;
use crate::report::{compare, run_report, ConfigReport, Gaps, Report};
use crate::ReplayError;

#[derive(Debug, Parser)]
#[command(
    name = "sas-replay",
    about = "Replays core's strategies over the Postgres archive"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay a date range of the archive and report.
    Run(RunArgs),
    /// Fill an archive with simulated chain snapshots (benchmark, tests).
    SeedSim(SeedArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// First session (YYYY-MM-DD, New York date).
    #[arg(long)]
    pub from: String,
    /// Last session, inclusive.
    #[arg(long)]
    pub to: String,
    /// Comma-separated symbols.
    #[arg(long)]
    pub watchlist: String,
    /// A configuration file (TOML); give it twice to compare two. None = defaults.
    #[arg(long = "config")]
    pub configs: Vec<PathBuf>,
    /// Seed of the random-entry baseline.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the equity-curve chart (SVG) here.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Print no table.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "SPY,QQQ,IWM,DIA,AAPL,MSFT,NVDA,AMZN,TLT,GLD")]
    pub symbols: String,
    #[arg(long, default_value_t = 15)]
    pub interval_minutes: i64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// A checked `run` request.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub database_url: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub watchlist: Vec<Symbol>,
    pub configs: Vec<ReplayConfig>,
    pub seed: u64,
}

fn date(raw: &str, name: &str, errs: &mut Vec<String>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| errs.push(format!("--{name} {raw:?} is not a date (YYYY-MM-DD)")))
        .ok()
}

fn symbols(raw: &str, name: &str, errs: &mut Vec<String>) -> Vec<Symbol> {
    let mut out = Vec::new();
    for s in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Symbol::parse(s) {
            Ok(sym) if !out.contains(&sym) => out.push(sym),
            Ok(sym) => errs.push(format!("--{name}: {sym} is listed twice")),
            Err(e) => errs.push(format!("--{name}: {s:?}: {e}")),
        }
    }
    if out.is_empty() {
        errs.push(format!("--{name} names no symbol"));
    }
    out
}

fn url(raw: Option<&String>, errs: &mut Vec<String>) -> String {
    match raw {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => u.clone(),
        Some(_) => {
            errs.push("--database-url / DATABASE_URL must be a postgres:// URL".into());
            String::new()
        }
        None => {
            errs.push("--database-url or DATABASE_URL is required".into());
            String::new()
        }
    }
}

impl RunArgs {
    /// Checks everything; reads and validates the config files.
    pub fn plan(&self) -> Result<RunPlan, ReplayError> {
        let mut errs = Vec::new();
        let database_url = url(self.database_url.as_ref(), &mut errs);
        let from = date(&self.from, "from", &mut errs);
        let to = date(&self.to, "to", &mut errs);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errs.push(format!("--from {f} is after --to {t}"));
            } else if (t - f).num_days() > 3660 {
                errs.push("the range is longer than 10 years".into());
            }
        }
        let watchlist = symbols(&self.watchlist, "watchlist", &mut errs);
        if self.configs.len() > 2 {
            errs.push(format!(
                "at most two --config files, got {}",
                self.configs.len()
            ));
        }
        let mut configs = Vec::new();
        for p in &self.configs {
            let label = p.display().to_string();
            match std::fs::read_to_string(p) {
                Ok(text) => match ReplayConfig::from_toml(&text, &label) {
                    Ok(mut c) => {
                        if c.name == ReplayConfig::default().name {
                            c.name = p.file_stem().map_or_else(
                                || label.clone(),
                                |s| s.to_string_lossy().into_owned(),
                            );
                        }
                        configs.push(c);
                    }
                    Err(list) => errs.extend(list),
                },
                Err(e) => errs.push(format!("{label}: {e}")),
            }
        }
        if configs.is_empty() && self.configs.is_empty() {
            configs.push(ReplayConfig::default());
        }
        if configs.len() == 2 && configs[0].name == configs[1].name {
            errs.push(format!(
                "both configurations are named {:?}",
                configs[0].name
            ));
        }
        if let Some(c) = &self.chart {
            if c.extension().and_then(|e| e.to_str()) != Some("svg") {
                errs.push(format!("--chart {}: only .svg is written", c.display()));
            }
        }
        match (errs.is_empty(), from, to) {
            (true, Some(from), Some(to)) => Ok(RunPlan {
                database_url,
                from,
                to,
                watchlist,
                configs,
                seed: self.seed,
            }),
            _ => Err(ReplayError::InvalidArguments(errs)),
        }
    }
}

impl SeedArgs {
    pub fn plan(&self) -> Result<(String, crate::seed::SeedSpec), ReplayError> {
        let mut errs = Vec::new();
        let u = url(self.database_url.as_ref(), &mut errs);
        let from = date(&self.from, "from", &mut errs);
        let to = date(&self.to, "to", &mut errs);
        let syms = symbols(&self.symbols, "symbols", &mut errs);
        if !(1..=390).contains(&self.interval_minutes) {
            errs.push("--interval-minutes must be 1..=390".into());
        }
        match (errs.is_empty(), from, to) {
            (true, Some(from), Some(to)) => Ok((
                u,
                crate::seed::SeedSpec {
                    symbols: syms,
                    from,
                    to,
                    interval_minutes: self.interval_minutes,
                    seed: self.seed,
                    skip_days: Vec::new(),
                    skip_symbol_days: Vec::new(),
                },
            )),
            _ => Err(ReplayError::InvalidArguments(errs)),
        }
    }
}

fn progress(days: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(days);
    pb.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} days {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Runs the replay of `plan` over `archive`: one pass over the days, every
/// configuration's scorer and baseline fed the same slots.
pub async fn replay(archive: &Archive, plan: &RunPlan) -> Result<Report, ReplayError> {
    let names: Vec<String> = plan
        .watchlist
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let mut sims: Vec<(Sim, Sim)> = plan
        .configs
        .iter()
        .map(|c| {
            // The same seed for every configuration's baseline: the same
            // random draws, so two configurations' baselines differ only by
            // what the configurations change.
            (
                Sim::new(c.clone(), EntryMode::Scored),
                Sim::new(c.clone(), EntryMode::Random { seed: plan.seed }),
            )
        })
        .collect();
    let days = (plan.to - plan.from).num_days() + 1;
    let pb = progress(u64::try_from(days).unwrap_or(0));
    let mut gaps = Gaps::default();
    let (mut n_slots, mut n_snaps) = (0u64, 0u64);
    let mut sessions_with_data = 0u64;
    let mut date = plan.from;
    while date <= plan.to {
        pb.set_message(date.to_string());
        // A New York session lies inside one UTC day.
        let start = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default());
        let (metrics, chains) = archive
            .rows(&names, start, start + Duration::days(1))
            .await?;
        let (day_slots, bad) = slots(&metrics, &chains);
        gaps.unusable.extend(bad);
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for slot in &day_slots {
            if utc_to_eastern(slot.at).date() != date {
                continue;
            }
            n_slots += 1;
            n_snaps += slot.snapshots.len() as u64;
            for s in slot.snapshots.keys() {
                seen.insert(s.as_str());
            }
            for (a, b) in &mut sims {
                a.on_slot(slot);
                b.on_slot(slot);
            }
        }
        if MarketCalendar::session(date).is_some() {
            if seen.is_empty() {
                gaps.missing_days.push(date);
            } else {
                sessions_with_data += 1;
                for n in &names {
                    if !seen.contains(n.as_str()) {
                        gaps.missing_symbol_days
                            .entry(n.clone())
                            .or_default()
                            .push(date);
                    }
                }
            }
        }
        pb.inc(1);
        date += Duration::days(1);
    }
    pb.finish_and_clear();
    if n_slots == 0 {
        return Err(ReplayError::NoData {
            watchlist: names.join(","),
            from: plan.from.to_string(),
            to: plan.to.to_string(),
        });
    }
    let configs = sims
        .into_iter()
        .zip(&plan.configs)
        .map(|((a, b), c)| {
            let scored = run_report(a.finish());
            let baseline = run_report(b.finish());
            let scorer_vs_baseline = compare(&scored, &baseline);
            ConfigReport {
                name: c.name.clone(),
                scored,
                baseline,
                scorer_vs_baseline,
            }
        })
        .collect();
    Ok(Report {
        from: plan.from,
        to: plan.to,
        watchlist: names,
        seed: plan.seed,
        slots: n_slots,
        snapshots: n_snaps,
        sessions_with_data,
        gaps,
        configs,
    })
}
