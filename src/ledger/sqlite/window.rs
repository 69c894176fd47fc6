//! A sink's read-ahead: the events above its cursor that are still to be sent, read from the
//! log into memory a bounded stretch at a time, with the events a replay put back. Per-subject
//! order and priority are decided here, over the window, without a query per event: the head
//! of a subject is its lowest event in the window, heads go out by (priority, sequence).
//!
//! The window is memory only. Each outcome the sink reports carries what the window knows is
//! settled once that outcome is ([`Progress`]), and the writer moves the durable cursor on
//! that; after a restart the window is read again from the cursor, the receipts above it and
//! the exception rows. Priority reorders within the window (at most [`MAX_EVENTS`] events),
//! not across a backlog longer than that.

mod seqs;

use std::collections::BTreeSet;
use std::sync::Arc;

use rusqlite::{params, Connection};

use self::seqs::{SeqMap, SeqRun};
use super::log;
use super::record::{Record, StoredEvent};
use foldhash::{HashMap, HashSet};

use crate::ledger::{Commits, InHand, Plan, Ready, Sendable};
use crate::model::priority_of;

/// Most events a window holds: with their ids, subjects and bodies 2–3 MB at ~310 B an event.
/// Twice this held the peak RSS of a drain above 30 MB for no faster sending (docs/benchmarks.md,
/// session 8); it is also how far ahead priority reaches.
pub(super) const MAX_EVENTS: usize = 4096;
/// Most bytes of CloudEvents bodies a window holds.
const MAX_BYTES: usize = 3 << 20;

/// What a sink's window knows is settled once an outcome is, for the writer to record.
#[derive(Debug, Clone)]
pub(in crate::ledger) struct Progress {
    /// Every event of the sink up to here is settled.
    pub cursor: i64,
    /// The replays the window has seen (see [`Commits::resets`]).
    pub resets: u64,
    /// Events of the outcome that a replay had put back: their exception rows go.
    pub replayed: Vec<i64>,
}

#[derive(Debug)]
struct Item {
    id: Arc<str>,
    subject: Arc<str>,
    priority: i64,
    created_ms: i64,
    body: Arc<str>,
    /// Put back by a replay: an exception row stands for it, not the cursor.
    replayed: bool,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(in crate::ledger) struct Window {
    /// The (resets, drops) the window was read at; `None` before the first read.
    loaded: Option<(u64, u64)>,
    cursor: i64,
    /// Events of the log up to here have been looked at.
    scanned: i64,
    items: SeqMap<Item>,
    subjects: HashMap<Arc<str>, SeqRun>,
    /// (priority, sequence) of each subject's head.
    heads: BTreeSet<(i64, i64)>,
    /// Requests planned and not delivered: key and members, oldest first.
    planned: Planned,
    bytes: usize,
    /// Bumped when items leave other than by delivery, so a read under way is not merged.
    version: u64,
    /// While a reload is under way, for the replays it reads at: what was delivered meanwhile
    /// by outcomes committed after those replays, which the reload's snapshot may still show
    /// as waiting. (An outcome committed before a replay may have been put back by it.)
    reloading: Option<(u64, Vec<i64>)>,
}

/// Requests planned and not delivered: key and members, oldest first.
type Planned = Vec<(String, Vec<i64>)>;

/// What a read of the log needs from the window, taken under its lock.
#[derive(Debug, Clone)]
pub(in crate::ledger) struct FillAsk {
    reload: bool,
    after: i64,
    room_events: usize,
    room_bytes: usize,
    /// Nothing in the window: the first event read goes in whatever its size.
    empty: bool,
    version: u64,
    commits: Commits,
}

/// What a read of the log brought, merged into the window under its lock.
pub(in crate::ledger) struct Filled {
    ask: FillAsk,
    loaded: Option<(i64, Planned)>,
    items: Vec<(i64, Item)>,
    scanned: i64,
}

impl Window {
    /// Whether the window has been read since it was made.
    pub fn is_loaded(&self) -> bool {
        self.loaded.is_some()
    }

    /// What to read next, given the ledger's latest commits; `None` when there is nothing new,
    /// or the window is at least half full: it is read ahead in large steps, since a read
    /// decodes whole records.
    pub fn ask(&mut self, commits: Commits) -> Option<FillAsk> {
        let reload = self.loaded != Some((commits.resets, commits.drops));
        if !reload
            && (commits.last_seq <= self.scanned
                || self.items.len() >= MAX_EVENTS / 2
                || self.bytes >= MAX_BYTES / 2)
        {
            return None;
        }
        if reload {
            self.reloading = Some((commits.resets, Vec::new()));
        }
        Some(FillAsk {
            reload,
            after: self.scanned,
            room_events: if reload {
                MAX_EVENTS
            } else {
                MAX_EVENTS.saturating_sub(self.items.len())
            },
            room_bytes: if reload {
                MAX_BYTES
            } else {
                MAX_BYTES.saturating_sub(self.bytes)
            },
            version: self.version,
            empty: reload || self.items.is_empty(),
            commits,
        })
    }

    /// Takes what a read brought, unless the window changed meanwhile in a way the read could
    /// not see (then the next read starts again from the window as it is).
    /// Returns false when the read was thrown away.
    pub fn merge(&mut self, filled: Filled) -> bool {
        if filled.ask.version != self.version {
            return false;
        }
        let mut gone = Vec::new();
        if let Some((cursor, planned)) = filled.loaded {
            gone = self.reloading.take().map(|(_, g)| g).unwrap_or_default();
            *self = Window {
                loaded: Some((filled.ask.commits.resets, filled.ask.commits.drops)),
                cursor,
                planned,
                version: self.version,
                ..Window::default()
            };
        } else if self.scanned != filled.ask.after {
            return false;
        }
        for (seq, item) in filled.items {
            if !gone.contains(&seq) {
                self.insert(seq, item);
            }
        }
        self.scanned = self.scanned.max(filled.scanned);
        true
    }

    fn insert(&mut self, seq: i64, item: Item) {
        if self.items.contains(seq) {
            return;
        }
        let set = self.subjects.entry(item.subject.clone()).or_default();
        let old = set.first();
        set.insert(seq);
        match old {
            Some(old) if old < seq => {}
            Some(old) => {
                if let Some(o) = self.items.get(old) {
                    self.heads.remove(&(o.priority, old));
                }
                self.heads.insert((item.priority, seq));
            }
            None => {
                self.heads.insert((item.priority, seq));
            }
        }
        self.bytes += item.body.len();
        self.items.insert(seq, item);
    }

    fn remove(&mut self, seq: i64) -> Option<Item> {
        let item = self.items.remove(seq)?;
        self.bytes -= item.body.len();
        if let Some(set) = self.subjects.get_mut(&item.subject) {
            let was_head = set.first() == Some(seq);
            set.remove(seq);
            if was_head {
                self.heads.remove(&(item.priority, seq));
                if let Some(next) = set.first() {
                    if let Some(n) = self.items.get(next) {
                        self.heads.insert((n.priority, next));
                    }
                }
            }
            if set.is_empty() {
                self.subjects.remove(&item.subject);
            }
        }
        Some(item)
    }

    /// What is settled once `settled` (events of an outcome) is.
    pub fn progress(&self, settled: &[i64]) -> Option<Progress> {
        let (resets, _) = self.loaded?;
        let set: HashSet<i64> = settled.iter().copied().collect();
        let first_open = self
            .items
            .iter()
            .find(|(seq, item)| !item.replayed && !set.contains(seq))
            .map(|(seq, _)| seq - 1);
        Some(Progress {
            cursor: first_open.unwrap_or(self.scanned).max(self.cursor),
            resets,
            replayed: settled
                .iter()
                .filter(|s| self.items.get(**s).is_some_and(|i| i.replayed))
                .copied()
                .collect(),
        })
    }

    /// A request was delivered and recorded.
    /// `resets` is the ledger's replay count when the outcome was committed.
    pub fn delivered(&mut self, key: &str, seqs: &[i64], progress: Option<&Progress>, resets: u64) {
        for seq in seqs {
            self.remove(*seq);
        }
        if let Some((at, gone)) = &mut self.reloading {
            if *at == resets {
                gone.extend_from_slice(seqs);
            }
        }
        self.planned.retain(|(k, _)| k != key);
        // Only what was read at the same replays as this window counts: a cursor from before a
        // replay may lie past what the replay put back.
        if let Some(p) = progress {
            if self.loaded.is_some_and(|(r, _)| r == p.resets) && p.resets == resets {
                self.cursor = self.cursor.max(p.cursor);
            }
        }
    }

    /// Forgets what was read: the next read starts from the ledger's tables (a new worker
    /// for the sink, which cannot know what an aborted one had in flight).
    pub fn invalidate(&mut self) {
        self.loaded = None;
        self.version += 1;
    }

    /// An event was dead-lettered and recorded: it and what follows in its subject leave.
    pub fn dead(&mut self, seq: i64, subject: &str) {
        self.version += 1;
        let later: Vec<i64> = self
            .subjects
            .get(subject)
            .map(|s| s.from(seq).collect())
            .unwrap_or_default();
        for s in later {
            self.remove(s);
        }
    }

    /// Requests were planned and recorded.
    pub fn planned(&mut self, plans: &[Plan]) {
        for plan in plans {
            if let Some(old) = &plan.replaces {
                self.planned.retain(|(k, _)| k != old);
            }
            if plan.seqs.len() > 1 {
                self.planned.retain(|(k, _)| *k != plan.key);
                self.planned.push((plan.key.clone(), plan.seqs.clone()));
            }
        }
    }

    /// See [`crate::ledger::SinkReader::next`].
    pub fn ready(&mut self, want: usize, batch_max: usize, in_hand: InHand<'_>) -> Vec<Ready> {
        let mut out = Vec::new();
        // Subjects this read hands out, beside those the worker holds.
        let mut taken: HashSet<&Arc<str>> = HashSet::default();
        let mut count = 0;
        if batch_max > 1 {
            // Plans none of whose events wait any more are forgotten.
            self.planned
                .retain(|(_, seqs)| seqs.iter().any(|s| self.items.contains(*s)));
            for (key, seqs) in &self.planned {
                if count >= want || seqs.iter().any(|s| (in_hand.event)(*s)) {
                    continue;
                }
                let members: Vec<(i64, &Item)> = seqs
                    .iter()
                    .filter_map(|s| self.items.get(*s).map(|i| (*s, i)))
                    .collect();
                // The first event of each subject in the request must be that subject's head.
                let mut seen: HashSet<&Arc<str>> = HashSet::default();
                let turn = members.iter().all(|(s, item)| {
                    !seen.insert(&item.subject)
                        || self.subjects.get(&item.subject).and_then(SeqRun::first) == Some(*s)
                });
                if !turn
                    || seen
                        .iter()
                        .any(|s| taken.contains(s) || (in_hand.subject)(s))
                {
                    continue;
                }
                taken.extend(seen);
                count += members.len();
                let events = members.iter().map(|(s, i)| sendable(*s, i)).collect();
                out.push(Ready::Planned {
                    key: key.clone(),
                    events,
                });
            }
        }
        // Each head brings the events behind it in its subject, as many as the request has
        // room for: a busy subject moves a run per request.
        let mut chunk: Vec<Sendable> = Vec::with_capacity(batch_max);
        for &(_, head) in &self.heads {
            if count >= want {
                break;
            }
            let Some(item) = self.items.get(head) else {
                continue;
            };
            if taken.contains(&item.subject)
                || (in_hand.subject)(&item.subject)
                || (in_hand.event)(head)
            {
                continue;
            }
            let Some(run) = self.subjects.get(&item.subject) else {
                continue;
            };
            for seq in run.from(head) {
                if chunk.len() == batch_max || (in_hand.event)(seq) {
                    break;
                }
                if let Some(i) = self.items.get(seq) {
                    chunk.push(sendable(seq, i));
                    count += 1;
                }
            }
            if chunk.len() == batch_max {
                out.push(Ready::Fresh(std::mem::take(&mut chunk)));
            }
        }
        if !chunk.is_empty() {
            out.push(Ready::Fresh(chunk));
        }
        out
    }
}

/// Reads what `ask` asks for, on a read connection, in one snapshot.
pub(super) fn fill(conn: &Connection, sink: &str, ask: FillAsk) -> rusqlite::Result<Filled> {
    let snapshot = conn.unchecked_transaction()?;
    let newest = log::newest(conn)?;
    let mut items = Vec::new();
    let (after, loaded, skip) = if ask.reload {
        let cursor = log::cursor(conn, sink)?;
        let mut skip = log::exception_seqs(conn, sink, cursor)?;
        skip.extend(log::delivered_above(conn, sink, cursor)?);
        items = replayed(conn, sink)?;
        (cursor, Some((cursor, planned(conn, sink)?)), skip)
    } else {
        (ask.after, None, log::exception_seqs(conn, sink, ask.after)?)
    };
    let (mut room, mut bytes) = (ask.room_events, ask.room_bytes);
    // An event larger than the window's byte budget still goes into an empty window, or the
    // sink would stop at it for good.
    let mut any_size = ask.empty;
    let mut scanned = after;
    let mut truncated = false;
    if newest > after {
        log::scan(conn, after + 1, Some(sink), |record| {
            let Some(bit) = record.bit(sink) else {
                return Ok(true);
            };
            let created_ms = record.created_ms;
            for e in record.events.into_iter().filter(|e| e.seq > after) {
                if room == 0 || (bytes < e.body.len() && !any_size) {
                    truncated = true;
                    return Ok(false);
                }
                scanned = e.seq;
                if e.mask & bit == 0 || skip.contains(&e.seq) {
                    continue;
                }
                any_size = false;
                room -= 1;
                bytes = bytes.saturating_sub(e.body.len());
                items.push((e.seq, item(created_ms, e, false)));
            }
            Ok(true)
        })?;
    }
    if !truncated {
        scanned = scanned.max(newest);
    }
    snapshot.commit()?;
    Ok(Filled {
        ask,
        loaded,
        items,
        scanned,
    })
}

fn sendable(seq: i64, item: &Item) -> Sendable {
    Sendable {
        seq,
        id: item.id.clone(),
        subject: item.subject.clone(),
        created_ms: item.created_ms,
        body: item.body.clone(),
    }
}

fn item(created_ms: i64, e: StoredEvent, replayed: bool) -> Item {
    Item {
        id: e.id,
        subject: e.subject,
        priority: priority_of(&e.event_type),
        created_ms,
        body: e.body,
        replayed,
    }
}

/// Events of `sink` a replay put back, wherever they are in the log.
fn replayed(conn: &Connection, sink: &str) -> rusqlite::Result<Vec<(i64, Item)>> {
    let seqs: Vec<i64> = {
        let mut stmt = conn.prepare_cached(
            "SELECT seq FROM exceptions WHERE sink = ?1 AND state = 'pending' ORDER BY seq",
        )?;
        let rows = stmt.query_map([sink], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::with_capacity(seqs.len());
    let mut record: Option<Record> = None;
    for seq in seqs {
        if record.as_ref().is_none_or(|r| r.get(seq).is_none()) {
            record = log::record_of(conn, seq)?;
        }
        if let Some(r) = &record {
            if let Some(e) = r.get(seq) {
                out.push((seq, item(r.created_ms, e.clone(), true)));
            }
        }
    }
    Ok(out)
}

/// Requests planned for `sink` (key and members, ascending), oldest first.
fn planned(conn: &Connection, sink: &str) -> rusqlite::Result<Planned> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, seqs FROM requests WHERE sink = ?1 ORDER BY created_ms, key",
    )?;
    let rows = stmt.query_map(params![sink], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, seqs) = row?;
        // Written by the writer from a Vec<i64>; an unreadable plan is left for the members to
        // be read again one by one.
        if let Ok(seqs) = serde_json::from_str::<Vec<i64>>(&seqs) {
            if seqs.len() > 1 {
                out.push((key, seqs));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(subject: &str) -> Item {
        Item {
            id: Arc::from("id"),
            subject: Arc::from(subject),
            priority: 1,
            created_ms: 0,
            body: Arc::from("{}"),
            replayed: false,
        }
    }

    fn commits(last_seq: i64) -> Commits {
        Commits {
            last_seq,
            ..Commits::default()
        }
    }

    /// What a reload from an empty cursor brings: these items, the log read up to the last.
    fn reloaded(ask: FillAsk, items: Vec<(i64, Item)>) -> Filled {
        let scanned = items.last().map_or(0, |(s, _)| *s);
        Filled {
            ask,
            loaded: Some((0, Vec::new())),
            items,
            scanned,
        }
    }

    fn fresh(w: &mut Window) -> Vec<i64> {
        w.ready(100, 1, InHand::NOTHING)
            .into_iter()
            .flat_map(|r| match r {
                Ready::Fresh(events) | Ready::Planned { events, .. } => events,
            })
            .map(|e| e.seq)
            .collect()
    }

    /// A delivery recorded while a reload reads its snapshot is not brought back by it.
    #[test]
    fn a_reload_does_not_bring_back_what_was_delivered_meanwhile() {
        let mut w = Window::default();
        let ask = w.ask(commits(3)).expect("a first read");
        w.delivered("k", &[1], None, 0);
        assert!(w.merge(reloaded(
            ask,
            vec![(1, item("A")), (2, item("B")), (3, item("A"))]
        )));
        assert_eq!(fresh(&mut w), vec![2, 3], "3 is A's head now");
        assert!(w.ask(commits(3)).is_none(), "nothing new committed");
        assert!(w.ask(commits(4)).is_some(), "one more event");
    }

    /// An outcome whose progress was taken before a replay moves neither the durable cursor
    /// (the writer checks) nor the window's own, read again after the replay; and what it
    /// delivered before the replay is not kept out of the reload, which the replay may have
    /// put back.
    #[test]
    fn progress_from_before_a_replay_does_not_count() {
        let mut w = Window::default();
        let ask = w.ask(commits(2)).expect("a first read");
        assert!(w.merge(reloaded(ask, vec![(1, item("A")), (2, item("B"))])));
        let stale = w.progress(&[1, 2]).expect("loaded");
        assert_eq!((stale.cursor, stale.resets), (2, 0));
        let replayed = Commits {
            resets: 1,
            last_seq: 2,
            ..Commits::default()
        };
        let ask = w.ask(replayed).expect("a replay reloads");
        // The outcome was committed before the replay (resets 0 at its commit).
        w.delivered("k", &[1, 2], Some(&stale), 0);
        assert!(w.merge(reloaded(ask, vec![(1, item("A")), (2, item("B"))])));
        assert_eq!(fresh(&mut w), vec![1, 2], "both put back by the replay");
        w.delivered("k", &[], Some(&stale), 1);
        assert_eq!(w.progress(&[]).map(|p| p.cursor), Some(0));
    }

    /// Progress stops below the first event still open, and a dead letter takes its subject's
    /// later events out of the window.
    #[test]
    fn progress_stops_at_the_first_open_event() {
        let mut w = Window::default();
        let ask = w.ask(commits(4)).expect("a first read");
        let items = (1..=4).map(|s| (s, item(if s % 2 == 0 { "B" } else { "A" })));
        assert!(w.merge(reloaded(ask, items.collect())));
        assert_eq!(w.progress(&[2]).map(|p| p.cursor), Some(0));
        assert_eq!(w.progress(&[1]).map(|p| p.cursor), Some(1));
        w.dead(1, "A");
        assert_eq!(w.progress(&[2, 4]).map(|p| p.cursor), Some(4));
        assert_eq!(fresh(&mut w), vec![2]);
    }
}
