//! Exception rows: the events of a sink that the cursor's rule does not describe. A dead letter
//! blocks its subject on that sink: every later event of the subject there is held (a row
//! each) until the dead one is replayed. A replay puts events back as `pending` rows, which a
//! sink sends before anything later of their subject.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{params, Connection};

use super::log;
use crate::model::now_ms;

/// Subjects with a dead letter, per sink, as the writer knows them: a new event of one of them
/// goes in held. The table stays the truth; the writer reloads this after a rollback.
#[derive(Debug, Default)]
pub(super) struct Blocked(HashMap<Arc<str>, HashSet<String>>);

impl Blocked {
    pub fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut this = Self::default();
        let mut stmt =
            conn.prepare("SELECT DISTINCT sink, subject FROM exceptions WHERE state = 'dead'")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let sink: String = r.get(0)?;
            this.0
                .entry(Arc::from(sink.as_str()))
                .or_default()
                .insert(r.get(1)?);
        }
        Ok(this)
    }

    pub fn contains(&self, sink: &str, subject: &str) -> bool {
        !self.0.is_empty() && self.0.get(sink).is_some_and(|s| s.contains(subject))
    }

    fn set(&mut self, sink: &str, subject: &str, blocked: bool) {
        if blocked {
            self.0
                .entry(Arc::from(sink))
                .or_default()
                .insert(subject.to_owned());
        } else if let Some(s) = self.0.get_mut(sink) {
            s.remove(subject);
        }
    }
}

/// Holds every event of `subject` on `sink` after the dead letter at `dead_seq`: the pending
/// rows put back by a replay, and the events of the log above the sink's cursor.
pub(super) fn hold_behind(
    conn: &Connection,
    blocked: &mut Blocked,
    sink: &str,
    subject: &str,
    dead_seq: i64,
) -> rusqlite::Result<()> {
    let now = now_ms();
    conn.prepare_cached(
        "UPDATE exceptions SET state = 'held', updated_ms = ?4
         WHERE sink = ?1 AND subject = ?2 AND seq > ?3 AND state = 'pending'",
    )?
    .execute(params![sink, subject, dead_seq, now])?;
    let cursor = log::cursor(conn, sink)?;
    let mut hold = conn.prepare_cached(
        "INSERT OR IGNORE INTO exceptions (sink, seq, subject, state, updated_ms)
         VALUES (?1, ?2, ?3, 'held', ?4)",
    )?;
    log::scan_subject(conn, dead_seq.max(cursor) + 1, sink, subject, |record| {
        for e in record.events.iter().filter(|e| &*e.subject == subject) {
            hold.execute(params![sink, e.seq, subject, now])?;
        }
        Ok(())
    })?;
    blocked.set(sink, subject, true);
    Ok(())
}

/// Re-derives the exception rows of one subject on one sink after they changed (a replay): a
/// dead row stays dead and blocks what follows, which is held; a held row with no dead row
/// before it is pending again.
pub(super) fn recompute_subject(
    conn: &Connection,
    blocked: &mut Blocked,
    sink: &str,
    subject: &str,
) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, state FROM exceptions WHERE sink = ?1 AND subject = ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![sink, subject], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut update = conn.prepare_cached(
        "UPDATE exceptions SET state = ?1 WHERE sink = ?2 AND seq = ?3 AND state != ?1",
    )?;
    let mut dead = false;
    for (seq, state) in &rows {
        if state == "dead" {
            dead = true;
            continue;
        }
        let want = if dead { "held" } else { "pending" };
        update.execute(params![want, sink, seq])?;
    }
    blocked.set(sink, subject, dead);
    Ok(())
}
