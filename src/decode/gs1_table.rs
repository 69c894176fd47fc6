//! The GS1 Application Identifier table: every AI of the GS1 General Specifications as listed
//! by the GS1 Barcode Syntax Dictionary (gs1/gs1-syntax-engine,
//! `src/c-lib/gs1-syntax-dictionary.txt`, 2025 edition), ranges expanded to one row per AI.
//!
//! Generated once from that file and then committed; edit by hand when GS1 publishes a change
//! (new AIs arrive through GSCNs a few times a year). Each row keeps what the dictionary says:
//! data title, components (character set, length, content checks), whether the AI is
//! predefined-length (`*`), a GS1 key (`!`), a Digital Link data attribute (`?`), its `req=` and
//! `ex=` pairing rules and its Digital Link key-qualifier sequences (`dlpkey`).

/// Character set of one component of an AI value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cset {
    /// Digits `0-9`.
    N,
    /// GS1 AI encodable character set 82.
    X,
    /// GS1 AI encodable character set 39 (`A-Z`, `0-9`, `#`, `-`, `/`).
    Y,
    /// GS1 AI encodable character set 64 (base64url: `A-Z`, `a-z`, `0-9`, `-`, `_`, `=` padding).
    Z,
}

/// One component of an AI value: a run of characters of one set with a length range, plus the
/// content checks ("linters") the dictionary names for it, as a bit set of [`lint`] flags.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// Character set.
    pub cset: Cset,
    /// Fewest characters (equal to `max` for a fixed-length component).
    pub min: u8,
    /// Most characters.
    pub max: u8,
    /// The component may be left out when the data ends before it.
    pub optional: bool,
    /// Content checks, [`lint`] bits.
    pub lint: u64,
}

/// One Application Identifier.
#[derive(Debug)]
pub struct AiDef {
    /// The AI digits, e.g. `"01"`, `"3103"`.
    pub ai: &'static str,
    /// GS1 data title, e.g. `"GTIN"`, `"BATCH/LOT"`.
    pub title: &'static str,
    /// [`flag`] bits.
    pub flags: u8,
    /// Shortest value (sum of the mandatory components' minimum lengths).
    pub min: u8,
    /// Longest value.
    pub max: u8,
    /// The value's components, in order.
    pub parts: &'static [Part],
    /// `req=` rules: every group must be satisfied; a group is satisfied when one of its
    /// alternatives is present; an alternative is AI patterns joined by `+`, all required.
    /// In a pattern `n` stands for any digit (`31nn`).
    pub req: &'static [&'static [&'static str]],
    /// `ex=` rules: AI patterns that must not appear with this AI.
    pub ex: &'static [&'static str],
    /// Digital Link primary key: the allowed qualifier sequences (each an ordered list of AIs
    /// any of which may be left out); `Some(&[])` for a key without qualifiers.
    pub dl_key: Option<&'static [&'static [&'static str]]>,
}

/// Bits of [`AiDef::flags`].
pub mod flag {
    /// Predefined length: no separator needed after the value (`*`).
    pub const PREDEFINED: u8 = 1;
    /// A GS1 identification key (`!`).
    pub const KEY: u8 = 2;
    /// Allowed as a Digital Link data attribute, i.e. in the query string (`?`).
    pub const DL_ATTR: u8 = 4;
}

/// Content checks named by the dictionary ([`Part::lint`] bits).
pub mod lint {
    /// `csum`
    pub const CSUM: u64 = 1 << 0;
    /// `csumalpha`
    pub const CSUMALPHA: u64 = 1 << 1;
    /// `gcppos1`
    pub const GCPPOS1: u64 = 1 << 2;
    /// `gcppos2`
    pub const GCPPOS2: u64 = 1 << 3;
    /// `yymmd0`
    pub const YYMMD0: u64 = 1 << 4;
    /// `yymmdd`
    pub const YYMMDD: u64 = 1 << 5;
    /// `yyyymmdd`
    pub const YYYYMMDD: u64 = 1 << 6;
    /// `hhmi`
    pub const HHMI: u64 = 1 << 7;
    /// `hh`
    pub const HH: u64 = 1 << 8;
    /// `mi`
    pub const MI: u64 = 1 << 9;
    /// `ss`
    pub const SS: u64 = 1 << 10;
    /// `zero`
    pub const ZERO: u64 = 1 << 11;
    /// `nonzero`
    pub const NONZERO: u64 = 1 << 12;
    /// `yesno`
    pub const YESNO: u64 = 1 << 13;
    /// `hyphen`
    pub const HYPHEN: u64 = 1 << 14;
    /// `pieceoftotal`
    pub const PIECEOFTOTAL: u64 = 1 << 15;
    /// `nozeroprefix`
    pub const NOZEROPREFIX: u64 = 1 << 16;
    /// `winding`
    pub const WINDING: u64 = 1 << 17;
    /// `latitude`
    pub const LATITUDE: u64 = 1 << 18;
    /// `longitude`
    pub const LONGITUDE: u64 = 1 << 19;
    /// `pcenc`
    pub const PCENC: u64 = 1 << 20;
    /// `hasnondigit`
    pub const HASNONDIGIT: u64 = 1 << 21;
    /// `iso3166`
    pub const ISO3166: u64 = 1 << 22;
    /// `iso3166999`
    pub const ISO3166999: u64 = 1 << 23;
    /// `iso3166alpha2`
    pub const ISO3166ALPHA2: u64 = 1 << 24;
    /// `iso4217`
    pub const ISO4217: u64 = 1 << 25;
    /// `iban`
    pub const IBAN: u64 = 1 << 26;
    /// `couponcode`
    pub const COUPONCODE: u64 = 1 << 27;
    /// `couponposoffer`
    pub const COUPONPOSOFFER: u64 = 1 << 28;
    /// `mediatype`
    pub const MEDIATYPE: u64 = 1 << 29;
    /// `importeridx`
    pub const IMPORTERIDX: u64 = 1 << 30;
    /// `packagetype`
    pub const PACKAGETYPE: u64 = 1 << 31;
    /// `iso5218`
    pub const ISO5218: u64 = 1 << 32;
    /// `posinseqslash`
    pub const POSINSEQSLASH: u64 = 1 << 33;
}

use lint::*;
use Cset::{N, X, Y, Z};

const fn p(cset: Cset, min: u8, max: u8, optional: bool, lint: u64) -> Part {
    Part {
        cset,
        min,
        max,
        optional,
        lint,
    }
}

#[rustfmt::skip]
const P_N10_LATITUDE__N10_LONGITUDE: &[Part] = &[p(N, 10, 10, false, LATITUDE), p(N, 10, 10, false, LONGITUDE)];
#[rustfmt::skip]
const P_N13: &[Part] = &[p(N, 13, 13, false, 0)];
#[rustfmt::skip]
const P_N13_CSUM_GCPPOS1: &[Part] = &[p(N, 13, 13, false, CSUM | GCPPOS1)];
#[rustfmt::skip]
const P_N13_CSUM_GCPPOS1__ONV12: &[Part] = &[p(N, 13, 13, false, CSUM | GCPPOS1), p(N, 1, 12, true, 0)];
#[rustfmt::skip]
const P_N13_CSUM_GCPPOS1__OXV17: &[Part] = &[p(N, 13, 13, false, CSUM | GCPPOS1), p(X, 1, 17, true, 0)];
#[rustfmt::skip]
const P_N14_CSUM_GCPPOS2: &[Part] = &[p(N, 14, 14, false, CSUM | GCPPOS2)];
#[rustfmt::skip]
const P_N14_CSUM_GCPPOS2__N4_PIECEOFTOTAL: &[Part] = &[p(N, 14, 14, false, CSUM | GCPPOS2), p(N, 4, 4, false, PIECEOFTOTAL)];
#[rustfmt::skip]
const P_N17_CSUM_GCPPOS1: &[Part] = &[p(N, 17, 17, false, CSUM | GCPPOS1)];
#[rustfmt::skip]
const P_N18_CSUM_GCPPOS1: &[Part] = &[p(N, 18, 18, false, CSUM | GCPPOS1)];
#[rustfmt::skip]
const P_N18_CSUM_GCPPOS2: &[Part] = &[p(N, 18, 18, false, CSUM | GCPPOS2)];
#[rustfmt::skip]
const P_N1_ISO5218: &[Part] = &[p(N, 1, 1, false, ISO5218)];
#[rustfmt::skip]
const P_N1_YESNO: &[Part] = &[p(N, 1, 1, false, YESNO)];
#[rustfmt::skip]
const P_N1_ZERO__N13_CSUM_GCPPOS1__OXV16: &[Part] = &[p(N, 1, 1, false, ZERO), p(N, 13, 13, false, CSUM | GCPPOS1), p(X, 1, 16, true, 0)];
#[rustfmt::skip]
const P_N1__X1__X1__X1_IMPORTERIDX: &[Part] = &[p(N, 1, 1, false, 0), p(X, 1, 1, false, 0), p(X, 1, 1, false, 0), p(X, 1, 1, false, IMPORTERIDX)];
#[rustfmt::skip]
const P_N2: &[Part] = &[p(N, 2, 2, false, 0)];
#[rustfmt::skip]
const P_N2_MEDIATYPE: &[Part] = &[p(N, 2, 2, false, MEDIATYPE)];
#[rustfmt::skip]
const P_N3_ISO3166: &[Part] = &[p(N, 3, 3, false, ISO3166)];
#[rustfmt::skip]
const P_N3_ISO3166999__XV27: &[Part] = &[p(N, 3, 3, false, ISO3166999), p(X, 1, 27, false, 0)];
#[rustfmt::skip]
const P_N3_ISO3166__ON3_ISO3166__ON3_ISO3166__ON3_ISO3166__ON3_ISO3166: &[Part] = &[p(N, 3, 3, false, ISO3166), p(N, 3, 3, true, ISO3166), p(N, 3, 3, true, ISO3166), p(N, 3, 3, true, ISO3166), p(N, 3, 3, true, ISO3166)];
#[rustfmt::skip]
const P_N3_ISO3166__XV9: &[Part] = &[p(N, 3, 3, false, ISO3166), p(X, 1, 9, false, 0)];
#[rustfmt::skip]
const P_N3_ISO4217__NV15: &[Part] = &[p(N, 3, 3, false, ISO4217), p(N, 1, 15, false, 0)];
#[rustfmt::skip]
const P_N4: &[Part] = &[p(N, 4, 4, false, 0)];
#[rustfmt::skip]
const P_N4_NONZERO__N5_NONZERO__N3_NONZERO__N1_WINDING__N1: &[Part] = &[p(N, 4, 4, false, NONZERO), p(N, 5, 5, false, NONZERO), p(N, 3, 3, false, NONZERO), p(N, 1, 1, false, WINDING), p(N, 1, 1, false, 0)];
#[rustfmt::skip]
const P_N6: &[Part] = &[p(N, 6, 6, false, 0)];
#[rustfmt::skip]
const P_N6_YYMMD0: &[Part] = &[p(N, 6, 6, false, YYMMD0)];
#[rustfmt::skip]
const P_N6_YYMMD0__N4_HHMI: &[Part] = &[p(N, 6, 6, false, YYMMD0), p(N, 4, 4, false, HHMI)];
#[rustfmt::skip]
const P_N6_YYMMDD: &[Part] = &[p(N, 6, 6, false, YYMMDD)];
#[rustfmt::skip]
const P_N6_YYMMDD__N2_HH__ON2_MI__ON2_SS: &[Part] = &[p(N, 6, 6, false, YYMMDD), p(N, 2, 2, false, HH), p(N, 2, 2, true, MI), p(N, 2, 2, true, SS)];
#[rustfmt::skip]
const P_N6_YYMMDD__N4_HHMI: &[Part] = &[p(N, 6, 6, false, YYMMDD), p(N, 4, 4, false, HHMI)];
#[rustfmt::skip]
const P_N6_YYMMDD__ON4_HHMI: &[Part] = &[p(N, 6, 6, false, YYMMDD), p(N, 4, 4, true, HHMI)];
#[rustfmt::skip]
const P_N6_YYMMDD__ON6_YYMMDD: &[Part] = &[p(N, 6, 6, false, YYMMDD), p(N, 6, 6, true, YYMMDD)];
#[rustfmt::skip]
const P_N6__OX1_HYPHEN: &[Part] = &[p(N, 6, 6, false, 0), p(X, 1, 1, true, HYPHEN)];
#[rustfmt::skip]
const P_N8_YYYYMMDD: &[Part] = &[p(N, 8, 8, false, YYYYMMDD)];
#[rustfmt::skip]
const P_N8_YYYYMMDD__N4_HHMI: &[Part] = &[p(N, 8, 8, false, YYYYMMDD), p(N, 4, 4, false, HHMI)];
#[rustfmt::skip]
const P_NV10: &[Part] = &[p(N, 1, 10, false, 0)];
#[rustfmt::skip]
const P_NV12_NOZEROPREFIX: &[Part] = &[p(N, 1, 12, false, NOZEROPREFIX)];
#[rustfmt::skip]
const P_NV15: &[Part] = &[p(N, 1, 15, false, 0)];
#[rustfmt::skip]
const P_NV4: &[Part] = &[p(N, 1, 4, false, 0)];
#[rustfmt::skip]
const P_NV6: &[Part] = &[p(N, 1, 6, false, 0)];
#[rustfmt::skip]
const P_NV8: &[Part] = &[p(N, 1, 8, false, 0)];
#[rustfmt::skip]
const P_X2_ISO3166ALPHA2: &[Part] = &[p(X, 2, 2, false, ISO3166ALPHA2)];
#[rustfmt::skip]
const P_X2__XV28: &[Part] = &[p(X, 2, 2, false, 0), p(X, 1, 28, false, 0)];
#[rustfmt::skip]
const P_X3_POSINSEQSLASH: &[Part] = &[p(X, 3, 3, false, POSINSEQSLASH)];
#[rustfmt::skip]
const P_XV10: &[Part] = &[p(X, 1, 10, false, 0)];
#[rustfmt::skip]
const P_XV12: &[Part] = &[p(X, 1, 12, false, 0)];
#[rustfmt::skip]
const P_XV2: &[Part] = &[p(X, 1, 2, false, 0)];
#[rustfmt::skip]
const P_XV20: &[Part] = &[p(X, 1, 20, false, 0)];
#[rustfmt::skip]
const P_XV25: &[Part] = &[p(X, 1, 25, false, 0)];
#[rustfmt::skip]
const P_XV25_CSUMALPHA_GCPPOS1: &[Part] = &[p(X, 1, 25, false, CSUMALPHA | GCPPOS1)];
#[rustfmt::skip]
const P_XV25_CSUMALPHA_GCPPOS1_HASNONDIGIT: &[Part] = &[p(X, 1, 25, false, CSUMALPHA | GCPPOS1 | HASNONDIGIT)];
#[rustfmt::skip]
const P_XV28: &[Part] = &[p(X, 1, 28, false, 0)];
#[rustfmt::skip]
const P_XV3: &[Part] = &[p(X, 1, 3, false, 0)];
#[rustfmt::skip]
const P_XV30: &[Part] = &[p(X, 1, 30, false, 0)];
#[rustfmt::skip]
const P_XV30_GCPPOS1: &[Part] = &[p(X, 1, 30, false, GCPPOS1)];
#[rustfmt::skip]
const P_XV34_IBAN: &[Part] = &[p(X, 1, 34, false, IBAN)];
#[rustfmt::skip]
const P_XV35_PCENC: &[Part] = &[p(X, 1, 35, false, PCENC)];
#[rustfmt::skip]
const P_XV40_PCENC: &[Part] = &[p(X, 1, 40, false, PCENC)];
#[rustfmt::skip]
const P_XV4_PACKAGETYPE: &[Part] = &[p(X, 1, 4, false, PACKAGETYPE)];
#[rustfmt::skip]
const P_XV50: &[Part] = &[p(X, 1, 50, false, 0)];
#[rustfmt::skip]
const P_XV70: &[Part] = &[p(X, 1, 70, false, 0)];
#[rustfmt::skip]
const P_XV70_COUPONCODE: &[Part] = &[p(X, 1, 70, false, COUPONCODE)];
#[rustfmt::skip]
const P_XV70_COUPONPOSOFFER: &[Part] = &[p(X, 1, 70, false, COUPONPOSOFFER)];
#[rustfmt::skip]
const P_XV70_PCENC: &[Part] = &[p(X, 1, 70, false, PCENC)];
#[rustfmt::skip]
const P_XV90: &[Part] = &[p(X, 1, 90, false, 0)];
#[rustfmt::skip]
const P_XV90_PCENC: &[Part] = &[p(X, 1, 90, false, PCENC)];
#[rustfmt::skip]
const P_YV30_GCPPOS1: &[Part] = &[p(Y, 1, 30, false, GCPPOS1)];
#[rustfmt::skip]
const P_ZV90: &[Part] = &[p(Z, 1, 90, false, 0)];

const PRE: u8 = flag::PREDEFINED;
const KEY: u8 = flag::KEY;
const DLA: u8 = flag::DL_ATTR;

#[allow(clippy::too_many_arguments)]
const fn d(
    ai: &'static str,
    flags: u8,
    parts: &'static [Part],
    min: u8,
    max: u8,
    req: &'static [&'static [&'static str]],
    ex: &'static [&'static str],
    dl_key: Option<&'static [&'static [&'static str]]>,
    title: &'static str,
) -> AiDef {
    AiDef {
        ai,
        title,
        flags,
        min,
        max,
        parts,
        req,
        ex,
        dl_key,
    }
}

/// Number of AIs in [`AIS`].
pub const AI_COUNT: usize = 536;

/// Every AI, in lexical order of the AI digits.
#[rustfmt::skip]
pub static AIS: [AiDef; AI_COUNT] = [
    d("00", PRE | KEY | DLA, P_N18_CSUM_GCPPOS2, 18, 18, &[], &[], Some(&[]), "SSCC"),
    d("01", PRE | KEY | DLA, P_N14_CSUM_GCPPOS2, 14, 14, &[], &["255", "37"], Some(&[&["22", "10", "21"], &["235"]]), "GTIN"),
    d("02", PRE | DLA, P_N14_CSUM_GCPPOS2, 14, 14, &[&["37"]], &["01", "03"], None, "CONTENT"),
    d("03", PRE, P_N14_CSUM_GCPPOS2, 14, 14, &[], &["01", "02", "37"], None, "MTO GTIN"),
    d("10", DLA, P_XV20, 1, 20, &[&["01", "02", "03", "8006", "8026"]], &[], None, "BATCH/LOT"),
    d("11", PRE | DLA, P_N6_YYMMD0, 6, 6, &[&["01", "02", "03", "8006", "8026"]], &[], None, "PROD DATE"),
    d("12", PRE | DLA, P_N6_YYMMD0, 6, 6, &[&["8020"]], &[], None, "DUE DATE"),
    d("13", PRE | DLA, P_N6_YYMMD0, 6, 6, &[&["01", "02", "03", "8006", "8026"]], &[], None, "PACK DATE"),
    d("15", PRE | DLA, P_N6_YYMMD0, 6, 6, &[&["01", "02", "03", "8006", "8026"]], &[], None, "BEST BEFORE or BEST BY"),
    d("16", PRE | DLA, P_N6_YYMMD0, 6, 6, &[&["01", "02", "03", "8006", "8026"]], &[], None, "SELL BY"),
    d("17", PRE | DLA, P_N6_YYMMD0, 6, 6, &[&["01", "02", "03", "255", "8006", "8026"]], &[], None, "USE BY or EXPIRY"),
    d("20", PRE | DLA, P_N2, 2, 2, &[&["01", "02", "8006", "8026"]], &[], None, "VARIANT"),
    d("21", 0, P_XV20, 1, 20, &[&["01", "03", "8006"]], &["235"], None, "SERIAL"),
    d("22", 0, P_XV20, 1, 20, &[&["01"]], &[], None, "CPV"),
    d("235", 0, P_XV28, 1, 28, &[&["01"]], &[], None, "TPX"),
    d("240", DLA, P_XV30, 1, 30, &[&["01", "02", "8006", "8026"]], &[], None, "ADDITIONAL ID"),
    d("241", DLA, P_XV30, 1, 30, &[&["01", "02", "8006", "8026"]], &[], None, "CUST. PART No."),
    d("242", DLA, P_NV6, 1, 6, &[&["01", "02", "8006", "8026"]], &[], None, "MTO VARIANT"),
    d("243", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "PCN"),
    d("250", DLA, P_XV30, 1, 30, &[&["01", "8006"], &["21"]], &[], None, "SECONDARY SERIAL"),
    d("251", DLA, P_XV30, 1, 30, &[&["01", "8006"]], &[], None, "REF. TO SOURCE"),
    d("253", KEY | DLA, P_N13_CSUM_GCPPOS1__OXV17, 13, 30, &[], &[], Some(&[]), "GDTI"),
    d("254", 0, P_XV20, 1, 20, &[&["414"]], &[], None, "GLN EXTENSION COMPONENT"),
    d("255", KEY | DLA, P_N13_CSUM_GCPPOS1__ONV12, 13, 25, &[], &["01", "02", "415", "8006", "8020", "8026"], Some(&[]), "GCN"),
    d("30", DLA, P_NV8, 1, 8, &[&["01", "02"]], &[], None, "VAR. COUNT"),
    d("3100", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["310n"], None, "NET WEIGHT (kg)"),
    d("3101", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["310n"], None, "NET WEIGHT (kg)"),
    d("3102", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["310n"], None, "NET WEIGHT (kg)"),
    d("3103", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["310n"], None, "NET WEIGHT (kg)"),
    d("3104", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["310n"], None, "NET WEIGHT (kg)"),
    d("3105", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["310n"], None, "NET WEIGHT (kg)"),
    d("3110", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["311n"], None, "LENGTH (m)"),
    d("3111", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["311n"], None, "LENGTH (m)"),
    d("3112", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["311n"], None, "LENGTH (m)"),
    d("3113", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["311n"], None, "LENGTH (m)"),
    d("3114", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["311n"], None, "LENGTH (m)"),
    d("3115", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["311n"], None, "LENGTH (m)"),
    d("3120", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["312n"], None, "WIDTH (m)"),
    d("3121", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["312n"], None, "WIDTH (m)"),
    d("3122", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["312n"], None, "WIDTH (m)"),
    d("3123", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["312n"], None, "WIDTH (m)"),
    d("3124", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["312n"], None, "WIDTH (m)"),
    d("3125", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["312n"], None, "WIDTH (m)"),
    d("3130", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["313n"], None, "HEIGHT (m)"),
    d("3131", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["313n"], None, "HEIGHT (m)"),
    d("3132", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["313n"], None, "HEIGHT (m)"),
    d("3133", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["313n"], None, "HEIGHT (m)"),
    d("3134", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["313n"], None, "HEIGHT (m)"),
    d("3135", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["313n"], None, "HEIGHT (m)"),
    d("3140", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["314n"], None, "AREA (m²)"),
    d("3141", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["314n"], None, "AREA (m²)"),
    d("3142", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["314n"], None, "AREA (m²)"),
    d("3143", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["314n"], None, "AREA (m²)"),
    d("3144", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["314n"], None, "AREA (m²)"),
    d("3145", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["314n"], None, "AREA (m²)"),
    d("3150", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["315n"], None, "NET VOLUME (l)"),
    d("3151", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["315n"], None, "NET VOLUME (l)"),
    d("3152", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["315n"], None, "NET VOLUME (l)"),
    d("3153", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["315n"], None, "NET VOLUME (l)"),
    d("3154", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["315n"], None, "NET VOLUME (l)"),
    d("3155", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["315n"], None, "NET VOLUME (l)"),
    d("3160", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["316n"], None, "NET VOLUME (m³)"),
    d("3161", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["316n"], None, "NET VOLUME (m³)"),
    d("3162", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["316n"], None, "NET VOLUME (m³)"),
    d("3163", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["316n"], None, "NET VOLUME (m³)"),
    d("3164", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["316n"], None, "NET VOLUME (m³)"),
    d("3165", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["316n"], None, "NET VOLUME (m³)"),
    d("3200", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["320n"], None, "NET WEIGHT (lb)"),
    d("3201", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["320n"], None, "NET WEIGHT (lb)"),
    d("3202", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["320n"], None, "NET WEIGHT (lb)"),
    d("3203", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["320n"], None, "NET WEIGHT (lb)"),
    d("3204", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["320n"], None, "NET WEIGHT (lb)"),
    d("3205", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["320n"], None, "NET WEIGHT (lb)"),
    d("3210", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["321n"], None, "LENGTH (in)"),
    d("3211", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["321n"], None, "LENGTH (in)"),
    d("3212", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["321n"], None, "LENGTH (in)"),
    d("3213", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["321n"], None, "LENGTH (in)"),
    d("3214", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["321n"], None, "LENGTH (in)"),
    d("3215", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["321n"], None, "LENGTH (in)"),
    d("3220", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["322n"], None, "LENGTH (ft)"),
    d("3221", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["322n"], None, "LENGTH (ft)"),
    d("3222", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["322n"], None, "LENGTH (ft)"),
    d("3223", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["322n"], None, "LENGTH (ft)"),
    d("3224", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["322n"], None, "LENGTH (ft)"),
    d("3225", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["322n"], None, "LENGTH (ft)"),
    d("3230", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["323n"], None, "LENGTH (yd)"),
    d("3231", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["323n"], None, "LENGTH (yd)"),
    d("3232", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["323n"], None, "LENGTH (yd)"),
    d("3233", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["323n"], None, "LENGTH (yd)"),
    d("3234", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["323n"], None, "LENGTH (yd)"),
    d("3235", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["323n"], None, "LENGTH (yd)"),
    d("3240", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["324n"], None, "WIDTH (in)"),
    d("3241", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["324n"], None, "WIDTH (in)"),
    d("3242", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["324n"], None, "WIDTH (in)"),
    d("3243", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["324n"], None, "WIDTH (in)"),
    d("3244", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["324n"], None, "WIDTH (in)"),
    d("3245", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["324n"], None, "WIDTH (in)"),
    d("3250", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["325n"], None, "WIDTH (ft)"),
    d("3251", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["325n"], None, "WIDTH (ft)"),
    d("3252", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["325n"], None, "WIDTH (ft)"),
    d("3253", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["325n"], None, "WIDTH (ft)"),
    d("3254", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["325n"], None, "WIDTH (ft)"),
    d("3255", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["325n"], None, "WIDTH (ft)"),
    d("3260", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["326n"], None, "WIDTH (yd)"),
    d("3261", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["326n"], None, "WIDTH (yd)"),
    d("3262", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["326n"], None, "WIDTH (yd)"),
    d("3263", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["326n"], None, "WIDTH (yd)"),
    d("3264", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["326n"], None, "WIDTH (yd)"),
    d("3265", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["326n"], None, "WIDTH (yd)"),
    d("3270", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["327n"], None, "HEIGHT (in)"),
    d("3271", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["327n"], None, "HEIGHT (in)"),
    d("3272", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["327n"], None, "HEIGHT (in)"),
    d("3273", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["327n"], None, "HEIGHT (in)"),
    d("3274", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["327n"], None, "HEIGHT (in)"),
    d("3275", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["327n"], None, "HEIGHT (in)"),
    d("3280", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["328n"], None, "HEIGHT (ft)"),
    d("3281", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["328n"], None, "HEIGHT (ft)"),
    d("3282", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["328n"], None, "HEIGHT (ft)"),
    d("3283", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["328n"], None, "HEIGHT (ft)"),
    d("3284", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["328n"], None, "HEIGHT (ft)"),
    d("3285", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["328n"], None, "HEIGHT (ft)"),
    d("3290", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["329n"], None, "HEIGHT (yd)"),
    d("3291", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["329n"], None, "HEIGHT (yd)"),
    d("3292", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["329n"], None, "HEIGHT (yd)"),
    d("3293", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["329n"], None, "HEIGHT (yd)"),
    d("3294", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["329n"], None, "HEIGHT (yd)"),
    d("3295", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["329n"], None, "HEIGHT (yd)"),
    d("3300", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["330n"], None, "GROSS WEIGHT (kg)"),
    d("3301", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["330n"], None, "GROSS WEIGHT (kg)"),
    d("3302", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["330n"], None, "GROSS WEIGHT (kg)"),
    d("3303", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["330n"], None, "GROSS WEIGHT (kg)"),
    d("3304", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["330n"], None, "GROSS WEIGHT (kg)"),
    d("3305", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["330n"], None, "GROSS WEIGHT (kg)"),
    d("3310", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["331n"], None, "LENGTH (m), log"),
    d("3311", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["331n"], None, "LENGTH (m), log"),
    d("3312", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["331n"], None, "LENGTH (m), log"),
    d("3313", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["331n"], None, "LENGTH (m), log"),
    d("3314", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["331n"], None, "LENGTH (m), log"),
    d("3315", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["331n"], None, "LENGTH (m), log"),
    d("3320", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["332n"], None, "WIDTH (m), log"),
    d("3321", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["332n"], None, "WIDTH (m), log"),
    d("3322", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["332n"], None, "WIDTH (m), log"),
    d("3323", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["332n"], None, "WIDTH (m), log"),
    d("3324", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["332n"], None, "WIDTH (m), log"),
    d("3325", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["332n"], None, "WIDTH (m), log"),
    d("3330", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["333n"], None, "HEIGHT (m), log"),
    d("3331", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["333n"], None, "HEIGHT (m), log"),
    d("3332", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["333n"], None, "HEIGHT (m), log"),
    d("3333", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["333n"], None, "HEIGHT (m), log"),
    d("3334", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["333n"], None, "HEIGHT (m), log"),
    d("3335", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["333n"], None, "HEIGHT (m), log"),
    d("3340", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["334n"], None, "AREA (m²), log"),
    d("3341", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["334n"], None, "AREA (m²), log"),
    d("3342", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["334n"], None, "AREA (m²), log"),
    d("3343", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["334n"], None, "AREA (m²), log"),
    d("3344", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["334n"], None, "AREA (m²), log"),
    d("3345", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["334n"], None, "AREA (m²), log"),
    d("3350", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["335n"], None, "VOLUME (l), log"),
    d("3351", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["335n"], None, "VOLUME (l), log"),
    d("3352", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["335n"], None, "VOLUME (l), log"),
    d("3353", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["335n"], None, "VOLUME (l), log"),
    d("3354", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["335n"], None, "VOLUME (l), log"),
    d("3355", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["335n"], None, "VOLUME (l), log"),
    d("3360", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["336n"], None, "VOLUME (m³), log"),
    d("3361", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["336n"], None, "VOLUME (m³), log"),
    d("3362", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["336n"], None, "VOLUME (m³), log"),
    d("3363", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["336n"], None, "VOLUME (m³), log"),
    d("3364", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["336n"], None, "VOLUME (m³), log"),
    d("3365", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["336n"], None, "VOLUME (m³), log"),
    d("3370", PRE | DLA, P_N6, 6, 6, &[&["01"]], &["337n"], None, "KG PER m²"),
    d("3371", PRE | DLA, P_N6, 6, 6, &[&["01"]], &["337n"], None, "KG PER m²"),
    d("3372", PRE | DLA, P_N6, 6, 6, &[&["01"]], &["337n"], None, "KG PER m²"),
    d("3373", PRE | DLA, P_N6, 6, 6, &[&["01"]], &["337n"], None, "KG PER m²"),
    d("3374", PRE | DLA, P_N6, 6, 6, &[&["01"]], &["337n"], None, "KG PER m²"),
    d("3375", PRE | DLA, P_N6, 6, 6, &[&["01"]], &["337n"], None, "KG PER m²"),
    d("3400", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["340n"], None, "GROSS WEIGHT (lb)"),
    d("3401", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["340n"], None, "GROSS WEIGHT (lb)"),
    d("3402", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["340n"], None, "GROSS WEIGHT (lb)"),
    d("3403", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["340n"], None, "GROSS WEIGHT (lb)"),
    d("3404", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["340n"], None, "GROSS WEIGHT (lb)"),
    d("3405", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["340n"], None, "GROSS WEIGHT (lb)"),
    d("3410", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["341n"], None, "LENGTH (in), log"),
    d("3411", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["341n"], None, "LENGTH (in), log"),
    d("3412", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["341n"], None, "LENGTH (in), log"),
    d("3413", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["341n"], None, "LENGTH (in), log"),
    d("3414", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["341n"], None, "LENGTH (in), log"),
    d("3415", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["341n"], None, "LENGTH (in), log"),
    d("3420", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["342n"], None, "LENGTH (ft), log"),
    d("3421", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["342n"], None, "LENGTH (ft), log"),
    d("3422", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["342n"], None, "LENGTH (ft), log"),
    d("3423", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["342n"], None, "LENGTH (ft), log"),
    d("3424", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["342n"], None, "LENGTH (ft), log"),
    d("3425", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["342n"], None, "LENGTH (ft), log"),
    d("3430", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["343n"], None, "LENGTH (yd), log"),
    d("3431", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["343n"], None, "LENGTH (yd), log"),
    d("3432", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["343n"], None, "LENGTH (yd), log"),
    d("3433", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["343n"], None, "LENGTH (yd), log"),
    d("3434", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["343n"], None, "LENGTH (yd), log"),
    d("3435", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["343n"], None, "LENGTH (yd), log"),
    d("3440", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["344n"], None, "WIDTH (in), log"),
    d("3441", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["344n"], None, "WIDTH (in), log"),
    d("3442", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["344n"], None, "WIDTH (in), log"),
    d("3443", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["344n"], None, "WIDTH (in), log"),
    d("3444", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["344n"], None, "WIDTH (in), log"),
    d("3445", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["344n"], None, "WIDTH (in), log"),
    d("3450", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["345n"], None, "WIDTH (ft), log"),
    d("3451", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["345n"], None, "WIDTH (ft), log"),
    d("3452", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["345n"], None, "WIDTH (ft), log"),
    d("3453", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["345n"], None, "WIDTH (ft), log"),
    d("3454", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["345n"], None, "WIDTH (ft), log"),
    d("3455", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["345n"], None, "WIDTH (ft), log"),
    d("3460", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["346n"], None, "WIDTH (yd), log"),
    d("3461", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["346n"], None, "WIDTH (yd), log"),
    d("3462", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["346n"], None, "WIDTH (yd), log"),
    d("3463", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["346n"], None, "WIDTH (yd), log"),
    d("3464", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["346n"], None, "WIDTH (yd), log"),
    d("3465", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["346n"], None, "WIDTH (yd), log"),
    d("3470", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["347n"], None, "HEIGHT (in), log"),
    d("3471", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["347n"], None, "HEIGHT (in), log"),
    d("3472", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["347n"], None, "HEIGHT (in), log"),
    d("3473", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["347n"], None, "HEIGHT (in), log"),
    d("3474", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["347n"], None, "HEIGHT (in), log"),
    d("3475", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["347n"], None, "HEIGHT (in), log"),
    d("3480", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["348n"], None, "HEIGHT (ft), log"),
    d("3481", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["348n"], None, "HEIGHT (ft), log"),
    d("3482", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["348n"], None, "HEIGHT (ft), log"),
    d("3483", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["348n"], None, "HEIGHT (ft), log"),
    d("3484", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["348n"], None, "HEIGHT (ft), log"),
    d("3485", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["348n"], None, "HEIGHT (ft), log"),
    d("3490", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["349n"], None, "HEIGHT (yd), log"),
    d("3491", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["349n"], None, "HEIGHT (yd), log"),
    d("3492", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["349n"], None, "HEIGHT (yd), log"),
    d("3493", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["349n"], None, "HEIGHT (yd), log"),
    d("3494", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["349n"], None, "HEIGHT (yd), log"),
    d("3495", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["349n"], None, "HEIGHT (yd), log"),
    d("3500", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["350n"], None, "AREA (in²)"),
    d("3501", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["350n"], None, "AREA (in²)"),
    d("3502", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["350n"], None, "AREA (in²)"),
    d("3503", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["350n"], None, "AREA (in²)"),
    d("3504", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["350n"], None, "AREA (in²)"),
    d("3505", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["350n"], None, "AREA (in²)"),
    d("3510", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["351n"], None, "AREA (ft²)"),
    d("3511", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["351n"], None, "AREA (ft²)"),
    d("3512", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["351n"], None, "AREA (ft²)"),
    d("3513", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["351n"], None, "AREA (ft²)"),
    d("3514", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["351n"], None, "AREA (ft²)"),
    d("3515", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["351n"], None, "AREA (ft²)"),
    d("3520", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["352n"], None, "AREA (yd²)"),
    d("3521", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["352n"], None, "AREA (yd²)"),
    d("3522", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["352n"], None, "AREA (yd²)"),
    d("3523", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["352n"], None, "AREA (yd²)"),
    d("3524", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["352n"], None, "AREA (yd²)"),
    d("3525", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["352n"], None, "AREA (yd²)"),
    d("3530", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["353n"], None, "AREA (in²), log"),
    d("3531", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["353n"], None, "AREA (in²), log"),
    d("3532", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["353n"], None, "AREA (in²), log"),
    d("3533", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["353n"], None, "AREA (in²), log"),
    d("3534", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["353n"], None, "AREA (in²), log"),
    d("3535", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["353n"], None, "AREA (in²), log"),
    d("3540", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["354n"], None, "AREA (ft²), log"),
    d("3541", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["354n"], None, "AREA (ft²), log"),
    d("3542", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["354n"], None, "AREA (ft²), log"),
    d("3543", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["354n"], None, "AREA (ft²), log"),
    d("3544", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["354n"], None, "AREA (ft²), log"),
    d("3545", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["354n"], None, "AREA (ft²), log"),
    d("3550", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["355n"], None, "AREA (yd²), log"),
    d("3551", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["355n"], None, "AREA (yd²), log"),
    d("3552", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["355n"], None, "AREA (yd²), log"),
    d("3553", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["355n"], None, "AREA (yd²), log"),
    d("3554", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["355n"], None, "AREA (yd²), log"),
    d("3555", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["355n"], None, "AREA (yd²), log"),
    d("3560", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["356n"], None, "NET WEIGHT (t oz)"),
    d("3561", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["356n"], None, "NET WEIGHT (t oz)"),
    d("3562", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["356n"], None, "NET WEIGHT (t oz)"),
    d("3563", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["356n"], None, "NET WEIGHT (t oz)"),
    d("3564", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["356n"], None, "NET WEIGHT (t oz)"),
    d("3565", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["356n"], None, "NET WEIGHT (t oz)"),
    d("3570", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["357n"], None, "NET VOLUME (oz)"),
    d("3571", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["357n"], None, "NET VOLUME (oz)"),
    d("3572", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["357n"], None, "NET VOLUME (oz)"),
    d("3573", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["357n"], None, "NET VOLUME (oz)"),
    d("3574", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["357n"], None, "NET VOLUME (oz)"),
    d("3575", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["357n"], None, "NET VOLUME (oz)"),
    d("3600", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["360n"], None, "NET VOLUME (qt)"),
    d("3601", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["360n"], None, "NET VOLUME (qt)"),
    d("3602", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["360n"], None, "NET VOLUME (qt)"),
    d("3603", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["360n"], None, "NET VOLUME (qt)"),
    d("3604", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["360n"], None, "NET VOLUME (qt)"),
    d("3605", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["360n"], None, "NET VOLUME (qt)"),
    d("3610", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["361n"], None, "NET VOLUME (gal.)"),
    d("3611", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["361n"], None, "NET VOLUME (gal.)"),
    d("3612", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["361n"], None, "NET VOLUME (gal.)"),
    d("3613", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["361n"], None, "NET VOLUME (gal.)"),
    d("3614", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["361n"], None, "NET VOLUME (gal.)"),
    d("3615", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["361n"], None, "NET VOLUME (gal.)"),
    d("3620", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["362n"], None, "VOLUME (qt), log"),
    d("3621", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["362n"], None, "VOLUME (qt), log"),
    d("3622", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["362n"], None, "VOLUME (qt), log"),
    d("3623", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["362n"], None, "VOLUME (qt), log"),
    d("3624", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["362n"], None, "VOLUME (qt), log"),
    d("3625", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["362n"], None, "VOLUME (qt), log"),
    d("3630", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["363n"], None, "VOLUME (gal.), log"),
    d("3631", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["363n"], None, "VOLUME (gal.), log"),
    d("3632", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["363n"], None, "VOLUME (gal.), log"),
    d("3633", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["363n"], None, "VOLUME (gal.), log"),
    d("3634", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["363n"], None, "VOLUME (gal.), log"),
    d("3635", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["363n"], None, "VOLUME (gal.), log"),
    d("3640", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["364n"], None, "VOLUME (in³)"),
    d("3641", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["364n"], None, "VOLUME (in³)"),
    d("3642", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["364n"], None, "VOLUME (in³)"),
    d("3643", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["364n"], None, "VOLUME (in³)"),
    d("3644", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["364n"], None, "VOLUME (in³)"),
    d("3645", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["364n"], None, "VOLUME (in³)"),
    d("3650", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["365n"], None, "VOLUME (ft³)"),
    d("3651", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["365n"], None, "VOLUME (ft³)"),
    d("3652", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["365n"], None, "VOLUME (ft³)"),
    d("3653", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["365n"], None, "VOLUME (ft³)"),
    d("3654", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["365n"], None, "VOLUME (ft³)"),
    d("3655", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["365n"], None, "VOLUME (ft³)"),
    d("3660", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["366n"], None, "VOLUME (yd³)"),
    d("3661", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["366n"], None, "VOLUME (yd³)"),
    d("3662", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["366n"], None, "VOLUME (yd³)"),
    d("3663", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["366n"], None, "VOLUME (yd³)"),
    d("3664", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["366n"], None, "VOLUME (yd³)"),
    d("3665", PRE | DLA, P_N6, 6, 6, &[&["01", "02"]], &["366n"], None, "VOLUME (yd³)"),
    d("3670", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["367n"], None, "VOLUME (in³), log"),
    d("3671", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["367n"], None, "VOLUME (in³), log"),
    d("3672", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["367n"], None, "VOLUME (in³), log"),
    d("3673", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["367n"], None, "VOLUME (in³), log"),
    d("3674", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["367n"], None, "VOLUME (in³), log"),
    d("3675", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["367n"], None, "VOLUME (in³), log"),
    d("3680", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["368n"], None, "VOLUME (ft³), log"),
    d("3681", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["368n"], None, "VOLUME (ft³), log"),
    d("3682", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["368n"], None, "VOLUME (ft³), log"),
    d("3683", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["368n"], None, "VOLUME (ft³), log"),
    d("3684", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["368n"], None, "VOLUME (ft³), log"),
    d("3685", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["368n"], None, "VOLUME (ft³), log"),
    d("3690", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["369n"], None, "VOLUME (yd³), log"),
    d("3691", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["369n"], None, "VOLUME (yd³), log"),
    d("3692", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["369n"], None, "VOLUME (yd³), log"),
    d("3693", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["369n"], None, "VOLUME (yd³), log"),
    d("3694", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["369n"], None, "VOLUME (yd³), log"),
    d("3695", PRE | DLA, P_N6, 6, 6, &[&["00", "01"]], &["369n"], None, "VOLUME (yd³), log"),
    d("37", DLA, P_NV8, 1, 8, &[&["00"], &["02", "8026"]], &[], None, "COUNT"),
    d("3900", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3901", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3902", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3903", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3904", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3905", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3906", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3907", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3908", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3909", DLA, P_NV15, 1, 15, &[&["255", "8020"]], &["390n", "391n", "394n", "8111"], None, "AMOUNT"),
    d("3910", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3911", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3912", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3913", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3914", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3915", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3916", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3917", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3918", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3919", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["8020"]], &["391n"], None, "AMOUNT"),
    d("3920", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3921", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3922", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3923", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3924", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3925", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3926", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3927", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3928", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3929", DLA, P_NV15, 1, 15, &[&["01"], &["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n"], None, "PRICE"),
    d("3930", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3931", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3932", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3933", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3934", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3935", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3936", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3937", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3938", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3939", DLA, P_N3_ISO4217__NV15, 4, 18, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["393n"], None, "PRICE"),
    d("3940", DLA, P_N4, 4, 4, &[&["255"]], &["394n", "8111"], None, "PRCNT OFF"),
    d("3941", DLA, P_N4, 4, 4, &[&["255"]], &["394n", "8111"], None, "PRCNT OFF"),
    d("3942", DLA, P_N4, 4, 4, &[&["255"]], &["394n", "8111"], None, "PRCNT OFF"),
    d("3943", DLA, P_N4, 4, 4, &[&["255"]], &["394n", "8111"], None, "PRCNT OFF"),
    d("3950", DLA, P_N6, 6, 6, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n", "395n", "8005"], None, "PRICE/UoM"),
    d("3951", DLA, P_N6, 6, 6, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n", "395n", "8005"], None, "PRICE/UoM"),
    d("3952", DLA, P_N6, 6, 6, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n", "395n", "8005"], None, "PRICE/UoM"),
    d("3953", DLA, P_N6, 6, 6, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n", "395n", "8005"], None, "PRICE/UoM"),
    d("3954", DLA, P_N6, 6, 6, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n", "395n", "8005"], None, "PRICE/UoM"),
    d("3955", DLA, P_N6, 6, 6, &[&["30", "31nn", "32nn", "35nn", "36nn"]], &["392n", "393n", "395n", "8005"], None, "PRICE/UoM"),
    d("400", DLA, P_XV30, 1, 30, &[], &[], None, "ORDER NUMBER"),
    d("401", KEY | DLA, P_XV30_GCPPOS1, 1, 30, &[], &[], Some(&[]), "GINC"),
    d("402", KEY | DLA, P_N17_CSUM_GCPPOS1, 17, 17, &[], &[], Some(&[]), "GSIN"),
    d("403", DLA, P_XV30, 1, 30, &[&["00"]], &[], None, "ROUTE"),
    d("410", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], None, "SHIP TO LOC"),
    d("411", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], None, "BILL TO"),
    d("412", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], None, "PURCHASE FROM"),
    d("413", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], None, "SHIP FOR LOC"),
    d("414", PRE | KEY | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], Some(&[&["254"], &["7040"]]), "LOC No."),
    d("415", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[&["8020"]], &[], Some(&[&["8020"]]), "PAY TO"),
    d("416", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], None, "PROD/SERV LOC"),
    d("417", PRE | DLA, P_N13_CSUM_GCPPOS1, 13, 13, &[], &[], Some(&[&["7040"]]), "PARTY"),
    d("420", DLA, P_XV20, 1, 20, &[], &["421"], None, "SHIP TO POST"),
    d("421", DLA, P_N3_ISO3166__XV9, 4, 12, &[], &["4307"], None, "SHIP TO POST"),
    d("422", DLA, P_N3_ISO3166, 3, 3, &[&["01", "02", "8006", "8026"]], &["426"], None, "ORIGIN"),
    d("423", DLA, P_N3_ISO3166__ON3_ISO3166__ON3_ISO3166__ON3_ISO3166__ON3_ISO3166, 3, 15, &[&["01", "02"]], &["426"], None, "COUNTRY - INITIAL PROCESS"),
    d("424", DLA, P_N3_ISO3166, 3, 3, &[&["01", "02"]], &["426"], None, "COUNTRY - PROCESS"),
    d("425", DLA, P_N3_ISO3166__ON3_ISO3166__ON3_ISO3166__ON3_ISO3166__ON3_ISO3166, 3, 15, &[&["01", "02"]], &["426"], None, "COUNTRY - DISASSEMBLY"),
    d("426", DLA, P_N3_ISO3166, 3, 3, &[&["01", "02"]], &[], None, "COUNTRY - FULL PROCESS"),
    d("427", DLA, P_XV3, 1, 3, &[&["01", "02"], &["422"]], &[], None, "ORIGIN SUBDIVISION"),
    d("4300", DLA, P_XV35_PCENC, 1, 35, &[&["00"]], &[], None, "SHIP TO COMP"),
    d("4301", DLA, P_XV35_PCENC, 1, 35, &[&["00"]], &[], None, "SHIP TO NAME"),
    d("4302", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "SHIP TO ADD1"),
    d("4303", DLA, P_XV70_PCENC, 1, 70, &[&["4302"]], &[], None, "SHIP TO ADD2"),
    d("4304", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "SHIP TO SUB"),
    d("4305", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "SHIP TO LOC"),
    d("4306", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "SHIP TO REG"),
    d("4307", DLA, P_X2_ISO3166ALPHA2, 2, 2, &[&["00"]], &[], None, "SHIP TO COUNTRY"),
    d("4308", DLA, P_XV30, 1, 30, &[&["00"]], &[], None, "SHIP TO PHONE"),
    d("4309", DLA, P_N10_LATITUDE__N10_LONGITUDE, 20, 20, &[&["00"]], &[], None, "SHIP TO GEO"),
    d("4310", DLA, P_XV35_PCENC, 1, 35, &[&["00"]], &[], None, "RTN TO COMP"),
    d("4311", DLA, P_XV35_PCENC, 1, 35, &[&["00"]], &[], None, "RTN TO NAME"),
    d("4312", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "RTN TO ADD1"),
    d("4313", DLA, P_XV70_PCENC, 1, 70, &[&["4312"]], &[], None, "RTN TO ADD2"),
    d("4314", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "RTN TO SUB"),
    d("4315", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "RTN TO LOC"),
    d("4316", DLA, P_XV70_PCENC, 1, 70, &[&["00"]], &[], None, "RTN TO REG"),
    d("4317", DLA, P_X2_ISO3166ALPHA2, 2, 2, &[&["00"]], &[], None, "RTN TO COUNTRY"),
    d("4318", DLA, P_XV20, 1, 20, &[&["00"]], &[], None, "RTN TO POST"),
    d("4319", DLA, P_XV30, 1, 30, &[&["00"]], &[], None, "RTN TO PHONE"),
    d("4320", DLA, P_XV35_PCENC, 1, 35, &[&["00"]], &[], None, "SRV DESCRIPTION"),
    d("4321", DLA, P_N1_YESNO, 1, 1, &[&["00"]], &[], None, "DANGEROUS GOODS"),
    d("4322", DLA, P_N1_YESNO, 1, 1, &[&["00"]], &[], None, "AUTH TO LEAVE"),
    d("4323", DLA, P_N1_YESNO, 1, 1, &[&["00"]], &[], None, "SIG REQUIRED"),
    d("4324", DLA, P_N6_YYMMD0__N4_HHMI, 10, 10, &[&["00"]], &[], None, "NOT BEF DEL DT"),
    d("4325", DLA, P_N6_YYMMD0__N4_HHMI, 10, 10, &[&["00"]], &[], None, "NOT AFT DEL DT"),
    d("4326", DLA, P_N6_YYMMDD, 6, 6, &[&["00"]], &[], None, "REL DATE"),
    d("4330", DLA, P_N6__OX1_HYPHEN, 6, 7, &[&["00"]], &["4331"], None, "MAX TEMP F."),
    d("4331", DLA, P_N6__OX1_HYPHEN, 6, 7, &[&["00"]], &["4330"], None, "MAX TEMP C."),
    d("4332", DLA, P_N6__OX1_HYPHEN, 6, 7, &[&["00"]], &["4333"], None, "MIN TEMP F."),
    d("4333", DLA, P_N6__OX1_HYPHEN, 6, 7, &[&["00"]], &["4332"], None, "MIN TEMP C."),
    d("7001", DLA, P_N13, 13, 13, &[&["01", "02", "8006", "8026"]], &[], None, "NSN"),
    d("7002", DLA, P_XV30, 1, 30, &[&["01", "02"]], &[], None, "MEAT CUT"),
    d("7003", DLA, P_N6_YYMMDD__N4_HHMI, 10, 10, &[&["01", "02"]], &[], None, "EXPIRY TIME"),
    d("7004", DLA, P_NV4, 1, 4, &[&["01"], &["10"]], &[], None, "ACTIVE POTENCY"),
    d("7005", DLA, P_XV12, 1, 12, &[&["01", "02"]], &[], None, "CATCH AREA"),
    d("7006", DLA, P_N6_YYMMDD, 6, 6, &[&["01", "02"]], &[], None, "FIRST FREEZE DATE"),
    d("7007", DLA, P_N6_YYMMDD__ON6_YYMMDD, 6, 12, &[&["01", "02"]], &[], None, "HARVEST DATE"),
    d("7008", DLA, P_XV3, 1, 3, &[&["01", "02"]], &[], None, "AQUATIC SPECIES"),
    d("7009", DLA, P_XV10, 1, 10, &[&["01", "02"]], &[], None, "FISHING GEAR TYPE"),
    d("7010", DLA, P_XV2, 1, 2, &[&["01", "02"]], &[], None, "PROD METHOD"),
    d("7011", DLA, P_N6_YYMMDD__ON4_HHMI, 6, 10, &[&["01", "02"]], &[], None, "TEST BY DATE"),
    d("7020", DLA, P_XV20, 1, 20, &[&["01", "8006"], &["416"]], &[], None, "REFURB LOT"),
    d("7021", DLA, P_XV20, 1, 20, &[&["01", "8006"]], &[], None, "FUNC STAT"),
    d("7022", DLA, P_XV20, 1, 20, &[&["7021"]], &[], None, "REV STAT"),
    d("7023", DLA, P_XV30_GCPPOS1, 1, 30, &[], &[], None, "GIAI - ASSEMBLY"),
    d("7030", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 0"),
    d("7031", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 1"),
    d("7032", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 2"),
    d("7033", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 3"),
    d("7034", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 4"),
    d("7035", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 5"),
    d("7036", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 6"),
    d("7037", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 7"),
    d("7038", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 8"),
    d("7039", DLA, P_N3_ISO3166999__XV27, 4, 30, &[&["01", "02"]], &[], None, "PROCESSOR # 9"),
    d("7040", 0, P_N1__X1__X1__X1_IMPORTERIDX, 4, 4, &[], &[], None, "UIC+EXT"),
    d("7041", 0, P_XV4_PACKAGETYPE, 1, 4, &[&["00"]], &[], None, "UFRGT UNIT TYPE"),
    d("710", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN PZN"),
    d("711", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN CIP"),
    d("712", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN CN"),
    d("713", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN DRN"),
    d("714", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN AIM"),
    d("715", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN NDC"),
    d("716", DLA, P_XV20, 1, 20, &[&["01"]], &[], None, "NHRN AIC"),
    d("7230", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 1"),
    d("7231", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 2"),
    d("7232", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 3"),
    d("7233", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 4"),
    d("7234", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 5"),
    d("7235", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 6"),
    d("7236", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 7"),
    d("7237", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 8"),
    d("7238", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 9"),
    d("7239", DLA, P_X2__XV28, 3, 30, &[&["01", "8004"]], &[], None, "CERT # 10"),
    d("7240", DLA, P_XV20, 1, 20, &[&["01", "8006"]], &[], None, "PROTOCOL"),
    d("7241", DLA, P_N2_MEDIATYPE, 2, 2, &[&["8017", "8018"]], &[], None, "AIDC MEDIA TYPE"),
    d("7242", DLA, P_XV25, 1, 25, &[&["8017", "8018"]], &[], None, "VCN"),
    d("7250", DLA, P_N8_YYYYMMDD, 8, 8, &[&["8018"]], &["7251"], None, "DOB"),
    d("7251", DLA, P_N8_YYYYMMDD__N4_HHMI, 12, 12, &[&["8018"]], &["7250"], None, "DOB TIME"),
    d("7252", DLA, P_N1_ISO5218, 1, 1, &[&["8018"]], &[], None, "BIO SEX"),
    d("7253", DLA, P_XV40_PCENC, 1, 40, &[&["8017", "8018"]], &["7256", "7259"], None, "FAMILY NAME"),
    d("7254", DLA, P_XV40_PCENC, 1, 40, &[&["8017", "8018"]], &["7256", "7259"], None, "GIVEN NAME"),
    d("7255", DLA, P_XV10, 1, 10, &[&["8017", "8018"]], &["7256", "7259"], None, "SUFFIX"),
    d("7256", DLA, P_XV90_PCENC, 1, 90, &[&["8017", "8018"]], &[], None, "FULL NAME"),
    d("7257", DLA, P_XV70_PCENC, 1, 70, &[&["8018"]], &[], None, "PERSON ADDR"),
    d("7258", DLA, P_X3_POSINSEQSLASH, 3, 3, &[&["8018+7259"]], &[], None, "BIRTH SEQUENCE"),
    d("7259", DLA, P_XV40_PCENC, 1, 40, &[&["8018"]], &["7256"], None, "BABY"),
    d("8001", DLA, P_N4_NONZERO__N5_NONZERO__N3_NONZERO__N1_WINDING__N1, 14, 14, &[&["01"]], &[], None, "DIMENSIONS"),
    d("8002", DLA, P_XV20, 1, 20, &[], &[], None, "CMT No."),
    d("8003", KEY | DLA, P_N1_ZERO__N13_CSUM_GCPPOS1__OXV16, 14, 30, &[], &[], Some(&[]), "GRAI"),
    d("8004", KEY | DLA, P_XV30_GCPPOS1, 1, 30, &[], &[], Some(&[&["7040"]]), "GIAI"),
    d("8005", DLA, P_N6, 6, 6, &[&["01", "02"]], &[], None, "PRICE PER UNIT"),
    d("8006", DLA, P_N14_CSUM_GCPPOS2__N4_PIECEOFTOTAL, 18, 18, &[], &["01", "37"], Some(&[&["22", "10", "21"]]), "ITIP"),
    d("8007", DLA, P_XV34_IBAN, 1, 34, &[&["415"]], &[], None, "IBAN"),
    d("8008", DLA, P_N6_YYMMDD__N2_HH__ON2_MI__ON2_SS, 8, 12, &[&["01", "02"]], &[], None, "PROD TIME"),
    d("8009", DLA, P_XV50, 1, 50, &[&["00", "01"]], &[], None, "OPTSEN"),
    d("8010", KEY | DLA, P_YV30_GCPPOS1, 1, 30, &[], &[], Some(&[&["8011"]]), "CPID"),
    d("8011", 0, P_NV12_NOZEROPREFIX, 1, 12, &[&["8010"]], &[], None, "CPID SERIAL"),
    d("8012", DLA, P_XV20, 1, 20, &[&["01", "8006"]], &[], None, "VERSION"),
    d("8013", KEY | DLA, P_XV25_CSUMALPHA_GCPPOS1, 1, 25, &[], &[], Some(&[]), "GMN"),
    d("8014", 0, P_XV25_CSUMALPHA_GCPPOS1_HASNONDIGIT, 1, 25, &[&["01"]], &[], None, "MUDI"),
    d("8017", KEY | DLA, P_N18_CSUM_GCPPOS1, 18, 18, &[], &["8018"], Some(&[&["8019"]]), "GSRN - PROVIDER"),
    d("8018", KEY | DLA, P_N18_CSUM_GCPPOS1, 18, 18, &[], &["8017"], Some(&[&["8019"]]), "GSRN - RECIPIENT"),
    d("8019", 0, P_NV10, 1, 10, &[&["8017", "8018"]], &[], None, "SRIN"),
    d("8020", 0, P_XV25, 1, 25, &[&["415"]], &[], None, "REF No."),
    d("8026", DLA, P_N14_CSUM_GCPPOS2__N4_PIECEOFTOTAL, 18, 18, &[&["37"]], &["02", "8006"], None, "ITIP CONTENT"),
    d("8030", DLA, P_ZV90, 1, 90, &[&["00", "01+21", "253", "255", "8003", "8004", "8006+21", "8010+8011", "8017", "8018"]], &[], None, "DIGSIG"),
    d("8110", DLA, P_XV70_COUPONCODE, 1, 70, &[], &[], None, "COUPON"),
    d("8111", DLA, P_N4, 4, 4, &[&["255"]], &[], None, "POINTS"),
    d("8112", DLA, P_XV70_COUPONPOSOFFER, 1, 70, &[], &[], None, "PAPERLESS COUPON"),
    d("8200", 0, P_XV70, 1, 70, &[&["01"]], &[], None, "PRODUCT URL"),
    d("90", DLA, P_XV30, 1, 30, &[], &[], None, "INTERNAL"),
    d("91", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("92", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("93", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("94", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("95", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("96", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("97", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("98", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
    d("99", DLA, P_XV90, 1, 90, &[], &[], None, "INTERNAL"),
];

/// For each two-digit prefix `00`..`99`: the range of [`AIS`] rows starting with it and the
/// length of those AIs (all AIs sharing a prefix have one length); `(0, 0, 0)` when no AI
/// starts with that prefix.
#[rustfmt::skip]
pub static BY_PREFIX: [(u16, u16, u8); 100] = [
    (0, 1, 2), (1, 2, 2), (2, 3, 2), (3, 4, 2), (0, 0, 0),  // 00..04
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 05..09
    (4, 5, 2), (5, 6, 2), (6, 7, 2), (7, 8, 2), (0, 0, 0),  // 10..14
    (8, 9, 2), (9, 10, 2), (10, 11, 2), (0, 0, 0), (0, 0, 0),  // 15..19
    (11, 12, 2), (12, 13, 2), (13, 14, 2), (14, 15, 3), (15, 19, 3),  // 20..24
    (19, 24, 3), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 25..29
    (24, 25, 2), (25, 67, 4), (67, 127, 4), (127, 175, 4), (175, 235, 4),  // 30..34
    (235, 283, 4), (283, 343, 4), (343, 344, 2), (0, 0, 0), (344, 394, 4),  // 35..39
    (394, 398, 3), (398, 406, 3), (406, 414, 3), (414, 445, 4), (0, 0, 0),  // 40..44
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 45..49
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 50..54
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 55..59
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 60..64
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 65..69
    (445, 472, 4), (472, 479, 3), (479, 502, 4), (0, 0, 0), (0, 0, 0),  // 70..74
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 75..79
    (502, 522, 4), (522, 525, 4), (525, 526, 4), (0, 0, 0), (0, 0, 0),  // 80..84
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),  // 85..89
    (526, 527, 2), (527, 528, 2), (528, 529, 2), (529, 530, 2), (530, 531, 2),  // 90..94
    (531, 532, 2), (532, 533, 2), (533, 534, 2), (534, 535, 2), (535, 536, 2),  // 95..99
];
