//! Schema of the buffer, versioned by `PRAGMA user_version`. Each migration runs once, in its
//! own transaction; a buffer written by a newer dockgate is refused rather than guessed at.

use rusqlite::Connection;

/// Migrations in order; `MIGRATIONS[i]` brings a buffer from version `i` to `i + 1`. The step
/// to layout 7 is Rust code ([`super::migrate7`]): it builds the log's records. Then come
/// [`AFTER_LOG`].
const MIGRATIONS: &[&str] = &[
    // 1: events, their per-sink deliveries, and API idempotency keys.
    r#"
    -- One row per event. `seq` is the CloudEvents `sequence`: AUTOINCREMENT so a number is never
    -- handed out twice, even after the newest event was pruned.
    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT    NOT NULL UNIQUE,
        type       TEXT    NOT NULL,
        subject    TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        time       TEXT    NOT NULL,
        created_ms INTEGER NOT NULL,
        telemetry  INTEGER NOT NULL,
        data       TEXT    NOT NULL
    );
    CREATE INDEX events_created ON events(created_ms);
    -- Telemetry is what gives way first when the buffer is full.
    CREATE INDEX events_telemetry ON events(seq) WHERE telemetry = 1;

    -- One row per (event, sink it is routed to). `ready` marks the head of its subject on that
    -- sink: the only row of the subject a worker may send, which keeps per-subject order.
    CREATE TABLE deliveries (
        seq          INTEGER NOT NULL,
        sink         TEXT    NOT NULL,
        subject      TEXT    NOT NULL,
        priority     INTEGER NOT NULL,
        state        TEXT    NOT NULL,
        ready        INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        batch_key    TEXT,
        last_status  INTEGER,
        last_error   TEXT,
        excerpt      TEXT,
        updated_ms   INTEGER NOT NULL,
        delivered_ms INTEGER,
        PRIMARY KEY (seq, sink)
    ) WITHOUT ROWID;
    -- What a sink worker may send next, in draining order.
    CREATE INDEX deliveries_ready ON deliveries(sink, priority, seq)
        WHERE state = 'pending' AND ready = 1;
    -- Undelivered rows of a subject, to find its head and what waits behind it.
    CREATE INDEX deliveries_open ON deliveries(sink, subject, seq) WHERE state != 'delivered';
    -- Counts and listings by state.
    CREATE INDEX deliveries_state ON deliveries(sink, state, seq);

    -- Idempotency-Key of POST /api/v1/events: a retried POST answers the same ids.
    CREATE TABLE idempotency_keys (
        key        TEXT    PRIMARY KEY,
        body_hash  BLOB    NOT NULL,
        ids        TEXT    NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_created ON idempotency_keys(created_ms);
    "#,
    // 2: device inputs: the journal, quarantine, workflow sessions, MQTT messages committed
    // but not yet acknowledged to the broker.
    r#"
    -- Every accepted device input, with how many events it produced (kept for retention).
    CREATE TABLE inputs (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        device      TEXT    NOT NULL,
        received_ms INTEGER NOT NULL,
        raw         BLOB    NOT NULL,
        events      INTEGER NOT NULL
    );
    CREATE INDEX inputs_received ON inputs(received_ms);

    -- Inputs refused before the workflow (oversized, not UTF-8, malformed JSON ...), raw bytes
    -- kept for inspection (`dockgate events --state rejected`).
    CREATE TABLE rejected (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        device      TEXT    NOT NULL,
        received_ms INTEGER NOT NULL,
        reason      TEXT    NOT NULL,
        detail      TEXT    NOT NULL,
        raw         BLOB    NOT NULL
    );
    CREATE INDEX rejected_received ON rejected(received_ms);

    -- Station sessions (open order, location, tote, dock state), as JSON.
    CREATE TABLE sessions (
        device     TEXT    PRIMARY KEY,
        state      TEXT    NOT NULL,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- MQTT messages whose events are committed but whose PUBACK may not have reached the
    -- broker: a redelivery (same packet id, same payload, DUP set) is acknowledged without
    -- minting a second event. Packet ids belong to dockgate's one broker session, so they
    -- key the table. Removed once the PUBACK is sent.
    CREATE TABLE mqtt_unacked (
        pkid         INTEGER PRIMARY KEY,
        device       TEXT    NOT NULL,
        hash         BLOB    NOT NULL,
        committed_ms INTEGER NOT NULL
    );
    "#,
    // 3: the by-state index covers only rows not yet delivered: counts and listings look at
    // those, and a delivered row no longer costs an index insert when it is marked.
    r#"
    DROP INDEX deliveries_state;
    CREATE INDEX deliveries_unsettled ON deliveries(sink, state, seq) WHERE state != 'delivered';
    "#,
    // 4: batch membership is one row per request instead of a key on every member row, so
    // recording a batch of 100 before its first attempt writes one row, not 100.
    r#"
    -- Requests of more than one event, recorded before their first attempt so a retry (also
    -- after a restart) sends the same events under the same Idempotency-Key. Removed when the
    -- request is delivered or replaced by its halves.
    CREATE TABLE batches (
        sink       TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        seqs       TEXT    NOT NULL, -- JSON array of sequence numbers, ascending
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (sink, key)
    ) WITHOUT ROWID;
    INSERT INTO batches (sink, key, seqs, created_ms)
        SELECT sink, batch_key, json_group_array(seq ORDER BY seq), MAX(updated_ms)
        FROM deliveries WHERE batch_key IS NOT NULL AND state = 'pending'
        GROUP BY sink, batch_key HAVING COUNT(*) > 1;
    ALTER TABLE deliveries DROP COLUMN batch_key;
    "#,
    // 5: events without AUTOINCREMENT (which updates sqlite_sequence with every insert), without
    // the index on created_ms (the time an event was committed grows with `seq`, so a search
    // over `seq` finds a time) and without the unique index on `id`: ids are UUIDv7 minted by
    // the writer, and the time they carry finds an event by id the same way. The writer hands
    // out sequence numbers and keeps the highest in `meta`, once per commit, so a number is
    // still never used twice.
    r#"
    CREATE TABLE meta (
        key   TEXT    PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('last_sequence', MAX(
        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
        COALESCE((SELECT MAX(seq) FROM events), 0)));
    CREATE TABLE events_v5 (
        seq        INTEGER PRIMARY KEY,
        id         TEXT    NOT NULL,
        type       TEXT    NOT NULL,
        subject    TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        time       TEXT    NOT NULL,
        created_ms INTEGER NOT NULL,
        telemetry  INTEGER NOT NULL,
        data       TEXT    NOT NULL
    );
    INSERT INTO events_v5 (seq, id, type, subject, source, time, created_ms, telemetry, data)
        SELECT seq, id, type, subject, source, time, created_ms, telemetry, data FROM events;
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    CREATE INDEX events_telemetry ON events(seq) WHERE telemetry = 1;
    "#,
    // 6: one index fewer per delivery. The by-state index goes; the index of open rows by
    // subject carries the state, so counts and listings by state read it alone, without
    // visiting the rows.
    r#"
    DROP INDEX deliveries_unsettled;
    DROP INDEX deliveries_open;
    CREATE INDEX deliveries_open ON deliveries(sink, subject, seq, state)
        WHERE state != 'delivered';
    "#,
];

/// 7: the log. Events are appended many to a record (see [`super::record`]), each sink keeps a
/// cursor below which everything is settled for it, and rows per event exist only for
/// exceptions (dead, held behind a dead one, put back by a replay). The tables of layout 6 are
/// carried over by [`super::migrate7`] and dropped.
pub(super) const LAYOUT_7: &str = r#"
    -- The log: one row per record of consecutive events (`first_seq` ..= `last_seq`), all
    -- telemetry or all business events, so capacity can drop telemetry by whole records. The
    -- compressed events live in `record_bodies`, so scanning these rows for counts and
    -- retention reads a few bytes per record.
    CREATE TABLE records (
        first_seq  INTEGER PRIMARY KEY,
        last_seq   INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        telemetry  INTEGER NOT NULL,
        bytes      INTEGER NOT NULL, -- of CloudEvents bodies
        sinks      TEXT    NOT NULL, -- `sink=count ...`: how many of its events go to each sink
        subjects   BLOB    NOT NULL  -- a Bloom filter of its events' subjects (128 bytes)
    );
    CREATE TABLE record_bodies (
        first_seq INTEGER PRIMARY KEY,
        body      BLOB    NOT NULL
    );

    -- Per sink: every event up to `settled` is delivered, dead, held or not routed to it.
    CREATE TABLE cursors (
        sink    TEXT    PRIMARY KEY,
        settled INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Events of a sink outside the cursor's rule: dead letters, events held behind them, and
    -- events put back by a replay (`pending`), wherever they are relative to the cursor.
    CREATE TABLE exceptions (
        sink        TEXT    NOT NULL,
        seq         INTEGER NOT NULL,
        subject     TEXT    NOT NULL,
        state       TEXT    NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error  TEXT,
        excerpt     TEXT,
        updated_ms  INTEGER NOT NULL,
        PRIMARY KEY (sink, seq)
    ) WITHOUT ROWID;
    CREATE INDEX exceptions_subject ON exceptions(sink, subject, seq);

    -- One receipt per delivered request, kept until retention (and while above the cursor,
    -- where it is what says these events are delivered). `seqs` are LEB128 deltas from
    -- `first_seq`; members at or above `void_from` were put back by a replay since.
    CREATE TABLE receipts (
        id           INTEGER PRIMARY KEY,
        sink         TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        first_seq    INTEGER NOT NULL,
        last_seq     INTEGER NOT NULL,
        seqs         BLOB    NOT NULL,
        status       INTEGER NOT NULL,
        delivered_ms INTEGER NOT NULL,
        void_from    INTEGER
    );
    CREATE INDEX receipts_sink ON receipts(sink, last_seq);

    -- Requests recorded before their first attempt (a retry, also after a restart, sends the
    -- same events under the same key), and failed attempts of a request; removed when it is
    -- delivered or replaced by its halves.
    CREATE TABLE requests (
        sink        TEXT    NOT NULL,
        key         TEXT    NOT NULL,
        seqs        TEXT    NOT NULL, -- JSON array of sequence numbers, ascending
        created_ms  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error  TEXT,
        PRIMARY KEY (sink, key)
    ) WITHOUT ROWID;
"#;

/// Steps after the log, in order: `AFTER_LOG[i]` brings a buffer from version `7 + i` to
/// `8 + i`.
const AFTER_LOG: &[&str] = &[
    // 8: idempotency keys in an ordinary table, their ids 16 bytes each. Without a rowid,
    // every key's row of some kilobytes (the ids of a POST of 100) sat in the tree searched by
    // key, one row to a page: the lookup and the insert of every keyed POST were a tenth of
    // the writer's time. Now the rows are appended and the key's index is small. Rows from
    // before keep their ids as a JSON array (TEXT), which is read as before.
    r#"
    CREATE TABLE idempotency_keys_8 (
        key        TEXT    NOT NULL UNIQUE,
        body_hash  BLOB    NOT NULL,
        ids        BLOB    NOT NULL, -- the event ids, 16 bytes each (TEXT: a JSON array)
        created_ms INTEGER NOT NULL
    );
    INSERT INTO idempotency_keys_8 (key, body_hash, ids, created_ms)
        SELECT key, body_hash, ids, created_ms FROM idempotency_keys ORDER BY created_ms;
    DROP TABLE idempotency_keys;
    ALTER TABLE idempotency_keys_8 RENAME TO idempotency_keys;
    CREATE INDEX idempotency_created ON idempotency_keys(created_ms);
    "#,
    // 9: a receipt counts the attempts its request took, the one that was delivered included,
    // so a listing of delivered events still shows their retries. NULL in receipts from before.
    r#"
    ALTER TABLE receipts ADD COLUMN attempts INTEGER;
    "#,
];

/// The layout that brought the log ([`LAYOUT_7`]).
pub(super) const LOG_VERSION: i64 = MIGRATIONS.len() as i64 + 1;

/// Schema version this build writes.
pub(super) const CURRENT_VERSION: i64 = LOG_VERSION + AFTER_LOG.len() as i64;

/// Errors while bringing a buffer to the current schema.
#[derive(Debug, thiserror::Error)]
pub(super) enum SchemaError {
    /// The file was written by a newer dockgate.
    #[error("buffer schema version {found} is newer than this dockgate understands ({CURRENT_VERSION}); refusing to touch it")]
    TooNew {
        /// Version found in the file.
        found: i64,
    },
    /// SQLite refused a migration.
    #[error("migrating buffer schema to version {version}")]
    Migration {
        /// Version being migrated to.
        version: i64,
        /// Cause.
        #[source]
        source: rusqlite::Error,
    },
    /// This build has no step to that layout (a gap in its lists of migrations).
    #[error("no migration step to buffer schema version {version} in this dockgate")]
    NoStep {
        /// Version that has no step.
        version: i64,
    },
    /// Reading `user_version` failed.
    #[error("reading buffer schema version")]
    Version(#[source] rusqlite::Error),
}

/// Runs the migrations this buffer has not seen yet.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    migrate_to(conn, CURRENT_VERSION)
}

/// Brings the buffer up to layout `target` (the tests make buffers of older layouts).
pub(super) fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), SchemaError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(SchemaError::Version)?;
    if found > CURRENT_VERSION {
        return Err(SchemaError::TooNew { found });
    }
    let started = std::time::Instant::now();
    let target = target.min(CURRENT_VERSION);
    for version in (found + 1)..=target {
        let wrap = |source| SchemaError::Migration { version, source };
        let tx = conn.transaction().map_err(wrap)?;
        if version == LOG_VERSION {
            super::migrate7::run(&tx).map_err(wrap)?;
        } else {
            let sql = if version < LOG_VERSION {
                MIGRATIONS.get(version as usize - 1)
            } else {
                AFTER_LOG.get((version - LOG_VERSION - 1) as usize)
            };
            let sql = sql.ok_or(SchemaError::NoStep { version })?;
            tx.execute_batch(sql).map_err(wrap)?;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
    if found == 0 {
        // The steps before the log leave the pages of the tables it replaced on the free
        // list; a new buffer starts without them (and `integrity_check` then sees every page).
        conn.execute_batch("VACUUM")
            .map_err(|source| SchemaError::Migration {
                version: target,
                source,
            })?;
    }
    // A new buffer starts at 0 and says nothing; an upgraded one says what was done.
    if found > 0 && found < target {
        tracing::info!(
            from = found,
            to = target,
            took_ms = started.elapsed().as_millis() as u64,
            "Buffer brought up to this dockgate's layout."
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, CURRENT_VERSION);
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(SchemaError::TooNew { .. })
        ));
    }

    /// An in-memory buffer as `version` left it.
    fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn
    }

    /// The one integer a query returns.
    fn number(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Every row of a three-column query.
    fn rows3<A, B, C>(conn: &Connection, sql: &str) -> Vec<(A, B, C)>
    where
        A: rusqlite::types::FromSql,
        B: rusqlite::types::FromSql,
        C: rusqlite::types::FromSql,
    {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn version_5_keeps_events_and_the_highest_sequence_ever_used() {
        let conn = at_version(4);
        conn.execute_batch(
            "INSERT INTO events (id, type, subject, source, time, created_ms, telemetry, data)
             VALUES ('a', 'pick.confirmed', 'S', 'src', 't', 1, 0, '{}'),
                    ('b', 'dock.opened', 'D', 'src', 't', 2, 1, '{}'),
                    ('c', 'pick.confirmed', 'S', 'src', 't', 3, 0, '{}');
             DELETE FROM events WHERE id = 'c';",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[4]).unwrap();
        let last = number(&conn, "SELECT value FROM meta WHERE key = 'last_sequence'");
        assert_eq!(last, 3, "the pruned newest event's number stays used");
        let rows: Vec<(i64, String, i64)> =
            rows3(&conn, "SELECT seq, id, telemetry FROM events ORDER BY seq");
        assert_eq!(rows, vec![(1, "a".into(), 0), (2, "b".into(), 1)]);
        let telemetry_index = number(
            &conn,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events_telemetry'",
        );
        assert_eq!(telemetry_index, 1);
    }

    #[test]
    fn version_4_moves_batch_keys_into_batch_records() {
        let conn = at_version(3);
        conn.execute_batch(
            "INSERT INTO deliveries (seq, sink, subject, priority, state, ready, batch_key, updated_ms)
             VALUES (3, 'erp', 'A', 1, 'pending', 1, 'b-1', 10), (1, 'erp', 'B', 1, 'pending', 1, 'b-1', 11),
                    (2, 'erp', 'C', 1, 'delivered', 0, 'b-2', 12), (4, 'erp', 'D', 1, 'pending', 1, 'b-2', 13),
                    (5, 'crm', 'E', 1, 'pending', 1, NULL, 14);",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[3]).unwrap();
        let rows: Vec<(String, String, String)> =
            rows3(&conn, "SELECT sink, key, seqs FROM batches");
        // b-2 has one pending member left: it goes out alone under its id, no record.
        assert_eq!(rows, vec![("erp".into(), "b-1".into(), "[1,3]".into())]);
        let pending = number(
            &conn,
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'",
        );
        assert_eq!(pending, 4);
    }
}
