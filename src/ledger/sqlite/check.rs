//! `dockgate check`: the buffer verified without the daemon, on a read-only connection inside
//! one read transaction (a consistent snapshot, also beside a running daemon). Nothing is
//! migrated, repaired or locked.
//!
//! What is checked: SQLite's own `integrity_check` (pages, indexes, free lists); the layout
//! version; and that the rows agree with each other the way the writer keeps them: every
//! delivery has its event and the event's subject, the sequence counter is above every event,
//! and per sink and subject the open deliveries read as the writer leaves them (the first one
//! sendable or dead, no second head, pending only before a dead letter, held only after one).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::schema::CURRENT_VERSION;
use crate::ledger::{BufferCheck, CheckFinding, SinkCounts};

/// Most examples named per kind of inconsistency.
const EXAMPLES: usize = 3;

/// Checks the buffer file at `path`. A file too damaged to be read at all is a failed finding,
/// not an error: that is what the check is for.
pub(super) fn check(path: &Path) -> rusqlite::Result<BufferCheck> {
    match check_readable(path) {
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
            ) =>
        {
            let mut report = empty(path);
            report.findings.push(CheckFinding::fail(
                "SQLite integrity",
                damaged(&e.to_string()),
            ));
            Ok(report)
        }
        other => other,
    }
}

fn empty(path: &Path) -> BufferCheck {
    BufferCheck {
        path: path.to_owned(),
        layout: 0,
        known_layout: CURRENT_VERSION,
        findings: Vec::new(),
        sinks: Vec::new(),
        events: 0,
        last_sequence: 0,
        inputs: 0,
        quarantined: 0,
    }
}

fn damaged(said: &str) -> String {
    format!(
        "damaged: {said}; dockgate sets a damaged buffer aside at its next start and begins an \
         empty one, so keep a copy of this file before restarting"
    )
}

fn check_readable(path: &Path) -> rusqlite::Result<BufferCheck> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let snapshot = conn.unchecked_transaction()?;
    let mut report = empty(path);
    integrity(&conn, &mut report)?;
    report.layout = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let layout = report.layout;
    if layout > CURRENT_VERSION {
        report.findings.push(CheckFinding::fail(
            format!("layout {layout}"),
            format!(
                "written by a newer dockgate (this one knows layouts up to {CURRENT_VERSION}): \
                 check it with that version"
            ),
        ));
        return Ok(report);
    }
    if layout == 0 {
        report.findings.push(CheckFinding::fail(
            "layout",
            "not a dockgate buffer (no layout version): is this the right file?".to_owned(),
        ));
        return Ok(report);
    }
    counts(&conn, &mut report)?;
    if layout < CURRENT_VERSION {
        report.findings.push(CheckFinding::ok(
            format!("layout {layout}"),
            Some(format!(
                "older than this dockgate's ({CURRENT_VERSION}); brought up to date when dockgate \
                 starts on it, after which `dockgate check` also checks its rows"
            )),
        ));
    } else {
        report.findings.push(CheckFinding::ok(
            format!("layout {layout}"),
            Some("this dockgate's".to_owned()),
        ));
        consistency(&conn, &mut report)?;
    }
    snapshot.commit()?;
    Ok(report)
}

fn integrity(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
    let said: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if said == ["ok"] {
        report
            .findings
            .push(CheckFinding::ok("SQLite integrity", None));
    } else {
        report.findings.push(CheckFinding::fail(
            "SQLite integrity",
            damaged(&said.join("; ")),
        ));
    }
    Ok(())
}

fn count(conn: &Connection, sql: &str) -> rusqlite::Result<i64> {
    conn.query_row(sql, [], |r| r.get(0))
}

fn counts(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    report.events = count(conn, "SELECT COUNT(*) FROM events")? as u64;
    // The counter proper (layout 5 on) replaces this in `consistency`.
    report.last_sequence = count(conn, "SELECT COALESCE(MAX(seq), 0) FROM events")?;
    report.inputs = count(conn, "SELECT COUNT(*) FROM inputs")? as u64;
    report.quarantined = count(conn, "SELECT COUNT(*) FROM rejected")? as u64;
    let mut by_sink: BTreeMap<String, SinkCounts> = BTreeMap::new();
    let mut stmt =
        conn.prepare("SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let sink: String = r.get(0)?;
        let n = r.get::<_, i64>(2)? as u64;
        let entry = by_sink.entry(sink.clone()).or_insert_with(|| SinkCounts {
            sink,
            ..SinkCounts::default()
        });
        match r.get_ref(1)?.as_str()? {
            "pending" => entry.pending += n,
            "held" => entry.held += n,
            "dead" => entry.dead += n,
            "delivered" => entry.delivered += n,
            _ => entry.unknown += n,
        }
    }
    report.sinks = by_sink.into_values().collect();
    Ok(())
}

fn consistency(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    let orphans = count(
        conn,
        "SELECT COUNT(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = d.seq)",
    )?;
    let mismatched = count(
        conn,
        "SELECT COUNT(*) FROM deliveries d JOIN events e ON e.seq = d.seq WHERE d.subject != e.subject",
    )?;
    report.findings.push(match (orphans, mismatched) {
        (0, 0) => CheckFinding::ok("every delivery has its event", None),
        _ => CheckFinding::fail(
            "every delivery has its event",
            format!(
                "{orphans} deliveries without their event, {mismatched} with another subject \
                 than their event's: those cannot be sent as they were committed"
            ),
        ),
    });
    let unknown: u64 = report.sinks.iter().map(|s| s.unknown).sum();
    if unknown > 0 {
        report.findings.push(CheckFinding::fail(
            "delivery states",
            format!("{unknown} deliveries in a state this dockgate does not know"),
        ));
    }
    let max_seq: Option<i64> = conn.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
    let last: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_sequence'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    report.last_sequence = last.unwrap_or(report.last_sequence);
    report.findings.push(match (last, max_seq) {
        (Some(last), Some(max)) if last < max => CheckFinding::fail(
            "sequence counter",
            format!("at {last}, below the newest event ({max}): new events would reuse numbers"),
        ),
        (None, _) => CheckFinding::fail("sequence counter", "missing".to_owned()),
        _ => CheckFinding::ok("sequence counter", None),
    });
    subjects(conn, report)
}

/// Walks the open deliveries of every sink and subject in order.
fn subjects(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT sink, subject, seq, state, ready FROM deliveries WHERE state != 'delivered'
         ORDER BY sink, subject, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut problems: BTreeMap<&'static str, (u64, Vec<String>)> = BTreeMap::new();
    let mut note = |kind: &'static str, sink: &str, subject: &str, seq: i64| {
        let (n, examples) = problems.entry(kind).or_default();
        *n += 1;
        if examples.len() < EXAMPLES {
            examples.push(format!("{sink}/{subject} #{seq}"));
        }
    };
    let (mut sink, mut subject) = (String::new(), String::new());
    let (mut first, mut blocked) = (true, false);
    let mut open_subjects = 0u64;
    while let Some(r) = rows.next()? {
        let (s, subj) = (r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?);
        if s != sink || subj != subject {
            s.clone_into(&mut sink);
            subj.clone_into(&mut subject);
            (first, blocked) = (true, false);
            open_subjects += 1;
        }
        let seq: i64 = r.get(2)?;
        let ready: bool = r.get(4)?;
        match (r.get_ref(3)?.as_str()?, first, blocked) {
            ("pending", true, _) if !ready => {
                note("a first event not marked to send", &sink, &subject, seq)
            }
            ("pending", false, false) if ready => note("a second head", &sink, &subject, seq),
            ("pending", _, true) => note("pending behind a dead letter", &sink, &subject, seq),
            ("held", _, false) => note("held with no dead letter before it", &sink, &subject, seq),
            ("dead", _, _) => blocked = true,
            _ => {}
        }
        first = false;
    }
    let marked_delivered = count(
        conn,
        "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered' AND ready = 1",
    )?;
    if marked_delivered > 0 {
        problems.insert(
            "delivered but marked to send",
            (marked_delivered as u64, Vec::new()),
        );
    }
    let what = "order per subject";
    if problems.is_empty() {
        report.findings.push(CheckFinding::ok(
            what,
            Some(format!("{open_subjects} subjects with events waiting")),
        ));
    } else {
        let detail = problems
            .into_iter()
            .map(|(kind, (n, examples))| match examples.is_empty() {
                true => format!("{n} × {kind}"),
                false => format!("{n} × {kind} (e.g. {})", examples.join(", ")),
            })
            .collect::<Vec<_>>()
            .join("; ");
        report.findings.push(CheckFinding::fail(
            what,
            format!("{detail}: these subjects may stall or go out of order"),
        ));
    }
    Ok(())
}
