//! `dockgate doctor`: the day-one check of a box. Reads the configuration the daemon would
//! start with and tries, without the daemon and without touching its buffer, what the daemon
//! will need: the configuration and the files it names, the data directory, the clock, each
//! sink (name resolution, TCP, TLS with the sink's own trust and client certificate, and a
//! probe with its credentials), the site broker (login with its credentials and TLS) and each
//! serial port. One line per check, `PASS`, `WARN` or `FAIL`, a failure with what to do; the
//! exit status is non-zero when anything failed.
//!
//! - [`service`]: who the daemon runs as (the `dockgate.service` unit, or `--service-user`)
//!   and what that user may open, by the files' modes;
//! - [`local`]: the files the configuration names and the data directory;
//! - [`serial`]: each serial port;
//! - [`clock`]: whether the clock is synchronised;
//! - [`remote`]: the sinks and the broker, through the daemon's own client code.

mod clock;
mod local;
mod nats;
mod remote;
mod serial;
mod service;

use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use self::service::Service;
use crate::config::{Config, SinkKind, SourceKind};

/// `dockgate doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Longest wait of each check that goes over the network or to a device (`5s`, `500ms`).
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// The user the daemon runs as, whose access to files and devices is checked (default:
    /// `User=` of dockgate.service, else `dockgate`).
    #[arg(long, value_name = "USER")]
    pub service_user: Option<String>,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("expected a duration above zero".into()),
        Err(_) => Err(format!(
            "expected a duration with its unit, such as 5s or 500ms, got {text:?}"
        )),
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// It works.
    Pass,
    /// It may work, or could not be told; the line says which.
    Warn,
    /// It will not work as it is.
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        })
    }
}

/// One line of the report: what was checked, what was found, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    verdict: Verdict,
    /// What was checked: `config`, `sink erp tcp`, `device pick-1 serial`.
    subject: String,
    /// What was found.
    detail: String,
    /// What to do about it (failures and warnings).
    fix: Option<String>,
}

impl Finding {
    fn pass(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Pass,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::pass(subject, detail).with(Verdict::Warn, fix)
    }

    fn fail(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::pass(subject, detail).with(Verdict::Fail, fix)
    }

    fn with(mut self, verdict: Verdict, fix: impl Into<String>) -> Self {
        self.verdict = verdict;
        let fix = fix.into();
        self.fix = (!fix.is_empty()).then_some(fix);
        self
    }

    /// The report line: `FAIL  sink erp tcp  127.0.0.1:9: ... -- fix: ...`.
    fn line(&self) -> String {
        let mut line = format!(
            "{}  {:<SUBJECT_WIDTH$}  {}",
            self.verdict, self.subject, self.detail
        );
        if let Some(fix) = &self.fix {
            line.push_str(" -- fix: ");
            line.push_str(fix);
        }
        line
    }
}

/// Width of the subject column (longer subjects push the line to the right).
const SUBJECT_WIDTH: usize = 22;

/// `dockgate doctor`: prints one line per check; success when none failed.
pub fn doctor(args: &DoctorArgs, config_path: &Path) -> ExitCode {
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
    let findings = runtime.block_on(run(args, config_path));
    // A check stuck in a blocking call (a device open that never returns) has been reported
    // as timed out; it must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(200));
    let count = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count();
    let (passed, warned, failed) = (
        count(Verdict::Pass),
        count(Verdict::Warn),
        count(Verdict::Fail),
    );
    out!(
        "{} checks: {passed} passed, {warned} warnings, {failed} failed",
        findings.len()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs every check, printing each line as soon as the lines before it are known; returns
/// them all.
async fn run(args: &DoctorArgs, config_path: &Path) -> Vec<Finding> {
    let mut printed = Vec::new();
    let mut print = |findings: Vec<Finding>| {
        for f in findings {
            out!("{}", f.line());
            printed.push(f);
        }
    };
    let (config, finding) = config_check(config_path).await;
    print(vec![finding]);
    let Some(config) = config else {
        return printed;
    };
    let config = Arc::new(config);
    let timeout = args.timeout;
    let service = Arc::new(Service::resolve(args.service_user.as_deref(), timeout).await);
    print(vec![service.finding()]);

    // Everything from here runs at once; lines come out in this order.
    let mut groups: Vec<tokio::task::JoinHandle<Vec<Finding>>> = Vec::new();
    {
        let (c, s) = (config.clone(), service.clone());
        groups.push(bounded("files", timeout, move || local::files(&c, &s)));
    }
    {
        let (c, s) = (config.clone(), service.clone());
        groups.push(bounded("data dir", timeout, move || {
            local::data_dir(&c, &s)
        }));
    }
    let mut dates = Vec::new();
    for (name, sink) in &config.sinks {
        let (tx, rx) = tokio::sync::oneshot::channel();
        dates.push(rx);
        let (name, sink, privileged) = (name.clone(), sink.clone(), service.privileged());
        if sink.kind == SinkKind::Nats {
            let site = config.site.id.clone();
            groups.push(tokio::spawn(async move {
                let failed = |subject, e: &_| remote::build_failed(subject, &name, e, privileged);
                nats::sink(&name, &site, &sink, timeout, failed).await
            }));
            continue;
        }
        groups.push(tokio::spawn(async move {
            let (findings, date) = remote::sink(&name, &sink, timeout, privileged).await;
            let _ = tx.send(date);
            findings
        }));
    }
    if let Some(mqtt) = &config.mqtt {
        let (mqtt, site) = (mqtt.clone(), config.site.id.clone());
        groups.push(tokio::spawn(async move {
            vec![remote::broker(&mqtt, &site, timeout).await]
        }));
    }
    for (id, device) in &config.devices {
        if device.source != SourceKind::Serial {
            continue;
        }
        let (id, device, s, c) = (id.clone(), device.clone(), service.clone(), config.clone());
        let subject = format!("device {id} serial");
        groups.push(bounded(subject, timeout, move || {
            let daemon = crate::ledger::lock_holder(&c.site.data_dir);
            vec![serial::serial(&id, &device, &s, daemon)]
        }));
    }
    groups.push(tokio::spawn(async move {
        let mut seen = Vec::new();
        for rx in dates {
            if let Ok(Some(date)) = rx.await {
                seen.push(date);
            }
        }
        vec![clock::clock(&seen, timeout).await]
    }));
    for group in groups {
        print(group.await.unwrap_or_else(|e| vec![panicked(e)]));
    }
    printed
}

/// Runs blocking `check` on a blocking thread, waiting at most `timeout` for it: a device or
/// filesystem that hangs is a failure of its own, and the thread is left behind.
fn bounded(
    subject: impl Into<String>,
    timeout: Duration,
    check: impl FnOnce() -> Vec<Finding> + Send + 'static,
) -> tokio::task::JoinHandle<Vec<Finding>> {
    let subject = subject.into();
    tokio::spawn(async move {
        match tokio::time::timeout(timeout, tokio::task::spawn_blocking(check)).await {
            Ok(Ok(findings)) => findings,
            Ok(Err(e)) => vec![panicked(e)],
            Err(_) => vec![Finding::fail(
                subject,
                format!("the check did not finish within {}", human(timeout)),
                "something hangs (a device that does not answer its open, a stuck \
                 filesystem): check dmesg; the daemon would hang on it too",
            )],
        }
    })
}

/// A check that panicked: a bug, reported as a failure rather than a crash of the report.
fn panicked(e: tokio::task::JoinError) -> Finding {
    Finding::fail(
        "doctor",
        format!("a check stopped unexpectedly: {e}"),
        "report this as a dockgate bug",
    )
}

/// The configuration the daemon would start with (the local file, or the change applied
/// last when that wins, as `dockgate run` picks), checked as `dockgate config validate`
/// checks it, and with its templates present.
async fn config_check(path: &Path) -> (Option<Config>, Finding) {
    let owned = path.to_owned();
    let picked = tokio::task::spawn_blocking(move || {
        let picked = crate::control::config_push::startup(&owned);
        let templates = picked
            .as_ref()
            .ok()
            .map(|(s, _)| crate::forward::mapping::check(&s.config));
        let local = std::fs::read_to_string(&owned)
            .ok()
            .and_then(|text| Some((Config::parse(&text).ok()?.version, text)));
        (picked, templates, local)
    })
    .await;
    let (picked, templates, local) = match picked {
        Ok(p) => p,
        Err(e) => return (None, panicked(e)),
    };
    let validate = format!("run `dockgate config validate {}`", path.display());
    let (startup, local_problem) = match picked {
        Ok(p) => p,
        Err(e) => {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            let more = e.problems.len().saturating_sub(1);
            let detail = match more {
                0 => first,
                n => format!("{first} (and {n} more)"),
            };
            return (
                None,
                Finding::fail(
                    "config",
                    detail,
                    format!("{validate} for every problem, fix them, run doctor again"),
                ),
            );
        }
    };
    let config = startup.config;
    let summary = format!(
        "version {}, site {}, {} sinks, {} devices",
        config.version,
        config.site.id,
        config.sinks.len(),
        config.devices.len()
    );
    let finding = if let Some(problem) = local_problem {
        Finding::fail(
            "config",
            format!(
                "{} is not valid ({}); the daemon would run {} instead ({summary}), checked below",
                path.display(),
                problem.to_string().lines().next().unwrap_or_default(),
                startup.origin
            ),
            format!("{validate}, fix the file"),
        )
    } else if let Some((problems, absent)) =
        templates.filter(|(p, a)| !p.is_empty() || !a.is_empty())
    {
        let mut what: Vec<String> = problems
            .iter()
            .map(|(file, p)| {
                crate::config::ConfigError {
                    path: file.clone(),
                    problems: vec![p.clone()],
                }
                .to_string()
            })
            .collect();
        what.extend(absent.iter().map(|a| format!("{a} is missing")));
        Finding::fail(
            "config",
            format!("{} ({summary}): {}", startup.origin, what.join("; ")),
            "put the template in place, or fix it where the line says; the daemon refuses \
             to start without it",
        )
    } else {
        match local {
            Some((_, text)) if startup.from_local || text == startup.text => {
                Finding::pass("config", format!("{} is valid: {summary}", path.display()))
            }
            // A pushed configuration newer than the file: what a centrally managed box runs.
            Some((version, _)) if version < config.version => Finding::pass(
                "config",
                format!(
                    "{} (version {version}) is valid; the daemon would run the newer one it applied last ({}): {summary}",
                    path.display(),
                    startup.origin
                ),
            ),
            _ => Finding::warn(
                "config",
                format!(
                    "{} is valid, but the daemon would run the configuration it applied last ({}), not this text: {summary}",
                    path.display(),
                    startup.origin
                ),
                format!(
                    "to run the file, raise its version above every version this box applied (at least {})",
                    config.version + 1
                ),
            ),
        }
    };
    (Some(config), finding)
}

/// A duration for people: `5s`, `500ms`.
fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_verdict_subject_detail_and_fix() {
        let f = Finding::fail(
            "sink erp tcp",
            "127.0.0.1:9 refused the connection",
            "start the receiver",
        );
        assert_eq!(
            f.line(),
            "FAIL  sink erp tcp            127.0.0.1:9 refused the connection -- fix: start the receiver"
        );
        let p = Finding::pass("config", "valid");
        assert_eq!(p.line(), format!("PASS  {:<22}  valid", "config"));
        assert_eq!(Finding::warn("clock", "unknown", "").fix, None);
    }

    #[test]
    fn the_timeout_needs_a_unit_and_a_length() {
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("5").unwrap_err().contains("unit"));
        assert!(parse_timeout("0s").unwrap_err().contains("above zero"));
    }

    #[tokio::test]
    async fn an_invalid_file_fails_with_its_first_problem_and_a_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockgate.toml");
        std::fs::write(
            &path,
            format!(
                "version = 1\n[site]\nid = \"wh\"\ndata_dir = {:?}\n[sinks.erp]\nurl = \"ftp://x/\"\nconcurrency = 0\n",
                dir.path().join("data").display().to_string()
            ),
        )
        .unwrap();
        let (config, finding) = config_check(&path).await;
        assert!(config.is_none());
        assert_eq!(finding.verdict, Verdict::Fail);
        assert!(finding.detail.contains("sinks.erp.url"), "{finding:?}");
        assert!(finding.detail.ends_with("(and 1 more)"), "{finding:?}");
        assert!(
            finding
                .fix
                .as_deref()
                .unwrap()
                .contains("dockgate config validate"),
            "{finding:?}"
        );
    }

    #[tokio::test]
    async fn an_edit_the_daemon_would_not_run_is_a_warning() {
        use crate::control::config_push::history::{History, Source};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockgate.toml");
        let data = dir.path().join("data");
        let text = |version: u64, url: &str| {
            format!(
                "version = {version}\n[site]\nid = \"wh\"\ndata_dir = {:?}\n[sinks.erp]\nurl = {url:?}\n",
                data.display().to_string()
            )
        };
        let pushed = text(5, "http://127.0.0.1:9/pushed");
        History::open(&data)
            .unwrap()
            .record(5, Source::Push, Some("key".into()), &pushed, "now".into())
            .unwrap();
        // The file is older than the push: a managed box, nothing to warn about.
        std::fs::write(&path, text(3, "http://127.0.0.1:9/local")).unwrap();
        let (config, finding) = config_check(&path).await;
        assert_eq!(finding.verdict, Verdict::Pass, "{finding:?}");
        assert!(
            finding
                .detail
                .contains("(version 3) is valid; the daemon would run the newer one"),
            "{finding:?}"
        );
        assert_eq!(
            config.unwrap().sinks["erp"].url,
            "http://127.0.0.1:9/pushed"
        );
        // Edited under the same version: the edit would not run.
        std::fs::write(&path, text(5, "http://127.0.0.1:9/edited")).unwrap();
        let (_, finding) = config_check(&path).await;
        assert_eq!(finding.verdict, Verdict::Warn, "{finding:?}");
        assert!(
            finding.fix.as_deref().unwrap().contains("at least 6"),
            "{finding:?}"
        );
        // The pushed text itself in the file: nothing to say.
        std::fs::write(&path, &pushed).unwrap();
        let (_, finding) = config_check(&path).await;
        assert_eq!(finding.verdict, Verdict::Pass, "{finding:?}");
        assert!(
            finding
                .detail
                .ends_with("is valid: version 5, site wh, 1 sinks, 0 devices"),
            "{finding:?}"
        );
    }

    #[tokio::test]
    async fn a_valid_file_passes_and_a_missing_template_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockgate.toml");
        let base = format!(
            "version = 1\n[site]\nid = \"wh\"\ndata_dir = {:?}\n[sinks.erp]\nurl = \"http://127.0.0.1:9/x\"\n",
            dir.path().join("data").display().to_string()
        );
        std::fs::write(&path, &base).unwrap();
        let (config, finding) = config_check(&path).await;
        assert!(config.is_some());
        assert_eq!(finding.verdict, Verdict::Pass, "{finding:?}");
        assert!(finding.detail.contains("site wh, 1 sinks"), "{finding:?}");
        std::fs::write(
            &path,
            format!(
                "{base}format = \"template\"\ncontent_type = \"application/xml\"\ntemplate_file = \"/nonexistent/erp.xml.j2\"\n"
            ),
        )
        .unwrap();
        let (config, finding) = config_check(&path).await;
        assert!(config.is_some());
        assert_eq!(finding.verdict, Verdict::Fail, "{finding:?}");
        assert!(
            finding
                .detail
                .contains("/nonexistent/erp.xml.j2 is missing"),
            "{finding:?}"
        );
    }
}
