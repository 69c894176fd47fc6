//! The return and count stations end to end: a return over a serial scanner (RMA, items,
//! a condition code, done) and a cycle count over MQTT with operator feedback, its open
//! count surviving a daemon restart; each reaches the ERP in order, with its fields.

use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_return_over_serial_reaches_the_erp_in_order_with_its_conditions() {
    const DEVICE: &str = "returns-01";
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut link = SerialLink::start().await;
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&format!(
        "[devices.{DEVICE}]\nsource = \"serial\"\nstation = \"return\"\npath = {:?}\n",
        link.device_path().display().to_string()
    )))
    .await;
    wait_device_up(&daemon, DEVICE, 0).await;

    let gtin = gtin14("0950600013435");
    let labels = [
        gs1_item(&gtin, "271231", "R1"),
        gs1_item(&gtin, "271231", "R2"),
        gs1_item(&gtin, "271231", "R3"),
    ];
    link.write_line("RMA-5001").await;
    link.write_line(&labels[0]).await;
    link.write_line("COND-DAMAGED").await;
    link.write_line(&labels[1]).await;
    link.write_line(&labels[2]).await;
    link.write_line("CMD-DONE").await;

    let completed = wait_type(&erp, "return.completed", 1).await;
    let got = distinct_delivered(&erp);
    let types: Vec<String> = got.iter().map(|d| str_field(&d.event, "type")).collect();
    assert_eq!(
        types,
        [
            "return.received",
            "return.received",
            "return.received",
            "return.completed"
        ]
    );
    erp.check_subject_order().unwrap();
    for (d, (label, condition)) in
        got.iter()
            .zip(labels.iter().zip(["resellable", "damaged", "damaged"]))
    {
        check_device_event(&d.event, DEVICE, "return").unwrap();
        assert_eq!(d.subject, "RMA-5001");
        let data = &d.event["data"];
        assert_eq!(
            (
                &data["rma"],
                &data["condition"],
                &data["gtin"],
                &data["input"]
            ),
            (
                &json!("RMA-5001"),
                &json!(condition),
                &json!(gtin),
                &json!(label)
            ),
            "{}",
            d.event
        );
    }
    let data = &completed[0].event["data"];
    assert_eq!(data["lines"], 3);
    assert_eq!(data["by_condition"], json!({"damaged": 2, "resellable": 1}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_count_over_mqtt_gets_feedback_and_survives_a_restart() {
    const DEVICE: &str = "count-01";
    const TOPIC: &str = "scanners/count-01";
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let mut daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&format!(
        "{}[devices.{DEVICE}]\nsource = \"mqtt\"\nstation = \"count\"\ntopic = {TOPIC:?}\n",
        mqtt_table(&broker)
    )))
    .await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let feedback_topic = format!("dockgate/{SITE}/devices/{DEVICE}/feedback");
    let terminal = MqttClient::connect(&broker, "terminal-count-01").await;
    terminal.subscribe(&feedback_topic).await;
    let scanner = MqttClient::connect(&broker, "scanner-count-01").await;

    let a = gtin14("0950600013435");
    let b = gtin14("0400638133393");
    scan(&daemon, &scanner, TOPIC, "B01-02-03").await;
    scan(&daemon, &scanner, TOPIC, gs1_item(&a, "271231", "L1")).await;
    scan(&daemon, &scanner, TOPIC, gs1_item(&a, "271231", "L1")).await;
    // A restart in the middle: the tally is in the buffer with the session.
    assert!(daemon.terminate().await.success());
    daemon.restart().await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 2).await;
    // Twelve of B on one label (AI 30), and a location scanned by mistake: refused.
    scan(&daemon, &scanner, TOPIC, format!("]C101{b}3012")).await;
    scan(&daemon, &scanner, TOPIC, "B01-02-04").await;
    scan(&daemon, &scanner, TOPIC, "CMD-DONE").await;

    let counted = wait_type(&erp, "inventory.counted", 1).await;
    let e = &counted[0].event;
    check_device_event(e, DEVICE, "count").unwrap();
    assert_eq!(counted[0].subject, "B01-02-03");
    assert_eq!(e["data"]["location"], "B01-02-03");
    assert_eq!(e["data"]["lines"], 2);
    assert_eq!(
        e["data"]["items"],
        json!([
            {"gtin": a, "lot": "L1", "quantity": 2},
            {"gtin": b, "quantity": 12},
        ])
    );
    assert_eq!(
        distinct_delivered(&erp).len(),
        1,
        "item scans make no event of their own"
    );

    let feedback: Vec<Value> = wait_for(secs(20), "six feedback messages", async || {
        let got: Vec<Value> = terminal
            .received(&feedback_topic)
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.payload).ok())
            .collect();
        if got.len() >= 6 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let oks: Vec<bool> = feedback.iter().map(|f| f["ok"] == true).collect();
    assert_eq!(oks, [true, true, true, true, false, true], "{feedback:?}");
    assert_eq!(
        feedback[4]["message"],
        "B01-02-03: 2 lines counted: scan done or cancel first"
    );
    assert_eq!(feedback[5]["event"], "inventory.counted");
}
