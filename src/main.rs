//! Entry point: parse the command line, start logging, run the command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use dockgate::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    dockgate::telemetry::init_logging();
    std::panic::set_hook(Box::new(|info| {
        // A half-dead daemon is worse than a restarted one: log, then abort so systemd restarts.
        tracing::error!(panic = %info, "dockgate panicked; aborting.");
        eprintln!("dockgate panicked: {info}");
        std::process::abort();
    }));
    cli::run(cli)
}
