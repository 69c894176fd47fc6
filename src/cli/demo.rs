//! `dockgate demo`: the real daemon on a scripted shift, with nothing else needed. It makes a
//! directory of its own ([`setup`]): virtual serial scanners and a dock sensor on
//! pseudo-terminals, configured as ordinary `source = "serial"` devices, a door sensor posting
//! over HTTP, and an ERP and a CRM stand-in on loopback ([`standins`]). It starts `dockgate
//! run`'s own code on that configuration ([`daemon`]), plays the shift ([`script`]) while
//! showing the sinks' figures ([`progress`]), takes the ERP down and back up, waits for the
//! buffer to drain, and compares what the stand-ins received with what the ledger committed,
//! event by event ([`tally`]).

mod daemon;
mod progress;
mod script;
mod setup;
mod standins;
mod tally;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::daemon::{Daemon, StatusView};
use self::progress::{Figures, SinkLine, View};
use self::script::{Action, Step, Via, DEVICES};
use self::standins::StandIn;
use self::tally::{Outage, SinkTally, Tally};

/// Shortest shift: below it the script has no room for its outage.
const MIN_DURATION: Duration = Duration::from_secs(10);
/// Longest shift: the tally compares every event, listed by the admin API in one page.
const MAX_DURATION: Duration = Duration::from_secs(30 * 60);
/// What the shift leaves to the end: the last dock changes settling, the last deliveries.
const WIND_DOWN: Duration = Duration::from_secs(3);
/// How often the figures are read and redrawn.
const REFRESH: Duration = Duration::from_millis(250);
/// How long the devices may take to come up.
const DEVICES_UP_WITHIN: Duration = Duration::from_secs(15);

/// `dockgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Length of the shift, e.g. `90s` or `2m` (10s to 30m); the script scales to it.
    #[arg(long, default_value = "75s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Keep the demo's directory (configuration, buffer, log) and print its path; without it
    /// the directory is removed at the end (kept anyway when the tally is not clean).
    #[arg(long)]
    pub keep: bool,
    /// Address of the demo daemon's admin API and status page (default: a free port on
    /// 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 90s, 2m)"))?;
    if !(MIN_DURATION..=MAX_DURATION).contains(&d) {
        return Err("expected a duration from 10s to 30m".into());
    }
    Ok(d)
}

/// Runs the demo; exits 0 only when the tally is clean.
pub fn main(args: &DemoArgs) -> ExitCode {
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("dockgate demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    let world = setup::make(args.listen)?;
    let log = std::fs::File::create(&world.log_path)
        .with_context(|| format!("creating {}", world.log_path.display()))?;
    let log_guard = crate::telemetry::init_logging_to(log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let setup::World {
        dir,
        config_path,
        data_dir,
        log_path,
        admin,
        serial,
        erp,
        crm,
    } = world;
    let parts = Parts {
        config_path,
        admin,
        serial,
        erp,
        crm,
        dir: dir.path().display().to_string(),
        total: args.duration,
    };
    let outcome = runtime.block_on(tour(parts));
    drop(runtime);
    // Everything logged is in the file before the directory is kept or removed.
    drop(log_guard);
    let clean = match &outcome {
        Ok(tally) => tally.problems().is_empty(),
        Err(_) => false,
    };
    if args.keep || !clean {
        let path = dir.keep();
        let why = if args.keep {
            "kept"
        } else {
            "kept, the demo did not end clean"
        };
        println!();
        println!(
            "The demo's directory is {why}: {} (configuration dockgate.toml, buffer data/, log {})",
            path.display(),
            log_path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        println!(
            "  look at it with: dockgate check --data-dir {}",
            data_dir.display()
        );
    } else {
        dir.close().context("removing the demo's directory")?;
    }
    outcome.map(|_| clean)
}

/// What [`tour`] works with.
struct Parts {
    config_path: std::path::PathBuf,
    admin: SocketAddr,
    serial: BTreeMap<&'static str, setup::VirtualSerial>,
    erp: std::net::TcpListener,
    crm: std::net::TcpListener,
    dir: String,
    total: Duration,
}

/// Ctrl-C, or SIGTERM.
struct Interrupt {
    int: Signal,
    term: Signal,
}

impl Interrupt {
    fn install() -> anyhow::Result<Self> {
        Ok(Interrupt {
            int: signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// The whole demo, from the stand-ins' start to the daemon's stop; returns the tally.
async fn tour(parts: Parts) -> anyhow::Result<Tally> {
    let mut interrupt = Interrupt::install()?;
    let stop_standins = CancellationToken::new();
    let erp = StandIn::start("erp", parts.erp, stop_standins.clone())?;
    let crm = StandIn::start("crm", parts.crm, stop_standins.clone())?;
    let serial_count = DEVICES.iter().filter(|d| d.via == Via::Serial).count();
    println!(
        "dockgate demo: one scripted shift of {} at site {}, on the real daemon",
        progress::clock(parts.total),
        script::SITE
    );
    println!(
        "  {} virtual devices: {serial_count} on serial lines (pseudo-terminals), {} posting over HTTP",
        DEVICES.len(),
        DEVICES.len() - serial_count
    );
    println!("  ERP stand-in {} (down for a stretch)", erp.url);
    println!("  CRM stand-in {}", crm.url);
    println!("  directory {}", parts.dir);

    let base = format!("http://{}", parts.admin);
    let daemon = Daemon::start(&parts.config_path, base.clone()).await?;
    let mut serial: SerialLines = parts
        .serial
        .into_iter()
        .map(|(id, line)| {
            let port = tokio::fs::File::from_std(line.master);
            (id, (port, line.link, line.slave))
        })
        .collect();
    let played = async {
        wait_devices_up(&daemon).await?;
        println!("  status page {base}/  (open it while the demo runs; Ctrl-C ends early)");
        println!();
        play_shift(
            &daemon,
            [&erp, &crm],
            &mut serial,
            parts.total,
            &mut interrupt,
        )
        .await
    }
    .await;
    // Stopped whatever happened, in order, so the buffer is left sound.
    let stopped = daemon.stop().await;
    // Only now: a line closed under a running daemon is an unplugged scanner.
    drop(serial);
    stop_standins.cancel();
    let mut tally = played?;
    if let Err(e) = stopped {
        tally
            .other
            .push(format!("the daemon did not stop cleanly: {e:#}"));
    }
    println!();
    print!("{}", tally.render());
    Ok(tally)
}

/// Plays the shift of `total`, winds down and compares; the daemon still runs.
async fn play_shift(
    daemon: &Daemon,
    [erp, crm]: [&StandIn; 2],
    serial: &mut SerialLines,
    total: Duration,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Tally> {
    let span = total.saturating_sub(WIND_DOWN);
    let steps = script::shift(script::orders_for(span));
    let mut shift = Shift {
        daemon,
        erp,
        crm,
        view: View::new(std::io::stdout().is_terminal(), 2),
        start: Instant::now(),
        total,
        figures: Figures {
            total,
            ..Figures::default()
        },
        tally: Tally::default(),
        outage: None,
        last_dock: None,
    };
    let mut interrupted = false;
    let mut refresh = tokio::time::interval(REFRESH);
    let mut next = steps.iter().peekable();
    while let Some(step) = next.peek() {
        let due = shift.start + span.mul_f64(step.at);
        tokio::select! {
            _ = interrupt.recv() => {
                interrupted = true;
                break;
            }
            _ = tokio::time::sleep_until(due) => {
                shift.play(step, serial).await?;
                next.next();
            }
            _ = refresh.tick() => shift.refresh(false).await?,
        }
    }
    shift.figures.now = if interrupted {
        "interrupted: draining the buffer (Ctrl-C again to stop now)".into()
    } else {
        "shift over: the last deliveries".into()
    };
    shift.milestone(&shift.figures.now.clone());
    shift.wind_down(interrupt, interrupted).await?;
    shift.view.finish();
    shift.tally(interrupted).await
}

async fn wait_devices_up(daemon: &Daemon) -> anyhow::Result<()> {
    let deadline = Instant::now() + DEVICES_UP_WITHIN;
    loop {
        let status = daemon.status().await?;
        let down: Vec<&str> = status
            .devices
            .iter()
            .filter(|d| !d.up)
            .map(|d| d.id.as_str())
            .collect();
        if down.is_empty() && status.devices.len() == DEVICES.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "devices still down after {DEVICES_UP_WITHIN:?}: {}",
                down.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The shift being played, and what it has seen.
struct Shift<'a> {
    daemon: &'a Daemon,
    erp: &'a StandIn,
    crm: &'a StandIn,
    view: View,
    start: Instant,
    total: Duration,
    figures: Figures,
    /// Inputs sent and events expected so far.
    tally: Tally,
    outage: Option<Outage>,
    /// When the last dock message went out.
    last_dock: Option<Instant>,
}

/// Each serial device's line: the scanner's end, the link, and the port's end held open.
type SerialLines =
    BTreeMap<&'static str, (tokio::fs::File, std::path::PathBuf, std::os::fd::OwnedFd)>;

impl Shift<'_> {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn milestone(&self, text: &str) {
        self.view.milestone(self.elapsed(), text);
    }

    async fn play(&mut self, step: &Step, serial: &mut SerialLines) -> anyhow::Result<()> {
        if step.milestone {
            self.milestone(&step.says);
        } else {
            self.figures.now = step.says.clone();
        }
        for t in &step.expect {
            *self.tally.expected.entry((*t).to_owned()).or_default() += 1;
        }
        match &step.action {
            Action::ErpDown => {
                self.erp.set_up(false);
                self.outage = Some(Outage {
                    from: self.elapsed(),
                    ..Outage::default()
                });
            }
            Action::ErpUp => self.erp_up(),
            Action::Input { device, bytes } => {
                let spec = DEVICES.iter().find(|d| d.id == *device);
                if spec.is_some_and(|d| d.station == crate::model::Station::Dock) {
                    self.last_dock = Some(Instant::now());
                }
                match serial.get_mut(device) {
                    Some((port, link, _)) => {
                        let mut line = bytes.clone();
                        line.extend_from_slice(b"\r\n");
                        port.write_all(&line).await?;
                        port.flush()
                            .await
                            .with_context(|| format!("writing to {}", link.display()))?;
                        self.tally.sent_serial += 1;
                    }
                    None => {
                        self.daemon.ingest(device, bytes.clone()).await?;
                        self.tally.sent_http += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn erp_up(&mut self) {
        self.erp.set_up(true);
        let at = self.elapsed();
        if let Some(o) = &mut self.outage {
            o.to.get_or_insert(at);
        }
    }

    /// Reads the figures and shows them.
    async fn refresh(&mut self, force: bool) -> anyhow::Result<()> {
        let status = self.daemon.status().await?;
        let rejected = self.daemon.rejected().await?.len();
        self.update(&status, rejected);
        self.view.show(&self.figures, force);
        Ok(())
    }

    fn update(&mut self, status: &StatusView, rejected: usize) {
        let f = &mut self.figures;
        f.elapsed = self.start.elapsed();
        f.sent = self.tally.sent_serial + self.tally.sent_http;
        f.read = status.devices.iter().map(|d| d.inputs).sum();
        f.events = status.buffer.last_sequence;
        f.rejected = rejected;
        f.exceptions = self.crm.book().exceptions();
        f.sinks = [self.erp, self.crm]
            .iter()
            .map(|s| {
                let view = status.sinks.iter().find(|v| v.name == s.name);
                SinkLine {
                    name: s.name.to_owned(),
                    receiver_up: s.is_up(),
                    state: view.map(|v| v.state.clone()).unwrap_or_default(),
                    backlog: view.map_or(0, |v| v.backlog()),
                    delivered: s.book().accepted.len(),
                    dead: view.map_or(0, |v| v.dead),
                }
            })
            .collect();
        if let Some(o) = &mut self.outage {
            o.peak = o.peak.max(f.sinks.first().map_or(0, |s| s.backlog));
        }
    }

    /// After the shift (or Ctrl-C): the ERP back, the last dock changes settled, every input
    /// read and every sink drained, or the time is up (or a second Ctrl-C).
    async fn wind_down(
        &mut self,
        interrupt: &mut Interrupt,
        interrupted: bool,
    ) -> anyhow::Result<()> {
        if !self.erp.is_up() {
            self.erp_up();
            self.milestone(script::ERP_BACK);
        }
        let settle = self.last_dock.map_or_else(Instant::now, |t| {
            t + script::DOCK_DEBOUNCE + Duration::from_millis(1500)
        });
        let limit = if interrupted {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(20).max(self.total / 4)
        };
        let deadline = Instant::now() + limit;
        // Drained twice in a row, with nothing committed between: an input read just before
        // the first look may not have been committed yet.
        let mut drained_at: Option<i64> = None;
        loop {
            self.refresh(false).await?;
            let f = &self.figures;
            let drained = Instant::now() >= settle
                && f.read == f.sent
                && f.sinks.iter().all(|s| s.backlog == 0);
            if drained && drained_at == Some(f.events) {
                break;
            }
            drained_at = drained.then_some(f.events);
            if Instant::now() > deadline {
                self.milestone(&format!(
                    "stopped waiting after {}: the tally says what is left",
                    progress::clock(limit)
                ));
                break;
            }
            tokio::select! {
                _ = interrupt.recv() => {
                    self.milestone("stopped waiting: the tally says what is left");
                    break;
                }
                _ = tokio::time::sleep(REFRESH) => {}
            }
        }
        self.figures.now = "done".into();
        self.refresh(true).await
    }

    /// Compares the ledger with the stand-ins.
    async fn tally(self, interrupted: bool) -> anyhow::Result<Tally> {
        let mut tally = self.tally;
        tally.elapsed = self.start.elapsed();
        tally.interrupted = interrupted;
        tally.read = self.figures.read;
        tally.rejected = self.daemon.rejected().await?;
        tally.outage = self.outage;
        let erp_rows = self.daemon.events(self.erp.name).await?;
        let crm_rows = self.daemon.events(self.crm.name).await?;
        tally.count_made(&[&erp_rows, &crm_rows]);
        tally.sinks = vec![
            SinkTally::of(self.erp.name, &erp_rows, &self.erp.book()),
            SinkTally::of(self.crm.name, &crm_rows, &self.crm.book()),
        ];
        Ok(tally)
    }
}
