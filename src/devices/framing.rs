//! Line framing of a serial scanner's byte stream: a pure state machine that never fails.
//!
//! `tokio-util`'s `FramedRead` ends the stream at the first decoder error (reliability.md §0),
//! so a single overlong line would silence a scanner for good. [`Framer`] instead turns every
//! problem into a value: an overlong line becomes one [`FramedLine::Rejected`], the rest of that
//! line is skipped without being buffered, and framing resumes with the next line.
//!
//! - Terminators: `cr`, `lf`, `crlf`, `any` (CR, LF or CRLF; the LF of a CRLF never makes an
//!   extra line, even when it arrives in a later read) or any other string taken as its exact
//!   bytes. A multi-byte terminator may be split across reads.
//! - Bytes stay bytes: invalid UTF-8, NUL, GS (0x1D) and other control bytes are kept for the
//!   decoder.
//! - `max_line` bounds the line as received (prefix and suffix included, terminator excluded);
//!   the framer never holds more than `max_line` plus the terminator's length.
//! - Empty lines (also lines holding nothing but the prefix and suffix) are skipped.
//! - The prefix and suffix are removed only where they are actually present.

use crate::config::DeviceConfig;

/// Reason given for a line longer than `max_line`.
pub const REASON_OVERLONG: &str = "overlong_line";

/// What the framer produced from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramedLine {
    /// A complete scan: terminator, prefix and suffix removed.
    Scan(Vec<u8>),
    /// A line that was dropped; `bytes` holds at most the first `max_line` bytes of it, as
    /// received.
    Rejected {
        /// Why, e.g. [`REASON_OVERLONG`].
        reason: &'static str,
        /// The start of the line, at most `max_line` bytes.
        bytes: Vec<u8>,
    },
}

/// What ends a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminator {
    /// CR, LF or CRLF.
    Any,
    /// An exact byte sequence: `cr` = `\r`, `lf` = `\n`, `crlf` = `\r\n`, or a custom string.
    Exact(Vec<u8>),
}

impl Terminator {
    /// Reads the configuration value: `cr`, `lf`, `crlf`, `any`, else the string's bytes. An
    /// empty string (refused by config validation) falls back to `any`.
    pub fn parse(s: &str) -> Self {
        match s {
            "cr" => Self::Exact(b"\r".to_vec()),
            "lf" => Self::Exact(b"\n".to_vec()),
            "crlf" => Self::Exact(b"\r\n".to_vec()),
            "any" | "" => Self::Any,
            custom => Self::Exact(custom.as_bytes().to_vec()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Any => 1,
            Self::Exact(seq) => seq.len(),
        }
    }
}

/// Splits a byte stream into scans; see the module documentation.
#[derive(Debug, Clone)]
pub struct Framer {
    terminator: Terminator,
    /// KMP failure function of an exact terminator: `fail[i]` is the length of the longest
    /// proper border of `seq[..=i]`.
    fail: Vec<usize>,
    /// Exact terminator: how many of its bytes end the stream so far (longest match).
    matched: usize,
    /// `any`: the last byte was a CR that ended a line, so an LF right after it is its pair.
    after_cr: bool,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    max_line: usize,
    /// The line so far (for an exact terminator, including its partly matched bytes).
    line: Vec<u8>,
    /// Skipping the rest of an overlong line up to the next terminator.
    discarding: bool,
}

impl Framer {
    /// A framer for `terminator` (as in the configuration), an optional prefix and suffix and
    /// the longest line accepted, in bytes.
    pub fn new(
        terminator: &str,
        prefix: Option<&str>,
        suffix: Option<&str>,
        max_line: usize,
    ) -> Self {
        let terminator = Terminator::parse(terminator);
        let fail = match &terminator {
            Terminator::Exact(seq) => failure_function(seq),
            Terminator::Any => Vec::new(),
        };
        let capacity = max_line.saturating_add(terminator.len());
        Self {
            terminator,
            fail,
            matched: 0,
            after_cr: false,
            prefix: prefix.map(|p| p.as_bytes().to_vec()).unwrap_or_default(),
            suffix: suffix.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
            max_line,
            // The line never grows past this (see `push_exact`), so it never reallocates.
            line: Vec::with_capacity(capacity),
            discarding: false,
        }
    }

    /// A framer for a serial device's `terminator`, `prefix`, `suffix` and `max_line`.
    pub fn from_config(config: &DeviceConfig) -> Self {
        Self::new(
            &config.terminator,
            config.prefix.as_deref(),
            config.suffix.as_deref(),
            config.max_line,
        )
    }

    /// Frames `bytes`, appending every finished scan or rejection to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<FramedLine>) {
        match self.terminator {
            Terminator::Any => self.push_any(bytes, out),
            Terminator::Exact(_) => self.push_exact(bytes, out),
        }
    }

    /// Forgets the partial line (the device went away mid-line: it must not become a scan) and
    /// any pending terminator state. Returns how many buffered bytes were dropped.
    pub fn discard_partial(&mut self) -> usize {
        let dropped = self.line.len();
        self.line.clear();
        self.matched = 0;
        self.after_cr = false;
        self.discarding = false;
        dropped
    }

    /// Bytes held for the current partial line.
    pub fn buffered(&self) -> usize {
        self.line.len()
    }

    /// Capacity of the line buffer (bounded by `max_line` plus the terminator's length).
    pub fn buffer_capacity(&self) -> usize {
        self.line.capacity()
    }

    /// Whether the framer is skipping the rest of an overlong line.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    fn push_any(&mut self, bytes: &[u8], out: &mut Vec<FramedLine>) {
        for &b in bytes {
            match b {
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                b'\n' => {
                    if self.after_cr {
                        // The LF of a CRLF: its line already ended at the CR.
                        self.after_cr = false;
                    } else {
                        self.end_line(out);
                    }
                }
                _ => {
                    self.after_cr = false;
                    if !self.discarding {
                        self.line.push(b);
                        if self.line.len() > self.max_line {
                            self.reject_overlong(out);
                        }
                    }
                }
            }
        }
    }

    fn push_exact(&mut self, bytes: &[u8], out: &mut Vec<FramedLine>) {
        // Taken out for the loop (so `self` can be borrowed mutably) and put back after it.
        let Terminator::Exact(seq) = std::mem::replace(&mut self.terminator, Terminator::Any)
        else {
            return;
        };
        let tlen = seq.len();
        for &b in bytes {
            // Knuth-Morris-Pratt step: the longest prefix of the terminator ending here.
            while self.matched > 0 && seq[self.matched] != b {
                self.matched = self.fail[self.matched - 1];
            }
            if seq[self.matched] == b {
                self.matched += 1;
            }
            if !self.discarding {
                self.line.push(b);
            }
            if self.matched == tlen {
                self.matched = 0;
                if self.discarding {
                    self.discarding = false;
                } else {
                    let end = self.line.len().saturating_sub(tlen);
                    self.line.truncate(end);
                    self.finish_line(out);
                }
            } else if !self.discarding && self.line.len() - self.matched > self.max_line {
                // `len - matched` bytes are certainly line content (the rest may still turn
                // out to be the terminator), so the line is longer than allowed. The buffer
                // therefore never exceeds `max_line + tlen` bytes.
                self.reject_overlong(out);
            }
        }
        self.terminator = Terminator::Exact(seq);
    }

    /// A terminator: ends the line, or ends the skipping of an overlong one.
    fn end_line(&mut self, out: &mut Vec<FramedLine>) {
        if self.discarding {
            self.discarding = false;
        } else {
            self.finish_line(out);
        }
    }

    fn finish_line(&mut self, out: &mut Vec<FramedLine>) {
        let mut scan: &[u8] = &self.line;
        if !self.prefix.is_empty() && scan.starts_with(&self.prefix) {
            scan = &scan[self.prefix.len()..];
        }
        if !self.suffix.is_empty() && scan.ends_with(&self.suffix) {
            scan = &scan[..scan.len() - self.suffix.len()];
        }
        if !scan.is_empty() {
            out.push(FramedLine::Scan(scan.to_vec()));
        }
        self.line.clear();
    }

    fn reject_overlong(&mut self, out: &mut Vec<FramedLine>) {
        let keep = self.line.len().min(self.max_line);
        out.push(FramedLine::Rejected {
            reason: REASON_OVERLONG,
            bytes: self.line[..keep].to_vec(),
        });
        self.line.clear();
        self.discarding = true;
    }
}

fn failure_function(seq: &[u8]) -> Vec<usize> {
    let mut fail = vec![0; seq.len()];
    let mut k = 0;
    for i in 1..seq.len() {
        while k > 0 && seq[i] != seq[k] {
            k = fail[k - 1];
        }
        if seq[i] == seq[k] {
            k += 1;
        }
        fail[i] = k;
    }
    fail
}

#[cfg(test)]
mod tests;
