//! A power cut with `buffer.sync = "full"`: the data directory on lazyfs (writes that were not
//! fsynced are lost on command), events posted and acknowledged while the ERP is down, then
//! the daemon killed and the power cut at once. After the box comes back, every acknowledged
//! event is in the buffer and reaches the ERP exactly once, and `dockgate check` finds the
//! buffer sound.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

const POSTS: usize = 60;
const PER_POST: usize = 10;

#[tokio::test(flavor = "multi_thread")]
async fn a_power_cut_loses_no_acknowledged_event_with_sync_full() {
    let bin = match lazyfs_binary() {
        Ok(bin) => bin,
        Err(why) => {
            eprintln!("SKIPPED a_power_cut_loses_no_acknowledged_event_with_sync_full: {why}");
            return;
        }
    };
    let root = tempfile::tempdir().expect("tempdir");
    let (mount, backing) = (root.path().join("data"), root.path().join("backing"));
    std::fs::create_dir(&mount).expect("mkdir mount");
    std::fs::create_dir(&backing).expect("mkdir backing");
    let fs = Lazyfs::mount(&bin, &mount, &backing);

    let erp = StandIn::start("erp", Mode::Status(503)).await;
    let mut daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)])
            .data_at(&mount)
            .sync("full"),
    )
    .await;

    // Posts one after another; the kill lands while some are in flight.
    let client = daemon.ingest_client();
    let poster = tokio::spawn(async move {
        let mut acked = Vec::new();
        for p in 0..POSTS {
            let body: Vec<Value> = (0..PER_POST)
                .map(|i| {
                    event(
                        "pick.confirmed",
                        &format!("SO-{}", (p * PER_POST + i) % 7),
                        json!({ "p": p, "i": i }),
                    )
                })
                .collect();
            let body = Value::Array(body).to_string().into_bytes();
            match client.try_post(body, Some(&format!("power-{p}"))).await {
                Ok(a) if a.status == 202 => acked.extend(a.ids()),
                _ => break, // the daemon is gone
            }
        }
        acked
    });
    wait_until(secs(30), "some posts acknowledged", async || {
        daemon.status().await["buffer"]["events"]
            .as_u64()
            .unwrap_or(0)
            >= 200
    })
    .await;
    daemon.kill9();
    fs.cut_power();
    let stats = fs.stats();
    let acked = poster.await.expect("poster");
    assert!(
        acked.len() >= 200,
        "only {} events acknowledged",
        acked.len()
    );
    assert!(
        stats.contains("clears=1"),
        "lazyfs did not drop its unsynced writes: {stats}"
    );

    let _fs = fs.remount();
    erp.set_mode(Mode::Ok);
    daemon.restart().await;
    erp.wait_received(&acked, Duration::from_secs(60), "every acknowledged event")
        .await;
    assert_eq!(erp.duplicates(), 0, "an event was delivered twice");
    erp.check_subject_order().expect("order per subject");
    daemon.terminate().await;
    let check = dockgate(&["check", "--data-dir", &mount.display().to_string()]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
}
