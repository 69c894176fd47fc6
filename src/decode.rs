//! Barcode decoding: what a scanner sent, turned into a [`Reading`] the station workflow can
//! act on. Pure code: no I/O, no clock (the caller passes today's date).
//!
//! [`decode`] receives one scanned line (terminator and all) and classifies it in the order
//! of DESIGN §3:
//!
//! 1. **GS1 element string**: the AIM identifier says so (`]C1`, `]d2`, `]Q3`, `]e0`,
//!    `]J1`), or, without an identifier, the text starts with GS (a reader sending FNC1 as
//!    data), is in bracketed HRI form `(01)…`, or parses as GS1 without a single problem;
//! 2. **GS1 Digital Link URI** (`https://…/01/…`);
//! 3. **EAN/UPC**: `]E0`/`]E3`/`]E4` (and ITF-14 under `]I1`), or bare 8, 12 or 13 digits with
//!    a valid check digit;
//! 4. **plain text** matched against [`BarcodeRules`]: commands `done`/`cancel` (exact), then
//!    the `order`, `location` and `tote` patterns;
//! 5. otherwise **unknown**.
//!
//! Two refinements keep bare scans (no AIM identifier) from being misread, since without the
//! identifier GS1-128 cannot be told from plain Code 128:
//!
//! - bare 8/12/13 digits with a valid check digit are read as EAN/UPC *before* trying GS1:
//!   otherwise a German EAN-13 such as `4006381333931` would read as AI (400), a purchase
//!   order, and every retail item would be an order number;
//! - a bare string that looks like GS1 (its first element is well formed) but has problems is
//!   only reported as a broken GS1 label when no Digital Link or text rule claims it, so a
//!   numeric order number is not turned into an "invalid date" exception.
//!
//! Wire formats live in one file each: [`aim`], [`gs1`] (with the AI table in
//! [`gs1_table`], generated from the GS1 Barcode Syntax Dictionary by `gs1_table.py`),
//! [`digital_link`], [`ean`].

pub mod aim;
pub mod digital_link;
pub mod ean;
pub mod gs1;
pub mod gs1_table;
mod reading;
mod rules;

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

pub use aim::Aim;
use gs1::Span;
pub use reading::{Element, Reading};
pub use rules::{
    BarcodeRules, BarcodeRulesError, TextPatterns, DEFAULT_CANCEL, DEFAULT_CONDITION, DEFAULT_DONE,
    DEFAULT_LOCATION, DEFAULT_ORDER, DEFAULT_RMA, DEFAULT_TOTE,
};

/// What kind of barcode a [`Reading`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// GS1 element string (GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar, GS1 DotCode).
    Gs1,
    /// GS1 Digital Link URI.
    DigitalLink,
    /// EAN-13, UPC-A, EAN-8 (or ITF-14): a GTIN.
    Ean,
    /// Text matching the `order` pattern.
    Order,
    /// Text matching the `location` pattern.
    Location,
    /// Text matching the `tote` pattern.
    Tote,
    /// Text matching the `rma` pattern: a return authorisation.
    Rma,
    /// Text matching the `condition` pattern: the state of returned goods.
    Condition,
    /// The `done` command.
    Done,
    /// The `cancel` command.
    Cancel,
    /// Nothing matched.
    Unknown,
}

impl Kind {
    /// The name used in JSON, `"digital_link"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gs1 => "gs1",
            Kind::DigitalLink => "digital_link",
            Kind::Ean => "ean",
            Kind::Order => "order",
            Kind::Location => "location",
            Kind::Tote => "tote",
            Kind::Rma => "rma",
            Kind::Condition => "condition",
            Kind::Done => "done",
            Kind::Cancel => "cancel",
            Kind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Machine-readable reason of a [`DecodeError`], as in the exception events of DESIGN §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The barcode is malformed: unknown AI, wrong length or characters, bad date, missing
    /// or conflicting AIs, a broken Digital Link.
    InvalidBarcode,
    /// A check digit (or GMN check character pair) is wrong.
    CheckDigit,
    /// The text is no barcode dockgate knows.
    UnknownBarcode,
}

impl Reason {
    /// `"invalid_barcode"`, `"check_digit"`, `"unknown_barcode"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidBarcode => "invalid_barcode",
            Reason::CheckDigit => "check_digit",
            Reason::UnknownBarcode => "unknown_barcode",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a barcode. The display text is the human `message`; [`reason`]
/// gives the machine reason.
///
/// [`reason`]: DecodeError::reason
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Nothing was scanned.
    #[error("empty barcode")]
    Empty,
    /// Where an AI should start there are no two digits.
    #[error("expected an AI (digits) but found {found:?}")]
    NotAnAi {
        /// The text found.
        found: String,
    },
    /// Digits that are no GS1 AI.
    #[error("unknown AI ({ai})")]
    UnknownAi {
        /// The digits read as an AI.
        ai: String,
    },
    /// A separator (GS) where an AI should start.
    #[error("unexpected separator (GS) at position {pos}")]
    UnexpectedSeparator {
        /// Byte position in the message.
        pos: usize,
    },
    /// An AI without a value.
    #[error("AI ({ai}) has no value")]
    EmptyValue {
        /// The AI.
        ai: &'static str,
    },
    /// A value shorter than its AI allows.
    #[error("AI ({ai}) value is too short: {len} characters, at least {min} needed")]
    TooShort {
        /// The AI.
        ai: &'static str,
        /// Characters found.
        len: usize,
        /// Fewest allowed.
        min: u8,
    },
    /// A value longer than its AI allows; with a variable-length AI usually a missing
    /// separator, the next element having been swallowed.
    #[error(
        "AI ({ai}) value is too long: {len} characters, at most {max} allowed (missing separator?)"
    )]
    TooLong {
        /// The AI.
        ai: &'static str,
        /// Characters found.
        len: usize,
        /// Most allowed.
        max: u8,
    },
    /// A character outside the AI's character set.
    #[error("AI ({ai}): {ch:?} at position {pos} is not allowed ({cset} only)")]
    BadChar {
        /// The AI.
        ai: &'static str,
        /// The character.
        ch: char,
        /// Byte position in the value.
        pos: usize,
        /// The character set required.
        cset: &'static str,
    },
    /// A wrong GS1 mod-10 check digit.
    #[error("AI ({ai}) check digit is {found}, expected {expected}")]
    CheckDigit {
        /// The AI.
        ai: &'static str,
        /// The check digit on the label.
        found: char,
        /// The check digit computed.
        expected: char,
    },
    /// A wrong alphanumeric check character pair (GMN, MUDI).
    #[error("AI ({ai}) check character pair is wrong")]
    CheckPair {
        /// The AI.
        ai: &'static str,
    },
    /// A value of the right shape but wrong content: a date that does not exist, an
    /// hour 25, a piece number beyond the total, ...
    #[error("AI ({ai}) value {value:?}: {what}")]
    BadContent {
        /// The AI.
        ai: &'static str,
        /// The value.
        value: String,
        /// What is wrong.
        what: &'static str,
    },
    /// The same AI twice with different values.
    #[error("AI ({ai}) appears more than once with different values")]
    RepeatMismatch {
        /// The AI.
        ai: &'static str,
    },
    /// An AI whose mandatory companion is missing (e.g. a lot without a GTIN).
    #[error("AI ({ai}) needs {} in the same barcode", alternatives(.needs))]
    MissingPair {
        /// The AI.
        ai: &'static str,
        /// The alternatives, one of which must be present (`"01+21"`: both).
        needs: &'static [&'static str],
    },
    /// Two AIs that must not appear together (e.g. `01` and `02`).
    #[error("AI ({ai}) and AI ({other}) must not appear together")]
    Conflict {
        /// The AI.
        ai: &'static str,
        /// The AI it excludes.
        other: &'static str,
    },
    /// A Digital Link path using short names such as `/gtin/`.
    #[error("Digital Link short name /{name}/ is not supported; the path must use numeric AIs")]
    DlShortName {
        /// The short name.
        name: String,
    },
    /// A malformed Digital Link URI.
    #[error("Digital Link URI {what}")]
    DlUri {
        /// What is wrong.
        what: &'static str,
    },
    /// A Digital Link AI without a value.
    #[error("Digital Link AI ({ai}) has an empty value")]
    DlEmptyValue {
        /// The AI.
        ai: &'static str,
    },
    /// A Digital Link value that cannot be decoded.
    #[error("Digital Link value of AI ({ai}) {what}")]
    DlValue {
        /// The AI.
        ai: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// A numeric query parameter that is not a GS1 AI.
    #[error("Digital Link query parameter {name:?} is numeric but not a known AI")]
    DlUnknownParam {
        /// The parameter name.
        name: String,
    },
    /// Path AIs that are not the key followed by its qualifiers in order.
    #[error("Digital Link path {ais} is not a primary key followed by its qualifiers in order")]
    DlSequence {
        /// The AIs of the path, `(01)(10)(22)`.
        ais: String,
    },
    /// The same AI twice in a Digital Link.
    #[error("Digital Link has AI ({ai}) more than once")]
    DlDuplicate {
        /// The AI.
        ai: &'static str,
    },
    /// A query AI that is not allowed as a Digital Link data attribute.
    #[error("AI ({ai}) is not allowed in a Digital Link query")]
    DlNotAttribute {
        /// The AI.
        ai: &'static str,
    },
    /// A key qualifier given in the query instead of the path.
    #[error("AI ({ai}) is a key qualifier and belongs in the Digital Link path, not the query")]
    DlShouldBeInPath {
        /// The AI.
        ai: &'static str,
    },
    /// EAN/UPC data of a length no EAN/UPC has.
    #[error("EAN/UPC data has {len} characters; 8, 12 or 13 digits expected (14 for ITF-14)")]
    EanLength {
        /// Characters found.
        len: usize,
    },
    /// EAN/UPC data with a non-digit.
    #[error("EAN/UPC data has {ch:?} at position {pos}; digits only")]
    EanNotDigits {
        /// The character.
        ch: char,
        /// Byte position.
        pos: usize,
    },
    /// A wrong EAN/UPC check digit.
    #[error("EAN/UPC check digit is {found}, expected {expected}")]
    EanCheckDigit {
        /// The check digit read.
        found: char,
        /// The check digit computed.
        expected: char,
    },
    /// No kind of barcode matched.
    #[error("unrecognised barcode{hint}")]
    Unmatched {
        /// Extra explanation, starting with `: ` when present.
        hint: &'static str,
    },
}

impl DecodeError {
    /// The machine reason.
    pub fn reason(&self) -> Reason {
        match self {
            DecodeError::CheckDigit { .. }
            | DecodeError::CheckPair { .. }
            | DecodeError::EanCheckDigit { .. } => Reason::CheckDigit,
            DecodeError::Unmatched { .. } => Reason::UnknownBarcode,
            _ => Reason::InvalidBarcode,
        }
    }

    /// The error is about the shape of the data (AIs, lengths, characters), not its content
    /// (check digits, dates, pairings): data with such an error may not be GS1 at all.
    pub fn is_structural(&self) -> bool {
        matches!(
            self,
            DecodeError::Empty
                | DecodeError::NotAnAi { .. }
                | DecodeError::UnknownAi { .. }
                | DecodeError::UnexpectedSeparator { .. }
                | DecodeError::EmptyValue { .. }
                | DecodeError::TooShort { .. }
                | DecodeError::TooLong { .. }
                | DecodeError::BadChar { .. }
        )
    }
}

/// `["01", "02+37"]` → `"(01) or (02)+(37)"`.
fn alternatives(needs: &[&str]) -> String {
    let mut s = String::new();
    for (i, alt) in needs.iter().enumerate() {
        if i > 0 {
            s.push_str(if i + 1 == needs.len() { " or " } else { ", " });
        }
        for (j, ai) in alt.split('+').enumerate() {
            if j > 0 {
                s.push('+');
            }
            s.push('(');
            s.push_str(ai);
            s.push(')');
        }
    }
    s
}

impl Serialize for DecodeError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("reason", &self.reason())?;
        map.serialize_entry("message", &self.to_string())?;
        map.end()
    }
}

/// A calendar date, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Full year.
    pub year: i32,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The civil date (year, month, day) of a day count since 1970-01-01, for callers that turn
/// the clock into the `today` argument of [`decode`].
pub fn civil_from_unix_days(days: i64) -> (i32, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u32, day as u32)
}

/// Decodes one scan.
///
/// `raw` is the text as the reader sent it; a trailing CR/LF terminator is ignored and the
/// rules' GS stand-ins are replaced first. `today` is the current date (year, month, day);
/// only its year matters, for placing two-digit years in the right century.
pub fn decode(raw: &str, rules: &BarcodeRules, today: (i32, u32, u32)) -> Reading {
    let year = today.0;
    let line = raw.trim_end_matches(['\r', '\n']);
    let data = rules.substitute_gs(line);
    let (symbology, data) = Aim::split(&data);

    if let Some(aim) = symbology {
        if aim.implies_gs1() {
            // FNC1 in first position is implied; tolerate a reader that also sends it as GS.
            return parse_gs1(symbology, data.strip_prefix('\u{1d}').unwrap_or(data), year).0;
        }
        if aim.is_ean() || aim.is_itf() {
            return parse_ean(aim, data, year);
        }
    }

    let mut tentative = None;
    if symbology.is_none() {
        if let Some(rest) = data.strip_prefix('\u{1d}') {
            // FNC1 in first position sent as GS (phone decoders): GS1 for sure.
            return parse_gs1(None, rest, year).0;
        }
        if ean::looks_like_ean(data) {
            let mut r = Reading::new(None, Kind::Ean, year);
            push_gtin(&mut r, data, false);
            return r;
        }
        let (reading, shape) = parse_gs1(None, data, year);
        if reading.errors.is_empty() {
            return reading;
        }
        if shape.first_well_formed {
            tentative = Some(reading);
        }
    }

    let mut r = Reading::new(symbology, Kind::DigitalLink, year);
    if digital_link::parse(data, year, &mut r.text, &mut r.spans, &mut r.errors) {
        return r;
    }

    if let Some(kind) = rules.classify(data) {
        let mut r = Reading::new(symbology, kind, year);
        if matches!(
            kind,
            Kind::Order | Kind::Location | Kind::Tote | Kind::Rma | Kind::Condition
        ) {
            r.text = data.to_owned();
        }
        return r;
    }

    if let Some(reading) = tentative {
        return reading;
    }

    let hint = if data.is_empty() {
        ": nothing was scanned"
    } else if digital_link::strip_scheme(data).is_some() {
        ": a web address without a GS1 Digital Link key"
    } else {
        ""
    };
    let mut r = Reading::new(symbology, Kind::Unknown, year);
    r.errors.push(DecodeError::Unmatched { hint });
    r
}

/// A GS1 element string, bracketed or not.
fn parse_gs1(symbology: Option<Aim>, data: &str, year: i32) -> (Reading, gs1::Shape) {
    let mut r = Reading::new(symbology, Kind::Gs1, year);
    r.spans.reserve(8);
    let shape = if gs1::bracketed_ai_at(data.as_bytes()).is_some() {
        gs1::parse_bracketed(data, year, &mut r.spans, &mut r.errors)
    } else {
        gs1::parse_unbracketed(data, year, &mut r.spans, &mut r.errors)
    };
    // Pairing rules only mean something once the whole message could be split.
    if !r.errors.iter().any(DecodeError::is_structural) {
        gs1::check_message(data, &r.spans, &mut r.errors);
    }
    r.text = data.to_owned();
    (r, shape)
}

/// An EAN/UPC or ITF-14 symbol identified by its AIM id.
fn parse_ean(aim: Aim, data: &str, year: i32) -> Reading {
    let mut r = Reading::new(Some(aim), Kind::Ean, year);
    let digits = if aim.modifier() == '3' {
        ean::strip_add_on(data)
    } else {
        data
    };
    push_gtin(&mut r, digits, aim.is_itf());
    r
}

/// Records the GTIN of EAN/UPC digits as an AI 01 element, or the problem.
fn push_gtin(r: &mut Reading, digits: &str, allow_itf: bool) {
    match ean::to_gtin14(digits, allow_itf) {
        Ok((_, gtin)) => {
            // ASCII digits, so always UTF-8.
            r.text = std::str::from_utf8(&gtin).unwrap_or_default().to_owned();
            if let Some(def) = gs1::lookup("01") {
                r.spans.push(Span {
                    def,
                    start: 0,
                    end: 14,
                    ok: true,
                });
            }
        }
        Err(e) => r.errors.push(e),
    }
}

#[cfg(test)]
mod tests;
