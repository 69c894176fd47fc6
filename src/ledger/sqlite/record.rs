//! Records of the log: consecutive events of one commit, encoded together and compressed as one
//! LZ4 block. Each event keeps its CloudEvents body as rendered at commit, so a sink sends it as
//! stored, and beside it the few fields the ledger routes and orders by.
//!
//! Layout before compression: the sinks the record's events go to (a count, then each name),
//! then per event its sink mask (bit `i` = the record's `i`-th sink), subject, type, id (16
//! bytes) and body; numbers are LEB128 varints, strings a varint length and the bytes.

use std::sync::Arc;

/// Most events per record: a sink decodes a whole record to read one of its events.
pub(super) const MAX_EVENTS: usize = 256;

/// Most sinks a record can route to (one bit each in the mask).
pub(super) const MAX_SINKS: usize = 64;

/// A record being filled by the writer in the current transaction.
#[derive(Debug)]
pub(super) struct RecordBuilder {
    pub first_seq: i64,
    pub count: usize,
    pub telemetry: bool,
    pub created_ms: i64,
    /// Sinks of this record, in the order of the mask bits, with how many events go to each.
    pub sinks: Vec<(Arc<str>, u32)>,
    /// Bytes of event data (the CloudEvents bodies), for status figures.
    pub bytes: u64,
    /// Which subjects its events have, as a Bloom filter ([`Subjects`]).
    pub subjects: Subjects,
    events: Vec<u8>,
}

/// One event as decoded from a record. The strings a sink's window keeps are shared, so a
/// window takes them as decoded.
#[derive(Debug, Clone)]
pub(super) struct StoredEvent {
    pub seq: i64,
    /// Bits of the record's sinks this event goes to.
    pub mask: u64,
    pub subject: Arc<str>,
    /// Shared between the events of a read: a record holds few types.
    pub event_type: Arc<str>,
    pub id: Arc<str>,
    pub body: Arc<str>,
}

/// A record read back: its sinks and its events.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub first_seq: i64,
    pub created_ms: i64,
    pub sinks: Vec<String>,
    pub events: Vec<StoredEvent>,
}

impl Record {
    /// Bit of `sink` in this record's masks, if any of its events go there.
    pub fn bit(&self, sink: &str) -> Option<u64> {
        self.sinks.iter().position(|s| s == sink).map(|i| 1u64 << i)
    }

    /// The event with sequence number `seq`, if it is in this record (and was decoded).
    pub fn get(&self, seq: i64) -> Option<&StoredEvent> {
        let i = self.events.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.events.get(i)
    }
}

impl RecordBuilder {
    pub fn new(first_seq: i64, telemetry: bool, created_ms: i64) -> Self {
        Self {
            first_seq,
            count: 0,
            telemetry,
            created_ms,
            sinks: Vec::new(),
            bytes: 0,
            subjects: Subjects::default(),
            events: Vec::with_capacity(16 * 1024),
        }
    }

    /// Whether an event of this class still goes into this record.
    pub fn takes(&self, telemetry: bool) -> bool {
        self.telemetry == telemetry && self.count < MAX_EVENTS
    }

    /// The mask bit of `sink`, adding it to the record; `None` when the record already has
    /// [`MAX_SINKS`] others (the configuration allows no more).
    pub fn bit(&mut self, sink: &Arc<str>) -> Option<u64> {
        let i = match self.sinks.iter().position(|(s, _)| s == sink) {
            Some(i) => i,
            None if self.sinks.len() < MAX_SINKS => {
                self.sinks.push((sink.clone(), 0));
                self.sinks.len() - 1
            }
            None => return None,
        };
        self.sinks[i].1 += 1;
        Some(1u64 << i)
    }

    /// Appends an event (its sequence number is `first_seq + count`).
    pub fn push(
        &mut self,
        mask: u64,
        subject: &str,
        event_type: &str,
        id: &uuid::Uuid,
        body: &str,
    ) {
        put_varint(&mut self.events, mask);
        put_str(&mut self.events, subject);
        put_str(&mut self.events, event_type);
        self.events.extend_from_slice(id.as_bytes());
        put_str(&mut self.events, body);
        self.bytes += body.len() as u64;
        self.subjects.insert(subject);
        self.count += 1;
    }

    pub fn last_seq(&self) -> i64 {
        self.first_seq + self.count as i64 - 1
    }

    /// `name=count` per sink, space-separated: what status counts without decoding the body.
    pub fn sink_counts(&self) -> String {
        let mut out = String::new();
        for (name, n) in &self.sinks {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(name);
            out.push('=');
            out.push_str(&n.to_string());
        }
        out
    }

    /// The compressed body of the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.events.len() + 64);
        put_varint(&mut raw, self.sinks.len() as u64);
        for (name, _) in &self.sinks {
            put_str(&mut raw, name);
        }
        raw.extend_from_slice(&self.events);
        lz4_flex::block::compress_prepend_size(&raw)
    }
}

/// The subjects of a record's events as a Bloom filter of 1,024 bits, three per subject: what
/// lets a dead letter's hold on its subject skip the records that cannot hold it (a record of
/// 100 distinct subjects lets about one other subject in sixty through, one of 256 about one
/// in seven). The hash is FNV-1a, written
/// here, because the filter is stored and must read the same in every build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Subjects([u64; 16]);

impl Subjects {
    /// Bytes as stored.
    pub const BYTES: usize = 128;

    fn bits(subject: &str) -> [usize; 3] {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in subject.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        [
            h as usize & 1023,
            (h >> 20) as usize & 1023,
            (h >> 40) as usize & 1023,
        ]
    }

    pub fn insert(&mut self, subject: &str) {
        for bit in Self::bits(subject) {
            self.0[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only when no event of the record has this subject.
    pub fn may_hold(&self, subject: &str) -> bool {
        Self::bits(subject)
            .iter()
            .all(|bit| self.0[bit / 64] & (1 << (bit % 64)) != 0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// `None` when the bytes are not a stored filter.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let mut words = [0u64; 16];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(Self(words))
    }
}

/// Parses `name=count ...` as written by [`RecordBuilder::sink_counts`].
pub(super) fn parse_sink_counts(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.split(' ').filter_map(|pair| {
        let (name, n) = pair.split_once('=')?;
        Some((name, n.parse().ok()?))
    })
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("log record at sequence {first_seq} is unreadable: {why}")]
pub(super) struct Unreadable {
    pub first_seq: i64,
    pub why: &'static str,
}

impl Unreadable {
    pub fn into_sqlite(self) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(self))
    }
}

/// Decodes a record stored at `first_seq`.
pub(super) fn decode(first_seq: i64, created_ms: i64, blob: &[u8]) -> Result<Record, Unreadable> {
    decode_part(first_seq, created_ms, blob, i64::MIN, None)
}

/// Decodes the events of a record from `from` on, of `sink` only when given; the others are
/// stepped over without being copied out (a sink reading one event of a record, or the events
/// of one of several sinks, does not pay for the rest).
pub(super) fn decode_part(
    first_seq: i64,
    created_ms: i64,
    blob: &[u8],
    from: i64,
    sink: Option<&str>,
) -> Result<Record, Unreadable> {
    let bad = |why| Unreadable { first_seq, why };
    let raw = lz4_flex::block::decompress_size_prepended(blob).map_err(|_| bad("not LZ4"))?;
    let mut r = Reader { buf: &raw, at: 0 };
    let n_sinks = r.varint().ok_or(bad("truncated sinks"))? as usize;
    if n_sinks > MAX_SINKS {
        return Err(bad("too many sinks"));
    }
    let mut sinks = Vec::with_capacity(n_sinks);
    for _ in 0..n_sinks {
        sinks.push(r.string().ok_or(bad("bad sink name"))?);
    }
    // Without a sink every event is kept, also one that no sink takes (mask 0); with one, no
    // bit at all when the sink has no event here, so nothing is kept.
    let wanted = sink.map(|s| sinks.iter().position(|n| n == s).map_or(0, |i| 1u64 << i));
    let mut events = Vec::new();
    let mut types: Vec<Arc<str>> = Vec::new();
    let mut seq = first_seq;
    while r.at < raw.len() {
        let mask = r.varint().ok_or(bad("truncated mask"))?;
        if seq < from || wanted.is_some_and(|w| mask & w == 0) {
            for _ in 0..2 {
                r.skip_str().ok_or(bad("truncated event"))?;
            }
            r.bytes(16).ok_or(bad("truncated id"))?;
            r.skip_str().ok_or(bad("truncated body"))?;
            seq += 1;
            continue;
        }
        let subject = Arc::from(r.str().ok_or(bad("bad subject"))?);
        let event_type = r.str().ok_or(bad("bad type"))?;
        let event_type = match types.iter().find(|t| ***t == *event_type) {
            Some(t) => t.clone(),
            None => {
                let t: Arc<str> = Arc::from(event_type);
                if types.len() < 32 {
                    types.push(t.clone());
                }
                t
            }
        };
        let id = r.bytes(16).ok_or(bad("truncated id"))?;
        let id = uuid::Uuid::from_slice(id).map_err(|_| bad("bad id"))?;
        let id = Arc::from(
            &*id.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
        let body = Arc::from(r.str().ok_or(bad("bad body"))?);
        events.push(StoredEvent {
            seq,
            mask,
            subject,
            event_type,
            id,
            body,
        });
        seq += 1;
    }
    Ok(Record {
        first_seq,
        created_ms,
        sinks,
        events,
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.buf.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn string(&mut self) -> Option<String> {
        self.str().map(str::to_owned)
    }

    fn skip_str(&mut self) -> Option<()> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n).map(|_| ())
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.varint()?).ok()?;
        let end = self.at.checked_add(n)?;
        let bytes = self.buf.get(self.at..end)?;
        self.at = end;
        // SIMD validation: every body read back passes through here.
        simdutf8::basic::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let erp: Arc<str> = Arc::from("erp");
        let crm: Arc<str> = Arc::from("crm");
        let mut b = RecordBuilder::new(41, false, 7);
        let ids = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
        let m = b.bit(&erp).unwrap() | b.bit(&crm).unwrap();
        b.push(m, "ORD-1", "pick.confirmed", &ids[0], "{\"a\":1}");
        let m = b.bit(&crm).unwrap();
        b.push(m, "ORD-2", "pack.closed", &ids[1], "{\"b\":\"é\"}");
        assert_eq!(b.last_seq(), 42);
        assert_eq!(b.sink_counts(), "erp=1 crm=2");
        let r = decode(41, 7, &b.encode()).unwrap();
        assert_eq!(r.sinks, vec!["erp", "crm"]);
        let e = r.get(42).unwrap();
        assert_eq!((&*e.subject, &*e.body), ("ORD-2", "{\"b\":\"é\"}"));
        assert_eq!(&*e.id, ids[1].to_string());
        assert_eq!(e.mask & r.bit("erp").unwrap(), 0);
        assert_ne!(e.mask & r.bit("crm").unwrap(), 0);
        assert!(r.get(43).is_none() && r.get(40).is_none());
        let text = b.sink_counts();
        let counts: Vec<_> = parse_sink_counts(&text).collect();
        assert_eq!(counts, vec![("erp", 1), ("crm", 2)]);
        assert!(decode(41, 7, b"garbage").is_err());
        let stored = Subjects::from_bytes(&b.subjects.to_bytes()).unwrap();
        assert!(stored.may_hold("ORD-1") && stored.may_hold("ORD-2"));
        let misses = (0..1000)
            .filter(|i| stored.may_hold(&format!("SO-{i}")))
            .count();
        assert!(
            misses < 5,
            "{misses} of 1000 other subjects pass the filter"
        );
    }
}
