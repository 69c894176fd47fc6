//! The command line: `config validate`, `run` with a bad config, and the inspecting commands
//! (`status`, `events`, `replay`) against a running and a stopped daemon, `scan parse`.

use serde_json::{json, Value};

use crate::harness::*;

const VALID: &str = r#"version = 3
[site]
id = "wh-cli"
data_dir = "DATA"
[admin]
listen = "127.0.0.1:1"
[sinks.erp]
url = "http://127.0.0.1:9/events"
events = ["pick.*"]
timeout = "2s"
[buffer]
max_disk = "64MiB"
"#;

fn config_text(data_dir: &std::path::Path, replace: Option<(&str, &str)>) -> String {
    let text = VALID.replace("DATA", &data_dir.display().to_string());
    match replace {
        Some((from, to)) => {
            assert!(text.contains(from), "test bug: {from:?} not in the config");
            text.replace(from, to)
        }
        None => text,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn config_validate_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("good.toml");
    write_file(&good, &config_text(&data, None));
    let good_s = good.display().to_string();
    let out = dockgate(&["config", "validate", &good_s]).await;
    out.assert_ok();
    assert!(out.stdout.contains("valid"), "{out:#?}");

    // (what, replacement, line, key)
    let cases = [
        (
            "unknown key",
            ("timeout = \"2s\"", "timout = \"2s\""),
            10,
            "sinks.erp.timout",
        ),
        (
            "bad duration",
            ("timeout = \"2s\"", "timeout = \"soon\""),
            10,
            "sinks.erp.timeout",
        ),
        (
            "bad size",
            ("max_disk = \"64MiB\"", "max_disk = \"lots\""),
            12,
            "buffer.max_disk",
        ),
        ("malformed TOML", ("[admin]", "[admin"), 5, "admin"),
    ];
    for (what, replace, line, key) in cases {
        let path = dir.path().join(format!("{}.toml", what.replace(' ', "-")));
        write_file(&path, &config_text(&data, Some(replace)));
        let path_s = path.display().to_string();
        let out = dockgate(&["config", "validate", &path_s]).await;
        assert_ne!(out.code, Some(0), "{what}: validate accepted it: {out:#?}");
        let want = format!("{path_s}:{line}");
        assert!(
            out.stderr.contains(&want) && out.stderr.contains(key),
            "{what}: expected {want:?} and key {key:?} in stderr: {out:#?}"
        );
    }
    assert!(!data.exists(), "validate created the data directory");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_an_unknown_key_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("dockgate.toml");
    write_file(
        &path,
        &config_text(&data, Some(("[buffer]", "[buffer]\nmax_size = \"1GiB\""))),
    );
    let path_s = path.display().to_string();
    let out = dockgate(&["--config", &path_s, "run"]).await;
    assert_eq!(out.code, Some(78), "{out:#?}");
    assert!(
        out.stderr.contains(&format!("{path_s}:12")) && out.stderr.contains("buffer.max_size"),
        "stderr names file:line and key: {out:#?}"
    );
    assert!(
        !data.exists(),
        "the buffer was touched with an invalid config"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_status_events_and_replay_against_the_daemon() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(
        "[devices.pick-09]\nsource = \"serial\"\nstation = \"pick\"\npath = \"/dev/serial/by-id/not-plugged-in\"\n\
         [devices.ship-07]\nsource = \"http\"\nstation = \"ship\"\n",
    ))
    .await;
    let (ready_at, ready_wall) = (std::time::Instant::now(), std::time::SystemTime::now());
    let ids = daemon
        .post_events(
            &json!([
                event("pick.confirmed", "SO-1", json!({ "n": 1 })),
                event("pick.confirmed", "SO-2", json!({ "n": 2 })),
            ]),
            None,
        )
        .await
        .ids();
    wait_until(
        secs(20),
        "both events are recorded as delivered",
        async || daemon.events("erp", "delivered").await.len() == 2,
    )
    .await;

    let (code, page) = daemon.get_text("/").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("<html") && page.contains(SITE),
        "status page: {page}"
    );
    assert_eq!(daemon.get_text("/health").await.0, 200);

    let out = daemon.run_cli(&["status"]).await;
    out.assert_ok();
    assert!(
        out.stdout.contains(SITE) && out.stdout.lines().any(|l| l.starts_with("erp")),
        "status shows the site and the sink: {out:#?}"
    );
    let device = |id: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(id))
            .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>())
    };
    assert_eq!(
        device("pick-09"),
        Some(vec!["pick-09", "serial", "pick", "DOWN"]),
        "a scanner that is not plugged in shows as down: {out:#?}"
    );
    assert_eq!(
        device("ship-07"),
        Some(vec!["ship-07", "http", "ship", "up"]),
        "{out:#?}"
    );
    // The port is reopened after 0.5 s, doubling, ±20 %: by 5 s after start at least three
    // reopens have failed the same way, the last of them 2.8 s or more after the first. The
    // problem keeps the time it began, the first failure, which is at start.
    let time_of = |d: &Value| {
        d["last_error_at"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .unwrap_or_else(|| panic!("the missing port is the device's error: {d}"))
    };
    tokio::time::sleep_until((ready_at + secs(5)).into()).await;
    let pick_09 = daemon.device("pick-09").await;
    let began = time_of(&pick_09);
    assert!(
        began < ready_wall + secs(1),
        "a port still missing keeps the time it went missing, at start ({}), not the time of \
         its last reopen: {pick_09}",
        humantime::format_rfc3339_millis(ready_wall)
    );
    let later = daemon.device("pick-09").await;
    assert_eq!(time_of(&later), began, "{later}");
    let out = daemon.run_cli(&["status", "--json"]).await;
    out.assert_ok();
    let st: Value = serde_json::from_str(&out.stdout).expect("status --json is JSON");
    assert_eq!(st["site"], SITE);
    assert_eq!(st["sinks"][0]["name"], "erp");
    assert_eq!(st["sinks"][0]["pending"], 0);

    let out = daemon
        .run_cli(&["events", "--sink", "erp", "--state", "delivered", "--json"])
        .await;
    out.assert_ok();
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).expect("events --json is JSON");
    let mut got: Vec<String> = rows.iter().map(|r| str_field(r, "id")).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "events --json: {rows:?}");
    for r in &rows {
        assert_eq!(r["state"], "delivered");
        assert_eq!(r["sink"], "erp");
        assert!(r["sequence"].is_i64(), "sequence in {r}");
        assert_eq!(r["attempts"], 1, "delivered at the first attempt: {r}");
    }
    let out = daemon.run_cli(&["events", "--sink", "erp"]).await;
    out.assert_ok();
    for id in &ids {
        assert!(
            out.stdout.lines().any(|l| l.contains(id.as_str())),
            "events lists {id}: {out:#?}"
        );
    }

    let out = daemon
        .run_cli(&["replay", "--sink", "erp", "--event", &ids[0]])
        .await;
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "1 events put back for delivery to erp");
    wait_until(
        secs(20),
        "the replayed event is delivered again",
        async || erp.delivered_ids().iter().filter(|i| **i == ids[0]).count() == 2,
    )
    .await;
    erp.check_repeats_identical().unwrap();

    let out = daemon
        .run_cli(&["replay", "--sink", "nosuch", "--dead"])
        .await;
    assert_ne!(out.code, Some(0), "replay to an unknown sink: {out:#?}");
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one-line reason: {out:#?}"
    );
    let unknown = "0193a0c4-7d1e-7c2a-9b1f-0000000005e0";
    let out = daemon
        .run_cli(&["replay", "--sink", "erp", "--event", unknown])
        .await;
    assert_ne!(
        out.code,
        Some(0),
        "replay of an id not in the buffer: {out:#?}"
    );
    assert!(
        out.stderr.contains("no event with this id"),
        "says so: {out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_a_stopped_daemon_fails_with_a_one_line_reason() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    daemon.run_cli(&["status"]).await.assert_ok();
    let status = daemon.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");

    // The admin address comes from the config file, as an operator would run it.
    let config = daemon.config_path().display().to_string();
    for args in [vec!["status"], vec!["events", "--json"]] {
        let mut all = vec!["--config", config.as_str()];
        all.extend(args);
        let out = dockgate(&all).await;
        assert!(
            out.code.is_some_and(|c| c != 0),
            "{all:?} against a stopped daemon: {out:#?}"
        );
        let reason = out.stderr.trim();
        assert!(
            !reason.is_empty() && reason.lines().count() == 1,
            "{all:?}: expected a one-line reason on stderr: {out:#?}"
        );
        assert!(
            out.stdout.is_empty(),
            "{all:?}: nothing on stdout: {out:#?}"
        );
    }
}

/// Two daemons on one buffer would both deliver its events: the second refuses to start,
/// naming the process that holds the data directory, and the first goes on as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_data_directory_refuses_to_start() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut first = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    // Another admin port, so it gets as far as the buffer.
    let text = std::fs::read_to_string(first.config_path()).unwrap();
    let admin = first.base().trim_start_matches("http://").to_owned();
    let second = first.config_path().with_file_name("second.toml");
    write_file(
        &second,
        &text.replace(&admin, &format!("127.0.0.1:{}", free_port())),
    );
    let out = dockgate(&["--config", &second.display().to_string(), "run"]).await;
    assert!(
        out.code.is_some_and(|c| c != 0),
        "a second daemon on the same data directory ran: {out:#?}"
    );
    // After the start line, one line that says why.
    let reason = out.stderr.trim().lines().last().unwrap_or_default();
    assert!(reason.starts_with("dockgate: data directory "), "{out:#?}");
    assert!(
        reason.contains(&format!(
            "is in use by another dockgate (pid {})",
            first.pid()
        )),
        "{out:#?}"
    );
    assert!(
        reason.contains(&first.data_dir().display().to_string()),
        "the reason names the directory: {out:#?}"
    );

    let ids = first
        .post_events(
            &json!({"type": "pick.confirmed", "subject": "SO-1", "data": {}}),
            None,
        )
        .await
        .ids();
    erp.wait_received(
        &ids,
        std::time::Duration::from_secs(10),
        "the first daemon's event",
    )
    .await;

    // Once the first has stopped, the directory is free again.
    assert!(first.terminate().await.success());
    first.restart().await;
}

/// `scan parse` reads a barcode as the site would: with the configuration's `[barcodes]`
/// rules, the defaults without one; a malformed label exits non-zero with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn scan_parse_uses_the_sites_barcode_rules() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("missing.toml").display().to_string();
    let out = dockgate(&["--config", &none, "scan", "parse", "COND-DAMAGED"]).await;
    out.assert_ok();
    assert!(
        out.stdout.contains("rules:      defaults")
            && out.stdout.contains("kind:       condition")
            && out.stdout.contains("fields:     condition=damaged"),
        "{out:#?}"
    );

    let site = dir.path().join("site.toml");
    write_file(
        &site,
        &format!(
            "{}[barcodes]\nrma = '^R\\d{{6}}$'\ngs_substitutes = [\"|\"]\n",
            config_text(&dir.path().join("data"), None)
        ),
    );
    let site_s = site.display().to_string();
    let out = dockgate(&["--config", &site_s, "scan", "parse", "--json", "R123456"]).await;
    out.assert_ok();
    let reading: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(reading["kind"], "rma", "{out:#?}");
    assert_eq!(reading["fields"], json!({"rma": "R123456"}));
    // The site's GS stand-in works as on the box.
    let out = dockgate(&[
        "--config",
        &site_s,
        "scan",
        "parse",
        "]C1010950600013435210ABC|17251231",
    ])
    .await;
    out.assert_ok();
    assert!(out.stdout.contains("lot=ABC"), "{out:#?}");
    // The default RMA pattern is not the site's.
    let out = dockgate(&["--config", &site_s, "scan", "parse", "RMA-1"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("unknown_barcode"), "{out:#?}");

    let out = dockgate(&["--config", &none, "scan", "parse", "]C10109506000134353"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("check_digit"), "{out:#?}");
}

/// The packaged `/etc/dockgate/dockgate.toml` with every commented-out example table and key
/// (`# [table]`, `# key = value`) put in: what an operator gets by uncommenting.
fn uncommented(text: &str) -> String {
    let example = regex::Regex::new(r"^# (\[[A-Za-z0-9_.-]+\]|[A-Za-z0-9_]+ = .*)$").unwrap();
    text.lines()
        .map(|line| match example.captures(line) {
            Some(c) => c[1].to_owned(),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_packaged_configurations_examples_are_valid_when_uncommented() {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/dockgate.toml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dockgate.toml");
    write_file(&file, &uncommented(&shipped));
    let out = dockgate(&["config", "validate", &file.display().to_string()]).await;
    out.assert_ok();
    // Every station has its example: serial pick, MQTT pack, return, count and dock, HTTP ship;
    // and a NATS backbone beside the ERPs.
    assert!(
        out.stdout.contains("4 sinks, 6 devices"),
        "the examples changed: {out:#?}"
    );
    for table in [
        "[mqtt]",
        "[barcodes]",
        "[config_push]",
        "[sinks.erp.tls]",
        "[sinks.backbone.auth]",
    ] {
        assert!(
            uncommented(&shipped).lines().any(|l| l == table),
            "no {table} example"
        );
    }
}

/// What the manual page says after the commands.
const MANUAL_PAGE_END: &str = r#".SH FILES
.TP
\fI/etc/dockgate/dockgate.toml\fR
The configuration (a conffile of the package); \fBdockgate config validate\fR checks it.
.TP
\fI/var/lib/dockgate/\fR
The buffer (\fIbuffer.sqlite\fR) and the configurations applied last; kept on purge.
.TP
\fI/lib/systemd/system/dockgate.service\fR
The unit that runs \fBdockgate run\fR; local changes go in a drop-in
(\fBsystemctl edit dockgate\fR).
.SH "SEE ALSO"
\fBdockgate help\fR \fICOMMAND\fR for the options of each command;
\fI/usr/share/doc/dockgate/README.md\fR (the package, secrets, upgrades), and beside it
\fIoperations.md\fR (running it), \fIconfiguration.md\fR (every key),
\fIfleet.md\fR (signed pushes) and \fIintegrating.md\fR (the receivers' side).
"#;

/// Text for roff: backslashes and hyphens escaped.
fn roff_text(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// One `.TP` entry per command that runs something (`dockgate config validate`, not `config`).
fn manual_commands(page: &mut String, prefix: &str, cmd: &clap::Command) {
    let name = format!("{prefix} {}", cmd.get_name());
    if cmd.has_subcommands() {
        for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
            manual_commands(page, &name, sub);
        }
        return;
    }
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    page.push_str(&format!(
        ".TP\n\\fB{}\\fR\n{}\n",
        roff_text(&name),
        roff_text(&about)
    ));
}

/// `packaging/dockgate.1`, the manual page the package installs, is clap_mangen's rendering of
/// the command line as it is now, with every command listed; `DOCKGATE_BLESS=1` writes it anew.
#[test]
fn the_packaged_manual_page_matches_the_command_line() {
    use clap::CommandFactory;
    let cmd = dockgate::cli::Cli::command();
    let man = clap_mangen::Man::new(cmd.clone()).manual("dockgate");
    let mut head = Vec::new();
    man.render_title(&mut head).unwrap();
    man.render_name_section(&mut head).unwrap();
    man.render_synopsis_section(&mut head).unwrap();
    man.render_description_section(&mut head).unwrap();
    man.render_options_section(&mut head).unwrap();
    let mut page = String::from_utf8(head).unwrap();
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        manual_commands(&mut page, "dockgate", sub);
    }
    page.push_str(MANUAL_PAGE_END);

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/dockgate.1");
    if std::env::var_os("DOCKGATE_BLESS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == page,
        "packaging/dockgate.1 is not the command line's: \
         DOCKGATE_BLESS=1 cargo test --test hil manual_page"
    );
}
