//! The closing tally: what the stand-ins received against what the ledger committed, event by
//! event. Clean means: every input sent was read; the events made are those the script
//! expects; every event committed for a sink reached its receiver exactly once, in order per
//! subject; nothing is waiting, dead or unknown.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::daemon::{EventView, RejectedView};
use super::progress::clock;
use super::standins::Book;

/// One sink's comparison.
#[derive(Debug, Default)]
pub struct SinkTally {
    /// Sink name.
    pub name: String,
    /// Events the ledger committed for it.
    pub committed: usize,
    /// Of those, received by its stand-in.
    pub received: usize,
    /// Committed, marked delivered or dead, and never received.
    pub lost: usize,
    /// Committed and still waiting (pending, held).
    pub waiting: usize,
    /// Dead letters.
    pub dead: usize,
    /// Events the stand-in took more than once.
    pub duplicates: u64,
    /// Requests under a key the stand-in had accepted before.
    pub repeated_keys: u64,
    /// Events the stand-in took that the ledger has not for this sink.
    pub unknown: usize,
    /// Events out of order per subject.
    pub out_of_order: Vec<String>,
    /// Bodies that were not CloudEvents.
    pub malformed: Vec<String>,
    /// Requests answered 503.
    pub refused: u64,
}

impl SinkTally {
    /// Compares the ledger's `rows` for sink `name` with its stand-in's `book`.
    pub fn of(name: &str, rows: &[EventView], book: &Book) -> SinkTally {
        let mut t = SinkTally {
            name: name.to_owned(),
            committed: rows.len(),
            duplicates: book.duplicates,
            repeated_keys: book.repeated_keys,
            out_of_order: book.out_of_order.clone(),
            malformed: book.malformed.clone(),
            refused: book.refused,
            ..SinkTally::default()
        };
        for row in rows {
            if row.state == "dead" {
                t.dead += 1;
            }
            if book.accepted.contains_key(&row.id) {
                t.received += 1;
            } else if matches!(row.state.as_str(), "pending" | "held") {
                t.waiting += 1;
            } else {
                t.lost += 1;
            }
        }
        let committed: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.id.as_str()).collect();
        t.unknown = book
            .accepted
            .keys()
            .filter(|id| !committed.contains(id.as_str()))
            .count();
        t
    }

    fn line(&self) -> String {
        format!(
            "{:<8}committed {} · received {} · lost {} · duplicates {} · waiting {} · dead {} · {}{}",
            self.name,
            self.committed,
            self.received,
            self.lost,
            self.duplicates,
            self.waiting,
            self.dead,
            if self.out_of_order.is_empty() {
                "in order"
            } else {
                "OUT OF ORDER"
            },
            // A repeated request is no duplicate in itself; worth saying when there was one.
            if self.repeated_keys > 0 {
                format!(" · {} requests repeated a key", self.repeated_keys)
            } else {
                String::new()
            }
        )
    }

    fn problems(&self, out: &mut Vec<String>) {
        let n = &self.name;
        if self.lost > 0 {
            out.push(format!(
                "{n}: {} events committed and never received",
                self.lost
            ));
        }
        if self.duplicates > 0 {
            out.push(format!("{n}: {} events received twice", self.duplicates));
        }
        if self.waiting > 0 {
            out.push(format!(
                "{n}: {} events still waiting in the buffer (not delivered yet)",
                self.waiting
            ));
        }
        if self.dead > 0 {
            out.push(format!("{n}: {} dead letters", self.dead));
        }
        if self.unknown > 0 {
            out.push(format!(
                "{n}: received {} events the ledger does not have for it",
                self.unknown
            ));
        }
        if let Some(first) = self.out_of_order.first() {
            out.push(format!(
                "{n}: {} events out of order, first {first}",
                self.out_of_order.len()
            ));
        }
        if let Some(first) = self.malformed.first() {
            out.push(format!(
                "{n}: {} requests not CloudEvents, first: {first}",
                self.malformed.len()
            ));
        }
    }
}

/// The ERP's outage, as the demo saw it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outage {
    /// When it began and ended, from the shift's start.
    pub from: Duration,
    pub to: Option<Duration>,
    /// The ERP's largest backlog from its start on.
    pub peak: u64,
}

/// The whole tally.
#[derive(Debug, Default)]
pub struct Tally {
    /// How long the demo ran.
    pub elapsed: Duration,
    /// Ended by Ctrl-C.
    pub interrupted: bool,
    /// Inputs sent on serial lines and over HTTP.
    pub sent_serial: u64,
    pub sent_http: u64,
    /// Inputs the daemon read.
    pub read: u64,
    /// The quarantined inputs.
    pub rejected: Vec<RejectedView>,
    /// Events the ledger committed, by type.
    pub made: BTreeMap<String, usize>,
    /// Events the script's inputs should make, by type.
    pub expected: BTreeMap<String, usize>,
    /// Each sink.
    pub sinks: Vec<SinkTally>,
    /// The ERP's outage, if it began.
    pub outage: Option<Outage>,
    /// Problems found beside the comparison (the daemon's stop, say).
    pub other: Vec<String>,
}

impl Tally {
    /// Counts the events of the sinks' `rows` by type, each event once.
    pub fn count_made(&mut self, rows: &[&[EventView]]) {
        let mut types: HashMap<&str, &str> = HashMap::new();
        for row in rows.iter().flat_map(|r| r.iter()) {
            types.insert(&row.id, &row.event_type);
        }
        self.made.clear();
        for t in types.into_values() {
            *self.made.entry(t.to_owned()).or_default() += 1;
        }
    }

    /// What is not clean; empty when everything is.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let sent = self.sent_serial + self.sent_http;
        if self.read != sent {
            out.push(format!(
                "{sent} inputs sent, {} read by the daemon",
                self.read
            ));
        }
        if self.made != self.expected {
            let mut types: Vec<&String> = self.made.keys().chain(self.expected.keys()).collect();
            types.sort();
            types.dedup();
            for t in types {
                let (m, e) = (
                    self.made.get(t).copied().unwrap_or(0),
                    self.expected.get(t).copied().unwrap_or(0),
                );
                if m != e {
                    out.push(format!("{m} {t} made, the script expects {e}"));
                }
            }
        }
        for s in &self.sinks {
            s.problems(&mut out);
        }
        out.extend(self.other.iter().cloned());
        out
    }

    /// The tally, as printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "Tally after {}{}",
            clock(self.elapsed),
            if self.interrupted {
                " (interrupted by Ctrl-C)"
            } else {
                ""
            }
        ));
        let reasons: Vec<String> = self
            .rejected
            .iter()
            .map(|r| format!("{} {}", r.device, r.reason))
            .collect();
        line(format!(
            "  inputs  sent {} ({} serial, {} HTTP) · read {} · rejected {}{}",
            self.sent_serial + self.sent_http,
            self.sent_serial,
            self.sent_http,
            self.read,
            self.rejected.len(),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({}, quarantined)", reasons.join(", "))
            }
        ));
        let made: usize = self.made.values().sum();
        line(format!(
            "  events  made {made}{}",
            if self.made == self.expected {
                ", as the script expects"
            } else {
                ", NOT what the script expects"
            }
        ));
        let mut row = String::from("         ");
        for (t, n) in &self.made {
            let item = format!(" {t} {n}");
            if row.len() + item.len() > 96 {
                line(std::mem::replace(&mut row, String::from("         ")));
            }
            row.push_str(&item);
        }
        if !self.made.is_empty() {
            line(row);
        }
        for s in &self.sinks {
            line(format!("  {}", s.line()));
        }
        if let Some(o) = &self.outage {
            let refused = self
                .sinks
                .iter()
                .find(|s| s.name == "erp")
                .map_or(0, |s| s.refused);
            line(format!(
                "  outage  the ERP was down {} to {}, answered 503 to {refused} requests; its backlog peaked at {}",
                clock(o.from),
                o.to.map_or_else(|| "the end".to_owned(), clock),
                o.peak
            ));
        }
        let problems = self.problems();
        let lost: usize = self.sinks.iter().map(|s| s.lost).sum();
        let duplicates: u64 = self.sinks.iter().map(|s| s.duplicates).sum();
        if problems.is_empty() {
            line(format!("  result  lost {lost}, duplicates {duplicates}"));
            line(
                "          every event committed for a sink reached it exactly once, in order per subject"
                    .into(),
            );
        } else {
            line(format!(
                "  result  NOT CLEAN (lost {lost}, duplicates {duplicates}):"
            ));
            for p in problems {
                line(format!("          - {p}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: &str) -> EventView {
        EventView {
            id: id.into(),
            event_type: "pick.confirmed".into(),
            state: state.into(),
        }
    }

    fn book_of(ids: &[&str]) -> Book {
        let body: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                serde_json::json!({"id": id, "subject": "SO-1", "type": "pick.confirmed",
                    "sequence": (i + 1).to_string()})
            })
            .collect();
        let mut book = Book::default();
        assert_eq!(
            book.take(None, &serde_json::to_vec(&body).unwrap()),
            Ok(ids.len())
        );
        book
    }

    #[test]
    fn a_clean_sink_and_an_unclean_one() {
        let rows = [row("a", "delivered"), row("b", "delivered")];
        let clean = SinkTally::of("erp", &rows, &book_of(&["a", "b"]));
        let mut found = Vec::new();
        clean.problems(&mut found);
        assert!(found.is_empty(), "{found:?}");
        assert!(clean
            .line()
            .contains("committed 2 · received 2 · lost 0 · duplicates 0"));

        let rows = [
            row("a", "delivered"),
            row("b", "delivered"),
            row("c", "pending"),
        ];
        let bad = SinkTally::of("crm", &rows, &book_of(&["a", "x"]));
        assert_eq!(
            (bad.received, bad.lost, bad.waiting, bad.unknown),
            (1, 1, 1, 1)
        );
        let mut tally = Tally {
            sent_serial: 3,
            read: 3,
            sinks: vec![bad],
            ..Tally::default()
        };
        tally.count_made(&[&rows]);
        tally.expected = tally.made.clone();
        let text = tally.render();
        assert!(text.contains("NOT CLEAN (lost 1, duplicates 0)"), "{text}");
        assert!(text.contains("never received"), "{text}");
        assert!(text.contains("still waiting"), "{text}");
    }
}
