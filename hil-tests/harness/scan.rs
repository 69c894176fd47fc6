//! Scanner and dock-device helpers: GS1 labels with correct check digits, config tables for
//! the inbound side, and checks of the CloudEvents devices produce.

use std::collections::HashSet;

use serde_json::Value;

use super::broker::Broker;
use super::daemon::SITE;
use super::standin::{str_field, Delivered, StandIn};

/// Client id dockgate uses on the site broker (`dockgate-<site>`).
pub const DAEMON_CLIENT_ID: &str = "dockgate-wh-hil";

/// Completes a 13-digit GTIN body with its GS1 mod-10 check digit.
pub fn gtin14(body: &str) -> String {
    assert_eq!(body.len(), 13, "a GTIN-14 body has 13 digits: {body}");
    format!("{body}{}", check_digit(body))
}

/// GS1 mod-10 check digit of `digits`: from the right, weights 3, 1, 3, ...
pub fn check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).expect("digits only") * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

/// An item label as a GS1-128 scanner sends it: AIM `]C1`, GTIN (01), expiry (17, YYMMDD),
/// lot (10, last, so no separator is needed).
pub fn gs1_item(gtin: &str, yymmdd: &str, lot: &str) -> String {
    format!("]C101{gtin}17{yymmdd}10{lot}")
}

/// The `[mqtt]` table for `broker`.
pub fn mqtt_table(broker: &Broker) -> String {
    format!("[mqtt]\nurl = {:?}\nkeep_alive = \"5s\"\n", broker.url())
}

/// `source` of the CloudEvents a device produces.
pub fn device_source(device: &str) -> String {
    format!("dockgate://{SITE}/devices/{device}")
}

/// Accepted events of `event_type`, first delivery of each id only, in arrival order.
pub fn delivered_of(standin: &StandIn, event_type: &str) -> Vec<Delivered> {
    let mut seen = HashSet::new();
    standin
        .delivered()
        .into_iter()
        .filter(|d| str_field(&d.event, "type") == event_type)
        .filter(|d| seen.insert(d.id.clone()))
        .collect()
}

/// Every distinct event accepted, first delivery of each id, in arrival order.
pub fn distinct_delivered(standin: &StandIn) -> Vec<Delivered> {
    let mut seen = HashSet::new();
    standin
        .delivered()
        .into_iter()
        .filter(|d| seen.insert(d.id.clone()))
        .collect()
}

/// Waits until `erp` holds at least `n` distinct events of `event_type`.
pub async fn wait_type(erp: &StandIn, event_type: &str, n: usize) -> Vec<Delivered> {
    super::wait_for(
        super::secs(30),
        &format!("the ERP has {n} {event_type}"),
        async || {
            let got = delivered_of(erp, event_type);
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!(
                    "{} so far; every event: {:?}",
                    got.len(),
                    distinct_delivered(erp)
                        .iter()
                        .map(|d| format!(
                            "{} {} {}",
                            d.sequence,
                            str_field(&d.event, "type"),
                            d.event["data"]["input"]
                        ))
                        .collect::<Vec<_>>()
                ))
            }
        },
    )
    .await
}

/// Checks the CloudEvents envelope of an event made from a device's input, and that `data`
/// names the site, the device and its station.
pub fn check_device_event(e: &Value, device: &str, station: &str) -> Result<(), String> {
    let bad = |why: String| Err(format!("{why}: {e}"));
    if e["specversion"] != "1.0" {
        return bad("specversion is not \"1.0\"".into());
    }
    if e["source"] != device_source(device).as_str() {
        return bad(format!("source is not {:?}", device_source(device)));
    }
    for field in ["id", "type", "subject", "time", "sequence"] {
        if !e[field].is_string() {
            return bad(format!("{field} missing or not a string"));
        }
    }
    if str_field(e, "sequence").parse::<u64>().is_err() {
        return bad("sequence is not a decimal string".into());
    }
    let time = str_field(e, "time");
    if !(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.') {
        return bad("time is not RFC 3339 with milliseconds and Z".into());
    }
    if e["datacontenttype"] != "application/json" {
        return bad("datacontenttype is not application/json".into());
    }
    let data = &e["data"];
    for (key, want) in [("site", SITE), ("device", device), ("station", station)] {
        if data[key] != want {
            return bad(format!("data.{key} is not {want:?}"));
        }
    }
    if !data["input"].is_string() {
        return bad("data.input missing".into());
    }
    Ok(())
}

/// Waits until `daemon`'s device `id` shows `up` (and, if given, at least `reconnects`).
pub async fn wait_device_up(daemon: &super::Daemon, id: &str, reconnects: u64) {
    super::wait_for(
        super::secs(20),
        &format!("device {id} is up with reconnects >= {reconnects}"),
        async || {
            let d = daemon.device(id).await;
            if d["up"] == true && d["reconnects"].as_u64().unwrap_or(0) >= reconnects {
                Ok(())
            } else {
                Err(d.to_string())
            }
        },
    )
    .await;
}

/// Publishes one scan and waits until dockgate has committed it, as an operator who looks at
/// the scanner's display before the next scan.
pub async fn scan(
    daemon: &super::Daemon,
    scanner: &super::MqttClient,
    topic: &str,
    payload: impl Into<Vec<u8>>,
) {
    let before = committed(daemon).await;
    scanner.publish(topic, payload).await;
    super::wait_until(
        super::secs(20),
        "dockgate has committed the scan",
        async || committed(daemon).await > before,
    )
    .await;
}

/// Device inputs dockgate has committed since it started (all devices).
pub async fn committed(daemon: &super::Daemon) -> u64 {
    daemon
        .metric_total("dockgate_device_inputs_committed_total")
        .await as u64
}
