//! `dockgate check`: verify a buffer offline and say what was found.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::ledger::BufferCheck;

/// `dockgate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The data directory holding the buffer (default: `site.data_dir` of the configuration).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print what was found as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Checks the buffer; `Ok(true)` when it is sound.
pub fn check(args: &CheckArgs, config: &Path) -> anyhow::Result<bool> {
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            let config = Config::load(config).with_context(|| {
                format!(
                    "finding the data directory in {} (or give it with --data-dir)",
                    config.display()
                )
            })?;
            config.site.data_dir
        }
    };
    let running = crate::ledger::lock_holder(&dir);
    let report = crate::ledger::check(&dir)?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report, running);
    }
    Ok(report.sound())
}

fn print(report: &BufferCheck, running: Option<u32>) {
    out!("buffer {}", report.path.display());
    if let Some(pid) = running {
        out!("note   dockgate (pid {pid}) is running on it: this is a snapshot of a moving buffer");
    }
    for finding in &report.findings {
        let mark = if finding.ok { "ok  " } else { "FAIL" };
        match &finding.detail {
            Some(detail) => out!("{mark}   {}: {detail}", finding.what),
            None => out!("{mark}   {}", finding.what),
        }
    }
    out!(
        "events {} stored (sequence up to {}), {} device inputs journalled, {} quarantined",
        report.events,
        report.last_sequence,
        report.inputs,
        report.quarantined
    );
    if report.sinks.is_empty() && report.layout > 0 {
        out!("sinks  none has an event waiting or delivered");
    }
    for s in &report.sinks {
        let unknown = match s.unknown {
            0 => String::new(),
            n => format!(", {n} unknown"),
        };
        out!(
            "sink   {}: {} pending, {} held, {} dead, {} delivered{unknown}",
            s.sink,
            s.pending,
            s.held,
            s.dead,
            s.delivered
        );
    }
    let failed = report.findings.iter().filter(|f| !f.ok).count();
    if failed == 0 {
        out!("The buffer is sound.");
    } else {
        out!(
            "The buffer is NOT sound: {failed} check(s) failed. Keep a copy of the data directory \
             (stop dockgate first) before changing anything, and report what is above."
        );
    }
}
