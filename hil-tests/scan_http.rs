//! HTTP devices: `POST /api/v1/ingest/<device>` takes a raw scan as a serial or MQTT scanner
//! would send it, answers after the commit (202 with the event ids and the operator feedback,
//! 422 for input quarantined, 404/409 for the wrong device, 413 over `max_body`), and the
//! operator feedback goes out on the site broker like any device's.

use serde_json::Value;

use crate::harness::*;

const DEVICES: &str = "[devices.ship-07]\nsource = \"http\"\nstation = \"ship\"\ndoor = \"D07\"\n\
                       [devices.pick-01]\nsource = \"mqtt\"\nstation = \"pick\"\ntopic = \"scanners/pick-01\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn http_device_scans_become_events_after_the_commit() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)])
            .max_body("1KiB")
            .toml(&mqtt_table(&broker))
            .toml(DEVICES),
    )
    .await;
    let feedback_topic = format!("dockgate/{SITE}/devices/ship-07/feedback");
    let terminal = MqttClient::connect(&broker, "terminal-ship-07").await;
    terminal.subscribe(&feedback_topic).await;
    let client = daemon.ingest_client();

    // An SSCC at a ship station: one shipment.loaded, committed before the answer.
    let loaded = client
        .post_device("ship-07", b"]C100095060001343520000".to_vec())
        .await;
    assert_eq!(loaded.status, 202, "{loaded:?}");
    let ids = loaded.ids();
    assert_eq!(ids.len(), 1);
    assert_eq!(loaded.json["feedback"]["ok"], true, "{loaded:?}");
    assert_eq!(loaded.json["feedback"]["event"], "shipment.loaded");
    let pending = daemon.events("erp", "pending").await;
    let delivered = daemon.events("erp", "delivered").await;
    assert!(
        pending.iter().chain(&delivered).any(|e| e["id"] == ids[0]),
        "the event was in the buffer when the 202 came"
    );
    let got = wait_type(&erp, "shipment.loaded", 1).await;
    assert_eq!(got[0].id, ids[0]);
    assert_eq!(got[0].subject, "095060001343520000", "{:?}", got[0].event);
    assert_eq!(got[0].event["data"]["door"], "D07");
    assert_eq!(
        got[0].event["source"],
        format!("dockgate://{SITE}/devices/ship-07")
    );

    // Garbage is quarantined with its bytes and the operator is told.
    let refused = client
        .post_device("ship-07", b"\x1b[2Jhello".to_vec())
        .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.json["reason"], "control_bytes");
    assert_eq!(refused.json["quarantined"], true);
    let rejected = daemon.rejected().await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["device"], "ship-07");
    let st = daemon.device("ship-07").await;
    assert_eq!(st["rejected"], 1, "counted in status: {st}");

    // The wrong device, or too much.
    assert_eq!(
        client.post_device("nobody", b"x".to_vec()).await.status,
        404
    );
    let not_http = client.post_device("pick-01", b"SO-1".to_vec()).await;
    assert_eq!(not_http.status, 409, "{not_http:?}");
    let big = client.post_device("ship-07", vec![b'A'; 4096]).await;
    assert_eq!(big.status, 413, "{big:?}");
    assert!(
        big.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("admin.max_body")),
        "{big:?}"
    );

    // Feedback for both scans reached the device's topic, as for an MQTT scanner.
    let feedback = wait_for(secs(20), "two feedback messages", async || {
        let got: Vec<Value> = terminal
            .received(&feedback_topic)
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.payload).ok())
            .collect();
        if got.len() >= 2 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    assert_eq!(feedback[0]["event"], "shipment.loaded", "{feedback:?}");
    assert_eq!(feedback[1]["ok"], false, "{feedback:?}");
    assert!(
        feedback[1]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Input not accepted")),
        "{feedback:?}"
    );
    let device = daemon.device("ship-07").await;
    assert_eq!(device["inputs"], 2, "{device}");
}
