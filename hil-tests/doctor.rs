//! `dockgate doctor` on a box set up for real, without a daemon: an ERP stand-in that wants a
//! bearer token, an HTTPS CRM behind a test CA, a private mosquitto over TLS with a password,
//! a socat pty as the serial scanner and a tempdir data directory: every check passes, exit
//! 0, and the receivers saw one probe each (OPTIONS, marked, with the credentials), never a
//! delivery. Then each thing broken on its own fails its line with what to do, and the exit
//! status is non-zero: the sink's port closed, the sink answering 401, the serial path
//! missing, the serial port out of the service user's reach, the broker down, a wrong broker
//! password, a TLS sink whose CA does not match, a receiver that never answers (cut off by
//! the timeout); an OAuth2 sink is probed with a token just fetched, and a wrong client
//! secret fails. Beside a running daemon it leaves the daemon's serial port and broker session
//! alone: both go on reading scans.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempDir;

use crate::harness::*;

/// The bearer token the ERP stand-in wants.
const TOKEN: &str = "erp-t0ken";
/// dockgate's account on the TLS broker.
const MQTT_USER: &str = "dockgate";
const MQTT_PASSWORD: &str = "dg-Pa55word";

/// A box's /etc/dockgate and /var/lib/dockgate, in a tempdir.
struct Site {
    dir: TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::Builder::new()
            .prefix("dockgate-hil-doctor-")
            .tempdir()
            .expect("creating the tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("creating the data directory");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
            .expect("making the data directory private");
        Site { dir }
    }

    /// Writes a file of the configuration's (a token, a CA); returns its path as TOML text.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        write_file(&path, text);
        path.display().to_string()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The configuration: the site, then `tables` (sinks, `[mqtt]`, devices).
    fn config(&self, tables: &str) -> PathBuf {
        let text = format!(
            "version = 1\n[site]\nid = \"{SITE}\"\ndata_dir = {data:?}\n[admin]\nlisten = \"127.0.0.1:{port}\"\n\
             [buffer]\nmax_disk = \"64MiB\"\n{tables}",
            data = self.data_dir().display().to_string(),
            port = free_port(),
        );
        let path = self.dir.path().join("dockgate.toml");
        write_file(&path, &text);
        path
    }

    /// The ERP sink at `url`, with the bearer token in a file.
    fn erp(&self, url: &str) -> String {
        let token = self.file("erp.token", &format!("{TOKEN}\n"));
        format!(
            "[sinks.erp]\nurl = {url:?}\ntimeout = \"3s\"\n[sinks.erp.auth]\nbearer_token_file = {token:?}\n"
        )
    }

    /// The CRM sink at `url` (https), trusting the CA `ca_pem`.
    fn crm(&self, url: &str, ca_pem: &str) -> String {
        let ca = self.file("crm-ca.pem", ca_pem);
        format!("[sinks.crm]\nurl = {url:?}\ntimeout = \"3s\"\n[sinks.crm.tls]\nca_file = {ca:?}\n")
    }

    /// `[mqtt]` for `broker` with this password (and the broker's CA, over TLS).
    fn mqtt(&self, broker: &Broker, password: &str) -> String {
        let mut table = format!("[mqtt]\nurl = {:?}\n", broker.url());
        if let Some(ca) = broker.ca_pem() {
            let ca = self.file("broker-ca.pem", ca);
            let pw = self.file("mqtt.password", &format!("{password}\n"));
            table.push_str(&format!(
                "ca_file = {ca:?}\nusername = {MQTT_USER:?}\npassword_file = {pw:?}\n"
            ));
        }
        table
    }
}

/// A pick station on the serial port at `path`.
fn serial_device(path: &Path) -> String {
    format!(
        "[devices.pick-1]\nsource = \"serial\"\nstation = \"pick\"\npath = {:?}\n",
        path.display().to_string()
    )
}

/// This process's user: the daemon's user for these runs, so ports and files are opened for
/// real rather than judged by their modes.
fn me() -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .ok()
        .flatten()
        .map(|u| u.name)
        .expect("the name of this process's user")
}

async fn doctor_as(config: &Path, user: &str) -> CliOutput {
    doctor_with(config, user, "3s").await
}

async fn doctor_with(config: &Path, user: &str, timeout: &str) -> CliOutput {
    let out = dockgate(&[
        "doctor",
        "--config",
        &config.display().to_string(),
        "--service-user",
        user,
        "--timeout",
        timeout,
    ])
    .await;
    eprintln!(
        "dockgate doctor ({:?}):\n{}{}",
        out.code, out.stdout, out.stderr
    );
    out
}

async fn doctor(config: &Path) -> CliOutput {
    doctor_as(config, &me()).await
}

/// The line `VERDICT  SUBJECT ...`; panics (showing the report) when there is none.
fn line<'a>(out: &'a CliOutput, verdict: &str, subject: &str) -> &'a str {
    let prefix = format!("{verdict}  {subject} ");
    out.stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{}", out.stdout))
}

/// Exit status non-zero and a FAIL line for `subject` holding every one of `words` (the
/// advice included).
fn assert_fails<'a>(out: &'a CliOutput, subject: &str, words: &[&str]) -> &'a str {
    assert_ne!(
        out.code,
        Some(0),
        "doctor passed a broken box:\n{}",
        out.stdout
    );
    let l = line(out, "FAIL", subject);
    assert!(l.contains(" -- fix: "), "no advice on: {l}");
    for w in words {
        assert!(l.contains(w), "{w:?} missing from: {l}");
    }
    l
}

fn tls_broker_settings(pki: &Pki) -> BrokerTls {
    BrokerTls {
        ca_pem: pki.ca_pem.clone(),
        cert_pem: pki.cert_pem.clone(),
        key_pem: pki.key_pem.clone(),
        users: vec![(MQTT_USER.into(), MQTT_PASSWORD.into())],
        client_identity: None,
    }
}

/// 401 unless the request carries the ERP's token.
fn wants_token() -> Mode {
    Mode::RequireHeaders(Arc::new(|h| {
        h.get("authorization").map(String::as_str) == Some(&*format!("Bearer {TOKEN}"))
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_box_set_up_right_passes_every_check_and_delivers_nothing() {
    let site = Site::new();
    let erp = StandIn::start("erp", wants_token()).await;
    let crm = StandIn::start("crm", Mode::Ok).await;
    let crm_pki = make_pki("dockgate hil CRM CA", &["localhost"]);
    let front = TlsFront::start(&crm, &crm_pki.cert_pem, &crm_pki.key_pem, None).await;
    let broker_pki = make_pki("dockgate hil broker CA", &["127.0.0.1"]);
    let broker = Broker::start_tls(&tls_broker_settings(&broker_pki)).await;
    let scanner = SerialLink::start().await;
    let config = site.config(&format!(
        "{}{}{}{}",
        site.erp(&erp.url()),
        site.crm(&front.url("localhost"), &crm_pki.ca_pem),
        site.mqtt(&broker, MQTT_PASSWORD),
        serial_device(&scanner.device_path()),
    ));

    let out = doctor(&config).await;
    assert_eq!(
        out.code,
        Some(0),
        "doctor failed a good box:\n{}",
        out.stdout
    );
    assert!(!out.stdout.contains("FAIL"), "{}", out.stdout);
    assert!(line(&out, "PASS", "config")
        .contains("is valid: version 1, site wh-hil, 2 sinks, 1 devices"));
    assert!(line(&out, "PASS", "service user").contains("running as that user"));
    assert!(line(&out, "PASS", "files").contains("the 4 files the configuration names are there"));
    assert!(line(&out, "PASS", "data dir").contains("a file was written there and removed"));
    assert!(line(&out, "PASS", "disk space").contains("room for buffer.max_disk 64.0 MiB"));
    assert!(line(&out, "PASS", "sink erp dns").contains("127.0.0.1 is an address"));
    assert!(line(&out, "PASS", "sink erp tcp").contains(&format!("connected to {}", erp.addr())));
    let auth = line(&out, "PASS", "sink erp auth");
    assert!(
        auth.contains("with the bearer token of auth.bearer_token_file: 202"),
        "{auth}"
    );
    assert!(line(&out, "PASS", "sink crm dns").contains("localhost resolves to"));
    assert!(line(&out, "PASS", "sink crm tcp").contains(&format!(":{}", front.addr().port())));
    let tls = line(&out, "PASS", "sink crm tls");
    assert!(
        tls.contains("handshake with localhost") && tls.contains("crm-ca.pem"),
        "{tls}"
    );
    assert!(line(&out, "PASS", "sink crm auth").contains("with no credentials: 202"));
    let mqtt = line(&out, "PASS", "broker");
    assert!(
        mqtt.contains("accepted the login as \"dockgate\" over TLS"),
        "{mqtt}"
    );
    let port = line(&out, "PASS", "device pick-1 serial");
    assert!(
        port.contains("-> /dev/pts/") && port.contains("opened as"),
        "{port}"
    );
    // Synchronised or unknown (a container has no timedatectl to ask), never failed.
    let clock = out
        .stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with("clock ")))
        .unwrap_or_else(|| panic!("no clock line in:\n{}", out.stdout));
    assert!(!clock.starts_with("FAIL"), "{clock}");
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap_or("")
            .contains(" 0 failed"),
        "{}",
        out.stdout
    );

    // One probe each, as docs/integrating.md describes it, and nothing delivered.
    for (standin, auth) in [(&erp, Some(format!("Bearer {TOKEN}"))), (&crm, None)] {
        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "{}: {requests:?}", standin.name());
        let probe = &requests[0];
        assert_eq!(probe.method, "OPTIONS");
        assert_eq!(probe.path, "/events");
        assert_eq!(
            probe.headers.get("x-dockgate-probe").map(String::as_str),
            Some("1")
        );
        let agent = probe.headers.get("user-agent").cloned().unwrap_or_default();
        assert!(
            agent.starts_with("dockgate/") && agent.ends_with(" (probe)"),
            "{agent}"
        );
        assert_eq!(probe.headers.get("authorization"), auth.as_ref());
        assert!(probe.body.is_empty() && probe.key().is_none(), "{probe:?}");
        assert!(standin.delivered().is_empty());
    }
    // The data directory is as it was: no buffer, no lock, no probe file.
    let left: Vec<_> = std::fs::read_dir(site.data_dir())
        .expect("reading the data directory")
        .collect();
    assert!(
        left.is_empty(),
        "doctor left {left:?} in the data directory"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_sink_port_fails_the_tcp_check() {
    let site = Site::new();
    let url = format!("http://127.0.0.1:{}/events", free_port());
    let out = doctor(&site.config(&site.erp(&url))).await;
    assert_fails(
        &out,
        "sink erp tcp",
        &[
            "refused the connection",
            "nothing listens there",
            "sinks.erp.url",
        ],
    );
    // The steps after a failed one are not tried.
    assert!(!out.stdout.contains("sink erp auth"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_answering_401_to_the_probe_fails_the_auth_check() {
    let site = Site::new();
    let erp = StandIn::start("erp", Mode::Unauthorized).await;
    let out = doctor(&site.config(&site.erp(&erp.url()))).await;
    line(&out, "PASS", "sink erp tcp");
    assert_fails(
        &out,
        "sink erp auth",
        &[
            "401",
            "refused the credentials",
            "check the credentials of sinks.erp.auth",
        ],
    );
    assert_eq!(erp.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_serial_path_fails_the_device_check() {
    let site = Site::new();
    let gone = site.dir.path().join("serial/by-id/usb-scanner-if00");
    let out = doctor(&site.config(&serial_device(&gone))).await;
    assert_fails(
        &out,
        "device pick-1 serial",
        &[
            "does not exist",
            "plug the scanner in",
            "devices.pick-1.path",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_the_service_user_may_not_open_fails_the_device_check() {
    // socat's ptys are root's or this user's, mode 0620: not for nobody.
    let site = Site::new();
    let scanner = SerialLink::start().await;
    let out = doctor_as(
        &site.config(&serial_device(&scanner.device_path())),
        "nobody",
    )
    .await;
    assert_fails(
        &out,
        "device pick-1 serial",
        &["nobody cannot open it", "permission on"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_is_down_fails_the_broker_check() {
    let site = Site::new();
    let mut broker = Broker::start().await;
    let mqtt = site.mqtt(&broker, "");
    broker.stop().await;
    let out = doctor(&site.config(&mqtt)).await;
    assert_fails(
        &out,
        "broker",
        &["cannot reach the site broker", "start the broker"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_broker_password_fails_the_broker_check() {
    let site = Site::new();
    let pki = make_pki("dockgate hil broker CA", &["127.0.0.1"]);
    let broker = Broker::start_tls(&tls_broker_settings(&pki)).await;
    let out = doctor(&site.config(&site.mqtt(&broker, "not-the-password"))).await;
    assert_fails(
        &out,
        "broker",
        &[
            "refused the login",
            "correct mqtt.username or the password in mqtt.password_file",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_sink_with_a_ca_that_does_not_match_fails_the_tls_check() {
    let site = Site::new();
    let crm = StandIn::start("crm", Mode::Ok).await;
    let real = make_pki("dockgate hil CRM CA", &["localhost"]);
    let other = make_pki("dockgate hil some other CA", &["localhost"]);
    let front = TlsFront::start(&crm, &real.cert_pem, &real.key_pem, None).await;
    let out = doctor(&site.config(&site.crm(&front.url("localhost"), &other.ca_pem))).await;
    line(&out, "PASS", "sink crm tcp");
    assert_fails(
        &out,
        "sink crm tls",
        &["UnknownIssuer", "sinks.crm.tls.ca_file", "must hold the CA"],
    );
    assert_eq!(
        crm.request_count(),
        0,
        "nothing reaches a receiver that is not trusted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth2_sink_is_probed_with_a_fresh_token_and_a_wrong_secret_fails() {
    const CLIENT: &str = "dockgate-wh-hil";
    const SECRET: &str = "s3cr3t-client-secret";
    let tokens = TokenServer::start(CLIENT, SECRET, secs(3600)).await;
    let erp = StandIn::start("erp", Mode::RequireHeaders(tokens.accepts())).await;
    let site = Site::new();
    let sink = |secret: &str| {
        let file = site.file("erp.secret", &format!("{secret}\n"));
        format!(
            "[sinks.erp]\nurl = {:?}\n[sinks.erp.auth]\noauth2_token_url = {:?}\n\
             oauth2_client_id = {CLIENT:?}\noauth2_client_secret_file = {file:?}\n",
            erp.url(),
            tokens.url()
        )
    };
    let out = doctor(&site.config(&sink(SECRET))).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let auth = line(&out, "PASS", "sink erp auth");
    assert!(
        auth.contains("with an OAuth2 token just fetched: 202"),
        "{auth}"
    );
    assert_eq!(tokens.issued(), 1);
    let probe = &erp.requests()[0];
    assert_eq!(probe.method, "OPTIONS");
    assert!(probe
        .headers
        .get("authorization")
        .is_some_and(|a| a.starts_with("Bearer ")));

    let out = doctor(&site.config(&sink("not-the-secret"))).await;
    assert_fails(
        &out,
        "sink erp auth",
        &[
            "no OAuth2 token",
            "refused client",
            "oauth2_client_secret_file",
        ],
    );
    assert!(
        !out.stdout.contains("not-the-secret"),
        "the secret is never shown"
    );
    assert_eq!(erp.request_count(), 1, "no probe without a token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_never_answers_is_cut_off_by_the_timeout() {
    let site = Site::new();
    let erp = StandIn::start("erp", Mode::Hang).await;
    let started = std::time::Instant::now();
    let out = doctor_with(&site.config(&site.erp(&erp.url())), &me(), "1s").await;
    assert_fails(
        &out,
        "sink erp auth",
        &["no answer within 1s", "does not answer"],
    );
    assert!(
        started.elapsed() < secs(10),
        "doctor took {:?} for a 1 s timeout",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn beside_a_running_daemon_doctor_leaves_its_port_and_its_session_alone() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let mut link = SerialLink::start().await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)])
            .toml(&mqtt_table(&broker))
            .toml(&serial_device(&link.device_path()))
            .toml("[devices.pick-2]\nsource = \"mqtt\"\nstation = \"pick\"\ntopic = \"scanners/pick-2\"\n"),
    )
    .await;
    wait_device_up(&daemon, "pick-1", 0).await;
    wait_device_up(&daemon, "pick-2", 0).await;

    let out = doctor(daemon.config_path()).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let pid = daemon.pid();
    let port = line(&out, "PASS", "device pick-1 serial");
    assert!(
        port.contains(&format!(
            "not opened: the running daemon (pid {pid}) has the ports"
        )),
        "{port}"
    );
    let data = line(&out, "PASS", "data dir");
    assert!(
        data.contains(&format!("dockgate (pid {pid}) is running on it")),
        "{data}"
    );
    line(&out, "PASS", "broker");

    // Both inputs still read, over the same port and the same broker session.
    for id in ["pick-1", "pick-2"] {
        let d = daemon.device(id).await;
        assert_eq!(
            (d["up"].as_bool(), d["reconnects"].as_u64()),
            (Some(true), Some(0)),
            "{id}: {d}"
        );
    }
    let label = gs1_item(&gtin14("0950600013435"), "251231", "LOT1");
    link.write_line("SO-1001").await;
    link.write_line(&label).await;
    let scanner = MqttClient::connect(&broker, "hil-scanner").await;
    scan(&daemon, &scanner, "scanners/pick-2", "SO-1002").await;
    scan(&daemon, &scanner, "scanners/pick-2", label.clone()).await;
    let picks = wait_type(&erp, "pick.confirmed", 2).await;
    assert_eq!(picks.len(), 2, "one pick from each scanner");
}
