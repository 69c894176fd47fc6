//! Entry point: parse the command line, start logging, validate the configuration, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use dockgate::cli::{self, Cli, Command, ConfigCommand, ScanCommand};
use dockgate::config::Config;

/// Exit status for a configuration the daemon cannot start with (sysexits EX_CONFIG; systemd
/// shows it as `status=78/CONFIG`).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    dockgate::telemetry::init_logging();
    std::panic::set_hook(Box::new(|info| {
        // A half-dead daemon is worse than a restarted one: log, then abort so systemd restarts.
        tracing::error!(panic = %info, "dockgate panicked; aborting.");
        eprintln!("dockgate panicked: {info}");
        std::process::abort();
    }));
    if let Command::Config(ConfigCommand::Validate { file }) = &cli.command {
        return match Config::load(file) {
            Ok(config) => {
                println!(
                    "{}: valid (version {}, site {}, {} sinks)",
                    file.display(),
                    config.version,
                    config.site.id,
                    config.sinks.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Scan(ScanCommand::Parse { json, data }) = &cli.command {
        // Pure decoding: no configuration, no runtime.
        return match cli::scan_parse(data, *json) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("dockgate: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dockgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Command::Run => {
            let config = match Config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            runtime.block_on(dockgate::app::run(config))
        }
        Command::Status { json } => runtime.block_on(cli::status(&cli, *json)),
        Command::Events(args) => runtime.block_on(cli::events(&cli, args)),
        Command::Replay(args) => runtime.block_on(cli::replay(&cli, args)),
        Command::Config(_) | Command::Scan(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dockgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
