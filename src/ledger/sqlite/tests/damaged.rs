//! Ledger tests of a damaged buffer file: it is moved aside with its WAL and an empty buffer
//! takes its place, so input goes on.

use super::*;

async fn takes_input(store: &LedgerHandle) {
    let ids = store
        .submit_events(vec![event("pick.confirmed", "SO-1")], None)
        .await
        .expect("the new buffer takes events");
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer.sqlite");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();

    let (store, _writer) = open_in(dir.path(), "").expect("opens on an empty buffer");
    takes_input(&store).await;

    let moved = set_aside::set_aside_files(dir.path());
    assert_eq!(moved.len(), 1, "{:?}", names(dir.path()));
    assert!(moved[0].starts_with("buffer.sqlite.corrupt-"), "{moved:?}");
    assert_eq!(
        std::fs::read(dir.path().join(&moved[0])).unwrap(),
        vec![0x5a; 64 * 1024],
        "the moved file is kept as it was"
    );
}

#[tokio::test]
async fn a_truncated_buffer_fails_its_check_and_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer.sqlite");
    {
        let (store, writer) = open_in(dir.path(), "").unwrap();
        for round in 0..20 {
            let events = (0..100)
                .map(|i| event("pick.confirmed", &format!("SO-{round}-{i}")))
                .collect();
            store.submit_events(events, None).await.unwrap();
        }
        drop(store);
        // The writer checkpoints everything into the file as it stops.
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let (store, _writer) = open_in(dir.path(), "").expect("opens on an empty buffer");
    takes_input(&store).await;
    assert_eq!(
        set_aside::set_aside_files(dir.path()).len(),
        1,
        "{:?}",
        names(dir.path())
    );
    let status = read::status(&open_reader(&path).unwrap(), &[]).unwrap();
    assert_eq!(status.events, 1, "the new buffer holds only the new event");
}

/// Errors that moving the file would not fix are not damage: the buffer stays where it is.
#[test]
fn only_a_damaged_file_counts_as_damage() {
    let corrupt = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        None,
    );
    let busy =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    assert!(set_aside::is_damage(&OpenFailure::Sqlite(corrupt)));
    assert!(!set_aside::is_damage(&OpenFailure::Sqlite(busy)));
    assert!(!set_aside::is_damage(&OpenFailure::Schema(
        schema::SchemaError::TooNew { found: 99 }
    )));
    assert!(!set_aside::is_damage(&OpenFailure::Io(
        std::io::Error::other("permission denied")
    )));
}
