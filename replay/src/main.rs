//! `sas-replay`: see docs/replay.md.

use std::process::ExitCode;

use clap::Parser;
use sas_archiver::store::Store;
use sas_replay::cli::{replay, Cli, Command};
use sas_replay::error::redact_url;
use sas_replay::pg::Archive;
use sas_replay::report::{table, to_json};
use sas_replay::{chart, seed, ReplayError};

async fn run(cli: Cli) -> Result<(), ReplayError> {
    match cli.command {
        Command::Run(args) => {
            let plan = args.plan()?;
            let archive = Archive::connect(&plan.database_url).await?;
            let started = std::time::Instant::now();
            let rep = replay(&archive, &plan).await?;
            let secs = started.elapsed().as_secs_f64();
            if let Some(p) = &args.json {
                let text = to_json(&rep).map_err(|e| ReplayError::Output {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                std::fs::write(p, text + "\n").map_err(|e| ReplayError::Output {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            if let Some(p) = &args.chart {
                chart::write_svg(&rep, p)?;
            }
            if !args.quiet {
                print!("{}", table(&rep));
            }
            eprintln!(
                "replayed {} slots, {} snapshots in {secs:.2} s",
                rep.slots, rep.snapshots
            );
            Ok(())
        }
        Command::SeedSim(args) => {
            let (url, spec) = args.plan()?;
            let store = Store::connect(&url)
                .await
                .map_err(|e| ReplayError::Unreachable {
                    url: redact_url(&url),
                    reason: e.to_string(),
                })?;
            store
                .migrate()
                .await
                .map_err(|e| ReplayError::Seed(e.to_string()))?;
            let started = std::time::Instant::now();
            let n = seed::seed(&store, &spec).await?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "seeded {} snapshots: {} chain_snapshots rows, {} underlying_metrics_intraday rows in {secs:.2} s ({:.0} rows/s incl. simulation and analytics)",
                n.snapshots,
                n.chain_rows,
                n.metrics_rows,
                (n.chain_rows + n.metrics_rows) as f64 / secs.max(1e-9)
            );
            Ok(())
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sas-replay: {e}");
            ExitCode::from(2)
        }
    }
}
