//! [`Reading`]: the outcome of decoding one scan, its typed accessors and its JSON form.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::*;

/// One GS1 element of a [`Reading`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    /// The AI, `"01"`.
    pub ai: &'static str,
    /// Its GS1 data title, `"GTIN"`.
    pub title: &'static str,
    /// The value as read (Digital Link values percent-decoded).
    pub value: &'a str,
    /// The value passed its own checks (format, check digit, date).
    pub valid: bool,
}

impl Element<'_> {
    /// For a measure (`310n`..`369n`): the value with its implied decimal point,
    /// `3103` `001250` → `"1.250"`.
    pub fn decimal_value(&self) -> Option<String> {
        let n = gs1::measure_decimals(self.ai)?;
        (self.valid && self.value.bytes().all(|c| c.is_ascii_digit()))
            .then(|| gs1::implied_decimal(self.value, n))
    }
}

impl Serialize for Element<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("ai", self.ai)?;
        map.serialize_entry("value", self.value)?;
        map.serialize_entry("title", self.title)?;
        map.end()
    }
}

/// The outcome of decoding one scan.
///
/// Serialises to
/// `{"symbology": "]C1"|null, "gs1": {"elements": [{"ai","value","title"}…]}|null,
/// "kind": "…", "fields": {…}, "errors": [{"reason","message"}…]}`, where `gs1` is present for
/// GS1 element strings and Digital Links, and `fields` holds the named fields of DESIGN §2
/// that the scan provides (`gtin`, `sscc`, `lot`, `serial`, `expiry`, `quantity`, `order`,
/// `location`, `tote`).
#[derive(Debug, Clone)]
pub struct Reading {
    /// AIM symbology identifier, if the reader sent one.
    pub(super) symbology: Option<Aim>,
    pub(super) kind: Kind,
    /// Backing text: GS1 message, decoded Digital Link values, the GTIN-14 of an EAN, or the
    /// plain text of an order, location or tote.
    pub(super) text: String,
    /// GS1 elements, as spans of `text`.
    pub(super) spans: Vec<Span>,
    pub(super) errors: Vec<DecodeError>,
    /// Year the two-digit years were placed around.
    pub(super) today_year: i32,
}

impl Reading {
    pub(super) fn new(symbology: Option<Aim>, kind: Kind, today_year: i32) -> Self {
        Reading {
            symbology,
            kind,
            text: String::new(),
            spans: Vec::new(),
            errors: Vec::new(),
            today_year,
        }
    }

    /// The AIM identifier sent by the reader.
    pub fn symbology(&self) -> Option<Aim> {
        self.symbology
    }

    /// The kind of barcode.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Every problem found; empty for a good scan.
    pub fn errors(&self) -> &[DecodeError] {
        &self.errors
    }

    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The reason of the first problem, for an exception event.
    pub fn reason(&self) -> Option<Reason> {
        self.errors.first().map(DecodeError::reason)
    }

    /// The GS1 elements in the order read (for an EAN, the GTIN as AI 01).
    pub fn elements(&self) -> impl ExactSizeIterator<Item = Element<'_>> + '_ {
        self.spans.iter().map(|s| Element {
            ai: s.def.ai,
            title: s.def.title,
            value: s.value(&self.text),
            valid: s.ok,
        })
    }

    /// The value of the first element with this AI, checked or not.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| s.def.ai == ai)
            .map(|s| s.value(&self.text))
    }

    /// The value of the first element with this AI that passed its checks.
    fn valid(&self, ai: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| s.ok && s.def.ai == ai)
            .map(|s| s.value(&self.text))
    }

    /// GTIN-14: AI 01, or else AI 02 (the GTIN of the trade items a logistic unit contains,
    /// which AI 37 counts); from an EAN/UPC, its GTIN padded to 14 digits.
    pub fn gtin(&self) -> Option<&str> {
        self.valid("01").or_else(|| self.valid("02"))
    }

    /// SSCC (AI 00).
    pub fn sscc(&self) -> Option<&str> {
        self.valid("00")
    }

    /// Batch or lot number (AI 10).
    pub fn lot(&self) -> Option<&str> {
        self.valid("10")
    }

    /// Serial number (AI 21).
    pub fn serial(&self) -> Option<&str> {
        self.valid("21")
    }

    /// Expiry date (AI 17), day `00` resolved to the month's last day.
    pub fn expiry(&self) -> Option<Date> {
        let v = self.valid("17")?;
        gs1::parse_yymmdd(v.as_bytes(), self.today_year, true).ok()
    }

    /// The count on the label: AI 30 (variable count) or 37 (count in a logistic unit).
    pub fn count(&self) -> Option<u64> {
        self.spans
            .iter()
            .find(|s| s.ok && (s.def.ai == "30" || s.def.ai == "37"))
            .and_then(|s| s.value(&self.text).parse().ok())
    }

    /// The quantity of an item scan: the label's count, 1 when it has none.
    pub fn quantity(&self) -> u64 {
        self.count().unwrap_or(1)
    }

    /// The order number, for an `order` scan.
    pub fn order(&self) -> Option<&str> {
        (self.kind == Kind::Order).then_some(self.text.as_str())
    }

    /// The location, for a `location` scan.
    pub fn location(&self) -> Option<&str> {
        (self.kind == Kind::Location).then_some(self.text.as_str())
    }

    /// The tote id, for a `tote` scan.
    pub fn tote(&self) -> Option<&str> {
        (self.kind == Kind::Tote).then_some(self.text.as_str())
    }

    /// The return authorisation number, for an `rma` scan.
    pub fn rma(&self) -> Option<&str> {
        (self.kind == Kind::Rma).then_some(self.text.as_str())
    }

    /// The condition code as scanned (`COND-DAMAGED`), for a `condition` scan.
    pub fn condition_code(&self) -> Option<&str> {
        (self.kind == Kind::Condition).then_some(self.text.as_str())
    }

    /// The condition a `condition` scan names: the code's last word in lower case
    /// (`COND-DAMAGED` → `damaged`).
    pub fn condition(&self) -> Option<String> {
        let code = self.condition_code()?;
        let word = code
            .rsplit(|c: char| !c.is_alphanumeric())
            .find(|w| !w.is_empty())
            .unwrap_or(code);
        Some(word.to_lowercase())
    }
}

/// `fields` of the JSON form.
struct Fields<'a>(&'a Reading);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        let gtin = r.gtin();
        if let Some(v) = gtin {
            map.serialize_entry("gtin", v)?;
        }
        if let Some(v) = r.sscc() {
            map.serialize_entry("sscc", v)?;
        }
        if let Some(v) = r.lot() {
            map.serialize_entry("lot", v)?;
        }
        if let Some(v) = r.serial() {
            map.serialize_entry("serial", v)?;
        }
        if let Some(v) = r.expiry() {
            map.serialize_entry("expiry", &v)?;
        }
        let count = r.count();
        if gtin.is_some() || count.is_some() {
            map.serialize_entry("quantity", &count.unwrap_or(1))?;
        }
        if let Some(v) = r.order() {
            map.serialize_entry("order", v)?;
        }
        if let Some(v) = r.location() {
            map.serialize_entry("location", v)?;
        }
        if let Some(v) = r.tote() {
            map.serialize_entry("tote", v)?;
        }
        if let Some(v) = r.rma() {
            map.serialize_entry("rma", v)?;
        }
        if let Some(v) = r.condition() {
            map.serialize_entry("condition", &v)?;
        }
        map.end()
    }
}

/// `gs1` of the JSON form.
struct Gs1Part<'a>(&'a Reading);

impl Serialize for Gs1Part<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Elements<'a>(&'a Reading);
        impl Serialize for Elements<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.spans.len()))?;
                for e in self.0.elements() {
                    seq.serialize_element(&e)?;
                }
                seq.end()
            }
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("elements", &Elements(self.0))?;
        map.end()
    }
}

impl Serialize for Reading {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("symbology", &self.symbology.as_ref().map(Aim::as_str))?;
        let gs1 = matches!(self.kind, Kind::Gs1 | Kind::DigitalLink).then_some(Gs1Part(self));
        map.serialize_entry("gs1", &gs1)?;
        map.serialize_entry("kind", &self.kind)?;
        map.serialize_entry("fields", &Fields(self))?;
        map.serialize_entry("errors", &self.errors)?;
        map.end()
    }
}
