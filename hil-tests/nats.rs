//! Sinks of `type = "nats"`: events published to NATS JetStream, each one message with the
//! CloudEvent as body and `Nats-Msg-Id`, `Dockgate-Subject` and `Content-Type` headers, into a
//! stream the test created. Every test reads the whole stream back through a consumer and
//! checks that each acknowledged input's events are in it exactly once and in order per
//! subject: with a server stopped under load, cluster nodes killed, dockgate killed
//! mid-publish, messages the stream refuses (too large: dead-lettered and replayed; sealed), a
//! subject another stream captures (paused until the config names it); and in [`auth`], a
//! wrong password (paused, then fixed by a reload) and logins by token, NKey and TLS with a
//! company CA; in [`fleet`], a site behind a leaf node cut off from the centre.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::nats::*;
use crate::harness::*;

mod auth;
mod fleet;

const STREAM: &str = "DOCKGATE";

/// `setup` with these NATS sinks too.
fn with_nats(mut setup: Setup, sinks: &[&NatsSink]) -> Setup {
    for sink in sinks {
        setup = setup.toml(&sink.toml());
    }
    setup
}

/// A daemon whose sinks are these NATS sinks.
fn setup(sinks: &[&NatsSink]) -> Setup {
    with_nats(Setup::new(vec![]), sinks)
}

/// A server with stream `DOCKGATE` on `dockgate.>`, and the test's client on it.
async fn server_with_stream(bin: &std::path::Path) -> (NatsServer, Jet) {
    let server = NatsServer::start(bin).await;
    let jet = Jet::connect(&server.url()).await;
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    (server, jet)
}

/// Posts `posts` bodies of `per_post` events (subjects `<prefix>-<k % subjects>`) one after
/// the other, each under its own Idempotency-Key and retried with it until a 202 (through
/// daemon restarts), `pause` apart. Counts acknowledged posts in `acked_posts`; returns the
/// ids in acknowledgement order.
async fn poster(
    client: daemon::IngestClient,
    prefix: &'static str,
    posts: usize,
    per_post: usize,
    subjects: usize,
    pause: Duration,
    acked_posts: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut acked = Vec::new();
    for p in 0..posts {
        let body: Vec<Value> = (0..per_post)
            .map(|i| {
                let k = p * per_post + i;
                let subject = format!("{prefix}-{:03}", k % subjects);
                event("pick.confirmed", &subject, json!({ "k": k }))
            })
            .collect();
        let body = Value::Array(body).to_string().into_bytes();
        let key = format!("{prefix}-post-{p}");
        let start = std::time::Instant::now();
        loop {
            match client.try_post(body.clone(), Some(&key)).await {
                Ok(a) if a.status == 202 => {
                    acked.extend(a.ids());
                    break;
                }
                Ok(a) => assert_eq!(a.status, 503, "unexpected ingest answer {a:?}"),
                Err(_) => {} // the daemon is down: again with the same key
            }
            assert!(
                start.elapsed() < secs(60),
                "post {p} not acknowledged within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acked_posts.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(pause).await;
    }
    acked
}

/// Waits until sink `name` has nothing left to deliver and is `ok`.
async fn wait_drained(daemon: &Daemon, name: &str, timeout: Duration) {
    wait_for(
        timeout,
        &format!("sink {name} has delivered everything"),
        async || {
            let s = daemon.sink(name).await;
            if s["pending"] == 0 && s["held"] == 0 && s["dead"] == 0 && s["state"] == "ok" {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
}

/// Reads the whole stream and checks it holds exactly `acked`, once each, in order per subject,
/// as CloudEvents JSON; returns what was read.
async fn check_stream(jet: &Jet, stream: &str, acked: &[String]) -> Vec<StreamMsg> {
    let msgs = jet.read_all(stream).await;
    if let Err(why) = check_exactly_once_in_order(&msgs, acked) {
        panic!("stream {stream}: {why}");
    }
    for m in &msgs {
        // The media type is what counts; a charset parameter may follow.
        assert_eq!(
            m.content_type.split(';').next().map(str::trim),
            Some("application/cloudevents+json"),
            "Content-Type of message {}",
            m.seq
        );
    }
    msgs
}

/// `n` events of `event_type` spread over `subjects` subjects `{prefix}-0`, `{prefix}-1`, …,
/// as one POST body.
fn events_over(n: usize, event_type: &str, prefix: &str, subjects: usize) -> Value {
    (0..n)
        .map(|i| {
            event(
                event_type,
                &format!("{prefix}-{}", i % subjects),
                json!({ "i": i }),
            )
        })
        .collect()
}

/// What an operator does to correct a sink: edit the config file (its version bumped) and send
/// SIGHUP.
fn reload_with(daemon: &Daemon, edit: impl FnOnce(String) -> String) {
    let config = std::fs::read_to_string(daemon.config_path()).expect("reading the config");
    write_file(
        daemon.config_path(),
        &edit(config.replacen("version = 1\n", "version = 2\n", 1)),
    );
    daemon.reload();
}

/// The subject `{subject}` makes of an event's subject.
fn subject_token(subject: &str) -> String {
    subject.replace(['.', ' ', '*', '>'], "_")
}

const PICK_DEVICES: &str = "[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n\
                            [devices.pick-02]\nsource = \"http\"\nstation = \"pick\"\n\
                            [devices.pick-03]\nsource = \"http\"\nstation = \"pick\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn scans_become_one_jetstream_message_each_with_the_cloudevent_and_its_headers() {
    let Some(bin) = nats_or_skip("scans_become_one_jetstream_message_each") else {
        return;
    };
    let (server, jet) = server_with_stream(&bin).await;
    jet.create_stream(stream_config("WH", &["wh.>"])).await;
    // The same events also go to an HTTP sink, one per request: the NATS body must be exactly
    // that request's body.
    let erp = StandIn::start("erp", Mode::Ok).await;
    let backbone = NatsSink::new("backbone", &server.url(), STREAM);
    let by_subject = NatsSink::new("bysubject", &server.url(), "WH").subject("wh.{site}.{subject}");
    let daemon = Daemon::start(with_nats(
        Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(PICK_DEVICES),
        &[&backbone, &by_subject],
    ))
    .await;

    // Three pickers, each on their own orders: order, items, done; a few hundred scans.
    let gtin = gtin14("0950600013435");
    let client = daemon.ingest_client();
    let mut acked: Vec<String> = Vec::new();
    let mut scans = 0;
    for order in 0..36 {
        let device = format!("pick-0{}", order % 3 + 1);
        let items = 5 + order % 7;
        let mut inputs = vec![format!("SO-{}", 4100 + order)];
        inputs.extend((0..items).map(|i| gs1_item(&gtin, "271231", &format!("L{order}X{i}"))));
        inputs.push("CMD-DONE".to_owned());
        for input in inputs {
            let answer = client.post_device(&device, input.into_bytes()).await;
            assert_eq!(answer.status, 202, "{answer:?}");
            acked.extend(answer.ids());
            scans += 1;
        }
    }
    // A subject with the characters `{subject}` replaces.
    let odd = "SO.77 A*B>C";
    acked.extend(
        daemon
            .post_events(&event("pick.confirmed", odd, json!({ "line": 1 })), None)
            .await
            .ids(),
    );
    assert!(scans >= 300, "{scans} scans");
    eprintln!("nats: {scans} scans, {} events", acked.len());

    jet.wait_count(STREAM, acked.len() as u64, secs(60)).await;
    jet.wait_count("WH", acked.len() as u64, secs(60)).await;
    erp.wait_received(&acked, secs(60), "the ERP has every event")
        .await;
    for sink in ["backbone", "bysubject"] {
        wait_drained(&daemon, sink, secs(30)).await;
    }

    let http_body: HashMap<String, String> = erp
        .requests()
        .into_iter()
        .filter(|r| r.ids().len() == 1)
        .map(|r| (r.ids().remove(0), r.body))
        .collect();
    for (stream, msgs) in [
        (STREAM, check_stream(&jet, STREAM, &acked).await),
        ("WH", check_stream(&jet, "WH", &acked).await),
    ] {
        for m in &msgs {
            let e = m.event();
            let want = if stream == STREAM {
                format!("dockgate.{SITE}.{}", str_field(&e, "type"))
            } else {
                format!("wh.{SITE}.{}", subject_token(&str_field(&e, "subject")))
            };
            assert_eq!(m.subject, want, "NATS subject of {e}");
            assert_eq!(
                Some(String::from_utf8_lossy(&m.body).as_ref()),
                http_body.get(&m.msg_id).map(String::as_str),
                "stream {stream}: the body of {} is what the HTTP sink received",
                m.msg_id
            );
        }
    }
    let msgs = jet.read_all("WH").await;
    assert!(
        msgs.iter()
            .any(|m| m.subject == format!("wh.{SITE}.SO_77_A_B_C")),
        "the odd subject's message: {:?}",
        msgs.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(
        msgs.iter().any(|m| m.dockgate_subject == odd),
        "Dockgate-Subject keeps the subject as it is"
    );
    erp.check_subject_order()
        .expect("the ERP's order per subject");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_stopped_under_load_gets_everything_once_in_order_after_its_restart() {
    let Some(bin) = nats_or_skip("a_server_stopped_under_load") else {
        return;
    };
    let (mut server, jet) = server_with_stream(&bin).await;
    let daemon = Daemon::start(setup(&[&NatsSink::new("backbone", &server.url(), STREAM)])).await;
    let acked_posts = Arc::new(AtomicUsize::new(0));
    let posting = tokio::spawn(poster(
        daemon.ingest_client(),
        "SO",
        120,
        10,
        25,
        Duration::from_millis(40),
        acked_posts.clone(),
    ));
    jet.wait_count(STREAM, 150, secs(30)).await;

    server.stop().await;
    let at_stop = acked_posts.load(Ordering::SeqCst);
    let s = daemon.wait_sink_state("backbone", "retrying").await;
    assert!(s["last_error"].is_string(), "the error is shown: {s}");
    let down = std::time::Instant::now();
    // Inputs keep being acknowledged while the server is down (for a few retry_max at least).
    wait_until(
        secs(30),
        "20 more posts acknowledged while down",
        async || acked_posts.load(Ordering::SeqCst) >= at_stop + 20,
    )
    .await;
    tokio::time::sleep(secs(4).saturating_sub(down.elapsed())).await;
    let s = daemon.sink("backbone").await;
    assert_eq!(s["dead"], 0, "nothing dead-lettered for an outage: {s}");
    assert!(s["pending"].as_u64().unwrap_or(0) > 0, "a backlog: {s}");

    server.restart().await;
    let acked = tokio::time::timeout(secs(90), posting)
        .await
        .expect("the poster finished within 90 s")
        .expect("the poster did not panic");
    assert_eq!(acked.len(), 1200);
    wait_drained(&daemon, "backbone", secs(60)).await;
    check_stream(&jet, STREAM, &acked).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_node_killed_during_delivery_loses_and_repeats_nothing() {
    let Some(bin) = nats_or_skip("a_cluster_node_killed_during_delivery") else {
        return;
    };
    let mut cluster = NatsCluster::start(&bin).await;
    let jet = Jet::connect(&cluster.url()).await;
    let mut config = stream_config(STREAM, &["dockgate.>"]);
    config.num_replicas = 3;
    jet.create_stream(config).await;
    let daemon = Daemon::start(setup(&[
        &NatsSink::new("backbone", &cluster.url(), STREAM).timeout("3s")
    ]))
    .await;
    let acked_posts = Arc::new(AtomicUsize::new(0));
    const POSTS: usize = 600;
    let posting = tokio::spawn(poster(
        daemon.ingest_client(),
        "SO",
        POSTS,
        10,
        25,
        Duration::from_millis(50),
        acked_posts.clone(),
    ));

    // First the stream's leader, then the node dockgate is connected to, each killed while
    // messages flow and started again once more have gone in without it.
    let mut before = jet.wait_count(STREAM, 100, secs(60)).await;
    for round in 0..2 {
        let victim = if round == 0 {
            wait_for(secs(20), "the stream has a leader", async || {
                jet.try_info(STREAM)
                    .await?
                    .cluster
                    .and_then(|c| c.leader)
                    .ok_or_else(|| "no leader".to_owned())
            })
            .await
        } else {
            cluster
                .node_of_other_client()
                .await
                .expect("dockgate is connected to a node")
        };
        eprintln!("nats: round {round}: killing {victim} at {before} messages");
        cluster.node(&victim).kill();
        assert!(
            acked_posts.load(Ordering::SeqCst) < POSTS,
            "the inputs were still coming at the kill"
        );
        let t = std::time::Instant::now();
        before = jet.wait_count(STREAM, before + 200, secs(60)).await;
        eprintln!("nats: {before} messages {:?} after the kill", t.elapsed());
        cluster.node(&victim).restart().await;
        cluster.wait_meta_leader().await;
        before = jet.count(STREAM).await;
        eprintln!(
            "nats: {victim} back {:?} after the kill, {before} messages",
            t.elapsed()
        );
    }

    let acked = tokio::time::timeout(secs(120), posting)
        .await
        .expect("the poster finished within 120 s")
        .expect("the poster did not panic");
    wait_drained(&daemon, "backbone", secs(60)).await;
    check_stream(&jet, STREAM, &acked).await;
    let info = jet.info(STREAM).await;
    assert_eq!(info.state.messages, acked.len() as u64, "{:?}", info.state);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_dockgate_mid_publish_leaves_each_event_once_in_the_stream() {
    let Some(bin) = nats_or_skip("kill_9_of_dockgate_mid_publish") else {
        return;
    };
    let server = NatsServer::start(&bin).await;
    let jet = Jet::connect(&server.url()).await;
    // A backlog builds while there is no stream yet (no responders: retried); the kill comes
    // once the stream is there and the backlog flows, in large rounds of publishes.
    let mut daemon = Daemon::start(setup(&[
        &NatsSink::new("backbone", &server.url(), STREAM).batch(200)
    ]))
    .await;
    let acked_posts = Arc::new(AtomicUsize::new(0));
    let posting = tokio::spawn(poster(
        daemon.ingest_client(),
        "SO",
        200,
        20,
        40,
        Duration::from_millis(5),
        acked_posts.clone(),
    ));
    wait_until(secs(60), "100 posts acknowledged", async || {
        acked_posts.load(Ordering::SeqCst) >= 100
    })
    .await;
    let s = daemon.sink("backbone").await;
    assert_eq!(s["state"], "retrying", "no stream yet: {s}");
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    // Looked at closely: the kill should land while publishes are in flight.
    let start = std::time::Instant::now();
    let at_kill = loop {
        let n = jet.count(STREAM).await;
        if n >= 50 {
            break n;
        }
        assert!(
            start.elapsed() < secs(30),
            "the backlog did not start to flow"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    daemon.kill9();
    let posted = acked_posts.load(Ordering::SeqCst) as u64 * 20;
    eprintln!("nats: dockgate killed at {at_kill} of {posted} events in the stream");
    assert!(
        at_kill < posted,
        "the kill came before the backlog was gone"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = jet.count(STREAM).await;
    daemon.restart().await;

    let acked = tokio::time::timeout(secs(90), posting)
        .await
        .expect("the poster finished within 90 s")
        .expect("the poster did not panic");
    assert_eq!(acked.len(), 4000);
    wait_drained(&daemon, "backbone", secs(90)).await;
    check_stream(&jet, STREAM, &acked).await;
    // What the first run had stored but not recorded as delivered went out again under the
    // same Nats-Msg-Id, and the stream's duplicate window dropped it.
    let second_run = daemon.metric_total("dockgate_deliveries_total").await as u64;
    let resent = (stored + second_run).saturating_sub(acked.len() as u64);
    eprintln!("nats: {stored} stored at the kill, {resent} of them sent again");
    assert!(resent > 0, "the kill left publishes unrecorded ({stored} stored, {second_run} delivered after the restart)");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_the_stream_refuses_as_too_large_or_sealed_are_dead_lettered() {
    let Some(bin) = nats_or_skip("messages_the_stream_refuses_as_too_large_or_sealed") else {
        return;
    };
    let server = NatsServer::start(&bin).await;
    let jet = Jet::connect(&server.url()).await;
    let mut config = stream_config(STREAM, &["dockgate.>"]);
    config.max_message_size = 2048;
    jet.create_stream(config.clone()).await;
    let daemon = Daemon::start(setup(&[&NatsSink::new("backbone", &server.url(), STREAM)])).await;

    const S: &str = "SO-BIG";
    let line = |subject: &str, n: u64, note: usize| {
        event(
            "pick.confirmed",
            subject,
            json!({ "n": n, "note": "x".repeat(note) }),
        )
    };
    let ids = daemon
        .post_events(
            &json!([
                line(S, 1, 10),
                line(S, 2, 4096),
                line(S, 3, 10),
                line("SO-OTHER-1", 1, 10),
                line("SO-OTHER-2", 1, 10),
            ]),
            None,
        )
        .await
        .ids();
    let dead_id = &ids[1];
    wait_for(
        secs(20),
        "the oversized event is dead and the one behind it held",
        async || {
            let dead = daemon.events("backbone", "dead").await;
            let held = daemon.events("backbone", "held").await;
            let dead: Vec<String> = dead.iter().map(|r| str_field(r, "id")).collect();
            let held: Vec<String> = held.iter().map(|r| str_field(r, "id")).collect();
            if dead == [dead_id.clone()] && held == [ids[2].clone()] {
                Ok(())
            } else {
                Err(format!("dead {dead:?}, held {held:?}"))
            }
        },
    )
    .await;
    let later = daemon
        .post_events(&json!([line(S, 4, 10), line("SO-OTHER-1", 2, 10)]), None)
        .await
        .ids();
    jet.wait_count(STREAM, 4, secs(20)).await;
    wait_until(
        secs(20),
        "the later event of another subject is in",
        async || {
            jet.read_all(STREAM)
                .await
                .iter()
                .any(|m| m.msg_id == later[1])
        },
    )
    .await;
    let flowing = vec![
        ids[0].clone(),
        ids[3].clone(),
        ids[4].clone(),
        later[1].clone(),
    ];
    check_stream(&jet, STREAM, &flowing).await;

    // The dead letter, as the operator sees it.
    let out = daemon
        .run_cli(&["events", "--sink", "backbone", "--state", "dead", "--json"])
        .await;
    out.assert_ok();
    let dead: Vec<Value> = serde_json::from_str(&out.stdout).expect("events --json is JSON");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["id"], dead_id.as_str());
    assert_eq!(dead[0]["subject"], S);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("too large")),
        "the dead letter says why: {}",
        dead[0]
    );
    let s = daemon.sink("backbone").await;
    assert_eq!(
        (&s["dead"], &s["held"]),
        (&json!(1), &json!(2)),
        "sink with a dead letter: {s}"
    );

    // Central IT raises the limit; the operator replays the dead letter.
    config.max_message_size = 1 << 20;
    jet.update_stream(config.clone()).await;
    let out = daemon
        .run_cli(&["replay", "--sink", "backbone", "--dead"])
        .await;
    out.assert_ok();
    let all: Vec<String> = vec![
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
        ids[3].clone(),
        ids[4].clone(),
        later[0].clone(),
        later[1].clone(),
    ];
    jet.wait_count(STREAM, all.len() as u64, secs(20)).await;
    wait_drained(&daemon, "backbone", secs(20)).await;
    let msgs = check_stream(&jet, STREAM, &all).await;
    let order: Vec<&str> = msgs
        .iter()
        .filter(|m| m.dockgate_subject == S)
        .map(|m| m.msg_id.as_str())
        .collect();
    assert_eq!(
        order,
        [&ids[0], &ids[1], &ids[2], &later[0]],
        "order of {S}"
    );

    // A sealed stream takes nothing more: dead-lettered too, saying so.
    config.sealed = true;
    jet.update_stream(config).await;
    let sealed = daemon
        .post_events(&line("SO-OTHER-3", 1, 10), None)
        .await
        .ids();
    let dead = wait_for(
        secs(20),
        "the event for the sealed stream is dead",
        async || match daemon.events("backbone", "dead").await.as_slice() {
            [d] if d["id"] == sealed[0].as_str() => Ok(d.clone()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("sealed")),
        "{dead}"
    );
    assert_eq!(jet.count(STREAM).await, all.len() as u64);
}

/// The acknowledgement must come from the sink's own stream: a subject another stream
/// captures pauses the sink (nothing is stored there) until the configuration names the
/// stream that captures it.
#[tokio::test(flavor = "multi_thread")]
async fn a_subject_stored_by_another_stream_pauses_the_sink_until_the_config_is_corrected() {
    let Some(bin) = nats_or_skip("a_subject_stored_by_another_stream_pauses_the_sink") else {
        return;
    };
    let server = NatsServer::start(&bin).await;
    let jet = Jet::connect(&server.url()).await;
    jet.create_stream(stream_config("AUDIT", &["dockgate.>"]))
        .await;
    let daemon = Daemon::start(setup(&[
        &NatsSink::new("backbone", &server.url(), STREAM).retry_max("500ms")
    ]))
    .await;
    let body = events_over(6, "pick.confirmed", "SO", 2);
    let acked = daemon.post_events(&json!(body), None).await.ids();
    let s = daemon.wait_sink_state("backbone", "paused").await;
    assert_eq!(s["paused_reason"], "nats_wrong_stream", "{s}");
    assert_eq!(s["pending"], 6, "{s}");
    assert_eq!(s["dead"], 0, "{s}");
    assert_eq!(
        jet.count("AUDIT").await,
        0,
        "nothing stored by the other stream"
    );

    reload_with(&daemon, |c| {
        c.replace("stream = \"DOCKGATE\"", "stream = \"AUDIT\"")
    });
    jet.wait_count("AUDIT", acked.len() as u64, secs(20)).await;
    wait_drained(&daemon, "backbone", secs(20)).await;
    check_stream(&jet, "AUDIT", &acked).await;
}
