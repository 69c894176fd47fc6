//! The command line of DESIGN §7. The inspecting commands (`status`, `events`, `replay`,
//! `config rollback`) talk to a running daemon's admin API; the configuration tools are in
//! [`config`], `scan parse` in [`scan`], and `demo`, which runs a daemon of its own, in
//! [`demo`].

/// `println!` for what a command prints: when the reader has gone away (`dockgate status |
/// head -1`), the command ends quietly instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod check;
mod config;
mod demo;
mod doctor;
mod scan;

pub use self::check::CheckArgs;
pub use self::config::{ConfigCommand, KeygenArgs, PushArgs};
pub use self::demo::DemoArgs;
pub use self::doctor::DoctorArgs;
pub use self::scan::scan_parse;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::control::admin::ReplayRequest;
use crate::control::status::{dead_letter_commands, human_age, Status};
use crate::telemetry::{print_stderr, Severity};

/// dockgate: warehouse edge gateway.
#[derive(Debug, Parser)]
#[command(name = "dockgate", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "DOCKGATE_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Admin API of the running daemon, for the commands that talk to it (status, events,
    /// replay, config rollback); default: `admin.listen` of the configuration.
    #[arg(long, global = true, env = "DOCKGATE_ADMIN")]
    pub admin: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (systemd Type=notify).
    Run,
    /// A self-contained tour: the real daemon on a scripted shift, with virtual scanners, a
    /// local ERP and CRM, an outage and recovery.
    ///
    /// Runs the daemon's own code in a temporary directory (--config is not read), with
    /// virtual scanners and dock sensors on serial lines (pseudo-terminals) and one posting
    /// over HTTP, and an ERP and a CRM stand-in on 127.0.0.1. The shift has picks, packs,
    /// loads, doors opening and closing, a return, a bad label, exceptions, and the ERP down
    /// for a stretch: its backlog builds and drains in order. Shows live figures and the status
    /// page's address. At the end, or on Ctrl-C, it prints a tally comparing what the
    /// stand-ins received with what the buffer committed, event by event, and exits 0 only
    /// when every event reached its sink exactly once.
    Demo(DemoArgs),
    /// Show the running configuration, the buffer, each sink (backlog, oldest pending age, last
    /// delivery, last error), each device (up or down, last input, last error) and the dead
    /// letters with the command that replays each; the words and ages of the status page.
    Status {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the buffer.
    Events(EventsArgs),
    /// Deliver events again.
    Replay(ReplayArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Barcode tools.
    #[command(subcommand)]
    Scan(ScanCommand),
    /// Verify a buffer offline (SQLite integrity, layout, the event log, cursors, exceptions and
    /// receipts consistent with each other, counts by state) and say what was found; exits 0
    /// only when it is sound. Reads without locking or changing anything, so it may also run
    /// beside the daemon (on a snapshot).
    Check(CheckArgs),
    /// Day-one check of this box: config, each sink reached (TLS, auth), each serial path, the
    /// broker.
    ///
    /// Without the daemon: the configuration it would start with and the files it names, the data directory and its free space, the clock, each sink
    /// reached (DNS, TCP, TLS with the sink's trust and client certificate, and a probe with
    /// its credentials: `OPTIONS` marked `X-Dockgate-Probe: 1`, never a delivery; a NATS sink:
    /// a login with its credentials and TLS, its stream looked up, and a publish the stream
    /// refuses unstored), the site broker (login with its credentials and TLS) and each serial port, for the user the
    /// daemon runs as. One line per check, PASS, WARN or FAIL with what to do; exits non-zero
    /// when a check failed. Never writes to the buffer. Run it as root for the whole picture.
    Doctor(DoctorArgs),
}

/// `dockgate events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this sink (not with `--state rejected`).
    #[arg(long)]
    pub sink: Option<String>,
    /// Only this device's quarantined inputs (with `--state rejected`).
    #[arg(long)]
    pub device: Option<String>,
    /// Only this state (`rejected`: quarantined device inputs).
    #[arg(long, value_parser = ["pending", "held", "dead", "delivered", "rejected"])]
    pub state: Option<String>,
    /// Most events shown.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `dockgate replay`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["dead", "event", "since"])))]
pub struct ReplayArgs {
    /// Sink to deliver to.
    #[arg(long)]
    pub sink: String,
    /// Every dead letter of the sink.
    #[arg(long)]
    pub dead: bool,
    /// One event, by id.
    #[arg(long)]
    pub event: Option<String>,
    /// Every event since TIME (RFC 3339, or a duration ago such as `2h`), delivered ones too.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

/// `dockgate scan ...`.
#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// Decode one scanned barcode as the daemon does, with the `[barcodes]` rules of the
    /// configuration file (the defaults when there is none), and show what it holds; exits
    /// non-zero (reason on stderr) when the barcode is malformed or unrecognised.
    Parse {
        /// Print the reading as JSON.
        #[arg(long)]
        json: bool,
        /// The scanned text, AIM id included (`]C1...`). Type the GS separator as `<GS>`, `^]`
        /// or `\x1d`.
        #[arg(allow_hyphen_values = true)]
        data: String,
    },
}

/// Exit status for a configuration the daemon cannot start with (sysexits EX_CONFIG; systemd
/// shows it as `status=78/CONFIG`).
const EXIT_CONFIG: u8 = 78;

/// Runs one command; errors are printed as one line on stderr.
pub fn run(cli: Cli) -> ExitCode {
    match &cli.command {
        Command::Config(ConfigCommand::Validate { file }) => {
            return config::validate(file.as_deref().unwrap_or(&cli.config));
        }
        Command::Config(ConfigCommand::Keygen(args)) => {
            return match config::keygen(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    print_stderr(Severity::Error, format_args!("dockgate: {e:#}"));
                    ExitCode::FAILURE
                }
            };
        }
        // Its own world, runtime and logging.
        Command::Demo(args) => return demo::main(args),
        // Reads the file itself: no daemon, no runtime.
        Command::Check(args) => {
            return match check::check(args, &cli.config) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    print_stderr(Severity::Error, format_args!("dockgate: {e:#}"));
                    ExitCode::FAILURE
                }
            };
        }
        // Its own runtime, which does not wait for a device that hangs on open.
        Command::Doctor(args) => return doctor::doctor(args, &cli.config),
        // Pure decoding: no daemon, no runtime.
        Command::Scan(ScanCommand::Parse { json, data }) => {
            return match scan_parse(data, *json, &cli.config) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    print_stderr(Severity::Error, format_args!("dockgate: {e:#}"));
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            print_stderr(
                Severity::Error,
                format_args!("dockgate: cannot start the async runtime: {e}"),
            );
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Command::Run => {
            let (startup, local_problem) = match crate::control::config_push::startup(&cli.config) {
                Ok(s) => s,
                Err(e) => {
                    print_stderr(Severity::Error, &e);
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            if let Some(problem) = &local_problem {
                // Also in the log; here for whoever watches the terminal or ExecStartPre.
                print_stderr(Severity::Warning, problem);
            }
            // A template that does not compile is a configuration error like any other.
            if config::print_template_problems(&startup.config) {
                return ExitCode::from(EXIT_CONFIG);
            }
            runtime.block_on(crate::app::run(startup, local_problem, cli.config.clone()))
        }
        Command::Status { json } => runtime.block_on(status(&cli, *json)),
        Command::Events(args) => runtime.block_on(events(&cli, args)),
        Command::Replay(args) => runtime.block_on(replay(&cli, args)),
        Command::Config(ConfigCommand::Push(args)) => runtime.block_on(config::push(args)),
        Command::Config(ConfigCommand::Rollback) => runtime.block_on(config::rollback(&cli)),
        Command::Config(_)
        | Command::Scan(_)
        | Command::Check(_)
        | Command::Doctor(_)
        | Command::Demo(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_stderr(Severity::Error, format_args!("dockgate: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Base URL of the admin API for the inspecting commands: `--admin`, else `admin.listen` of the
/// configuration file (only that key is read: the rest need not be valid, nor its files
/// present), else the default.
fn admin_base(cli: &Cli) -> anyhow::Result<String> {
    if let Some(url) = &cli.admin {
        let url = url.trim_end_matches('/');
        return Ok(if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        });
    }
    let listen = std::fs::read_to_string(&cli.config)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("admin")?.get("listen")?.as_str().map(str::to_owned));
    Ok(format!(
        "http://{}",
        listen.as_deref().unwrap_or("127.0.0.1:8686")
    ))
}

pub(crate) async fn admin_call(
    cli: &Cli,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let base = admin_base(cli)?;
    let url = format!("{base}{path}");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut req = client.request(method, &url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.with_context(|| {
        format!("cannot reach the dockgate admin API at {base} (is the daemon running?)")
    })?;
    let status = resp.status();
    let text = resp.text().await.context("reading admin API answer")?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let why = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        bail!("admin API answered {status}: {why}");
    }
    Ok(value)
}

/// `dockgate status`: the words and ages of the status page (sink, pending, held, dead, device
/// up or down; an error older than the last delivery is past).
pub async fn status(cli: &Cli, json: bool) -> anyhow::Result<()> {
    let value = admin_call(cli, reqwest::Method::GET, "/api/v1/status", None).await?;
    if json {
        out!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let st: Status = serde_json::from_value(value).context("unexpected status format")?;
    for line in status_lines(&st) {
        out!("{line}");
    }
    Ok(())
}

/// What `dockgate status` prints, line by line.
fn status_lines(st: &Status) -> Vec<String> {
    let ago = |at: Option<&String>, none: &str| match st.age_of(at.map(String::as_str)) {
        Some(secs) => format!("{} ago", human_age(secs)),
        None => none.to_owned(),
    };
    // An error with its age, and "past" when it no longer holds (as the page tags it).
    let error = |text: &Option<String>, at: &Option<String>, past: Option<&str>| match text {
        None => "-".to_owned(),
        Some(e) => {
            let age = ago(at.as_ref(), "");
            let notes: Vec<&str> = [age.as_str(), past.unwrap_or("")]
                .into_iter()
                .filter(|n| !n.is_empty())
                .collect();
            if notes.is_empty() {
                e.clone()
            } else {
                format!("{e} ({})", notes.join(", "))
            }
        }
    };
    let mut lines = vec![
        format!(
            "site {} · config version {} ({}) · dockgate {} · up {}",
            st.site,
            st.config_version,
            st.config_origin,
            st.version,
            human_age(st.uptime_seconds as f64)
        ),
        format!(
            "buffer: {} · {} events stored, last sequence {}",
            st.buffer.summary, st.buffer.events, st.buffer.last_sequence
        ),
        String::new(),
        format!(
            "{:<12} {:<9} {:>9} {:>6} {:>6} {:>10}  {:<14} LAST ERROR",
            "SINK", "STATE", "PENDING", "HELD", "DEAD", "OLDEST", "LAST DELIVERY"
        ),
    ];
    for s in &st.sinks {
        let oldest = s
            .oldest_pending_age_seconds
            .map(human_age)
            .unwrap_or_else(|| "-".into());
        lines.push(format!(
            "{:<12} {:<9} {:>9} {:>6} {:>6} {:>10}  {:<14} {}",
            s.name,
            s.state,
            s.pending,
            s.held,
            s.dead,
            oldest,
            ago(s.last_delivery_at.as_ref(), "none yet"),
            error(
                &s.last_error,
                &s.last_error_at,
                (!s.error_is_current()).then_some("past: delivered since")
            )
        ));
    }
    if !st.devices.is_empty() {
        lines.push(String::new());
        lines.push(format!(
            "{:<12} {:<7} {:<8} {:<5} {:>8} {:>8}  {:<13} LAST ERROR",
            "DEVICE", "SOURCE", "STATION", "UP", "INPUTS", "REJECTED", "LAST INPUT"
        ));
        for d in &st.devices {
            let s = &d.snapshot;
            // Upper case draws the eye to a device that is down, as the page's red badge does.
            let word = if s.up {
                d.word().to_owned()
            } else {
                d.word().to_uppercase()
            };
            let err = error(
                &s.last_error,
                &s.last_error_at,
                (!d.error_is_current()).then_some("past"),
            );
            lines.push(format!(
                "{:<12} {:<7} {:<8} {:<5} {:>8} {:>8}  {:<13} {}",
                d.id,
                d.source,
                d.station,
                word,
                s.inputs,
                s.rejected,
                ago(s.last_input_at.as_ref(), "no input yet"),
                err
            ));
        }
    }
    let dead = st.dead_total();
    if dead > 0 {
        lines.push(String::new());
        let shown = st.dead_letters.len() as u64;
        let which = if shown < dead {
            format!(" (the oldest {shown} shown)")
        } else {
            String::new()
        };
        lines.push(format!(
            "DEAD LETTERS: {dead}{which}; once the cause is fixed, deliver each again with the command below it"
        ));
        for d in &st.dead_letters {
            lines.push(format!(
                "{:<12} {}  {}  {}  {}",
                d.sink,
                d.subject,
                d.event_type,
                ago(Some(&d.time), "-"),
                d.why()
            ));
            lines.push(format!("{:<12} {}", "", d.replay_command()));
        }
        for s in st.sinks.iter().filter(|s| s.dead > 0) {
            let (replay_all, list) = dead_letter_commands(&s.name);
            lines.push(format!(
                "all {} of {}: {replay_all} · listed by {list}",
                s.dead, s.name
            ));
        }
    }
    lines
}

/// `dockgate events`.
pub async fn events(cli: &Cli, args: &EventsArgs) -> anyhow::Result<()> {
    let mut query = format!("/api/v1/events?limit={}", args.limit);
    if let Some(s) = &args.sink {
        query.push_str(&format!("&sink={}", urlencode(s)));
    }
    if let Some(s) = &args.state {
        query.push_str(&format!("&state={s}"));
    }
    if let Some(d) = &args.device {
        query.push_str(&format!("&device={}", urlencode(d)));
    }
    let value = admin_call(cli, reqwest::Method::GET, &query, None).await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let rows = value.as_array().cloned().unwrap_or_default();
    if args.state.as_deref() == Some("rejected") {
        for r in rows {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
            let n = r.get("bytes").and_then(Value::as_u64).unwrap_or(0);
            out!(
                "rejected#{}  {}  device={}  reason={}  {}  ({n} bytes) raw=\"{}\"",
                r.get("id").and_then(Value::as_i64).unwrap_or(0),
                s("received_at"),
                s("device"),
                s("reason"),
                s("detail"),
                s("raw")
            );
        }
        return Ok(());
    }
    for r in rows {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
        let n = |k: &str| {
            r.get(k)
                .and_then(Value::as_i64)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into())
        };
        let mut line = format!(
            "{}  seq={}  {}  {}  {}  subject={}  attempts={}",
            s("id"),
            n("sequence"),
            s("sink"),
            s("state"),
            s("type"),
            s("subject"),
            n("attempts")
        );
        if let Some(e) = r.get("last_error").and_then(Value::as_str) {
            line.push_str(&format!("  last_error={e:?}"));
        }
        out!("{line}");
    }
    Ok(())
}

/// `dockgate replay`.
pub async fn replay(cli: &Cli, args: &ReplayArgs) -> anyhow::Result<()> {
    let req = ReplayRequest {
        sink: args.sink.clone(),
        dead: args.dead,
        event: args.event.clone(),
        since: args.since.clone(),
    };
    let value = admin_call(
        cli,
        reqwest::Method::POST,
        "/api/v1/replay",
        Some(serde_json::to_value(&req)?),
    )
    .await?;
    let n = value.get("replayed").and_then(Value::as_u64).unwrap_or(0);
    if let (Some(id), 0) = (&args.event, n) {
        bail!(
            "event {id} is neither dead nor delivered on {}: nothing put back (it is pending or \
             held there, or not routed to it; `dockgate events --sink {}` lists its events)",
            args.sink,
            args.sink
        );
    }
    out!("{n} events put back for delivery to {}", args.sink);
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_uses_the_words_and_ages_of_the_page() {
        let st: Status = serde_json::from_value(serde_json::json!({
            "site": "wh-1", "config_version": 4, "config_origin": "push", "version": "0.1.0",
            "uptime_seconds": 7200, "generated_at": "2026-03-02T10:00:00Z",
            "buffer": {"used_bytes": 1, "max_bytes": 2, "percent_full": 0.1, "events": 3,
                "events_last_hour": 3, "hours_left": null, "summary": "0.1 % used", "last_sequence": 3},
            "sinks": [{"name": "erp", "url": "http://erp/", "pending": 0, "held": 2, "dead": 1,
                "oldest_pending_age_seconds": null, "state": "ok", "paused_reason": null,
                "last_error": "HTTP 422 (unprocessable)", "last_error_at": "2026-03-02T09:50:00Z",
                "last_delivery_at": "2026-03-02T09:59:55Z", "in_flight": 0, "concurrency_limit": 4}],
            "devices": [{"id": "pick-03", "source": "serial", "station": "pick", "up": false,
                "last_error": "device lost: EIO", "last_error_at": "2026-03-02T09:59:00Z",
                "last_input_at": null, "inputs": 0, "rejected": 0, "reconnects": 0}],
            "dead_letters": [{"id": "e-1", "sink": "erp", "subject": "SO-4712", "type": "pick.confirmed",
                "time": "2026-03-02T09:49:00Z", "attempts": 1, "last_status": 422,
                "last_error": "HTTP 422 (unprocessable)"}]
        }))
        .unwrap();
        let lines = status_lines(&st);
        let line = |start: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in {lines:#?}"))
                .clone()
        };
        assert!(line("SINK").contains("LAST DELIVERY"), "{lines:#?}");
        let erp = line("erp ");
        assert!(
            erp.contains("5 s ago") && erp.contains("(10 min ago, past: delivered since)"),
            "{erp}"
        );
        let device = line("pick-03");
        assert!(
            device.contains("DOWN") && device.contains("no input yet"),
            "{device}"
        );
        assert!(device.contains("device lost: EIO (60 s ago)"), "{device}");
        assert!(line("DEAD LETTERS: 1").contains("deliver each again"));
        assert!(line("erp          SO-4712").contains("11 min ago  HTTP 422"));
        assert!(lines
            .iter()
            .any(|l| l.trim() == "dockgate replay --sink erp --event e-1"));
        assert!(line("all 1 of erp").contains("dockgate replay --sink erp --dead"));
    }
}
