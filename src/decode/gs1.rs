//! GS1 element strings: `01095060001343521725123110ABC123` as a scanner sends it after `]C1`.
//!
//! Receives the message text (no AIM prefix, FNC1 separators as ASCII GS 0x1D) or the
//! bracketed human-readable form `(01)09506000134352(17)251231`, and emits one [`Span`] per
//! element string plus every problem found. Three passes, each usable on its own so that the
//! Digital Link parser can share the last two:
//!
//! 1. split the message into elements ([`parse_unbracketed`], [`parse_bracketed`]);
//! 2. check each value against its AI's format ([`check_value`]): length, character set,
//!    check digit, date, and the other content checks of the syntax dictionary;
//! 3. check the message as a whole ([`check_message`]): repeated AIs carry one value, the
//!    `req=` pairings are present and the `ex=` exclusions absent.
//!
//! This file holds the first pass; the checks of the other two (formats, check digits,
//! dates and the other content checks, message rules) live in `gs1/checks.rs` and are
//! re-exported here. Nothing here allocates on the success path except the caller's output
//! vector.

mod checks;

pub use checks::{
    century_year, check_digit_ok, check_message, check_value, days_in_month, implied_decimal,
    is_cset82, measure_decimals, mod10, needs_separator, parse_yymmdd,
};

use super::gs1_table::{AiDef, AIS, BY_PREFIX};
use super::DecodeError;

/// ASCII group separator: how a reader transmits FNC1 in any position but the first.
pub const GS: u8 = 0x1d;

/// Value length of the predefined-length AIs, indexed by the AI's first two digits; 0 where
/// the AI needs a separator unless it ends the message. These prefixes were fixed by the GS1
/// General Specifications once and for all (figure "element strings with predefined length
/// using AIs"), independently of which AIs are assigned: `00` 18, `01`-`03` 14, `04` 16,
/// `11`-`19` 6, `20` 2, `31`-`36` 6 (after a four-digit AI), `41` 13 (after a three-digit AI).
pub const PREDEFINED_LEN: [u8; 100] = predefined_len_table();

const fn predefined_len_table() -> [u8; 100] {
    let mut t = [0u8; 100];
    t[0] = 18;
    t[1] = 14;
    t[2] = 14;
    t[3] = 14;
    t[4] = 16;
    let mut i = 11;
    while i <= 19 {
        t[i] = 6;
        i += 1;
    }
    t[20] = 2;
    i = 31;
    while i <= 36 {
        t[i] = 6;
        i += 1;
    }
    t[41] = 13;
    t
}

/// One element string found in a message: its AI and where its value lies in the text the
/// parser was given (byte offsets).
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// The AI's table row.
    pub def: &'static AiDef,
    /// Start of the value (byte offset).
    pub start: u32,
    /// End of the value (byte offset, exclusive).
    pub end: u32,
    /// The value passed its own checks (format, check digit, date); message-level problems
    /// (pairing) do not clear it.
    pub ok: bool,
}

impl Span {
    /// The value, cut from the text the span was made from.
    pub fn value<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }
}

/// The table row of an AI given exactly (`"01"`, `"3103"`), if GS1 assigned it.
pub fn lookup(ai: &str) -> Option<&'static AiDef> {
    let b = ai.as_bytes();
    if b.len() < 2 || b.len() > 4 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (start, end, len) = BY_PREFIX[prefix_index(b)];
    if usize::from(len) != b.len() {
        return None;
    }
    let rows = AIS.get(usize::from(start)..usize::from(end))?;
    let i = rows.binary_search_by(|d| d.ai.as_bytes().cmp(b)).ok()?;
    rows.get(i)
}

/// Index of the first two bytes (both ASCII digits) as a number 0..=99.
fn prefix_index(b: &[u8]) -> usize {
    usize::from(b[0] - b'0') * 10 + usize::from(b[1] - b'0')
}

/// The AI at the start of `data`: its length follows from its first two digits.
fn ai_at(data: &str) -> Result<&'static AiDef, DecodeError> {
    let b = data.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_digit() || !b[1].is_ascii_digit() {
        return Err(DecodeError::NotAnAi {
            found: excerpt(data, 4),
        });
    }
    let len = usize::from(BY_PREFIX[prefix_index(b)].2);
    if len == 0 {
        return Err(DecodeError::UnknownAi {
            ai: excerpt(data, 2),
        });
    }
    if b.len() < len || !b[..len].iter().all(u8::is_ascii_digit) {
        return Err(DecodeError::UnknownAi {
            ai: excerpt(data, len),
        });
    }
    // `len` ASCII digits, so the slice ends on a character boundary.
    let ai = data.get(..len).unwrap_or(data);
    lookup(ai).ok_or_else(|| DecodeError::UnknownAi { ai: ai.to_owned() })
}

/// The first `n` characters of `s`, for error messages.
fn excerpt(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// What [`parse_unbracketed`] and [`parse_bracketed`] learned about the message's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The first element string had a known AI and a value of the right length and
    /// character set: the text looks like GS1 data even if later parts are broken.
    pub first_well_formed: bool,
}

/// Splits an element string message (FNC1 as GS; no leading FNC1, no AIM prefix) into
/// elements and checks each value. Variable-length values run to the next GS or the end
/// (greedy, as the General Specifications require); predefined-length values take exactly
/// their length, and a GS after them is tolerated.
pub fn parse_unbracketed(
    data: &str,
    today_year: i32,
    out: &mut Vec<Span>,
    errors: &mut Vec<DecodeError>,
) -> Shape {
    let b = data.as_bytes();
    let mut shape = Shape {
        first_well_formed: false,
    };
    if b.is_empty() {
        errors.push(DecodeError::Empty);
        return shape;
    }
    let mut p = 0usize;
    let mut first = true;
    while p < b.len() {
        if b[p] == GS {
            errors.push(DecodeError::UnexpectedSeparator { pos: p });
            p += 1;
            first = false;
            continue;
        }
        let rest = data.get(p..).unwrap_or("");
        let def = match ai_at(rest) {
            Ok(def) => def,
            Err(e) => {
                errors.push(e);
                return shape;
            }
        };
        let vstart = p + def.ai.len();
        let run_end = b[vstart..]
            .iter()
            .position(|&c| c == GS)
            .map_or(b.len(), |i| vstart + i);
        let fixed = usize::from(PREDEFINED_LEN[prefix_index(def.ai.as_bytes())]);
        let mut vend = if fixed > 0 {
            (vstart + fixed).min(run_end)
        } else {
            run_end
        };
        // A fixed-length cut can land inside a multi-byte character: take the whole
        // character, the character-set check reports it.
        while !data.is_char_boundary(vend) {
            vend += 1;
        }
        let value = data.get(vstart..vend).unwrap_or("");
        let result = check_value(def, value, today_year);
        let well_formed = match &result {
            Ok(()) => true,
            Err(e) => !e.is_structural(),
        };
        if first {
            shape.first_well_formed = well_formed;
            first = false;
        }
        out.push(Span {
            def,
            start: vstart as u32,
            end: vend as u32,
            ok: result.is_ok(),
        });
        if let Err(e) = result {
            errors.push(e);
        }
        p = vend;
        if p < b.len() && b[p] == GS {
            p += 1;
        }
    }
    shape
}

/// Splits the bracketed human-readable form, `(01)09506000134352(10)AB1`, which scanners send
/// in "HRI" output mode, and checks each value. A value runs to the next `(` that opens a
/// bracketed AI (two to four digits and `)`), or to the end.
pub fn parse_bracketed(
    data: &str,
    today_year: i32,
    out: &mut Vec<Span>,
    errors: &mut Vec<DecodeError>,
) -> Shape {
    let b = data.as_bytes();
    let mut shape = Shape {
        first_well_formed: false,
    };
    let mut p = 0usize;
    let mut first = true;
    while p < b.len() {
        let Some(ai_len) = bracketed_ai_at(&b[p..]) else {
            errors.push(DecodeError::NotAnAi {
                found: excerpt(data.get(p..).unwrap_or(""), 6),
            });
            return shape;
        };
        let ai = data.get(p + 1..p + 1 + ai_len).unwrap_or("");
        let Some(def) = lookup(ai) else {
            errors.push(DecodeError::UnknownAi { ai: ai.to_owned() });
            return shape;
        };
        let vstart = p + ai_len + 2;
        let mut vend = vstart;
        while vend < b.len() && !(b[vend] == b'(' && bracketed_ai_at(&b[vend..]).is_some()) {
            vend += 1;
        }
        let value = data.get(vstart..vend).unwrap_or("");
        let result = check_value(def, value, today_year);
        if first {
            shape.first_well_formed = match &result {
                Ok(()) => true,
                Err(e) => !e.is_structural(),
            };
            first = false;
        }
        out.push(Span {
            def,
            start: vstart as u32,
            end: vend as u32,
            ok: result.is_ok(),
        });
        if let Err(e) = result {
            errors.push(e);
        }
        p = vend;
    }
    shape
}

/// Length of the AI if `b` starts with `(` + 2..=4 digits + `)`.
pub fn bracketed_ai_at(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'(') {
        return None;
    }
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    ((2..=4).contains(&digits) && b.get(1 + digits) == Some(&b')')).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_prefix_lengths_agree() {
        for w in AIS.windows(2) {
            assert!(w[0].ai < w[1].ai, "{} before {}", w[0].ai, w[1].ai);
        }
        for def in AIS.iter() {
            assert_eq!(lookup(def.ai).map(|d| d.ai), Some(def.ai));
            let fixed = PREDEFINED_LEN[prefix_index(def.ai.as_bytes())];
            // The `*` flag of the dictionary and the fixed prefix list say the same thing.
            assert_eq!(fixed > 0, !needs_separator(def), "AI {}", def.ai);
            if fixed > 0 {
                assert_eq!((def.min, def.max), (fixed, fixed), "AI {}", def.ai);
            }
        }
    }

    #[test]
    fn lookup_rejects_unassigned_and_malformed() {
        for ai in [
            "14", "19", "3106", "89", "23", "2367", "399", "0", "01x", "", "12345",
        ] {
            assert!(lookup(ai).is_none(), "{ai}");
        }
        assert_eq!(lookup("235").map(|d| d.title), Some("TPX"));
        assert_eq!(lookup("01").map(|d| d.title), Some("GTIN"));
    }
}
