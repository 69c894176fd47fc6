//! Configuration pushes against a real mosquitto, signed by the real `minisign` tool and by
//! `dockgate config push`: a push is applied without a restart and reported, retained, on the
//! status topic; every kind of bad push is refused with its reason and changes nothing; a
//! removed sink's events wait, visible, until it is added back; a restart runs the newest
//! version; a push that comes again when the broker restarts is applied once; SIGHUP reloads
//! the local file and never stops the daemon; a rollback goes back.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

const STATUS: &str = "dockgate/wh-hil/config/status";
const CONFIG: &str = "dockgate/wh-hil/config";

/// A daemon that takes pushes signed by `signer`, with these sinks and tables.
async fn start(broker: &Broker, signer: &Signer, sinks: Vec<SinkSpec>, extra: &str) -> Daemon {
    let daemon = Daemon::start(Setup::new(sinks).toml(&mqtt_table(broker)).toml(&format!(
        "[config_push]\npublic_key_file = {:?}\n{extra}",
        signer.public.display().to_string()
    )))
    .await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    daemon
}

/// The daemon's configuration as version `version`, with `extra` tables appended.
fn version_of(daemon: &Daemon, version: u64, extra: &str) -> String {
    let text = std::fs::read_to_string(daemon.config_path()).expect("reading the config");
    let first = text.lines().next().unwrap_or_default().to_owned();
    assert!(first.starts_with("version = "), "{first}");
    format!(
        "version = {version}\n{}\n{extra}",
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    )
}

/// Waits for a status on the status topic about `version` whose outcome is `status`, among
/// those received after the first `since`; returns it.
async fn wait_status_since(
    listener: &MqttClient,
    since: usize,
    version: Option<u64>,
    status: &str,
) -> Value {
    let what = format!("status {status} of version {version:?}");
    wait_for(secs(20), &what, async || {
        let seen: Vec<Value> = listener
            .received(STATUS)
            .iter()
            .skip(since)
            .filter_map(|r| serde_json::from_slice(&r.payload).ok())
            .collect();
        seen.iter()
            .rev()
            .find(|s| s["version"].as_u64() == version && s["status"] == status)
            .cloned()
            .ok_or_else(|| format!("{seen:?}"))
    })
    .await
}

/// [`wait_status_since`] among everything received.
async fn wait_status(listener: &MqttClient, version: Option<u64>, status: &str) -> Value {
    wait_status_since(listener, 0, version, status).await
}

/// `dockgate config push FILE` signed with `key`, waiting for the site's answer.
async fn cli_push(broker: &Broker, file: &Path, key: &Path, password: &Path) -> CliOutput {
    dockgate(&[
        "config",
        "push",
        &file.display().to_string(),
        "--key",
        &key.display().to_string(),
        "--key-password-file",
        &password.display().to_string(),
        "--broker",
        &broker.url(),
        "--wait",
        "20s",
    ])
    .await
}

async fn running_version(daemon: &Daemon) -> u64 {
    daemon.status().await["config_version"]
        .as_u64()
        .unwrap_or(0)
}

async fn post(daemon: &Daemon, event_type: &str, subject: &str) -> String {
    let body = json!({"type": event_type, "subject": subject, "data": {}});
    daemon.post_events(&body, None).await.ids().remove(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_is_applied_reported_and_survives_a_restart() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let crm = StandIn::start("crm", Mode::Ok).await;
    let broker = Broker::start().await;
    let signer = Signer::new(Some("correct horse"));
    let mut daemon = start(&broker, &signer, vec![SinkSpec::new("erp", &erp)], "").await;
    let listener = MqttClient::connect(&broker, "central-it").await;
    listener.subscribe(STATUS).await;

    // Version 2, by `dockgate config push` with the encrypted key minisign made: adds the CRM.
    let crm_table = format!(
        "[sinks.crm]\nurl = {:?}\nevents = [\"shipment.*\"]\nretry_initial = \"50ms\"\n",
        crm.url()
    );
    let v2 = signer.file("v2.toml", &version_of(&daemon, 2, &crm_table));
    let password = signer.file("password", "correct horse\n");
    let pushed = cli_push(&broker, &v2, &signer.secret, &password).await;
    pushed.assert_ok();
    assert!(pushed.stdout.contains("applied version 2"), "{pushed:#?}");
    let status = wait_status(&listener, Some(2), "applied").await;
    assert_eq!(status["error"], Value::Null);
    assert!(status["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(running_version(&daemon).await, 2);
    // The same file again: the site has nothing to say, and the command tells why, soon.
    let started = std::time::Instant::now();
    let again = cli_push(&broker, &v2, &signer.secret, &password).await;
    again.assert_ok();
    assert!(
        again.stdout.contains("already runs version 2"),
        "{again:#?}"
    );
    eprintln!("the repeated push answered in {:?}", started.elapsed());
    let shipment = post(&daemon, "shipment.loaded", "SSCC-1").await;
    crm.wait_received(&[shipment], secs(10), "the added sink's event")
        .await;
    let st = daemon.run_cli(&["status"]).await;
    assert!(
        st.stdout.contains("config version 2 (push signed by key "),
        "{st:#?}"
    );
    assert_eq!(daemon.metric_total("dockgate_config_version").await, 2.0);
    let m = daemon.metrics().await;
    assert!(
        m.contains("dockgate_config_pushes_total{result=\"applied\"} 1")
            && m.contains("dockgate_config_pushes_total{result=\"unchanged\"} 1"),
        "{m}"
    );

    // Signatures of minisign itself, its default and its legacy form.
    for (version, legacy) in [(3, false), (4, true)] {
        let text = version_of(&daemon, version, &crm_table);
        let signed = signer.push_with(&text, signer.sign(&text, legacy));
        listener.publish_retained(CONFIG, signed).await;
        wait_status(&listener, Some(version), "applied").await;
    }

    // A restart runs the newest version, the one pushed last.
    assert!(daemon.terminate().await.success());
    daemon.restart().await;
    assert_eq!(running_version(&daemon).await, 4);
    let again = post(&daemon, "shipment.loaded", "SSCC-2").await;
    crm.wait_received(&[again], secs(10), "the pushed sink after a restart")
        .await;
    assert!(
        daemon.log().contains("origin=push signed by key"),
        "the log says where the configuration came from"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_pushes_are_refused_with_their_reason_and_change_nothing() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let signer = Signer::new(None);
    let stranger = Signer::new(None);
    let daemon = start(&broker, &signer, vec![SinkSpec::new("erp", &erp)], "").await;
    let listener = MqttClient::connect(&broker, "central-it").await;
    listener.subscribe(STATUS).await;
    let v2 = version_of(&daemon, 2, "");
    // Version 2 by `dockgate config push` with the unencrypted key of `minisign -G -W`.
    let v2_file = signer.file("v2.toml", &v2);
    let no_password = signer.file("no-password", "");
    cli_push(&broker, &v2_file, &signer.secret, &no_password)
        .await
        .assert_ok();
    wait_status(&listener, Some(2), "applied").await;

    // The running configuration coming again (a bridge or a restarted
    // broker resending the retained copy) is no news: counted, not answered.
    let before_replay = listener.received(STATUS).len();
    listener.publish_retained(CONFIG, signer.push(&v2)).await;
    wait_for(secs(10), "the replay counted as unchanged", async || {
        let m = daemon.metrics().await;
        m.contains("dockgate_config_pushes_total{result=\"unchanged\"} 1")
            .then_some(())
            .ok_or(m)
    })
    .await;

    let v3 = version_of(&daemon, 3, "");
    let data_dir = daemon.data_dir().display().to_string();
    let cases: Vec<(&str, Vec<u8>, Option<u64>, &str)> = vec![
        (
            "a bad signature",
            signer.push_with(
                &v3,
                signer.sign(&version_of(&daemon, 3, "# other\n"), false),
            ),
            Some(3),
            "bad signature",
        ),
        (
            "an unknown key",
            stranger.push(&v3),
            Some(3),
            "not among the trusted keys",
        ),
        (
            "another site",
            signer.push(&v3.replace("id = \"wh-hil\"", "id = \"wh-other\"")),
            Some(3),
            "for site \"wh-other\"",
        ),
        (
            "a lower version",
            signer.push(&version_of(&daemon, 1, "# old\n")),
            Some(1),
            "not above 2",
        ),
        (
            "an equal version",
            signer.push(&version_of(&daemon, 2, "# other\n")),
            Some(2),
            "not above 2",
        ),
        (
            "invalid TOML",
            signer.push("version = 3\n[site\n"),
            // Not TOML, so its version is not known either.
            None,
            "invalid configuration: line 2",
        ),
        (
            "an invalid value",
            signer.push(&version_of(
                &daemon,
                3,
                "[barcodes]\norder = \"(unclosed\"\n",
            )),
            Some(3),
            "key `barcodes.order`",
        ),
        (
            "another data_dir",
            signer.push(&v3.replace(&data_dir, "/tmp/elsewhere")),
            Some(3),
            "site.data_dir cannot be changed",
        ),
        (
            "another config_push",
            signer.push(&v3.replace("push.pub", "other.pub")),
            Some(3),
            "config_push cannot be changed",
        ),
        (
            "a sink whose token file is not on the box",
            signer.push(&version_of(
                &daemon,
                3,
                "[sinks.crm]\nurl = \"http://127.0.0.1:9/\"\n\
                 [sinks.crm.auth]\nbearer_token_file = \"/nonexistent/crm.token\"\n",
            )),
            Some(3),
            "not applied: sink crm",
        ),
        (
            "not a push",
            b"{\"config\": 3}".to_vec(),
            None,
            "not a configuration push",
        ),
    ];
    for (what, payload, version, why) in cases {
        let since = listener.received(STATUS).len();
        listener.publish_retained(CONFIG, payload).await;
        let status = wait_status_since(&listener, since, version, "rejected").await;
        let error = status["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(why),
            "{what}: {error:?} does not say {why:?}"
        );
        assert_eq!(
            running_version(&daemon).await,
            2,
            "{what} changed the version"
        );
    }
    // SIGHUP finds the local file as it was at start (sent only to read the trusted keys
    // again, say): nothing new, no refusal to alert on.
    daemon.reload();
    wait_for(
        secs(10),
        "the unchanged local file passed over",
        async || {
            let log = daemon.log();
            log.contains("The local file has not changed since it was last read")
                .then_some(())
                .ok_or_else(|| log.lines().rev().take(3).collect::<Vec<_>>().join("\n"))
        },
    )
    .await;
    let metrics = daemon.metrics().await;
    assert!(
        metrics.contains("dockgate_config_reloads_total{result=\"unchanged\"} 1")
            && !metrics.contains("dockgate_config_reloads_total{result=\"rejected\"}"),
        "{metrics}"
    );
    // Edited, still version 1, below the pushed one: refused in the log, and nothing
    // published, since central IT did not send it.
    let local = std::fs::read_to_string(daemon.config_path()).unwrap();
    std::fs::write(daemon.config_path(), format!("{local}# edited\n")).unwrap();
    daemon.reload();
    wait_for(secs(10), "the local file refused", async || {
        let log = daemon.log();
        log.lines()
            .any(|l| l.contains("Configuration change refused") && l.contains("origin=\"local\""))
            .then_some(())
            .ok_or_else(|| log.lines().rev().take(3).collect::<Vec<_>>().join("\n"))
    })
    .await;
    assert_eq!(
        listener.received(STATUS).len() - before_replay,
        11,
        "one status per refused push, none for the replay or the local file"
    );
    let rejected = daemon.metrics().await;
    assert!(
        rejected.contains("dockgate_config_pushes_total{result=\"rejected\"} 11"),
        "{rejected}"
    );
    // Still the same sink: an event reaches the ERP.
    let id = post(&daemon, "pick.confirmed", "SO-1").await;
    erp.wait_received(&[id], secs(10), "an event after the refusals")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_sink_keeps_its_events_visible_until_it_is_added_back() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let crm = StandIn::start("crm", Mode::Ok).await;
    let broker = Broker::start().await;
    let signer = Signer::new(None);
    let sinks = vec![SinkSpec::new("erp", &erp), SinkSpec::new("crm", &crm)];
    let daemon = start(&broker, &signer, sinks, "").await;
    let listener = MqttClient::connect(&broker, "central-it").await;
    listener.subscribe(STATUS).await;
    // One delivery to the CRM, then it fails.
    let delivered = post(&daemon, "shipment.loaded", "SSCC-8").await;
    crm.wait_received(
        std::slice::from_ref(&delivered),
        secs(10),
        "the CRM's first event",
    )
    .await;
    crm.set_mode(Mode::Status(503));
    let waiting = post(&daemon, "shipment.loaded", "SSCC-9").await;
    erp.wait_received(std::slice::from_ref(&waiting), secs(10), "the ERP's copy")
        .await;

    // Version 2 without the CRM.
    let text = std::fs::read_to_string(daemon.config_path()).unwrap();
    let start = text.find("[sinks.crm]").expect("the crm table");
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |i| start + 1 + i + 1);
    let without_crm = format!("{}{}", &text[..start], &text[end..]);
    let v2 = without_crm.replacen("version = 1\n", "version = 2\n", 1);
    listener.publish_retained(CONFIG, signer.push(&v2)).await;
    wait_status(&listener, Some(2), "applied").await;
    let pending = daemon.events("crm", "pending").await;
    assert_eq!(
        pending.len(),
        1,
        "the removed sink's event is still listed: {pending:?}"
    );
    assert_eq!(pending[0]["id"], waiting.as_str());
    let crm_status = daemon.sink("crm").await;
    assert_eq!(crm_status["state"], "removed", "{crm_status}");
    assert!(
        crm_status["last_delivery_at"].is_string(),
        "its last delivery, from its receipts: {crm_status}"
    );
    let replay = daemon.replay(&json!({"sink": "crm", "since": "1h"})).await;
    assert_eq!(
        replay["replayed"], 1,
        "a removed sink's events can be replayed (the delivered one; the other still waits)"
    );

    // Version 3 brings it back, answering now: the event that waited arrives, once.
    crm.set_mode(Mode::Ok);
    let v3 = text.replacen("version = 1\n", "version = 3\n", 1);
    listener.publish_retained(CONFIG, signer.push(&v3)).await;
    wait_status(&listener, Some(3), "applied").await;
    crm.wait_received(
        std::slice::from_ref(&waiting),
        secs(20),
        "the waiting event, once the sink is back",
    )
    .await;
    crm.wait_received(
        std::slice::from_ref(&delivered),
        secs(20),
        "the replayed event",
    )
    .await;
    let ids = crm.delivered_ids();
    assert_eq!(
        ids.iter().filter(|i| **i == waiting).count(),
        1,
        "the event that waited arrives once: {ids:?}"
    );
    assert_eq!(
        ids.iter().filter(|i| **i == delivered).count(),
        2,
        "the replayed one again: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_that_comes_again_when_the_broker_restarts_is_applied_once() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut broker = Broker::start().await;
    let signer = Signer::new(None);
    let daemon = start(&broker, &signer, vec![SinkSpec::new("erp", &erp)], "").await;
    let central = MqttClient::connect(&broker, "central-it").await;
    central
        .publish_retained(CONFIG, signer.push(&version_of(&daemon, 2, "")))
        .await;
    wait_for(secs(20), "version 2 running", async || {
        (running_version(&daemon).await == 2)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    // The broker restarts (it keeps the retained push) and sends it again at the new session.
    broker.restart().await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 2).await;
    wait_for(secs(20), "the push seen again", async || {
        let m = daemon.metrics().await;
        m.contains("dockgate_config_pushes_total{result=\"unchanged\"}")
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let m = daemon.metrics().await;
    assert!(
        m.contains("dockgate_config_pushes_total{result=\"applied\"} 1"),
        "applied once: {m}"
    );
    assert_eq!(running_version(&daemon).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_local_file_and_never_stops_the_daemon() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let signer = Signer::new(None);
    let daemon = start(&broker, &signer, vec![SinkSpec::new("erp", &erp)], "").await;
    // An invalid edit: refused, the daemon lives on.
    let good = std::fs::read_to_string(daemon.config_path()).unwrap();
    write_file(
        daemon.config_path(),
        &good.replacen("version = 1\n", "version = 2\n[oops\n", 1),
    );
    daemon.reload();
    wait_for(secs(10), "the refusal in the log", async || {
        daemon
            .log()
            .contains("Configuration change refused")
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(running_version(&daemon).await, 1);
    // A valid one with a new version: applied.
    write_file(
        daemon.config_path(),
        &good.replacen("version = 1\n", "version = 2\n", 1),
    );
    daemon.reload();
    wait_for(secs(10), "version 2 from the local file", async || {
        (running_version(&daemon).await == 2)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let st = daemon.status().await;
    assert!(
        st["config_origin"]
            .as_str()
            .is_some_and(|o| o.starts_with("local file")),
        "{st}"
    );
    // Back to version 1, the one it started with.
    let out = daemon.run_cli(&["config", "rollback"]).await;
    out.assert_ok();
    assert!(
        out.stdout.contains("from version 2 to version 1"),
        "{out:#?}"
    );
    assert_eq!(running_version(&daemon).await, 1);
    let id = post(&daemon, "pick.confirmed", "SO-2").await;
    erp.wait_received(&[id], secs(10), "an event after reloads and a rollback")
        .await;
}

/// Pushes while events flow in from HTTP and MQTT to two sinks: one sink is removed, added
/// back with other settings, the MQTT session is restarted, the other's batch size changes. The ERP gets every event exactly
/// once and in order per subject; the CRM gets what was routed to it once, in order, and
/// nothing is left waiting for it.
#[tokio::test(flavor = "multi_thread")]
async fn pushes_under_load_lose_duplicate_and_reorder_nothing() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let crm = StandIn::start("crm", Mode::Slow(Duration::from_millis(20))).await;
    let broker = Broker::start().await;
    let signer = Signer::new(None);
    let device = "[devices.recv-01]\nsource = \"mqtt\"\nstation = \"receive\"\n\
                  topic = \"scanners/recv-01\"\nfeedback = false\n";
    let sinks = vec![
        SinkSpec::new("erp", &erp).batch(20),
        SinkSpec::new("crm", &crm).events(&["pick.*"]).batch(10),
    ];
    let daemon = start(&broker, &signer, sinks, device).await;
    let central = MqttClient::connect(&broker, "central-it").await;
    let scanner = MqttClient::connect(&broker, "scanner-recv-01").await;
    let text = std::fs::read_to_string(daemon.config_path()).unwrap();
    let crm_at = text.find("[sinks.crm]").expect("the crm table");
    let crm_end = text[crm_at + 1..]
        .find("\n[")
        .map_or(text.len(), |i| crm_at + 1 + i + 1);
    let crm_table = text[crm_at..crm_end].to_owned();
    let without_crm = format!("{}{}", &text[..crm_at], &text[crm_end..]);
    let pushes = [
        without_crm.clone(),
        // A new MQTT session too: keep_alive is the session's own setting.
        format!(
            "{}{}",
            without_crm.replace("keep_alive = \"5s\"", "keep_alive = \"6s\""),
            crm_table.replace("batch_max_events = 10", "batch_max_events = 3")
        ),
        format!("{without_crm}{crm_table}")
            .replace("batch_max_events = 20", "batch_max_events = 5"),
    ];

    let gtin = gtin14("0950600013435");
    let mut http_ids = Vec::new();
    let mut scans = 0;
    for round in 0..30 {
        let body: Vec<Value> = (0..10)
            .map(|i| json!({"type": "pick.confirmed", "subject": format!("SO-{}", i % 4), "data": {"round": round, "i": i}}))
            .collect();
        http_ids.extend(daemon.post_events(&json!(body), None).await.ids());
        let labels = (0..5)
            .map(|i| gs1_item(&gtin, "271231", &format!("R{round}N{i}")).into_bytes())
            .collect();
        scanner.publish_all("scanners/recv-01", labels).await;
        scans += 5;
        if round % 10 == 5 {
            let version = 2 + round as u64 / 10;
            let text =
                pushes[round / 10].replacen("version = 1\n", &format!("version = {version}\n"), 1);
            central.publish_retained(CONFIG, signer.push(&text)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for(secs(30), "version 4 running", async || {
        (running_version(&daemon).await == 4)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    erp.wait_received(&http_ids, secs(30), "every posted event at the ERP")
        .await;
    let receipts = wait_for(secs(30), "every scan at the ERP", async || {
        let got = delivered_of(&erp, "receipt.confirmed");
        if got.len() >= scans {
            Ok(got)
        } else {
            Err(format!("{} of {scans}", got.len()))
        }
    })
    .await;
    let inputs: std::collections::HashSet<String> = receipts
        .iter()
        .map(|d| {
            d.event["data"]["input"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(inputs.len(), scans, "one event per scan");
    let log = daemon.log();
    assert!(
        log.matches("Connected to the site broker.").count() >= 3
            && log.contains("session_present=true"),
        "the pushes renewed the MQTT session, which kept its place at the broker"
    );
    assert_eq!(erp.duplicates(), 0, "nothing sent twice to the ERP");
    erp.check_subject_order().unwrap();
    wait_for(secs(30), "nothing waiting for the CRM", async || {
        let pending = daemon.events("crm", "pending").await;
        pending
            .is_empty()
            .then_some(())
            .ok_or_else(|| format!("{} pending", pending.len()))
    })
    .await;
    assert_eq!(crm.duplicates(), 0, "nothing sent twice to the CRM");
    crm.check_subject_order().unwrap();
    assert!(!crm.delivered().is_empty());
}

/// `dockgate config keygen` makes a pair in minisign's own format: the `minisign` tool checks
/// what its secret key signed, and a site trusting its public key applies a push made with it.
#[tokio::test(flavor = "multi_thread")]
async fn keygen_makes_a_minisign_pair_that_pushes_work_with() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    // minisign's own key pair, only for its directory and the daemon's first trusted key.
    let signer = Signer::new(None);
    let out = signer.file("unused", "").with_file_name("central");
    let password = signer.file("password", "s3cret\n");
    let made = dockgate(&[
        "config",
        "keygen",
        "--out",
        &out.display().to_string(),
        "--password-file",
        &password.display().to_string(),
    ])
    .await;
    made.assert_ok();
    let (key, public) = (out.with_extension("key"), out.with_extension("pub"));
    // Both keys trusted at once, as during a rotation.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&signer.public).unwrap(),
        std::fs::read_to_string(&public).unwrap()
    );
    let trusted = signer.file("trusted.pub", &both);
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&format!(
        "{}[config_push]\npublic_key_file = {:?}\n",
        mqtt_table(&broker),
        trusted.display().to_string()
    )))
    .await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let v2 = signer.file("v2.toml", &version_of(&daemon, 2, ""));
    let pushed = cli_push(&broker, &v2, &key, &password).await;
    pushed.assert_ok();
    assert_eq!(running_version(&daemon).await, 2);
    // The same pair, checked by minisign: sign with ours, verify with the tool.
    let listener = MqttClient::connect(&broker, "central-it").await;
    listener.subscribe(CONFIG).await;
    let retained = wait_for(secs(10), "the retained push", async || {
        listener
            .received(CONFIG)
            .last()
            .map(|r| r.payload.clone())
            .ok_or_else(|| "none".to_owned())
    })
    .await;
    let push: Value = serde_json::from_slice(&retained).unwrap();
    let text = signer.file("pushed.toml", push["config"].as_str().unwrap());
    let sig = signer.file("pushed.toml.minisig", push["signature"].as_str().unwrap());
    let verified = std::process::Command::new("minisign")
        .args(["-V", "-p"])
        .arg(&public)
        .arg("-m")
        .arg(&text)
        .arg("-x")
        .arg(&sig)
        .output()
        .expect("running minisign -V");
    assert!(
        verified.status.success(),
        "minisign does not verify what dockgate signed: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
}
