//! Schema of the buffer, versioned by `PRAGMA user_version`. Each migration runs once, in its
//! own transaction; a buffer written by a newer dockgate is refused rather than guessed at.

use rusqlite::Connection;

/// Migrations in order; `MIGRATIONS[i]` brings a buffer from version `i` to `i + 1`.
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
];

/// Schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Errors while bringing a buffer to the current schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
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
    /// Reading `user_version` failed.
    #[error("reading buffer schema version")]
    Version(#[source] rusqlite::Error),
}

/// Runs the migrations this buffer has not seen yet.
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(SchemaError::Version)?;
    if found > CURRENT_VERSION {
        return Err(SchemaError::TooNew { found });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        let wrap = |source| SchemaError::Migration { version, source };
        let tx = conn.transaction().map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
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
}
