//! `dockgate check`: the buffer verified without the daemon, on a read-only connection inside
//! one read transaction (a consistent snapshot, also beside a running daemon). Nothing is
//! migrated, repaired or locked.
//!
//! What is checked: SQLite's own `integrity_check` (pages, indexes, free lists); the layout
//! version; and that the rows agree with each other the way the writer keeps them: every record
//! of the log decodes and holds the events its row says, records do not overlap, the sequence
//! counter is above every event, cursors are within it, every exception row and receipt names
//! an event routed to its sink, and per sink and subject the exception rows read as the writer
//! leaves them (held only after a dead letter, pending only before one).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::log::decode_seqs;
use super::record::{self, parse_sink_counts};
use super::schema::{CURRENT_VERSION, LOG_VERSION};
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
    counts(&conn, layout, &mut report)?;
    if layout < LOG_VERSION {
        report.findings.push(CheckFinding::ok(
            format!("layout {layout}"),
            Some(format!(
                "older than this dockgate's ({CURRENT_VERSION}); brought up to date when dockgate \
                 starts on it, after which `dockgate check` also checks its rows"
            )),
        ));
    } else {
        let said = if layout < CURRENT_VERSION {
            format!(
                "older than this dockgate's ({CURRENT_VERSION}), with the same log; brought up to \
                 date when dockgate starts on it"
            )
        } else {
            "this dockgate's".to_owned()
        };
        report
            .findings
            .push(CheckFinding::ok(format!("layout {layout}"), Some(said)));
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

fn counts(conn: &Connection, layout: i64, report: &mut BufferCheck) -> rusqlite::Result<()> {
    report.inputs = count(conn, "SELECT COUNT(*) FROM inputs")? as u64;
    report.quarantined = count(conn, "SELECT COUNT(*) FROM rejected")? as u64;
    if layout < LOG_VERSION {
        return counts_before_the_log(conn, report);
    }
    report.events = count(
        conn,
        "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM records",
    )? as u64;
    report.last_sequence = count(conn, "SELECT COALESCE(MAX(last_seq), 0) FROM records")?;
    let now = crate::model::now_ms();
    let sinks: Vec<String> = {
        let mut stmt = conn.prepare("SELECT sink FROM cursors ORDER BY sink")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for sink in sinks {
        let backlog = super::read::backlog(conn, &sink, now)?;
        let mut delivered = 0;
        let mut stmt =
            conn.prepare_cached("SELECT first_seq, seqs, void_from FROM receipts WHERE sink = ?1")?;
        let mut rows = stmt.query([&sink])?;
        while let Some(r) = rows.next()? {
            let void_from: Option<i64> = r.get(2)?;
            delivered += decode_seqs(r.get(0)?, r.get_ref(1)?.as_blob()?)
                .into_iter()
                .filter(|s| void_from.is_none_or(|v| *s < v))
                .count() as u64;
        }
        report.sinks.push(SinkCounts {
            sink,
            pending: backlog.pending,
            held: backlog.held,
            dead: backlog.dead,
            delivered,
            unknown: count_unknown(conn, &backlog.sink)?,
        });
    }
    Ok(())
}

fn count_unknown(conn: &Connection, sink: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM exceptions
         WHERE sink = ?1 AND state NOT IN ('pending', 'held', 'dead')",
    )?
    .query_row([sink], |r| r.get::<_, i64>(0))
    .map(|n| n as u64)
}

/// Counts of a buffer from before the log (layouts 1 to 6): an event row each and a delivery
/// row per event and sink.
fn counts_before_the_log(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    report.events = count(conn, "SELECT COUNT(*) FROM events")? as u64;
    report.last_sequence = count(conn, "SELECT COALESCE(MAX(seq), 0) FROM events")?;
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

/// Kinds of inconsistency found, each with how many and a few examples.
#[derive(Default)]
struct Problems(BTreeMap<&'static str, (u64, Vec<String>)>);

impl Problems {
    fn note(&mut self, kind: &'static str, example: impl FnOnce() -> String) {
        let (n, examples) = self.0.entry(kind).or_default();
        *n += 1;
        if examples.len() < EXAMPLES {
            examples.push(example());
        }
    }

    fn finding(self, what: &str, ok: String, means: &str) -> CheckFinding {
        if self.0.is_empty() {
            return CheckFinding::ok(what, Some(ok));
        }
        let detail = self
            .0
            .into_iter()
            .map(|(kind, (n, examples))| match examples.is_empty() {
                true => format!("{n} × {kind}"),
                false => format!("{n} × {kind} (e.g. {})", examples.join(", ")),
            })
            .collect::<Vec<_>>()
            .join("; ");
        CheckFinding::fail(what, format!("{detail}: {means}"))
    }
}

fn consistency(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    // Exception rows and receipt members by sequence number, to meet them in the log walk.
    let mut named: HashMap<i64, Vec<(String, Option<String>)>> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT seq, sink, subject FROM exceptions")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            named
                .entry(r.get(0)?)
                .or_default()
                .push((r.get(1)?, Some(r.get(2)?)));
        }
        let mut stmt = conn.prepare("SELECT sink, first_seq, last_seq, seqs FROM receipts")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let sink: String = r.get(0)?;
            let (first, last): (i64, i64) = (r.get(1)?, r.get(2)?);
            for seq in decode_seqs(first, r.get_ref(3)?.as_blob()?) {
                if seq <= last {
                    named.entry(seq).or_default().push((sink.clone(), None));
                }
            }
        }
    }
    let mut log = Problems::default();
    let mut refs = Problems::default();
    let mut stmt = conn.prepare(
        "SELECT r.first_seq, r.last_seq, r.created_ms, r.sinks, b.body, r.subjects FROM records r
         LEFT JOIN record_bodies b ON b.first_seq = r.first_seq ORDER BY r.first_seq",
    )?;
    let mut rows = stmt.query([])?;
    let (mut records, mut prev_last) = (0u64, i64::MIN);
    while let Some(r) = rows.next()? {
        records += 1;
        let (first, last, created): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if first <= prev_last {
            log.note("records overlapping", || format!("#{first}"));
        }
        prev_last = last;
        let Some(blob) = r.get_ref(4)?.as_blob_or_null()? else {
            log.note("records without their events", || format!("#{first}"));
            continue;
        };
        let record = match record::decode(first, created, blob) {
            Ok(record) => record,
            Err(e) => {
                log.note("records that do not decode", || e.to_string());
                continue;
            }
        };
        if record.events.len() as i64 != last - first + 1 {
            log.note(
                "records holding another number of events than their row says",
                || format!("#{first}"),
            );
        }
        let filter = record::Subjects::from_bytes(r.get_ref(5)?.as_blob()?);
        if filter.is_none_or(|f| record.events.iter().any(|e| !f.may_hold(&e.subject))) {
            // A dead letter would not hold what the filter misses.
            log.note("records whose subject filter misses their events", || {
                format!("#{first}")
            });
        }
        let counts: Vec<(&str, u64)> = parse_sink_counts(r.get_ref(3)?.as_str()?).collect();
        for (sink, n) in &counts {
            let routed = record.bit(sink).map_or(0, |bit| {
                record.events.iter().filter(|e| e.mask & bit != 0).count() as u64
            });
            if routed != *n {
                log.note(
                    "records whose sink counts disagree with their events",
                    || format!("#{first} {sink}"),
                );
            }
        }
        for e in &record.events {
            let Some(names) = named.remove(&e.seq) else {
                continue;
            };
            for (sink, subject) in names {
                let routed = record.bit(&sink).is_some_and(|bit| e.mask & bit != 0);
                if !routed {
                    refs.note("rows naming an event not routed to their sink", || {
                        format!("{sink} #{}", e.seq)
                    });
                } else if subject.is_some_and(|s| *s != *e.subject) {
                    refs.note(
                        "exception rows with another subject than their event's",
                        || format!("{sink} #{}", e.seq),
                    );
                }
            }
        }
    }
    // Receipts outlive the records retention removes; exception rows must not.
    for (seq, names) in named {
        for (sink, subject) in names {
            if subject.is_some() {
                refs.note("exception rows whose event is gone", || {
                    format!("{sink} #{seq}")
                });
            }
        }
    }
    report.findings.push(log.finding(
        "the log",
        format!("{records} records"),
        "those events cannot be sent as they were committed",
    ));
    report.findings.push(refs.finding(
        "exception rows and receipts",
        "each names an event routed to its sink".to_owned(),
        "status and listings of those sinks are off",
    ));
    let unknown: u64 = report.sinks.iter().map(|s| s.unknown).sum();
    if unknown > 0 {
        report.findings.push(CheckFinding::fail(
            "delivery states",
            format!("{unknown} exception rows in a state this dockgate does not know"),
        ));
    }
    let max_seq = report.last_sequence;
    let last: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_sequence'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    report.last_sequence = last.unwrap_or(report.last_sequence);
    report.findings.push(match last {
        Some(last) if last < max_seq => CheckFinding::fail(
            "sequence counter",
            format!(
                "at {last}, below the newest event ({max_seq}): new events would reuse numbers"
            ),
        ),
        None => CheckFinding::fail("sequence counter", "missing".to_owned()),
        _ => CheckFinding::ok("sequence counter", None),
    });
    let beyond = count(
        conn,
        "SELECT COUNT(*) FROM cursors
         WHERE settled > (SELECT COALESCE(MAX(value), 0) FROM meta WHERE key = 'last_sequence')",
    )?;
    report.findings.push(match beyond {
        0 => CheckFinding::ok("cursors", Some(format!("{} sinks", report.sinks.len()))),
        n => CheckFinding::fail(
            "cursors",
            format!(
                "{n} past the newest event: events committed next would count as settled there"
            ),
        ),
    });
    subjects(conn, report)
}

/// Walks the exception rows of every sink and subject in order.
fn subjects(conn: &Connection, report: &mut BufferCheck) -> rusqlite::Result<()> {
    let mut stmt = conn
        .prepare("SELECT sink, subject, seq, state FROM exceptions ORDER BY sink, subject, seq")?;
    let mut rows = stmt.query([])?;
    let mut problems = Problems::default();
    let (mut sink, mut subject) = (String::new(), String::new());
    let mut blocked = false;
    let mut subjects = 0u64;
    while let Some(r) = rows.next()? {
        let (s, subj) = (r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?);
        if s != sink || subj != subject {
            s.clone_into(&mut sink);
            subj.clone_into(&mut subject);
            blocked = false;
            subjects += 1;
        }
        let seq: i64 = r.get(2)?;
        match (r.get_ref(3)?.as_str()?, blocked) {
            ("pending", true) => problems.note("pending behind a dead letter", || {
                format!("{sink}/{subject} #{seq}")
            }),
            ("held", false) => problems.note("held with no dead letter before it", || {
                format!("{sink}/{subject} #{seq}")
            }),
            ("dead", _) => blocked = true,
            _ => {}
        }
    }
    report.findings.push(problems.finding(
        "order per subject",
        format!("{subjects} subjects with exception rows"),
        "these subjects may stall or go out of order",
    ));
    Ok(())
}
