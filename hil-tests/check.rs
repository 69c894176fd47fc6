//! `dockgate check`: a buffer the daemon wrote (pending, held, dead and delivered events, also
//! right after a `kill -9`) is found sound; the same buffer with a log record whose sink counts
//! disagree with its events and a pending event behind a dead letter, or with its pages
//! overwritten, is found unsound
//! with what is wrong, and exits non-zero; a buffer of an earlier layout is read without being
//! touched.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::harness::*;

fn line(subject: &str, n: u64, poison: bool) -> Value {
    event(
        "pick.confirmed",
        subject,
        json!({ "n": n, "poison": poison }),
    )
}

async fn check(dir: &Path) -> CliOutput {
    dockgate(&["check", "--data-dir", &dir.display().to_string()]).await
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a copy of the data directory");
    for entry in std::fs::read_dir(from).expect("reading the data directory") {
        let entry = entry.expect("a directory entry");
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copying a file");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_finds_a_written_buffer_sound_and_a_damaged_one_not() {
    let refuse = Mode::RefuseEvent(Arc::new(|e: &Value| e["data"]["poison"] == true));
    let erp = StandIn::start("erp", refuse).await;
    let crm = StandIn::start("crm", Mode::Status(503)).await;
    let mut daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp),
        SinkSpec::new("crm", &crm),
    ]))
    .await;
    daemon
        .post_events(
            &json!([
                line("SO-1", 1, false),
                line("SO-1", 2, true),
                line("SO-2", 1, false),
            ]),
            None,
        )
        .await
        .ids();
    wait_until(secs(20), "a dead letter and a delivery", async || {
        daemon.events("erp", "dead").await.len() == 1
            && daemon.events("erp", "delivered").await.len() == 2
    })
    .await;
    daemon
        .post_events(&json!([line("SO-1", 3, false)]), None)
        .await
        .ids();
    wait_until(secs(20), "the later event held", async || {
        daemon.events("erp", "held").await.len() == 1
    })
    .await;

    // Beside the running daemon: a snapshot, said to be one.
    let live = check(&daemon.data_dir()).await;
    assert_eq!(live.code, Some(0), "{live:#?}");
    assert!(live.stdout.contains("is running on it"), "{live:#?}");
    assert!(
        live.stdout
            .contains("erp: 0 pending, 1 held, 1 dead, 2 delivered"),
        "{live:#?}"
    );
    assert!(live.stdout.contains("crm: 4 pending"), "{live:#?}");
    assert!(live.stdout.contains("The buffer is sound."), "{live:#?}");

    // Right after a kill -9, with the WAL not checkpointed.
    daemon.kill9();
    let killed = check(&daemon.data_dir()).await;
    assert_eq!(killed.code, Some(0), "{killed:#?}");
    assert!(!killed.stdout.contains("is running on it"), "{killed:#?}");

    // The rows made to disagree, on a copy.
    let scratch = tempfile::tempdir().expect("tempdir");
    let broken = scratch.path().join("broken");
    copy_dir(&daemon.data_dir(), &broken);
    {
        let conn = rusqlite::Connection::open(broken.join("buffer.sqlite")).expect("open copy");
        conn.execute_batch(
            "UPDATE records SET sinks = 'erp=99' WHERE first_seq = (SELECT MIN(first_seq) FROM records);
             UPDATE exceptions SET state = 'pending' WHERE sink = 'erp' AND state = 'held';",
        )
        .expect("breaking the copy");
    }
    let found = check(&broken).await;
    assert_eq!(found.code, Some(1), "{found:#?}");
    assert!(
        found
            .stdout
            .contains("FAIL   the log: 1 × records whose sink counts disagree with their events"),
        "{found:#?}"
    );
    assert!(
        found.stdout.contains("FAIL   order per subject: ")
            && found
                .stdout
                .contains("pending behind a dead letter (e.g. erp/SO-1"),
        "{found:#?}"
    );
    assert!(
        found
            .stdout
            .contains("The buffer is NOT sound: 2 check(s) failed"),
        "{found:#?}"
    );

    // Pages overwritten in the middle of the file.
    let torn = scratch.path().join("torn");
    copy_dir(&daemon.data_dir(), &torn);
    {
        let path = torn.join("buffer.sqlite");
        let conn = rusqlite::Connection::open(&path).expect("open copy");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint the copy");
        drop(conn);
        let mut bytes = std::fs::read(&path).expect("read copy");
        assert!(bytes.len() > 3 * 4096, "the buffer has a few pages");
        for b in &mut bytes[4096..3 * 4096] {
            *b = 0x5a;
        }
        std::fs::write(&path, bytes).expect("tear copy");
    }
    let torn_found = check(&torn).await;
    assert_eq!(torn_found.code, Some(1), "{torn_found:#?}");
    assert!(
        torn_found
            .stdout
            .contains("FAIL   SQLite integrity: damaged: database disk image is malformed"),
        "{torn_found:#?}"
    );
    assert!(
        torn_found.stdout.contains("keep a copy of this file"),
        "{torn_found:#?}"
    );

    // An earlier layout: counted, not migrated.
    let old = scratch.path().join("old");
    std::fs::create_dir_all(&old).expect("mkdir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("hil-tests/fixtures/buffer-layout-3.sqlite");
    std::fs::copy(&fixture, old.join("buffer.sqlite")).expect("copy fixture");
    let before = std::fs::read(old.join("buffer.sqlite")).expect("read");
    let older = check(&old).await;
    assert_eq!(older.code, Some(0), "{older:#?}");
    assert!(
        older.stdout.contains("ok     layout 3: older than"),
        "{older:#?}"
    );
    assert!(
        older
            .stdout
            .contains("erp: 6 pending, 2 held, 1 dead, 3 delivered"),
        "{older:#?}"
    );
    assert_eq!(
        std::fs::read(old.join("buffer.sqlite")).expect("read"),
        before,
        "untouched"
    );

    // Nothing there.
    let none = check(&scratch.path().join("nothing")).await;
    assert_eq!(none.code, Some(1), "{none:#?}");
    assert!(none.stderr.contains("no buffer file here"), "{none:#?}");
}
