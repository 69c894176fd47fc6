//! AIM symbology identifiers (ISO/IEC 15424): the three characters `]` + code letter +
//! modifier that a reader puts in front of the data when "transmit code ID: AIM" is on.
//!
//! Receives the raw scanned text; emits the identifier (if any) and the data after it. The
//! identifier says which kind of symbol was read and, through the modifier, whether the
//! symbol started with FNC1, i.e. carries GS1 element strings.

use std::fmt;

/// A symbology identifier such as `]C1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aim {
    /// `]`, code letter, modifier; all ASCII.
    id: [u8; 3],
}

impl Aim {
    /// Splits a leading identifier off `data`. An identifier is `]`, an ASCII letter, then an
    /// ASCII letter or digit; anything else is left as data.
    pub fn split(data: &str) -> (Option<Aim>, &str) {
        match data.as_bytes() {
            [b']', code, modifier, ..]
                if code.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
            {
                let aim = Aim {
                    id: [b']', *code, *modifier],
                };
                // Three ASCII bytes: index 3 is a character boundary.
                (Some(aim), data.get(3..).unwrap_or(""))
            }
            _ => (None, data),
        }
    }

    /// Parses an identifier given on its own (`"]C1"`), e.g. from an MQTT payload's
    /// `symbology` field.
    pub fn parse(id: &str) -> Option<Aim> {
        match Aim::split(id) {
            (Some(aim), "") => Some(aim),
            _ => None,
        }
    }

    /// The identifier as text, `"]C1"`.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII bytes, so this never falls back.
        std::str::from_utf8(&self.id).unwrap_or("]??")
    }

    /// The code letter (`C` for Code 128, `d` for Data Matrix, ...).
    pub fn code(&self) -> char {
        char::from(self.id[1])
    }

    /// The modifier character.
    pub fn modifier(&self) -> char {
        char::from(self.id[2])
    }

    /// The symbol carries GS1 element strings (FNC1 in first position): `]C1` GS1-128,
    /// `]d2` GS1 DataMatrix, `]Q3` GS1 QR Code, `]e0` GS1 DataBar and composites, `]J1` GS1
    /// DotCode.
    pub fn implies_gs1(&self) -> bool {
        matches!(&self.id[1..], b"C1" | b"d2" | b"Q3" | b"e0" | b"J1")
    }

    /// EAN/UPC: `]E0` EAN-13 or UPC-A (13 digits), `]E4` EAN-8, `]E3` EAN-13 or EAN-8 with
    /// its add-on in one string. (`]E1`/`]E2` are an add-on read alone: no GTIN.)
    pub fn is_ean(&self) -> bool {
        matches!(&self.id[1..], b"E0" | b"E3" | b"E4")
    }

    /// ITF-14 with check digit validated by the reader (`]I1`).
    pub fn is_itf(&self) -> bool {
        &self.id[1..] == b"I1"
    }

    /// A name for people: the symbology, and the GS1 variant where the modifier says so.
    pub fn name(&self) -> &'static str {
        match &self.id[1..] {
            b"C1" => "GS1-128",
            b"d2" => "GS1 DataMatrix",
            b"Q3" => "GS1 QR Code",
            b"e0" => "GS1 DataBar / composite",
            b"J1" => "GS1 DotCode",
            b"E0" => "EAN-13 / UPC-A",
            b"E1" | b"E2" => "EAN/UPC add-on",
            b"E3" => "EAN/UPC with add-on",
            b"E4" => "EAN-8",
            b"I1" => "ITF-14 (Interleaved 2 of 5, checked)",
            _ => match self.id[1] {
                b'A' => "Code 39",
                b'B' => "Telepen",
                b'C' => "Code 128",
                b'd' => "Data Matrix",
                b'E' => "EAN/UPC",
                b'e' => "GS1 DataBar",
                b'F' => "Codabar",
                b'G' => "Code 93",
                b'H' => "Code 11",
                b'I' => "Interleaved 2 of 5",
                b'J' => "DotCode",
                b'L' => "PDF417",
                b'M' => "MSI",
                b'O' => "Codablock",
                b'Q' => "QR Code",
                b'R' => "Straight 2 of 5",
                b'S' => "Straight 2 of 5 (2-bar start/stop)",
                b'X' => "other symbology",
                b'z' => "Aztec",
                _ => "unknown symbology",
            },
        }
    }
}

impl fmt::Display for Aim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_identifier() {
        let (aim, rest) = Aim::split("]C1010950600013435217251231");
        let aim = aim.unwrap();
        assert_eq!(aim.as_str(), "]C1");
        assert_eq!(rest, "010950600013435217251231");
        assert!(aim.implies_gs1());
        assert_eq!(aim.name(), "GS1-128");
        assert_eq!((aim.code(), aim.modifier()), ('C', '1'));
    }

    #[test]
    fn gs1_modifiers() {
        for id in ["]C1", "]d2", "]Q3", "]e0", "]J1"] {
            assert!(Aim::parse(id).unwrap().implies_gs1(), "{id}");
        }
        for id in ["]C0", "]d1", "]Q1", "]E0", "]A0", "]I1", "]C2"] {
            assert!(!Aim::parse(id).unwrap().implies_gs1(), "{id}");
        }
        assert!(Aim::parse("]E0").unwrap().is_ean());
        assert!(Aim::parse("]E4").unwrap().is_ean());
        assert!(!Aim::parse("]E1").unwrap().is_ean());
        assert!(Aim::parse("]I1").unwrap().is_itf());
        assert_eq!(Aim::parse("]Q1").unwrap().name(), "QR Code");
    }

    #[test]
    fn not_an_identifier() {
        for data in ["", "]", "]C", "]1C", "] C1", "C1]", "]C-x", "SO-1"] {
            let (aim, rest) = Aim::split(data);
            assert!(aim.is_none(), "{data}");
            assert_eq!(rest, data);
        }
        // Exactly three characters: identifier with empty data.
        assert_eq!(Aim::split("]C0"), (Aim::parse("]C0"), ""));
        assert!(Aim::parse("]C0x").is_none());
        // Multi-byte text after `]` must not be split mid-character.
        assert_eq!(Aim::split("]é1").0, None);
    }
}
