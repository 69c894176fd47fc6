//! The reference receivers of docs/receivers/ (Python and Node.js) against a live dockgate:
//! a receiver that stores a request and then fails to answer gets the same request again
//! under the same key, recognises it and stores nothing twice; every event arrives once, in
//! order per subject.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::harness::*;

const RECEIVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/receivers");

/// A receiver process on a free port, with its state in a tempdir.
struct Receiver {
    child: Child,
    port: u16,
    _state: tempfile::TempDir,
}

impl Receiver {
    async fn start(program: &str, script: &str, fail_after_store: u32) -> Receiver {
        let state = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(program)
            .arg(format!("{RECEIVERS}/{script}"))
            .args(["--port", &port.to_string()])
            .arg("--state")
            .arg(state.path())
            .args(["--fail-after-store", &fail_after_store.to_string()])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} (hil-tests/run.sh installs it): {e}"));
        let receiver = Receiver {
            child,
            port,
            _state: state,
        };
        wait_for(secs(20), &format!("{script} listening"), async || {
            receiver.get("/stats").await.map(|_| ())
        })
        .await;
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let r = reqwest::get(&url).await.map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn repeats_are_recognised_and_nothing_is_stored_twice(program: &str, script: &str) {
    let receiver = Receiver::start(program, script, 3).await;
    // A StandIn is only needed for the sink spec's defaults; the sink posts to the receiver.
    let unused = StandIn::start("unused", Mode::Ok).await;
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &unused)
        .url(&receiver.url())
        .batch(5)
        .concurrency(2)]))
    .await;
    let mut ids = Vec::new();
    for round in 0..8 {
        let body: Vec<Value> = (0..5)
            .map(|i| {
                json!({"type": "pick.confirmed", "subject": format!("SO-{}", i % 4),
                       "data": {"round": round, "i": i}})
            })
            .collect();
        ids.extend(daemon.post_events(&json!(body), None).await.ids());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    wait_until(
        secs(30),
        "every event delivered to the receiver",
        async || daemon.events("erp", "delivered").await.len() == ids.len(),
    )
    .await;
    let stats = receiver.get("/stats").await.unwrap();
    assert_eq!(stats["events"], ids.len(), "{stats}");
    assert!(
        stats["duplicates"].as_u64().unwrap_or(0) >= 3,
        "the three requests it failed were sent again under their keys: {stats}"
    );
    let stored = receiver.get("/events").await.unwrap();
    let stored = stored.as_array().unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut last = std::collections::HashMap::new();
    for e in stored {
        let id = e["id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id), "stored twice: {e}");
        let seq: u64 = e["sequence"].as_str().unwrap().parse().unwrap();
        let subject = e["subject"].as_str().unwrap().to_owned();
        if let Some(before) = last.insert(subject, seq) {
            assert!(before < seq, "out of order: {e}");
        }
    }
    assert_eq!(seen.len(), ids.len());

    // A replay of everything comes in batches grouped anew, under other keys: taken, and no
    // event stored a second time.
    let requests_before = receiver.get("/stats").await.unwrap()["requests"]
        .as_u64()
        .unwrap_or(0);
    daemon.replay(&json!({"sink": "erp", "since": "1h"})).await;
    wait_until(secs(30), "the replay delivered", async || {
        daemon.events("erp", "delivered").await.len() == ids.len()
            && daemon.events("erp", "pending").await.is_empty()
    })
    .await;
    let stats = receiver.get("/stats").await.unwrap();
    assert!(
        stats["requests"].as_u64().unwrap_or(0) > requests_before,
        "the replay reached the receiver: {stats}"
    );
    assert_eq!(
        stats["events"],
        ids.len(),
        "stored again on a replay: {stats}"
    );
    let stored = receiver.get("/events").await.unwrap();
    assert_eq!(stored.as_array().map(Vec::len), Some(ids.len()), "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_receiver_recognises_repeats_and_replays() {
    repeats_are_recognised_and_nothing_is_stored_twice("python3", "receiver.py").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_receiver_recognises_repeats_and_replays() {
    repeats_are_recognised_and_nothing_is_stored_twice("node", "receiver.js").await;
}
