//! (f) A dock door sensor over MQTT that flaps faster than its debounce: one event per real
//! change (the first settled state and the final one), subject the door.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

const DEVICE: &str = "door-07";
const TOPIC: &str = "dock/door-07/state";
const DEBOUNCE: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread")]
async fn flapping_door_gives_one_event_per_real_change() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let devices = format!(
        "{}[devices.{DEVICE}]\nsource = \"mqtt\"\nstation = \"dock\"\ntopic = {TOPIC:?}\n\
         door = \"D07\"\ndebounce = \"{}ms\"\n",
        mqtt_table(&broker),
        DEBOUNCE.as_millis()
    );
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&devices)).await;
    wait_device_up(&daemon, DEVICE, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let sensor = MqttClient::connect(&broker, "sensor-door-07").await;
    let dock_events = || -> Vec<standin::Delivered> {
        distinct_delivered(&erp)
            .into_iter()
            .filter(|d| str_field(&d.event, "type").starts_with("dock."))
            .collect()
    };

    // The first state ever reported settles and is emitted.
    sensor.publish(TOPIC, "closed").await;
    wait_for(
        secs(20),
        "the first settled state reaches the ERP",
        async || match dock_events().as_slice() {
            [] => Err("nothing yet".into()),
            [_] => Ok(()),
            more => Err(format!("{} events", more.len())),
        },
    )
    .await;

    // Flapping, every message well inside the debounce, ending on the settled state.
    let flaps = [
        "open",
        "closed",
        "OPEN",
        "closed",
        r#"{"door":"open"}"#,
        "closed",
        "open",
        " closed ",
    ];
    for m in flaps {
        sensor.publish(TOPIC, m).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Then the door really opens and stays open.
    let opened_at = Instant::now();
    sensor.publish(TOPIC, "open").await;
    wait_for(secs(20), "the door's opening reaches the ERP", async || {
        let got = dock_events();
        if got.len() >= 2 {
            Ok(())
        } else {
            Err(format!("{} events", got.len()))
        }
    })
    .await;
    let took = opened_at.elapsed();
    assert!(
        took >= DEBOUNCE.mul_f64(0.8),
        "the opening was reported after {took:?}, before the {DEBOUNCE:?} debounce"
    );
    // Anything the flapping would wrongly settle has had time to come out.
    tokio::time::sleep(DEBOUNCE * 2 + Duration::from_millis(600)).await;

    let got = dock_events();
    let types: Vec<String> = got.iter().map(|d| str_field(&d.event, "type")).collect();
    assert_eq!(
        types,
        ["dock.door.closed", "dock.door.opened"],
        "one event per real change: {:?}",
        got.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    for d in &got {
        check_device_event(&d.event, DEVICE, "dock").unwrap();
        assert_eq!(d.subject, "D07", "the subject is the door: {}", d.event);
        assert_eq!(d.event["data"]["door"], "D07", "{}", d.event);
    }
    assert_eq!(got[0].event["data"]["input"], "closed");
    assert_eq!(
        got[1].event["data"]["input"], "open",
        "the opening is the final, stable message"
    );
    assert!(got[0].sequence < got[1].sequence);
    assert_eq!(erp.duplicates(), 0);
    erp.check_subject_order().unwrap();
    assert_eq!(
        distinct_delivered(&erp).len(),
        2,
        "sensor messages make no other event: {:?}",
        json!(erp
            .delivered()
            .iter()
            .map(|d| d.event.clone())
            .collect::<Vec<_>>())
    );
}
