//! EAN/UPC retail symbols (and ITF-14 when the reader says so): digits with a GS1 mod-10
//! check digit, read as a GTIN.
//!
//! Receives the digits the reader sent; emits the GTIN-14 (the GTIN left-padded with zeros,
//! the form GTINs are compared in): EAN-13 `5901234123457` → `05901234123457`, UPC-A
//! `036000291452` → `00036000291452`, EAN-8 `96385074` → `00000096385074`.

use super::gs1::{check_digit_ok, mod10};
use super::DecodeError;

/// Which retail symbol the digits came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EanKind {
    /// 13 digits.
    Ean13,
    /// 12 digits.
    UpcA,
    /// 8 digits.
    Ean8,
    /// 14 digits (ITF-14, only when the AIM id is `]I1`).
    Itf14,
}

/// Whether `data` is 8, 12 or 13 ASCII digits ending in a correct check digit: what a bare
/// EAN-8, UPC-A or EAN-13 scan looks like.
pub fn looks_like_ean(data: &str) -> bool {
    let b = data.as_bytes();
    matches!(b.len(), 8 | 12 | 13) && b.iter().all(u8::is_ascii_digit) && check_digit_ok(b)
}

/// Reads EAN/UPC digits as a GTIN-14. `allow_itf` also accepts 14 digits.
pub fn to_gtin14(data: &str, allow_itf: bool) -> Result<(EanKind, [u8; 14]), DecodeError> {
    let b = data.as_bytes();
    let kind = match b.len() {
        13 => EanKind::Ean13,
        12 => EanKind::UpcA,
        8 => EanKind::Ean8,
        14 if allow_itf => EanKind::Itf14,
        len => return Err(DecodeError::EanLength { len }),
    };
    if let Some(pos) = b.iter().position(|c| !c.is_ascii_digit()) {
        let ch = data
            .get(pos..)
            .and_then(|s| s.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Err(DecodeError::EanNotDigits { ch, pos });
    }
    let (body, last) = b.split_at(b.len() - 1);
    let expected = char::from(b'0' + mod10(body));
    let found = char::from(last[0]);
    if found != expected {
        return Err(DecodeError::EanCheckDigit { found, expected });
    }
    let mut gtin = [b'0'; 14];
    gtin[14 - b.len()..].copy_from_slice(b);
    Ok((kind, gtin))
}

/// The EAN part of a `]E3` string (EAN-13 or EAN-8 followed by a 2- or 5-digit add-on).
pub fn strip_add_on(data: &str) -> &str {
    let main = match data.len() {
        15 | 18 => 13,
        10 => 8,
        _ => return data,
    };
    data.get(..main).unwrap_or(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gtin(data: &str) -> String {
        let (_, g) = to_gtin14(data, false).unwrap();
        String::from_utf8(g.to_vec()).unwrap()
    }

    #[test]
    fn ean13_upca_ean8() {
        assert_eq!(gtin("5901234123457"), "05901234123457");
        assert_eq!(to_gtin14("5901234123457", false).unwrap().0, EanKind::Ean13);
        assert_eq!(gtin("036000291452"), "00036000291452");
        assert_eq!(to_gtin14("036000291452", false).unwrap().0, EanKind::UpcA);
        assert_eq!(gtin("96385074"), "00000096385074");
        assert_eq!(to_gtin14("96385074", false).unwrap().0, EanKind::Ean8);
        assert_eq!(gtin("4006381333931"), "04006381333931");
    }

    #[test]
    fn bad_check_digit_length_and_characters() {
        assert_eq!(
            to_gtin14("5901234123458", false),
            Err(DecodeError::EanCheckDigit {
                found: '8',
                expected: '7'
            })
        );
        assert_eq!(
            to_gtin14("96385075", false).unwrap_err().reason().as_str(),
            "check_digit"
        );
        assert_eq!(
            to_gtin14("12345", false),
            Err(DecodeError::EanLength { len: 5 })
        );
        assert!(matches!(
            to_gtin14("59012341234A7", false),
            Err(DecodeError::EanNotDigits { ch: 'A', pos: 11 })
        ));
        assert!(to_gtin14("09506000134352", false).is_err());
        assert_eq!(to_gtin14("09506000134352", true).unwrap().0, EanKind::Itf14);
    }

    #[test]
    fn bare_detection_and_add_on() {
        assert!(looks_like_ean("5901234123457"));
        assert!(looks_like_ean("036000291452"));
        assert!(looks_like_ean("96385074"));
        assert!(!looks_like_ean("5901234123458"));
        assert!(!looks_like_ean("09506000134352"));
        assert!(!looks_like_ean("590123412345A"));
        assert_eq!(strip_add_on("590123412345712"), "5901234123457");
        assert_eq!(strip_add_on("590123412345712345"), "5901234123457");
        assert_eq!(strip_add_on("5901234123457"), "5901234123457");
    }
}
