//! Subjects with undelivered events, per sink, as the writer knows them: how many of their
//! rows are open and whether the newest open one is blocked (dead or held). The table stays
//! the truth; this copy saves the writer a lookup per event when it routes a new event (is
//! something of its subject still open ahead of it?) and one per subject when a batch is
//! delivered (is anything waiting to be let go?).
//!
//! Only the writer thread changes deliveries, so the copy stays exact as long as every change
//! goes through here; a failed transaction or a drop makes the writer load it again.
//! [`recompute_subject`] re-derives a subject's rows after they changed wholesale.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

/// Most subjects held in memory. Past this (a long outage with many distinct subjects), a
/// subject not in the map is looked up in the table instead, as it was before.
const CAP: usize = 50_000;

/// Open rows of one subject on one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tail {
    /// Rows not yet delivered.
    pub open: u32,
    /// The newest of them is dead or held: a new event goes behind it as held.
    pub blocked: bool,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct OpenSubjects {
    by_sink: HashMap<Arc<str>, HashMap<String, Tail>>,
    entries: usize,
    /// False once a subject could not be added (over `CAP`): then absence from the map proves
    /// nothing and the table is asked.
    complete: bool,
}

impl OpenSubjects {
    /// Reads every subject with open rows from the table.
    pub fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut this = Self {
            complete: true,
            ..Self::default()
        };
        // The bare `state` column takes its value from the row of MAX(seq) (SQLite rule).
        let mut stmt = conn.prepare(
            "SELECT sink, subject, COUNT(*), state, MAX(seq) FROM deliveries
             WHERE state != 'delivered' GROUP BY sink, subject",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let sink: String = r.get(0)?;
            let subject: String = r.get(1)?;
            let tail = Tail {
                open: r.get(2)?,
                blocked: is_blocked(r.get_ref(3)?.as_str()?),
            };
            this.set(&Arc::from(sink), &subject, Some(tail));
        }
        Ok(this)
    }

    /// The open rows of `subject` on `sink` (None: none).
    pub fn tail(
        &self,
        conn: &Connection,
        sink: &Arc<str>,
        subject: &str,
    ) -> rusqlite::Result<Option<Tail>> {
        if let Some(tail) = self.by_sink.get(sink).and_then(|m| m.get(subject)) {
            return Ok(Some(*tail));
        }
        if self.complete {
            return Ok(None);
        }
        query(conn, sink, subject)
    }

    /// A new open row went in behind the others of its subject.
    pub fn pushed(
        &mut self,
        conn: &Connection,
        sink: &Arc<str>,
        subject: &str,
        held: bool,
    ) -> rusqlite::Result<()> {
        let tail = match self.by_sink.get_mut(sink).and_then(|m| m.get_mut(subject)) {
            Some(tail) => {
                tail.open += 1;
                tail.blocked = held;
                return Ok(());
            }
            None if self.complete => Tail {
                open: 1,
                blocked: held,
            },
            // Not tracked: the table (this row included) is the only account.
            None => match query(conn, sink, subject)? {
                Some(tail) => tail,
                None => return Ok(()),
            },
        };
        self.set(sink, subject, Some(tail));
        Ok(())
    }

    /// `n` open rows of `subject` were delivered. Returns whether rows remain open (true when
    /// the map cannot tell).
    pub fn settled(&mut self, sink: &Arc<str>, subject: &str, n: u32) -> bool {
        let Some(tail) = self.by_sink.get_mut(sink).and_then(|m| m.get_mut(subject)) else {
            return !self.complete;
        };
        tail.open = tail.open.saturating_sub(n);
        if tail.open > 0 {
            return true;
        }
        self.set(sink, subject, None);
        false
    }

    /// Reads one subject again from the table after its rows changed wholesale (a dead
    /// letter, a replay).
    pub fn reload(
        &mut self,
        conn: &Connection,
        sink: &Arc<str>,
        subject: &str,
    ) -> rusqlite::Result<()> {
        let tail = query(conn, sink, subject)?;
        self.set(sink, subject, tail);
        Ok(())
    }

    fn set(&mut self, sink: &Arc<str>, subject: &str, tail: Option<Tail>) {
        match tail {
            Some(tail) => {
                let map = self.by_sink.entry(sink.clone()).or_default();
                if let Some(t) = map.get_mut(subject) {
                    *t = tail;
                } else if self.entries < CAP {
                    map.insert(subject.to_owned(), tail);
                    self.entries += 1;
                } else {
                    self.complete = false;
                }
            }
            None => {
                if let Some(map) = self.by_sink.get_mut(sink) {
                    if map.remove(subject).is_some() {
                        self.entries -= 1;
                    }
                }
            }
        }
    }
}

/// Re-derives the ready/held flags of one subject on one sink after its open rows changed
/// (a dead letter, a replay, a dropped event): the first open row is the head and may be sent
/// unless it is dead; pending rows behind a dead one are held, held rows with no dead row
/// before them are pending again.
pub(super) fn recompute_subject(
    conn: &Connection,
    sink: &str,
    subject: &str,
) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, state FROM deliveries WHERE sink = ?1 AND subject = ?2
                 AND state != 'delivered' ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![sink, subject], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut update = conn.prepare_cached(
        "UPDATE deliveries SET state = ?1, ready = ?2 WHERE seq = ?3 AND sink = ?4",
    )?;
    let mut blocked = false;
    for (i, (seq, state)) in rows.iter().enumerate() {
        if state == "dead" {
            blocked = true;
            continue;
        }
        let want = if blocked { "held" } else { "pending" };
        let ready = i == 0;
        update.execute(params![want, ready, seq, sink])?;
    }
    Ok(())
}

fn is_blocked(state: &str) -> bool {
    matches!(state, "dead" | "held")
}

fn query(conn: &Connection, sink: &str, subject: &str) -> rusqlite::Result<Option<Tail>> {
    let mut stmt = conn.prepare_cached(
        "SELECT COUNT(*), (SELECT state FROM deliveries WHERE sink = ?1 AND subject = ?2
             AND state != 'delivered' ORDER BY seq DESC LIMIT 1)
         FROM deliveries WHERE sink = ?1 AND subject = ?2 AND state != 'delivered'",
    )?;
    let (open, last): (u32, Option<String>) = stmt
        .query_row(params![sink, subject], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, None));
    Ok((open > 0).then(|| Tail {
        open,
        blocked: last.as_deref().is_some_and(is_blocked),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_absence_proves_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE deliveries (seq INTEGER, sink TEXT, subject TEXT, state TEXT)",
        )
        .unwrap();
        let mut map = OpenSubjects::load(&conn).unwrap();
        let sink: Arc<str> = Arc::from("erp");
        for i in 0..CAP {
            map.pushed(&conn, &sink, &format!("S{i}"), false).unwrap();
        }
        assert!(map.complete);
        conn.execute(
            "INSERT INTO deliveries VALUES (1, 'erp', 'OVER', 'dead')",
            [],
        )
        .unwrap();
        map.pushed(&conn, &sink, "OVER", false).unwrap();
        assert!(!map.complete);
        // Not in the map, so the table answers.
        let over = map.tail(&conn, &sink, "OVER").unwrap();
        assert_eq!(
            over,
            Some(Tail {
                open: 1,
                blocked: true
            })
        );
        assert!(map.settled(&sink, "OVER", 1), "unknown: assume rows remain");
        assert!(!map.settled(&sink, "S1", 1));
        assert_eq!(
            map.tail(&conn, &sink, "S0").unwrap().map(|t| t.open),
            Some(1)
        );
    }
}
