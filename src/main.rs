//! Entry point: parse the command line, start logging, run the command.
// One exception, `limit_malloc_arenas`; the library forbids unsafe code outright.
#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use dockgate::cli::{self, Cli};

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // The demo draws on the terminal and keeps the daemon's log in a file of its own.
    if !matches!(cli.command, cli::Command::Demo(_)) {
        dockgate::telemetry::init_logging();
    }
    std::panic::set_hook(Box::new(|info| {
        // A half-dead daemon is worse than a restarted one: log, then abort so systemd restarts.
        tracing::error!(panic = %info, "dockgate panicked; aborting.");
        eprintln!("dockgate panicked: {info}");
        std::process::abort();
    }));
    cli::run(cli)
}

/// glibc gives each thread that allocates under contention an arena of its own, up to eight per
/// core, and keeps what they once held: sink windows filled on blocking threads and emptied on
/// the runtime's workers grew the peak RSS of a drain by a fifth. Two arenas are plenty for one
/// writer, a few readers and the runtime. `MALLOC_ARENA_MAX` in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none_or(|v| v.is_empty()) {
        // SAFETY: mallopt only sets an allocator parameter; called before any other thread
        // exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
