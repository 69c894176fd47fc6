//! Scans per second end to end, from MQTT QoS 1 to the ERP stand-in, beside mosquitto's own
//! ceiling on this machine. Prints figures; asserts nothing.
//!
//! `cargo bench --bench devices` (needs `mosquitto` on PATH or in /usr/sbin). Set
//! `DOCKGATE_BENCH_SCANS` to change the number of scans (default 50,000), and
//! `DOCKGATE_BENCH_BIN=PATH` to run another daemon binary (A/B of two builds).

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18830)
}

fn mosquitto_bin() -> String {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
        .unwrap_or_else(|| "mosquitto".into())
}

fn start_broker(dir: &Path, port: u16) -> Child {
    let conf = dir.join("mosquitto.conf");
    let text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
         max_inflight_messages 100\nmax_queued_messages 1000000\n"
    );
    std::fs::write(&conf, text).expect("write mosquitto.conf");
    let child = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    std::thread::sleep(Duration::from_millis(300));
    child
}

fn label(n: u64) -> String {
    // GTIN 09506000134352 with a distinct serial (AI 21) per scan.
    format!("]C10109506000134352\u{1d}21S{n:09}")
}

/// Publishes `n` QoS 1 messages as fast as the broker's in-flight window allows.
async fn publish_all(port: u16, topic: &str, n: u64) {
    let mut o = MqttOptions::new(format!("bench-pub-{port}"), "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_inflight(100);
    let (client, mut el) = AsyncClient::new(o, 1000);
    let topic = topic.to_owned();
    let sender = tokio::spawn(async move {
        for i in 0..n {
            if client
                .publish(topic.clone(), QoS::AtLeastOnce, false, label(i))
                .await
                .is_err()
            {
                break;
            }
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        match el.poll().await {
            Ok(Event::Incoming(Incoming::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("publisher lost the broker: {e}"),
        }
    }
    let _ = sender.await;
}

/// mosquitto alone: time for `n` QoS 1 messages from a publisher to a QoS 1 subscriber.
async fn broker_ceiling(port: u16, n: u64) -> f64 {
    let mut o = MqttOptions::new("bench-sub", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    let (sub, mut el) = AsyncClient::new(o, 1000);
    sub.subscribe("ceiling/t", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        if let Ok(Event::Incoming(Incoming::SubAck(_))) = el.poll().await {
            break;
        }
    }
    let start = Instant::now();
    let publisher = tokio::spawn(publish_all(port, "ceiling/t", n));
    let mut got = 0;
    while got < n {
        if let Ok(Event::Incoming(Incoming::Publish(_))) = el.poll().await {
            got += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = publisher.await;
    n as f64 / secs
}

/// One end-to-end run through a fresh daemon: returns (scans/s at the ERP, seconds until the
/// broker had acknowledged every publish, events at the ERP, seconds in all).
async fn end_to_end(dir: &Path, mqtt_port: u16, sync: &str, n: u64) -> (f64, f64, u64, f64) {
    // The ERP stand-in: counts events, answers 200.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/events",
        post(move |body: Bytes| {
            let counter = counter.clone();
            async move {
                const NEEDLE: &[u8] = b"\"specversion\":";
                let n = body.windows(NEEDLE.len()).filter(|w| *w == NEEDLE).count();
                counter.fetch_add(n as u64, Ordering::Relaxed);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sink");
    let sink_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let sink = tokio::spawn(async move { axum::serve(listener, app).await });

    let admin_port = free_port();
    // A site id per run, so each daemon has its own broker session.
    let config = format!(
        "version = 1\n[site]\nid = \"bench-{sync}\"\ndata_dir = \"{}\"\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\
         [buffer]\nsync = \"{sync}\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{mqtt_port}\"\n\
         [sinks.erp]\nurl = \"http://127.0.0.1:{sink_port}/events\"\nbatch_max_events = 100\n\
         [devices.recv-01]\nsource = \"mqtt\"\nstation = \"receive\"\ntopic = \"scanners/recv-01\"\nfeedback = false\n",
        dir.join(format!("data-{sync}")).display()
    );
    let config_path = dir.join(format!("dockgate-{sync}.toml"));
    std::fs::write(&config_path, config).expect("write config");
    let binary = std::env::var("DOCKGATE_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_dockgate").to_owned());
    let mut daemon = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config_path)
        .stderr(Stdio::null())
        .spawn()
        .expect("start dockgate");
    let ready = format!("http://127.0.0.1:{admin_port}/ready");
    for _ in 0..100 {
        if reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the daemon's session subscribe before publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let start = Instant::now();
    publish_all(mqtt_port, "scanners/recv-01", n).await;
    let published = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    while received.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = start.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);

    let _ = daemon.kill();
    let _ = daemon.wait();
    sink.abort();
    (got as f64 / total, published, got, total)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("DOCKGATE_BENCH_SCANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mqtt_port = free_port();
    let mut broker = start_broker(dir.path(), mqtt_port);

    let ceiling = broker_ceiling(mqtt_port, n).await;
    println!("dockgate devices benchmark ({n} scans, one receive station, sink batch 100)");
    println!("  mosquitto alone, QoS 1 publisher -> QoS 1 subscriber:      {ceiling:>8.0} msgs/s");
    for sync in ["normal", "full"] {
        let (rate, published, got, total) = end_to_end(dir.path(), mqtt_port, sync, n).await;
        println!(
            "  MQTT QoS 1 -> dockgate -> ERP stand-in, sync = {sync:<6}:  {rate:>8.0} scans/s \
             ({got} events at the ERP after {total:.2} s; broker had acknowledged every publish after {published:.2} s)"
        );
    }
    let _ = broker.kill();
    let _ = broker.wait();
}
