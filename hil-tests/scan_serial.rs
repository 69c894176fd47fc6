//! Serial scanners through a socat pty pair: (a) a pick session becomes `pick.confirmed` per
//! item and one `pick.completed`, in order, with the label's fields; (d) an unplug and replug
//! in the middle of a session shows the device down and up again, and the session goes on
//! with nothing lost or doubled.

use serde_json::Value;

use crate::harness::*;

/// A serial pick station reading `link`.
fn serial_pick(id: &str, link: &SerialLink) -> String {
    format!(
        "[devices.{id}]\nsource = \"serial\"\nstation = \"pick\"\npath = {:?}\nbaud = 9600\nterminator = \"any\"\n",
        link.device_path().display().to_string()
    )
}

/// Waits until `erp` holds `n` distinct events.
async fn wait_events(erp: &StandIn, n: usize, what: &str) -> Vec<standin::Delivered> {
    wait_for(secs(20), what, async || {
        let got = distinct_delivered(erp);
        if got.len() >= n {
            Ok(got)
        } else {
            Err(format!(
                "{} events: {:?}",
                got.len(),
                got.iter()
                    .map(|d| format!(
                        "{} {}",
                        str_field(&d.event, "type"),
                        d.event["data"]["input"]
                    ))
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_pick_session_reaches_the_erp_in_order_with_label_fields() {
    const DEVICE: &str = "pick-01";
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut link = SerialLink::start().await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&serial_pick(DEVICE, &link)),
    )
    .await;
    wait_device_up(&daemon, DEVICE, 0).await;

    // (GTIN, AI 17 value, lot, expiry as the event must show it); day 00 is the month's end.
    let items = [
        (gtin14("0950600013435"), "251231", "LOT1", "2025-12-31"),
        (gtin14("0400638133393"), "270615", "B-77", "2027-06-15"),
        (gtin14("0590123412345"), "260300", "X9", "2026-03-31"),
    ];
    assert_eq!(
        items[0].0, "09506000134352",
        "check digit of the GS1 example GTIN"
    );
    link.write_line("SO-1001").await;
    link.write_line("A01-02-03").await;
    let mut labels = Vec::new();
    for (gtin, date, lot, _) in &items {
        let label = gs1_item(gtin, date, lot);
        link.write_line(&label).await;
        labels.push(label);
    }
    link.write_line("CMD-DONE").await;

    let got = wait_events(&erp, 4, "the ERP has 3 pick.confirmed and 1 pick.completed").await;
    assert_eq!(
        got.len(),
        4,
        "order and location scans make no event; got {:?}",
        got.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    erp.check_subject_order().unwrap();
    erp.check_repeats_identical().unwrap();
    let mut last_seq = 0;
    for (i, d) in got.iter().enumerate() {
        check_device_event(&d.event, DEVICE, "pick").unwrap();
        assert_eq!(d.subject, "SO-1001", "subject of {}", d.event);
        assert!(
            d.sequence > last_seq,
            "event {i} arrived out of sequence order: {}",
            d.event
        );
        last_seq = d.sequence;
        let data = &d.event["data"];
        assert_eq!(data["order"], "SO-1001", "{}", d.event);
        assert_eq!(data["location"], "A01-02-03", "{}", d.event);
        if i < 3 {
            let (gtin, _, lot, expiry) = &items[i];
            assert_eq!(d.event["type"], "pick.confirmed", "event {i}: {}", d.event);
            assert_eq!(data["gtin"], gtin.as_str(), "{}", d.event);
            assert_eq!(data["lot"], *lot, "{}", d.event);
            assert_eq!(data["expiry"], *expiry, "{}", d.event);
            assert_eq!(data["quantity"], 1, "{}", d.event);
            assert!(data["quantity"].is_u64(), "quantity is a JSON integer");
            assert_eq!(data["input"], labels[i].as_str(), "{}", d.event);
        } else {
            assert_eq!(d.event["type"], "pick.completed", "{}", d.event);
            assert_eq!(data["lines"], 3, "{}", d.event);
            assert_eq!(data["input"], "CMD-DONE", "{}", d.event);
        }
    }
    let dev = daemon.device(DEVICE).await;
    assert_eq!(dev["up"], true, "{dev}");
    assert_eq!(dev["source"], "serial", "{dev}");
    assert_eq!(dev["station"], "pick", "{dev}");
    assert!(dev["inputs"].as_u64() >= Some(6), "six lines read: {dev}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_unplug_and_replug_mid_session_loses_and_doubles_nothing() {
    const DEVICE: &str = "pick-04";
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut link = SerialLink::start().await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&serial_pick(DEVICE, &link)),
    )
    .await;
    wait_device_up(&daemon, DEVICE, 0).await;
    let gtin = gtin14("0950600013435");
    let item = |n: usize| gs1_item(&gtin, "251231", &format!("U{n}"));

    link.write_line("SO-4004").await;
    link.write_line("B01-01-01").await;
    link.write_line(item(1)).await;
    link.write_line(item(2)).await;
    wait_events(&erp, 2, "the two items before the unplug are confirmed").await;
    // Half a label when the cable is pulled: it must not become (part of) a scan.
    link.write(b"]C10109506000").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    link.unplug().await;
    wait_for(
        secs(20),
        "the device shows down after the unplug",
        async || {
            let d = daemon.device(DEVICE).await;
            if d["up"] == false {
                Ok(())
            } else {
                Err(d.to_string())
            }
        },
    )
    .await;
    let down = daemon.device(DEVICE).await;
    assert!(
        down["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "a device that is down says why: {down}"
    );
    let st = daemon.status().await;
    assert!(
        st["devices"].as_array().is_some_and(|a| a.len() == 1),
        "status lists the device: {st}"
    );

    link.replug().await;
    wait_device_up(&daemon, DEVICE, 1).await;
    link.write_line(item(3)).await;
    link.write_line(item(4)).await;
    link.write_line("CMD-DONE").await;
    let got = wait_events(&erp, 5, "four pick.confirmed and the pick.completed").await;

    let lots: Vec<Value> = got
        .iter()
        .filter(|d| d.event["type"] == "pick.confirmed")
        .map(|d| d.event["data"]["lot"].clone())
        .collect();
    assert_eq!(
        lots,
        ["U1", "U2", "U3", "U4"],
        "each item exactly once, in scan order (no exception or unmatched scan from the half label): {:?}",
        got.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    assert_eq!(
        got.len(),
        5,
        "nothing else: {:?}",
        got.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    for (i, d) in got.iter().enumerate() {
        check_device_event(&d.event, DEVICE, "pick").unwrap();
        assert_eq!(d.subject, "SO-4004", "the session went on: {}", d.event);
        assert_eq!(d.event["data"]["order"], "SO-4004", "{}", d.event);
        if i < 4 {
            assert_eq!(d.event["data"]["line"], i as u64 + 1, "{}", d.event);
        }
    }
    let done = &got[4].event;
    assert_eq!(done["type"], "pick.completed", "{done}");
    assert_eq!(done["data"]["lines"], 4, "{done}");
    assert_eq!(erp.duplicates(), 0, "no event delivered twice");
    erp.check_subject_order().unwrap();
    let dev = daemon.device(DEVICE).await;
    assert!(dev["reconnects"].as_u64() >= Some(1), "{dev}");
}
