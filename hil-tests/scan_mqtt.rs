//! MQTT scanners on a private mosquitto: (b) a pick session across a broker restart; (c)
//! `kill -9` of the daemon with messages in flight (each input exactly one event; two
//! identical scans are two events); a backlog delivered as one burst is applied in arrival
//! order; a flood of 1000 messages is committed and acknowledged; PUBACKs lost in a network
//! cut do not make second events; operator feedback on the device's feedback topic, and a stop
//! in the middle of a flood still answers every scan it committed; a second client with the
//! daemon's client id is named in the log.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use serde_json::{json, Value};

use crate::harness::*;

/// An MQTT pick station on `topic`.
fn mqtt_pick(id: &str, topic: &str) -> String {
    format!("[devices.{id}]\nsource = \"mqtt\"\nstation = \"pick\"\ntopic = {topic:?}\n")
}

/// A daemon with an ERP sink and one MQTT pick station; returns once the device is up and
/// the broker has acknowledged its subscription.
async fn start_mqtt_pick(erp: &StandIn, broker: &Broker, id: &str, topic: &str) -> Daemon {
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", erp)])
            .toml(&mqtt_table(broker))
            .toml(&mqtt_pick(id, topic)),
    )
    .await;
    wait_device_up(&daemon, id, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    daemon
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_pick_session_survives_a_broker_restart() {
    const DEVICE: &str = "pick-02";
    const TOPIC: &str = "scanners/pick-02";
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut broker = Broker::start().await;
    let daemon = start_mqtt_pick(&erp, &broker, DEVICE, TOPIC).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-02").await;
    let gtin = gtin14("0950600013435");
    let item = |n: usize| gs1_item(&gtin, "251231", &format!("R{n}"));

    scan(&daemon, &scanner, TOPIC, "SO-2002").await;
    scan(&daemon, &scanner, TOPIC, "C03-04-05").await;
    scan(&daemon, &scanner, TOPIC, item(1)).await;
    // The JSON form: data without the AIM prefix, symbology beside it.
    let json_item = json!({ "data": item(2).trim_start_matches("]C1"), "symbology": "]C1" });
    scan(&daemon, &scanner, TOPIC, json_item.to_string()).await;
    wait_type(&erp, "pick.confirmed", 2).await;

    broker.stop().await;
    wait_for(
        secs(20),
        "the MQTT device shows down while the broker is stopped",
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
    broker.restart().await;
    // Published as soon as the broker is back, maybe before dockgate has reconnected: the
    // broker keeps it for dockgate's persistent session.
    scan(&daemon, &scanner, TOPIC, item(3)).await;
    wait_device_up(&daemon, DEVICE, 1).await;
    scan(&daemon, &scanner, TOPIC, item(4)).await;
    scan(&daemon, &scanner, TOPIC, item(5)).await;
    scan(&daemon, &scanner, TOPIC, "CMD-DONE").await;

    let done = wait_type(&erp, "pick.completed", 1).await;
    let confirmed = delivered_of(&erp, "pick.confirmed");
    let lots: Vec<&Value> = confirmed.iter().map(|d| &d.event["data"]["lot"]).collect();
    assert_eq!(
        lots,
        ["R1", "R2", "R3", "R4", "R5"],
        "every item exactly once, in scan order; (lot, line, sequence) as received: {:?}",
        confirmed
            .iter()
            .map(|d| (
                d.event["data"]["lot"].clone(),
                d.event["data"]["line"].clone(),
                d.sequence
            ))
            .collect::<Vec<_>>()
    );
    let all = distinct_delivered(&erp);
    assert_eq!(
        all.len(),
        6,
        "nothing else: {:?}",
        all.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    let ids: HashSet<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), 6, "no id twice");
    assert_eq!(erp.duplicates(), 0, "no event delivered twice");
    for (i, d) in confirmed.iter().enumerate() {
        check_device_event(&d.event, DEVICE, "pick").unwrap();
        assert_eq!(d.subject, "SO-2002", "{}", d.event);
        assert_eq!(d.event["data"]["line"], i as u64 + 1, "{}", d.event);
        assert_eq!(d.event["data"]["location"], "C03-04-05", "{}", d.event);
        assert_eq!(d.event["data"]["gtin"], gtin.as_str(), "{}", d.event);
        assert_eq!(d.event["data"]["expiry"], "2025-12-31", "{}", d.event);
    }
    let done = &done[0].event;
    check_device_event(done, DEVICE, "pick").unwrap();
    assert_eq!(done["subject"], "SO-2002", "the session continued: {done}");
    assert_eq!(done["data"]["lines"], 5, "{done}");
    erp.check_subject_order().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_with_mqtt_messages_in_flight_makes_each_input_exactly_one_event() {
    const DEVICE: &str = "pick-03";
    const TOPIC: &str = "scanners/pick-03";
    const N: usize = 200;
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let mut daemon = start_mqtt_pick(&erp, &broker, DEVICE, TOPIC).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-03").await;
    let gtin = gtin14("0950600013435");
    let lot = |n: usize| format!("K{n:03}");

    scan(&daemon, &scanner, TOPIC, "SO-3003").await;
    scan(&daemon, &scanner, TOPIC, "D01-02-03").await;
    let items = |range: std::ops::Range<usize>| -> Vec<Vec<u8>> {
        range
            .map(|n| gs1_item(&gtin, "251231", &lot(n)).into_bytes())
            .collect()
    };
    let mut at_kill = Vec::new();
    // Crash 1, in a live stream: the broker has pushed a burst, dockgate has committed and
    // acknowledged part of it.
    scanner.publish_all(TOPIC, items(0..60)).await;
    wait_until(
        secs(30),
        "dockgate has committed part of the first burst",
        async || committed(&daemon).await >= 2 + 30,
    )
    .await;
    daemon.kill9();
    at_kill.push(delivered_of(&erp, "pick.confirmed").len());
    // The picker goes on while dockgate is down: the broker queues a backlog.
    scanner.publish_all(TOPIC, items(60..180)).await;
    daemon.restart().await;
    // Crash 2, while the broker redelivers the messages left unacknowledged by crash 1 (with
    // DUP) and the backlog.
    wait_until(
        secs(30),
        "dockgate has committed part of the redelivery and the backlog",
        async || committed(&daemon).await >= 60,
    )
    .await;
    daemon.kill9();
    at_kill.push(delivered_of(&erp, "pick.confirmed").len());
    daemon.restart().await;
    scanner.publish_all(TOPIC, items(180..N)).await;

    let confirmed = wait_type(&erp, "pick.confirmed", N).await;
    // Every input exactly once: one event id per lot (a repeat of the same id is allowed).
    let mut ids_by_lot: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for d in erp
        .delivered()
        .iter()
        .filter(|d| d.event["type"] == "pick.confirmed")
    {
        ids_by_lot
            .entry(str_field(&d.event["data"], "lot"))
            .or_default()
            .insert(d.id.clone());
    }
    let doubled: Vec<(&String, &BTreeSet<String>)> =
        ids_by_lot.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(
        doubled.is_empty(),
        "inputs that became more than one event: {doubled:?}"
    );
    let missing: Vec<String> = (0..N)
        .map(lot)
        .filter(|l| !ids_by_lot.contains_key(l))
        .collect();
    assert!(missing.is_empty(), "inputs lost: {missing:?}");
    assert_eq!(
        confirmed.len(),
        N,
        "one event per published scan (lots {:?})",
        ids_by_lot.keys().collect::<Vec<_>>()
    );
    let lines: BTreeSet<u64> = confirmed
        .iter()
        .filter_map(|d| d.event["data"]["line"].as_u64())
        .collect();
    assert_eq!(
        lines,
        (1..=N as u64).collect::<BTreeSet<_>>(),
        "line numbers 1..={N}, each once: the session survived the crash"
    );
    for d in &confirmed {
        check_device_event(&d.event, DEVICE, "pick").unwrap();
        assert_eq!(d.subject, "SO-3003", "{}", d.event);
    }
    erp.check_repeats_identical().unwrap();
    erp.check_subject_order().unwrap();

    // Two genuinely identical scans, published separately, are two picks.
    let twin = gs1_item(&gtin, "251231", "TWIN");
    scanner.publish(TOPIC, twin.clone()).await;
    scanner.publish(TOPIC, twin.clone()).await;
    let confirmed = wait_type(&erp, "pick.confirmed", N + 2).await;
    let twins: Vec<&standin::Delivered> = confirmed
        .iter()
        .filter(|d| d.event["data"]["input"] == twin.as_str())
        .collect();
    assert_eq!(
        twins.len(),
        2,
        "two identical scans are two events: {:?}",
        twins.iter().map(|d| &d.event).collect::<Vec<_>>()
    );
    assert_ne!(twins[0].id, twins[1].id);
    scanner.publish(TOPIC, "CMD-DONE").await;
    let done = wait_type(&erp, "pick.completed", 1).await;
    assert_eq!(
        done[0].event["data"]["lines"],
        N as u64 + 2,
        "{}",
        done[0].event
    );
    assert_eq!(
        distinct_delivered(&erp).len(),
        N + 3,
        "no event besides the picks and the completion"
    );

    let redelivered = daemon
        .metric_total("dockgate_inputs_redelivered_total")
        .await as u64;
    let dup_sends = broker
        .log()
        .lines()
        .filter(|l| l.contains(&format!("Sending PUBLISH to {DAEMON_CLIENT_ID} (d1")))
        .count();
    eprintln!(
        "kill -9 with MQTT in flight: picks at the ERP at the kills {at_kill:?}, broker resent \
         {dup_sends} with DUP, dockgate recognised {redelivered} (after the last restart), ERP saw {} repeats",
        erp.duplicates()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_backlog_after_a_restart_is_applied_in_arrival_order() {
    const DEVICE: &str = "pick-05";
    const TOPIC: &str = "scanners/pick-05";
    const N: usize = 12;
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let mut daemon = start_mqtt_pick(&erp, &broker, DEVICE, TOPIC).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-05").await;
    let gtin = gtin14("0400638133393");

    // dockgate is stopped (an upgrade, a config push) while the picker goes on scanning: the
    // broker queues the session for dockgate's persistent session and delivers it as one
    // burst when dockgate is back. A session only means something in scan order.
    let status = daemon.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    let mut session = vec!["SO-5005".to_owned(), "E05-06-07".to_owned()];
    session.extend((1..=N).map(|n| gs1_item(&gtin, "270615", &format!("Q{n:02}"))));
    session.push("CMD-DONE".to_owned());
    scanner
        .publish_all(
            TOPIC,
            session.iter().map(|s| s.clone().into_bytes()).collect(),
        )
        .await;
    daemon.restart().await;

    // Every item and the done scan make one event each, whatever the order they are applied in.
    wait_until(
        secs(30),
        "the backlog's events reached the ERP",
        async || distinct_delivered(&erp).len() > N,
    )
    .await;
    let all = distinct_delivered(&erp);
    let seen: Vec<String> = all
        .iter()
        .map(|d| {
            format!(
                "{} {} line={} {}",
                d.sequence,
                str_field(&d.event, "type"),
                d.event["data"]["line"],
                d.event["data"]["input"]
            )
        })
        .collect();
    let confirmed = delivered_of(&erp, "pick.confirmed");
    let lots: Vec<String> = confirmed
        .iter()
        .map(|d| str_field(&d.event["data"], "lot"))
        .collect();
    let want: Vec<String> = (1..=N).map(|n| format!("Q{n:02}")).collect();
    assert_eq!(
        lots, want,
        "the backlog was applied out of arrival order; events by sequence: {seen:#?}"
    );
    assert_eq!(all.len(), N + 1, "no exception or other event: {seen:#?}");
    for (i, d) in confirmed.iter().enumerate() {
        assert_eq!(d.event["data"]["line"], i as u64 + 1, "{seen:#?}");
        assert_eq!(d.event["data"]["location"], "E05-06-07", "{seen:#?}");
        assert_eq!(d.subject, "SO-5005", "{seen:#?}");
    }
    let done = delivered_of(&erp, "pick.completed");
    assert_eq!(done.len(), 1, "{seen:#?}");
    assert_eq!(done[0].event["data"]["lines"], N as u64, "{seen:#?}");
    erp.check_subject_order().unwrap();
}

/// PUBACKs dockgate has sent that reached the broker (its log, all runs).
fn pubacks_at_broker(broker: &Broker) -> usize {
    broker
        .log()
        .matches(&format!("Received PUBACK from {DAEMON_CLIENT_ID}"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_flood_of_1000_messages_is_committed_and_acknowledged() {
    const DEVICE: &str = "pick-06";
    const TOPIC: &str = "scanners/pick-06";
    const N: usize = 1000;
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let daemon = start_mqtt_pick(&erp, &broker, DEVICE, TOPIC).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-06").await;
    let gtin = gtin14("0950600013435");
    scan(&daemon, &scanner, TOPIC, "SO-6006").await;

    // A backlog as after a long outage: the broker (max_inflight_messages 1000) pushes it
    // all at once.
    let items = (0..N)
        .map(|n| gs1_item(&gtin, "251231", &format!("F{n:04}")).into_bytes())
        .collect();
    let started = Instant::now();
    scanner.publish_all(TOPIC, items).await;
    wait_for(
        secs(20),
        "dockgate has committed and acknowledged the whole flood",
        async || {
            let (c, acks) = (committed(&daemon).await, pubacks_at_broker(&broker));
            if c > N as u64 && acks > N {
                Ok(())
            } else {
                Err(format!(
                    "{c} inputs committed, {acks} PUBACKs at the broker; device {}",
                    daemon.device(DEVICE).await
                ))
            }
        },
    )
    .await;
    let confirmed = wait_type(&erp, "pick.confirmed", N).await;
    assert_eq!(confirmed.len(), N);
    let dev = daemon.device(DEVICE).await;
    assert_eq!(dev["up"], true, "{dev}");
    assert_eq!(dev["reconnects"], 0, "the connection held: {dev}");
    eprintln!(
        "flood: {N} messages committed, acknowledged and delivered in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pubacks_lost_in_a_network_cut_do_not_make_second_events() {
    const DEVICE: &str = "pick-07";
    const TOPIC: &str = "scanners/pick-07";
    const N: usize = 10;
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    // dockgate reaches the broker through a proxy that can lose what dockgate sends.
    let proxy = TcpProxy::start(broker.port()).await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)])
            .toml(&format!(
                "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\nkeep_alive = \"5s\"\n",
                proxy.port()
            ))
            .toml(&mqtt_pick(DEVICE, TOPIC)),
    )
    .await;
    wait_device_up(&daemon, DEVICE, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-07").await;
    let gtin = gtin14("0590123412345");
    scan(&daemon, &scanner, TOPIC, "SO-7007").await;
    let acks_before = pubacks_at_broker(&broker);

    // The network loses everything dockgate sends: it commits the scans and sends PUBACKs
    // that never arrive.
    proxy.drop_upstream(true);
    let items = (0..N)
        .map(|n| gs1_item(&gtin, "251231", &format!("P{n:02}")).into_bytes())
        .collect();
    scanner.publish_all(TOPIC, items).await;
    wait_until(secs(20), "dockgate has committed the scans", async || {
        committed(&daemon).await > N as u64
    })
    .await;
    wait_type(&erp, "pick.confirmed", N).await;
    assert_eq!(
        pubacks_at_broker(&broker),
        acks_before,
        "no PUBACK got through the proxy"
    );
    // The connection breaks; dockgate reconnects, and the broker resends every message it
    // never saw acknowledged (DUP, same packet ids): all of them were committed already.
    proxy.drop_upstream(false);
    proxy.cut();
    wait_device_up(&daemon, DEVICE, 1).await;
    wait_until(
        secs(20),
        "the broker has its PUBACKs for the resent messages",
        async || pubacks_at_broker(&broker) >= acks_before + N,
    )
    .await;
    scanner.publish(TOPIC, "CMD-DONE").await;
    let done = wait_type(&erp, "pick.completed", 1).await;

    let confirmed = delivered_of(&erp, "pick.confirmed");
    let seen: Vec<String> = confirmed
        .iter()
        .map(|d| {
            format!(
                "{} line={}",
                d.event["data"]["lot"], d.event["data"]["line"]
            )
        })
        .collect();
    assert_eq!(
        confirmed.len(),
        N,
        "a message resent after its PUBACK was lost became a second event: {seen:?}"
    );
    assert_eq!(
        done[0].event["data"]["lines"], N as u64,
        "{}",
        done[0].event
    );
    erp.check_subject_order().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_scans_get_operator_feedback() {
    const DEVICE: &str = "pick-fb";
    const TOPIC: &str = "scanners/pick-fb";
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let _daemon = start_mqtt_pick(&erp, &broker, DEVICE, TOPIC).await;
    let feedback_topic = format!("dockgate/{SITE}/devices/{DEVICE}/feedback");
    let terminal = MqttClient::connect(&broker, "terminal-pick-fb").await;
    terminal.subscribe(&feedback_topic).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-fb").await;
    let feedback = async |n: usize| -> Vec<Value> {
        wait_for(
            secs(20),
            &format!("{n} feedback messages on {feedback_topic}"),
            async || {
                let got: Vec<Value> = terminal
                    .received(&feedback_topic)
                    .iter()
                    .map(|r| {
                        serde_json::from_slice(&r.payload).unwrap_or_else(|e| {
                            panic!(
                                "feedback is not JSON ({e}): {}",
                                String::from_utf8_lossy(&r.payload)
                            )
                        })
                    })
                    .collect();
                if got.len() >= n {
                    Ok(got)
                } else {
                    Err(format!("{got:?}"))
                }
            },
        )
        .await
    };

    let started = Instant::now();
    scanner.publish(TOPIC, "SO-7007").await;
    let fb = feedback(1).await;
    assert_eq!(fb[0]["ok"], true, "an order scan is accepted: {}", fb[0]);
    let gtin = gtin14("0950600013435");
    scanner
        .publish(TOPIC, gs1_item(&gtin, "251231", "FB1"))
        .await;
    let fb = feedback(2).await;
    assert_eq!(fb[1]["ok"], true, "{}", fb[1]);
    assert_eq!(fb[1]["event"], "pick.confirmed", "{}", fb[1]);
    assert!(
        fb[1]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "feedback carries a message for the operator: {}",
        fb[1]
    );
    // A label whose GTIN check digit is wrong: refused, and the operator is told.
    let wrong = format!("{}{}", &gtin[..13], (check_digit(&gtin[..13]) + 1) % 10);
    scanner
        .publish(TOPIC, gs1_item(&wrong, "251231", "FB2"))
        .await;
    let fb = feedback(3).await;
    assert_eq!(
        fb[2]["ok"], false,
        "a bad check digit is refused: {}",
        fb[2]
    );
    assert_eq!(fb[2]["event"], "pick.exception", "{}", fb[2]);
    let exception = wait_type(&erp, "pick.exception", 1).await;
    assert_eq!(
        exception[0].event["data"]["reason"], "check_digit",
        "{}",
        exception[0].event
    );
    eprintln!("feedback: three round trips in {:?}", started.elapsed());
}

/// dockgate stopped while scans pour in: every scan the stopping session committed still gets
/// its feedback and its PUBACK before the session closes, so none comes back as a redelivery
/// the operator was never answered for (a redelivered scan is a duplicate and gets no second
/// feedback). Across the stop and the next start each scan is answered exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_in_the_middle_of_a_flood_still_answers_every_committed_scan() {
    const DEVICE: &str = "pick-09";
    const TOPIC: &str = "scanners/pick-09";
    const N: usize = 1000;
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let mut daemon = start_mqtt_pick(&erp, &broker, DEVICE, TOPIC).await;
    let feedback_topic = format!("dockgate/{SITE}/devices/{DEVICE}/feedback");
    let terminal = MqttClient::connect(&broker, "terminal-pick-09").await;
    terminal.subscribe(&feedback_topic).await;
    let scanner = MqttClient::connect(&broker, "scanner-pick-09").await;
    let gtin = gtin14("0950600013435");
    scan(&daemon, &scanner, TOPIC, "SO-9009").await;

    let items = (0..N)
        .map(|n| gs1_item(&gtin, "251231", &format!("S{n:04}")).into_bytes())
        .collect();
    let flood = scanner.publish_all(TOPIC, items);
    let stop = async {
        wait_until(secs(20), "a part of the flood is committed", async || {
            committed(&daemon).await >= 40
        })
        .await;
        assert!(daemon.terminate().await.success());
    };
    tokio::join!(flood, stop);
    daemon.restart().await;

    let answered = || terminal.received(&feedback_topic).len();
    wait_for(
        secs(30),
        "every scan answered, across the stop",
        async || match answered() {
            n if n > N => Ok(()),
            n => Err(format!("{n} feedback messages for {} scans", N + 1)),
        },
    )
    .await;
    let confirmed = wait_type(&erp, "pick.confirmed", N).await;
    assert_eq!(confirmed.len(), N);
    assert_eq!(distinct_delivered(&erp).len(), N);
    // Nothing answered twice either.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(answered(), N + 1, "one feedback per scan");
}

/// Another client with the daemon's client id takes its session, and the daemon takes it
/// back, over and over (a copied configuration on a second box): the log says what to check.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_client_with_the_same_client_id_is_named_in_the_log() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = Broker::start().await;
    let daemon = start_mqtt_pick(&erp, &broker, "pick-08", "scanners/pick-08").await;
    let twin = MqttClient::connect(&broker, DAEMON_CLIENT_ID).await;
    wait_for(secs(20), "the hint in the log", async || {
        let log = daemon.log();
        log.lines()
            .any(|l| {
                l.contains("Site broker connection failed")
                    && l.contains("is another client connected with client id")
                    && l.contains(DAEMON_CLIENT_ID)
            })
            .then_some(())
            .ok_or_else(|| log.lines().rev().take(3).collect::<Vec<_>>().join("\n"))
    })
    .await;
    drop(twin);
}
