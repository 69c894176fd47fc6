//! (e) Garbage on both inputs: binary noise, control bytes and a 1 MiB line on a serial
//! scanner; invalid UTF-8, an oversized payload and broken JSON on an MQTT scanner. Each is
//! quarantined with a clear reason and its raw bytes, the other devices keep working, and
//! the MQTT garbage is acknowledged (a restart does not bring it back).

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const SERIAL: &str = "scan-s";
const MQTT: &str = "scan-m";
const TOPIC: &str = "scanners/scan-m";

/// Waits for a `pick.confirmed` of `lot`.
async fn wait_pick(erp: &StandIn, lot: &str, what: &str) {
    wait_for(secs(30), what, async || {
        let got = delivered_of(erp, "pick.confirmed");
        if got.iter().any(|d| d.event["data"]["lot"] == lot) {
            Ok(())
        } else {
            Err(format!(
                "lots so far: {:?}",
                got.iter()
                    .map(|d| d.event["data"]["lot"].clone())
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await;
}

/// The quarantined inputs as (device, reason, bytes, raw).
fn summary(rows: &[Value]) -> Vec<(String, String, u64, String)> {
    rows.iter()
        .map(|r| {
            (
                str_field(r, "device"),
                str_field(r, "reason"),
                r["bytes"].as_u64().unwrap_or(0),
                str_field(r, "raw"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_is_quarantined_with_reasons_and_the_devices_keep_working() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let mut link = SerialLink::start().await;
    let devices = format!(
        "[mqtt]\nurl = {url:?}\nkeep_alive = \"5s\"\nmax_packet_size = \"4KiB\"\n\
         [devices.{SERIAL}]\nsource = \"serial\"\nstation = \"pick\"\npath = {path:?}\n\
         [devices.{MQTT}]\nsource = \"mqtt\"\nstation = \"pick\"\ntopic = {TOPIC:?}\n",
        url = broker.url(),
        path = link.device_path().display().to_string(),
    );
    let mut daemon =
        Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&devices)).await;
    wait_device_up(&daemon, SERIAL, 0).await;
    wait_device_up(&daemon, MQTT, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let feedback_topic = format!("dockgate/{SITE}/devices/{MQTT}/feedback");
    let terminal = MqttClient::connect(&broker, "terminal-scan-m").await;
    terminal.subscribe(&feedback_topic).await;
    let scanner = MqttClient::connect(&broker, "scanner-scan-m").await;
    let gtin = gtin14("0950600013435");

    // Serial garbage: binary noise (not UTF-8), a line with terminal escape codes, and 1 MiB
    // without a terminator, ended only by the CR LF before the next scan.
    link.write_line(b"\x00\x01\x02\xff\xfe\x80\x9bnoise").await;
    link.write_line(b"AB\x07\x1b[2JC").await;
    link.write(&vec![b'X'; 1 << 20]).await;
    link.write(b"\r\n").await;
    // Another device is served after it.
    scan(&daemon, &scanner, TOPIC, "SO-6002").await;
    scanner
        .publish(TOPIC, gs1_item(&gtin, "251231", "M1"))
        .await;
    wait_pick(
        &erp,
        "M1",
        "the MQTT scanner's pick after the serial garbage",
    )
    .await;

    // MQTT garbage: not UTF-8, larger than max_packet_size, a JSON object cut short.
    scanner
        .publish(TOPIC, b"\xff\xfe\x00\x80garbage".to_vec())
        .await;
    scanner.publish(TOPIC, vec![b'Z'; 8192]).await;
    scanner.publish(TOPIC, r#"{"data":"#).await;
    // The serial scanner still reads lines, and is served after the MQTT garbage.
    link.write_line("SO-6001").await;
    link.write_line(gs1_item(&gtin, "251231", "S1")).await;
    wait_pick(
        &erp,
        "S1",
        "the serial scanner's pick after all the garbage",
    )
    .await;
    // The MQTT scanner is still served after its own garbage.
    scanner
        .publish(TOPIC, gs1_item(&gtin, "251231", "M2"))
        .await;
    wait_pick(&erp, "M2", "the MQTT scanner's pick after its garbage").await;

    let rows = wait_for(secs(20), "six inputs are quarantined", async || {
        let rows = daemon.rejected().await;
        if rows.len() >= 6 {
            Ok(rows)
        } else {
            Err(format!("{:?}", summary(&rows)))
        }
    })
    .await;
    let seen = summary(&rows);
    assert_eq!(rows.len(), 6, "exactly the six bad inputs: {seen:?}");
    let find = |device: &str, reason: &str| -> (u64, String) {
        let row = rows
            .iter()
            .find(|r| r["device"] == device && r["reason"] == reason)
            .unwrap_or_else(|| {
                panic!("no quarantined input of {device} with reason {reason}: {seen:?}")
            });
        assert!(
            row["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "a quarantined input says what is wrong: {row}"
        );
        (row["bytes"].as_u64().unwrap_or(0), str_field(row, "raw"))
    };
    let (_, raw) = find(SERIAL, "invalid_utf8");
    assert!(
        raw.starts_with(r"\x00\x01\x02\xff\xfe\x80\x9bnoise"),
        "raw bytes shown escaped: {raw}"
    );
    let (_, raw) = find(SERIAL, "control_bytes");
    assert!(
        raw.contains(r"\x07\x1b[2J"),
        "raw bytes shown escaped: {raw}"
    );
    let (bytes, raw) = find(SERIAL, "overlong_line");
    assert!(
        (16..=4096).contains(&bytes) && raw.starts_with("XXXX"),
        "an overlong line keeps at most max_line bytes: {bytes} bytes, raw {raw}"
    );
    let (_, raw) = find(MQTT, "invalid_utf8");
    assert!(raw.starts_with(r"\xff\xfe\x00\x80garbage"), "{raw}");
    let (bytes, raw) = find(MQTT, "oversized");
    assert!(bytes >= 4096 && raw.starts_with("ZZZZ"), "{bytes} {raw}");
    let (_, raw) = find(MQTT, "invalid_json");
    assert!(raw.contains("data"), "{raw}");

    // Each device's status counts its three: the reader's refusals and the workflow's.
    for device in [SERIAL, MQTT] {
        let st = daemon.device(device).await;
        assert_eq!(st["rejected"], 3, "{device}: {st}");
        assert!(
            st["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("input rejected: ")),
            "{device}: {st}"
        );
    }

    // The operator's view: `dockgate events --state rejected`.
    let out = daemon.run_cli(&["events", "--state", "rejected"]).await;
    out.assert_ok();
    for (device, reason, raw) in [
        (SERIAL, "invalid_utf8", r"\x00\x01\x02\xff"),
        (SERIAL, "control_bytes", r"\x07\x1b"),
        (SERIAL, "overlong_line", "XXXXXXXX"),
        (MQTT, "invalid_utf8", r"\xff\xfe\x00\x80garbage"),
        (MQTT, "oversized", "ZZZZZZZZ"),
        (MQTT, "invalid_json", "data"),
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(&format!("device={device}"))
                    && l.contains(&format!("reason={reason}"))
                    && l.contains(raw)),
            "`dockgate events --state rejected` shows {device} {reason} with raw {raw}:\n{}",
            out.stdout
        );
    }

    let one = daemon
        .run_cli(&["events", "--state", "rejected", "--device", MQTT])
        .await;
    one.assert_ok();
    assert_eq!(one.stdout.lines().count(), 3, "{MQTT}'s three: {one:#?}");
    // A device selects quarantined inputs only: without the state it is refused, not ignored.
    let wrong = daemon.run_cli(&["events", "--device", SERIAL]).await;
    assert_ne!(wrong.code, Some(0), "{wrong:#?}");
    assert!(wrong.stderr.contains("state rejected"), "{wrong:#?}");

    // Nothing but the three picks reached the ERP: garbage makes no business event.
    let all = distinct_delivered(&erp);
    assert!(
        all.iter().all(|d| d.event["type"] == "pick.confirmed"),
        "only picks: {:?}",
        all.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    assert_eq!(all.len(), 3);
    for d in &all {
        let device = str_field(&d.event["data"], "device");
        check_device_event(&d.event, &device, "pick").unwrap();
    }
    // The MQTT operator was told about each refused message.
    let refused = terminal
        .received(&feedback_topic)
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
        .filter(|f| f["ok"] == false)
        .count();
    assert!(
        refused >= 3,
        "negative feedback for the three bad MQTT messages, got {refused}: {:?}",
        terminal.received(&feedback_topic)
    );
    for id in [SERIAL, MQTT] {
        let d = daemon.device(id).await;
        assert_eq!(d["up"], true, "garbage does not take a device down: {d}");
    }

    // The MQTT garbage was acknowledged: after a crash and restart the broker has nothing
    // to send again, so the quarantine does not grow.
    daemon.kill9();
    daemon.restart().await;
    wait_device_up(&daemon, MQTT, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 2).await;
    scanner
        .publish(TOPIC, gs1_item(&gtin, "251231", "M3"))
        .await;
    wait_pick(&erp, "M3", "the MQTT scanner's pick after the restart").await;
    // Anything redelivered would have come before M3; give stragglers a moment anyway.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = daemon.rejected().await;
    assert_eq!(
        after.len(),
        6,
        "the quarantine grew after the restart (garbage redelivered): {:?}",
        summary(&after)
    );
}
