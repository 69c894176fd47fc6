//! The checks of GS1 element string values and messages, used by the element string parser
//! (`gs1.rs`) and the Digital Link parser: each value against its AI's format ([`check_value`]:
//! length, character set and the syntax dictionary's content checks, "linters", such as check
//! digits, check character pairs, dates, times, IBAN), and the message as a whole
//! ([`check_message`]: repeated AIs, `req=` pairings, `ex=` exclusions). Also the helpers the
//! rest of the decoder shares: GS1 mod-10 check digits, two-digit-year dates, implied decimals
//! of measure AIs.

use super::Span;
use crate::decode::gs1_table::{flag, lint, AiDef, Cset, Part};
use crate::decode::{Date, DecodeError};

/// Checks one value against its AI's format: overall length, then each component's
/// character set, length and content checks.
pub fn check_value(def: &'static AiDef, value: &str, today_year: i32) -> Result<(), DecodeError> {
    let ai = def.ai;
    let len = value.len();
    if len == 0 {
        return Err(DecodeError::EmptyValue { ai });
    }
    if len < usize::from(def.min) {
        return Err(DecodeError::TooShort {
            ai,
            len,
            min: def.min,
        });
    }
    if len > usize::from(def.max) {
        return Err(DecodeError::TooLong {
            ai,
            len,
            max: def.max,
        });
    }
    let bytes = value.as_bytes();
    let mut pos = 0usize;
    for part in def.parts {
        let take = (len - pos).min(usize::from(part.max));
        if part.optional && take == 0 {
            continue;
        }
        if take < usize::from(part.min) {
            return Err(DecodeError::TooShort {
                ai,
                len,
                min: def.min,
            });
        }
        let comp = &bytes[pos..pos + take];
        if let Some(i) = first_bad_char(part.cset, comp) {
            let at = pos + i;
            let ch = value
                .get(at..)
                .and_then(|s| s.chars().next())
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            return Err(DecodeError::BadChar {
                ai,
                ch,
                pos: at,
                cset: cset_name(part.cset),
            });
        }
        if part.lint != 0 {
            run_lints(part, comp, today_year).map_err(|what| match what {
                Lint::CheckDigit { found, expected } => DecodeError::CheckDigit {
                    ai,
                    found,
                    expected,
                },
                Lint::CheckPair => DecodeError::CheckPair { ai },
                Lint::Content(what) => DecodeError::BadContent {
                    ai,
                    value: value.to_owned(),
                    what,
                },
            })?;
        }
        pos += take;
    }
    if pos < len {
        return Err(DecodeError::TooLong {
            ai,
            len,
            max: def.max,
        });
    }
    Ok(())
}

/// Human name of a character set, for messages.
fn cset_name(cset: Cset) -> &'static str {
    match cset {
        Cset::N => "digits",
        Cset::X => "CSET 82",
        Cset::Y => "CSET 39",
        Cset::Z => "CSET 64",
    }
}

/// CSET 82 membership of each ASCII byte: `!"%&'()*+,-./0-9:;<=>?A-Z_a-z`.
static CSET82: [bool; 128] = {
    let mut t = [false; 128];
    let extra = b"!\"%&'()*+,-./:;<=>?_";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    c = b'A';
    while c <= b'Z' {
        t[c as usize] = true;
        t[(c + 32) as usize] = true;
        c += 1;
    }
    t
};

/// Whether `c` is in CSET 82.
pub fn is_cset82(c: u8) -> bool {
    c < 128 && CSET82[usize::from(c)]
}

/// Index of the first byte of `comp` outside the character set, if any.
fn first_bad_char(cset: Cset, comp: &[u8]) -> Option<usize> {
    match cset {
        Cset::N => comp.iter().position(|c| !c.is_ascii_digit()),
        Cset::X => comp.iter().position(|&c| !is_cset82(c)),
        Cset::Y => comp
            .iter()
            .position(|&c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || b"#-/".contains(&c))),
        Cset::Z => {
            // base64url; `=` only as padding at the end.
            let pad = comp.iter().rev().take_while(|&&c| c == b'=').count();
            let body = &comp[..comp.len() - pad];
            if pad > 2 {
                return Some(body.len());
            }
            body.iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
        }
    }
}

/// A failed content check.
enum Lint {
    CheckDigit { found: char, expected: char },
    CheckPair,
    Content(&'static str),
}

/// Runs the content checks of one component. Checks that need external lists (country and
/// currency codes, GS1 Company Prefixes, coupon formats, package types) are not run.
fn run_lints(part: &Part, c: &[u8], today_year: i32) -> Result<(), Lint> {
    let l = part.lint;
    if l & lint::CSUM != 0 {
        if let Some((&last, body)) = c.split_last() {
            let expected = char::from(b'0' + mod10(body));
            if char::from(last) != expected {
                return Err(Lint::CheckDigit {
                    found: char::from(last),
                    expected,
                });
            }
        }
    }
    if l & lint::CSUMALPHA != 0 {
        check_pair(c)?;
    }
    if l & (lint::YYMMD0 | lint::YYMMDD) != 0 {
        parse_yymmdd(c, today_year, l & lint::YYMMD0 != 0).map_err(Lint::Content)?;
    }
    if l & lint::YYYYMMDD != 0 {
        parse_yyyymmdd(c).map_err(Lint::Content)?;
    }
    if l & lint::HHMI != 0 && !(c.len() == 4 && num(&c[..2]) <= 23 && num(&c[2..]) <= 59) {
        return Err(Lint::Content("invalid time of day (HHMM)"));
    }
    if l & lint::HH != 0 && num(c) > 23 {
        return Err(Lint::Content("invalid hour"));
    }
    if l & (lint::MI | lint::SS) != 0 && num(c) > 59 {
        return Err(Lint::Content("invalid minutes or seconds"));
    }
    if l & lint::ZERO != 0 && c != b"0" {
        return Err(Lint::Content("this digit must be 0"));
    }
    if l & lint::NONZERO != 0 && c.iter().all(|&d| d == b'0') {
        return Err(Lint::Content("a component must not be zero"));
    }
    if l & lint::YESNO != 0 && c != b"0" && c != b"1" {
        return Err(Lint::Content("must be 0 or 1"));
    }
    if l & lint::HYPHEN != 0 && c != b"-" {
        return Err(Lint::Content("the optional suffix must be '-'"));
    }
    if l & lint::WINDING != 0 && !matches!(c, b"0" | b"1" | b"9") {
        return Err(Lint::Content("winding direction must be 0, 1 or 9"));
    }
    if l & lint::ISO5218 != 0 && !matches!(c, b"0" | b"1" | b"2" | b"9") {
        return Err(Lint::Content(
            "sex code must be 0, 1, 2 or 9 (ISO/IEC 5218)",
        ));
    }
    if l & lint::PIECEOFTOTAL != 0 && c.len() == 4 {
        let (piece, total) = (num(&c[..2]), num(&c[2..]));
        if piece == 0 || total == 0 || piece > total {
            return Err(Lint::Content("piece number must be 1..total"));
        }
    }
    if l & lint::NOZEROPREFIX != 0 && c.len() > 1 && c[0] == b'0' {
        return Err(Lint::Content("must not start with 0"));
    }
    if l & lint::LATITUDE != 0 && num(c) > 1_800_000_000 {
        return Err(Lint::Content("latitude out of range"));
    }
    if l & lint::LONGITUDE != 0 && num(c) > 3_600_000_000 {
        return Err(Lint::Content("longitude out of range"));
    }
    if l & lint::PCENC != 0 {
        let mut i = 0;
        while i < c.len() {
            if c[i] == b'%' {
                let ok =
                    c.len() > i + 2 && c[i + 1].is_ascii_hexdigit() && c[i + 2].is_ascii_hexdigit();
                if !ok {
                    return Err(Lint::Content("invalid percent-encoding"));
                }
                i += 2;
            }
            i += 1;
        }
    }
    if l & lint::HASNONDIGIT != 0 && c.iter().all(u8::is_ascii_digit) {
        return Err(Lint::Content("must contain a non-digit"));
    }
    if l & lint::MEDIATYPE != 0 {
        let v = num(c);
        if !(c.len() == 2 && ((1..=10).contains(&v) || (80..=99).contains(&v))) {
            return Err(Lint::Content("unknown AIDC media type"));
        }
    }
    if l & lint::IMPORTERIDX != 0
        && !(c.len() == 1 && (c[0].is_ascii_alphanumeric() || c[0] == b'-' || c[0] == b'_'))
    {
        return Err(Lint::Content("invalid importer index"));
    }
    if l & lint::POSINSEQSLASH != 0 && !pos_in_seq(c) {
        return Err(Lint::Content(
            "must be <position>/<count> with 1 <= position <= count",
        ));
    }
    if l & lint::IBAN != 0 && !iban_ok(c) {
        return Err(Lint::Content("invalid IBAN"));
    }
    Ok(())
}

/// Decimal value of ASCII digits (callers pass at most 10 digits).
fn num(c: &[u8]) -> u64 {
    c.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10)
            .saturating_add(u64::from(d.wrapping_sub(b'0')))
    })
}

/// GS1 mod-10 check digit of `body` (ASCII digits, check digit excluded): from the right,
/// weights 3, 1, 3, 1, ...; the check digit brings the weighted sum to a multiple of 10.
pub fn mod10(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d.wrapping_sub(b'0')) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Whether `digits` (ASCII digits, check digit last) carries a correct GS1 check digit.
pub fn check_digit_ok(digits: &[u8]) -> bool {
    match digits.split_last() {
        Some((&last, body)) => last.is_ascii_digit() && last - b'0' == mod10(body),
        None => false,
    }
}

/// The alphanumeric check character pair of GMN and MUDI (GS1 General Specifications,
/// "check character calculation for alphanumeric keys"): data characters weighted by primes
/// from the right, summed modulo 1021, written as two characters of CSET 32.
fn check_pair(c: &[u8]) -> Result<(), Lint> {
    const PRIMES: [u32; 97] = [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181,
        191, 193, 197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281,
        283, 293, 307, 311, 313, 317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397,
        401, 409, 419, 421, 431, 433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503,
        509,
    ];
    const CSET82_ORDER: &[u8] =
        b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    const CSET32: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    if c.len() < 2 {
        return Err(Lint::Content("too short for a check character pair"));
    }
    let (data, pair) = c.split_at(c.len() - 2);
    if data.len() > PRIMES.len() {
        return Err(Lint::Content("too long for a check character pair"));
    }
    let mut sum = 0u32;
    for (i, ch) in data.iter().rev().enumerate() {
        let v = CSET82_ORDER.iter().position(|x| x == ch).unwrap_or(0) as u32;
        sum += v * PRIMES[i];
    }
    sum %= 1021;
    let expected = [CSET32[(sum >> 5) as usize], CSET32[(sum & 31) as usize]];
    if pair != expected {
        return Err(Lint::CheckPair);
    }
    Ok(())
}

/// `<pos>/<count>`, both without leading zeros, 1 <= pos <= count.
fn pos_in_seq(c: &[u8]) -> bool {
    let Some(slash) = c.iter().position(|&x| x == b'/') else {
        return false;
    };
    let (p, e) = (&c[..slash], &c[slash + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit) && s[0] != b'0';
    digits(p) && digits(e) && num(p) <= num(e)
}

/// ISO 13616 IBAN: two letters, two check digits, up to 30 alphanumerics; mod 97 == 1.
fn iban_ok(c: &[u8]) -> bool {
    if c.len() < 5
        || !c[..2].iter().all(u8::is_ascii_uppercase)
        || !c[2..4].iter().all(u8::is_ascii_digit)
        || !c[4..]
            .iter()
            .all(|x| x.is_ascii_uppercase() || x.is_ascii_digit())
    {
        return false;
    }
    let mut rem = 0u32;
    for &ch in c[4..].iter().chain(&c[..4]) {
        let v = if ch.is_ascii_digit() {
            u32::from(ch - b'0')
        } else {
            u32::from(ch - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// The full year of a two-digit year, by the GS1 rule (General Specifications 7.12): the
/// date lies within 49 years before and 50 years after the current year.
pub fn century_year(yy: i32, today_year: i32) -> i32 {
    let cur_yy = today_year.rem_euclid(100);
    let century = today_year - cur_yy;
    match yy - cur_yy {
        d if d >= 51 => century - 100 + yy,
        d if d <= -50 => century + 100 + yy,
        _ => century + yy,
    }
}

/// A `YYMMDD` date. With `day0`, day `00` stands for the last day of the month.
pub fn parse_yymmdd(c: &[u8], today_year: i32, day0: bool) -> Result<Date, &'static str> {
    if c.len() != 6 || !c.iter().all(u8::is_ascii_digit) {
        return Err("a date must be six digits YYMMDD");
    }
    let year = century_year(num(&c[..2]) as i32, today_year);
    make_date(year, num(&c[2..4]) as u32, num(&c[4..6]) as u32, day0)
}

/// A `YYYYMMDD` date.
fn parse_yyyymmdd(c: &[u8]) -> Result<Date, &'static str> {
    if c.len() != 8 || !c.iter().all(u8::is_ascii_digit) {
        return Err("a date must be eight digits YYYYMMDD");
    }
    make_date(
        num(&c[..4]) as i32,
        num(&c[4..6]) as u32,
        num(&c[6..8]) as u32,
        false,
    )
}

fn make_date(year: i32, month: u32, day: u32, day0: bool) -> Result<Date, &'static str> {
    if !(1..=12).contains(&month) {
        return Err("invalid month");
    }
    let last = days_in_month(year, month);
    let day = match day {
        0 if day0 => last,
        0 => return Err("day 00 is not allowed for this AI"),
        d if d > last => return Err("the month has no such day"),
        d => d,
    };
    Ok(Date {
        year,
        month: month as u8,
        day: day as u8,
    })
}

/// Whether an AI matches a pattern of the dictionary (`"01"`, `"310n"`, `"31nn"`).
fn matches_pattern(ai: &str, pattern: &str) -> bool {
    ai.len() == pattern.len()
        && ai
            .bytes()
            .zip(pattern.bytes())
            .all(|(a, p)| p == b'n' || a == p)
}

/// Checks the message as a whole: a repeated AI must repeat its value; each AI's `req=`
/// groups must be met by other elements; no `ex=` pattern may match another element.
pub fn check_message(text: &str, spans: &[Span], errors: &mut Vec<DecodeError>) {
    let mut conflicts: Vec<(&'static str, &'static str)> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let ai = s.def.ai;
        // Rules are checked once per AI, at its first occurrence.
        if spans[..i].iter().any(|o| o.def.ai == ai) {
            continue;
        }
        if spans[i + 1..]
            .iter()
            .any(|o| o.def.ai == ai && o.value(text) != s.value(text))
        {
            errors.push(DecodeError::RepeatMismatch { ai });
        }
        let present = |pattern: &str| {
            spans
                .iter()
                .any(|o| o.def.ai != ai && matches_pattern(o.def.ai, pattern))
        };
        for group in s.def.req {
            let met = group.iter().any(|alt| alt.split('+').all(&present));
            if !met {
                errors.push(DecodeError::MissingPair { ai, needs: group });
            }
        }
        for pattern in s.def.ex {
            for o in spans {
                let other = o.def.ai;
                if other == ai || !matches_pattern(other, pattern) {
                    continue;
                }
                if !conflicts.contains(&(other, ai)) && !conflicts.contains(&(ai, other)) {
                    conflicts.push((ai, other));
                    errors.push(DecodeError::Conflict { ai, other });
                }
            }
        }
    }
}

/// The number of decimal places of a measure AI (`310n`..`369n`), if `ai` is one.
pub fn measure_decimals(ai: &str) -> Option<u8> {
    match ai.as_bytes() {
        [b'3', b'1'..=b'6', _, n @ b'0'..=b'9'] => Some(n - b'0'),
        _ => None,
    }
}

/// Writes a digit string with `decimals` implied decimal places as a decimal number:
/// `("001250", 3)` → `"1.250"`.
pub fn implied_decimal(digits: &str, decimals: u8) -> String {
    let n = usize::from(decimals).min(digits.len());
    let (int, frac) = digits.split_at(digits.len() - n);
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    }
}

/// Whether the AI needs a separator after its value when more data follows.
pub fn needs_separator(def: &AiDef) -> bool {
    def.flags & flag::PREDEFINED == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod10_examples() {
        assert_eq!(mod10(b"0950600013435"), 2);
        assert!(check_digit_ok(b"09506000134352"));
        assert!(!check_digit_ok(b"09506000134353"));
        assert!(check_digit_ok(b"5901234123457"));
        assert!(check_digit_ok(b"106141411234567897"));
    }

    #[test]
    fn check_pair_examples_from_the_spec() {
        assert!(check_pair(b"1987654Ad4X4bL5ttr2310c2K").is_ok());
        assert!(check_pair(b"1987654Ad4X4bL5ttr2310cXK").is_err());
        assert!(check_pair(b"12345_ABCDEFGHIJKLMCP").is_ok());
        assert!(check_pair(b"22").is_ok());
        assert!(check_pair(b"33").is_err());
    }

    #[test]
    fn century_rule() {
        assert_eq!(century_year(99, 2026), 1999);
        assert_eq!(century_year(75, 2026), 2075);
        assert_eq!(century_year(76, 2026), 2076);
        assert_eq!(century_year(77, 2026), 1977);
        assert_eq!(century_year(26, 2026), 2026);
        assert_eq!(century_year(10, 2060), 2110);
        assert_eq!(century_year(11, 2060), 2011);
    }

    #[test]
    fn other_linters() {
        assert!(pos_in_seq(b"1/2") && pos_in_seq(b"9/10"));
        assert!(!pos_in_seq(b"2/1") && !pos_in_seq(b"01/2") && !pos_in_seq(b"1/"));
        assert!(iban_ok(b"GB82WEST12345698765432"));
        assert!(!iban_ok(b"GB82WEST12345698765433"));
        assert_eq!(implied_decimal("001250", 3), "1.250");
        assert_eq!(implied_decimal("000450", 2), "4.50");
        assert_eq!(implied_decimal("000450", 0), "450");
        assert_eq!(implied_decimal("000000", 5), "0.00000");
        assert_eq!(measure_decimals("3103"), Some(3));
        assert_eq!(measure_decimals("3695"), Some(5));
        assert_eq!(measure_decimals("3920"), None);
        assert_eq!(measure_decimals("01"), None);
    }
}
