//! Golden scans for [`decode`]: examples of the GS1 General Specifications, the GS1 syntax
//! engine's tests and `shared/domain/barcodes.md`, plus a seeded random robustness loop.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::*;

/// A fixed "today": two-digit years are placed around 2026.
const TODAY: (i32, u32, u32) = (2026, 5, 14);
const GS: char = '\u{1d}';

fn d(raw: &str) -> Reading {
    decode(raw, &BarcodeRules::default(), TODAY)
}

/// The bracketed HRI text as a scanner sends it: AIs and values run together, GS after every
/// value that is not predefined-length unless it is the last.
fn scan(hri: &str) -> String {
    let mut out = String::new();
    let parts: Vec<&str> = hri.split('(').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let (ai, value) = part.split_once(')').unwrap();
        out.push_str(ai);
        out.push_str(value);
        let def = gs1::lookup(ai).unwrap();
        if i + 1 < parts.len() && gs1::needs_separator(def) {
            out.push(GS);
        }
    }
    out
}

fn elements(r: &Reading) -> Vec<(&str, &str)> {
    r.elements().map(|e| (e.ai, e.value)).collect()
}

fn reasons(r: &Reading) -> Vec<&'static str> {
    r.errors().iter().map(|e| e.reason().as_str()).collect()
}

fn messages(r: &Reading) -> String {
    r.errors()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[track_caller]
fn assert_error(r: &Reading, reason: &str, needle: &str) {
    assert!(
        reasons(r).contains(&reason) && messages(r).contains(needle),
        "expected {reason} with {needle:?}, got {:?}: {}",
        reasons(r),
        messages(r)
    );
}

// ---------------------------------------------------------------- GS1 element strings

#[test]
fn typical_label_with_aim_and_gs() {
    let r = d(&format!("]C1010950600013435217251231{GS}10ABC123"));
    assert!(r.is_ok(), "{}", messages(&r));
    assert_eq!(r.kind(), Kind::Gs1);
    assert_eq!(r.symbology().map(|a| a.to_string()).as_deref(), Some("]C1"));
    assert_eq!(
        elements(&r),
        [("01", "09506000134352"), ("17", "251231"), ("10", "ABC123")]
    );
    assert_eq!(r.gtin(), Some("09506000134352"));
    assert_eq!(
        r.expiry().map(|d| d.to_string()).as_deref(),
        Some("2025-12-31")
    );
    assert_eq!(r.lot(), Some("ABC123"));
    assert_eq!(r.serial(), None);
    assert_eq!(r.quantity(), 1);
}

#[test]
fn typical_label_json_shape() {
    let r = d("]C1010950600013435217251231\u{1d}10ABC123");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({
            "symbology": "]C1",
            "gs1": {"elements": [
                {"ai": "01", "value": "09506000134352", "title": "GTIN"},
                {"ai": "17", "value": "251231", "title": "USE BY or EXPIRY"},
                {"ai": "10", "value": "ABC123", "title": "BATCH/LOT"},
            ]},
            "kind": "gs1",
            "fields": {"gtin": "09506000134352", "lot": "ABC123", "expiry": "2025-12-31", "quantity": 1},
            "errors": [],
        })
    );
    // Key order is part of the contract.
    let text = serde_json::to_string(&r).unwrap();
    let keys = [
        "\"symbology\"",
        "\"gs1\"",
        "\"kind\"",
        "\"fields\"",
        "\"errors\"",
    ];
    let pos: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn genspecs_examples_with_and_without_separators() {
    let hri = "(01)09506000134352(17)251231(10)AB1";
    let want = [("01", "09506000134352"), ("17", "251231"), ("10", "AB1")];
    // As a scanner sends it (no GS needed: 01 and 17 are predefined length).
    assert_eq!(scan(hri), "01095060001343521725123110AB1");
    assert_eq!(elements(&d(&format!("]C1{}", scan(hri)))), want);
    // A GS after predefined-length values is allowed and ignored, so is a trailing one.
    let r = d(&format!("]C10109506000134352{GS}17251231{GS}10AB1{GS}"));
    assert!(r.is_ok(), "{}", messages(&r));
    assert_eq!(elements(&r), want);
    // Bracketed HRI output mode, and a bare string without AIM id.
    assert_eq!(elements(&d(hri)), want);
    assert_eq!(d(hri).kind(), Kind::Gs1);
    assert_eq!(elements(&d(&scan(hri))), want);
    assert_eq!(d(&scan(hri)).symbology(), None);

    // Variable-length first: the GS after the lot is what ends it.
    let hri = "(01)09506000134352(10)AB1(17)251231";
    let r = d(&format!("]C1{}", scan(hri)));
    assert_eq!(
        elements(&r),
        [("01", "09506000134352"), ("10", "AB1"), ("17", "251231")]
    );
    // Without the GS the lot swallows the date (it still fits in 20 characters).
    let r = d("]C1010950600013435210AB117251231");
    assert!(r.is_ok());
    assert_eq!(r.lot(), Some("AB117251231"));
    assert_eq!(r.expiry(), None);

    for hri in [
        "(00)106141411234567897",
        "(01)09506000134352(3103)000189(3922)0299",
        "(00)106141411234567897(02)09506000134352(37)20(10)LOT7",
        "(01)09506000134352(21)12345XYZ(8005)000250",
        "(421)27610115",
        "(414)9506000134352(254)A12",
        "(8003)09506000134352ABC",
        "(01)09506000134352(11)240101(13)240102(15)250200(16)250201(7006)240301",
        "(01)09506000134352(10)A!\"%&'*+,-./:;<=>?_z",
        "(8013)1987654Ad4X4bL5ttr2310c2K",
        "(8010)ABC#-/123",
        "(01)09506000134352(21)1(8030)SGVsbG8tV29ybGQ_-w==",
        "(8006)095060001343520102(10)LOT",
        "(01)09506000134352(8008)2405061530(7003)2405061530",
        "(00)106141411234567897(4321)1(4330)001234-(4309)12345678900123456789",
    ] {
        let r = d(&format!("]C1{}", scan(hri)));
        assert!(r.is_ok(), "{hri}: {}", messages(&r));
        let bracketed = d(hri);
        assert!(bracketed.is_ok(), "{hri}: {}", messages(&bracketed));
        assert_eq!(elements(&r), elements(&bracketed), "{hri}");
    }
    // Brackets inside a bracketed value are data unless they enclose an AI.
    assert_eq!(d("(01)09506000134352(10)A(B)C").lot(), Some("A(B)C"));
}

#[test]
fn greedy_lot_swallows_following_element() {
    let r = d("]C1010703206980498810032915210526");
    assert!(r.is_ok(), "{}", messages(&r));
    assert_eq!(
        elements(&r),
        [("01", "07032069804988"), ("10", "032915210526")]
    );
    assert_eq!(r.lot(), Some("032915210526"));
    assert_eq!(r.expiry(), None);
}

#[test]
fn value_too_long_when_separator_missing() {
    let r = d("]C1010950600013435210ABCDEFGHIJKLMNOPQRSTUV");
    assert_eq!(r.kind(), Kind::Gs1);
    assert_error(&r, "invalid_barcode", "AI (10) value is too long");
    assert_eq!(r.lot(), None);
    // 8005 is fixed N6 but not predefined: it needs a GS too.
    let r = d("]C1010950600013435280050002502110ABC");
    assert_error(&r, "invalid_barcode", "AI (8005) value is too long");
    let r = d(&format!("]C101095060001343528005000250{GS}10ABC"));
    assert!(r.is_ok(), "{}", messages(&r));
}

#[test]
fn value_too_short() {
    let r = d("]C1010950600013435");
    assert_error(&r, "invalid_barcode", "AI (01) value is too short");
    let r = d("]C10109506000134352310300125");
    assert_error(&r, "invalid_barcode", "AI (3103) value is too short");
    let r = d("]C10109506000134352100");
    assert!(r.is_ok(), "a one-character lot is fine: {}", messages(&r));
    let r = d(&format!("]C1010950600013435210{GS}17251231"));
    assert_error(&r, "invalid_barcode", "AI (10) has no value");
}

#[test]
fn day_00_is_the_last_day_of_the_month() {
    let r = d("]C1010950600013435217250200");
    assert!(r.is_ok(), "{}", messages(&r));
    assert_eq!(r.expiry().unwrap().to_string(), "2025-02-28");
    let r = d("]C1010950600013435217240200");
    assert_eq!(r.expiry().unwrap().to_string(), "2024-02-29");
    assert_eq!(
        d("]C1010950600013435217250400")
            .expiry()
            .unwrap()
            .to_string(),
        "2025-04-30"
    );
    assert_eq!(
        d("]C1010950600013435217251200")
            .expiry()
            .unwrap()
            .to_string(),
        "2025-12-31"
    );
    // Not for AIs that need a real day.
    let r = d(&format!("]C10109506000134352{}", "7006250200"));
    assert_error(&r, "invalid_barcode", "day 00");
}

#[test]
fn century_rule_in_2026() {
    assert_eq!(
        d("]C1010950600013435217991231")
            .expiry()
            .unwrap()
            .to_string(),
        "1999-12-31"
    );
    assert_eq!(
        d("]C1010950600013435217751231")
            .expiry()
            .unwrap()
            .to_string(),
        "2075-12-31"
    );
    assert_eq!(
        d("]C1010950600013435217770101")
            .expiry()
            .unwrap()
            .to_string(),
        "1977-01-01"
    );
    assert_eq!(
        d("]C1010950600013435217000101")
            .expiry()
            .unwrap()
            .to_string(),
        "2000-01-01"
    );
    // The same label read in 2080 places 99 in 2099.
    let r = decode(
        "]C1010950600013435217991231",
        &BarcodeRules::default(),
        (2080, 1, 1),
    );
    assert_eq!(r.expiry().unwrap().to_string(), "2099-12-31");
}

#[test]
fn bad_dates() {
    for (date, what) in [
        ("251301", "invalid month"),
        ("250001", "invalid month"),
        ("250230", "no such day"),
        ("250229", "no such day"),
        ("250431", "no such day"),
        ("250132", "no such day"),
    ] {
        let r = d(&format!("]C1010950600013435217{date}"));
        assert_error(&r, "invalid_barcode", what);
        assert_eq!(r.expiry(), None, "{date}");
    }
    assert!(d("]C1010950600013435217240229").is_ok());
    let r = d("]C1010950600013435217000000");
    assert_error(&r, "invalid_barcode", "invalid month");
    let r = d("]C101095060001343521725A231");
    assert_error(
        &r,
        "invalid_barcode",
        "'A' at position 2 is not allowed (digits only)",
    );
    // YYYYMMDD written where YYMMDD belongs shows up as a broken date or a length problem.
    let r = d("]C1010950600013435217202512");
    assert_error(&r, "invalid_barcode", "AI (17)");
}

#[test]
fn check_digit_failures() {
    let r = d("]C10109506000134353");
    assert_eq!(reasons(&r), ["check_digit"]);
    assert_eq!(messages(&r), "AI (01) check digit is 3, expected 2");
    assert_eq!(r.gtin(), None);
    // The element is still listed, as read.
    assert_eq!(elements(&r), [("01", "09506000134353")]);

    let r = d("]C100106141411234567898");
    assert_eq!(reasons(&r), ["check_digit"]);
    assert!(messages(&r).contains("AI (00)"));
    let r = d("]C100106141411234567897");
    assert!(r.is_ok());
    assert_eq!(r.sscc(), Some("106141411234567897"));

    // GLN (414), GSIN (402).
    assert_error(&d("]C14149506000134358"), "check_digit", "AI (414)");
    assert!(d("]C14149506000134352").is_ok());
    assert_error(&d("]C140209506000134352001"), "check_digit", "AI (402)");
    // GMN check character pair.
    assert_error(
        &d("]C180131987654Ad4X4bL5ttr2310cXK"),
        "check_digit",
        "AI (8013)",
    );
}

#[test]
fn measures_with_implied_decimals() {
    let r = d("]C101095060001343523103001250");
    assert!(r.is_ok(), "{}", messages(&r));
    let e = r.elements().find(|e| e.ai == "3103").unwrap();
    assert_eq!((e.title, e.value), ("NET WEIGHT (kg)", "001250"));
    assert_eq!(e.decimal_value().as_deref(), Some("1.250"));
    let r = d("]C101095060001343523202000450");
    let e = r.elements().find(|e| e.ai == "3202").unwrap();
    assert_eq!(e.decimal_value().as_deref(), Some("4.50"));
    let r = d("]C100106141411234567897330500123401095060001343523300000017");
    assert_error(
        &r,
        "invalid_barcode",
        "AI (3305) and AI (3300) must not appear together",
    );
    // Measures need their key.
    assert_error(
        &d("]C13103001250"),
        "invalid_barcode",
        "AI (3103) needs (01) or (02)",
    );
}

#[test]
fn unknown_ais() {
    for (data, ai) in [
        ("0109506000134352141234", "14"),
        ("01095060001343523106001250", "3106"),
        ("010950600013435289ABC", "89"),
        ("0109506000134352191234", "19"),
        ("01095060001343522345", "234"),
    ] {
        let r = d(&format!("]C1{data}"));
        assert_eq!(r.kind(), Kind::Gs1);
        assert_error(&r, "invalid_barcode", &format!("unknown AI ({ai})"));
        // What came before is kept.
        assert_eq!(r.get("01"), Some("09506000134352"));
    }
    assert_error(&d("]C1A1"), "invalid_barcode", "expected an AI");
    assert_error(&d("]C1"), "invalid_barcode", "empty barcode");
    assert_error(&d("]C10"), "invalid_barcode", "expected an AI");
    assert_error(&d("]C1310"), "invalid_barcode", "unknown AI (310)");
}

#[test]
fn cset82_violations() {
    for (lot, ch) in [
        ("AB C", "' '"),
        ("AB#1", "'#'"),
        ("A~", "'~'"),
        ("A@B", "'@'"),
        ("Ä1", "'Ä'"),
    ] {
        let r = d(&format!("]C1010950600013435210{lot}"));
        assert_error(&r, "invalid_barcode", &format!("{ch} at position"));
        assert!(messages(&r).contains("CSET 82"), "{}", messages(&r));
        assert_eq!(r.lot(), None);
    }
    // A GS inside a fixed-length value cuts it short.
    let r = d(&format!("]C1010950600{GS}013435210ABC"));
    assert_error(&r, "invalid_barcode", "AI (01) value is too short");
    // CSET 39 (8010) and CSET 64 (8030).
    assert_error(&d("]C18010abc"), "invalid_barcode", "CSET 39");
    let r = d(&format!("]C10109506000134352{GS}211{GS}8030AB=C"));
    assert_error(&r, "invalid_barcode", "CSET 64");
}

#[test]
fn pairing_rules() {
    // 01 with 02.
    let r = d("]C101095060001343520209506000134352");
    assert_error(
        &r,
        "invalid_barcode",
        "AI (02) and AI (01) must not appear together",
    );
    // 01 with 37.
    let r = d("]C10109506000134352375");
    assert_error(&r, "invalid_barcode", "must not appear together");
    assert!(messages(&r).contains("(01)") && messages(&r).contains("(37)"));
    // A lot without a GTIN.
    assert_error(
        &d("]C110ABC"),
        "invalid_barcode",
        "AI (10) needs (01), (02), (03), (8006) or (8026)",
    );
    // A serial without a GTIN; 02 without 37; 37 without 00.
    assert_error(&d("]C121S1"), "invalid_barcode", "AI (21) needs");
    assert_error(
        &d("]C10209506000134352"),
        "invalid_barcode",
        "AI (02) needs (37)",
    );
    assert_error(
        &d("]C10209506000134352375"),
        "invalid_barcode",
        "AI (37) needs (00)",
    );
    // 403 needs 00; 420 excludes 421; 254 needs 414.
    assert_error(&d("]C1403ROUTE"), "invalid_barcode", "AI (403) needs (00)");
    assert_error(
        &d(&format!("]C142010115{GS}42127610115")),
        "invalid_barcode",
        "must not appear together",
    );
    assert_error(&d("]C1254A1"), "invalid_barcode", "AI (254) needs (414)");
    // 8005 needs 01 or 02.
    assert_error(
        &d("]C18005000250"),
        "invalid_barcode",
        "AI (8005) needs (01) or (02)",
    );
    // Digital signature: one of several combinations.
    let r = d(&format!("]C10109506000134352{GS}8030AB"));
    assert_error(&r, "invalid_barcode", "(01)+(21)");

    // A logistic label: SSCC + content GTIN + count.
    let r = d(&format!(
        "]C1001061414112345678970209506000134352{}",
        "3712"
    ));
    assert!(r.is_ok(), "{}", messages(&r));
    assert_eq!(r.sscc(), Some("106141411234567897"));
    assert_eq!(r.gtin(), Some("09506000134352"));
    assert_eq!(r.quantity(), 12);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["fields"]["quantity"], json!(12));
    // Variable count of a trade item.
    let r = d("]C1010950600013435230144");
    assert_eq!(r.quantity(), 144);
}

#[test]
fn repeated_ais_must_agree() {
    assert!(d("]C101095060001343520109506000134352").is_ok());
    let r = d(&format!("]C10109506000134352{}", "10A\u{1d}10B"));
    assert_error(
        &r,
        "invalid_barcode",
        "AI (10) appears more than once with different values",
    );
}

#[test]
fn separators_in_odd_places() {
    // Leading GS instead of an AIM id (FNC1 in first position sent as data).
    let r = d(&format!("{GS}010950600013435210ABC"));
    assert_eq!(r.kind(), Kind::Gs1);
    assert!(r.is_ok(), "{}", messages(&r));
    // Also after an AIM id.
    assert!(d(&format!("]C1{GS}010950600013435210ABC")).is_ok());
    // Two in a row.
    let r = d(&format!("]C1010950600013435210ABC{GS}{GS}17251231"));
    assert_error(&r, "invalid_barcode", "unexpected separator");
}

#[test]
fn scanner_terminators_and_stand_ins() {
    let r = d("]C1010950600013435217251231\r\n");
    assert!(r.is_ok());
    assert_eq!(r.expiry().unwrap().to_string(), "2025-12-31");
    let rules = BarcodeRules::default()
        .with_gs_substitutes(["^]", "<GS>"])
        .unwrap();
    for raw in [
        "]C1010950600013435210ABC^]17251231",
        "]C1010950600013435210ABC<GS>17251231",
    ] {
        let r = decode(raw, &rules, TODAY);
        assert!(r.is_ok(), "{raw}: {}", messages(&r));
        assert_eq!(r.lot(), Some("ABC"));
        assert_eq!(r.expiry().unwrap().to_string(), "2025-12-31");
    }
    // Without the stand-in rule, `^]` is no CSET 82 character.
    let r = d("]C1010950600013435210ABC^]17251231");
    assert_error(&r, "invalid_barcode", "'^'");
    assert!(matches!(
        BarcodeRules::default().with_gs_substitutes([""]),
        Err(BarcodeRulesError::EmptySubstitute)
    ));
}

// ---------------------------------------------------------------- Digital Link

#[test]
fn digital_link_examples() {
    let uri = "https://id.gs1.org/01/09506000134352/10/ABC123/21/S1?17=251231&3103=000195";
    for raw in [uri.to_owned(), format!("]Q1{uri}"), format!("]d1{uri}")] {
        let r = d(&raw);
        assert_eq!(r.kind(), Kind::DigitalLink, "{raw}");
        assert!(r.is_ok(), "{}", messages(&r));
        assert_eq!(
            elements(&r),
            [
                ("01", "09506000134352"),
                ("10", "ABC123"),
                ("21", "S1"),
                ("17", "251231"),
                ("3103", "000195")
            ]
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["fields"],
            json!({"gtin": "09506000134352", "lot": "ABC123", "serial": "S1",
                   "expiry": "2025-12-31", "quantity": 1})
        );
        assert_eq!(
            v["gs1"]["elements"][4],
            json!({"ai": "3103", "value": "000195", "title": "NET WEIGHT (kg)"})
        );
    }
    assert_eq!(d(&format!("]Q1{uri}")).symbology().unwrap().as_str(), "]Q1");

    let r = d("https://brand.example/x/y/01/09506000134352?linkType=all#frag");
    assert!(r.is_ok(), "{}", messages(&r));
    assert_eq!(r.gtin(), Some("09506000134352"));
    let r = d("HTTPS://ID.GS1.ORG/00/106141411234567897");
    assert_eq!(r.sscc(), Some("106141411234567897"));
    // `+` in the path is a plus; %-escapes are decoded.
    let r = d("https://a/01/09506000134352/10/A+B%2FC");
    assert_eq!(r.lot(), Some("A+B/C"));
}

#[test]
fn digital_link_rejections() {
    for (uri, needle) in [
        (
            "https://id.gs1.org/01/9506000134352",
            "AI (01) value is too short",
        ),
        (
            "https://id.gs1.org/01/09506000134352?10=ABC123",
            "belongs in the Digital Link path",
        ),
        (
            "https://id.gs1.org/01/09506000134352/10/A?10=A",
            "more than once",
        ),
        ("https://id.gs1.org/01/09506000134352?17=", "empty value"),
        (
            "https://id.gs1.org/01/09506000134352?999=x",
            "numeric but not a known AI",
        ),
        (
            "https://id.gs1.org/01/09506000134352/21/S1/10/L1",
            "qualifiers in order",
        ),
        (
            "https://id.gs1.org/gtin/09506000134352/lot/ABC",
            "short name /gtin/",
        ),
        (
            "https://id.gs1.org/01/09506000134352?21=S1",
            "not allowed in a Digital Link query",
        ),
        ("https://id.gs1.org/01/09506000134353", "check digit"),
        (
            "https://id.gs1.org/01/09506000134352?17=251301",
            "invalid month",
        ),
        ("https://id.gs1.org/01/09506000134352/10/A%20B", "CSET 82"),
    ] {
        let r = d(uri);
        assert_eq!(r.kind(), Kind::DigitalLink, "{uri}");
        assert!(messages(&r).contains(needle), "{uri}: {}", messages(&r));
    }
    // A trailing slash leaves no `/AI/value` pair at the end: not a Digital Link.
    let r = d("https://id.gs1.org/01/09506000134352/");
    assert_eq!(r.kind(), Kind::Unknown);
    assert_error(&r, "unknown_barcode", "web address");
    // Any other web address.
    assert_eq!(d("]Q1https://example.com/menu").kind(), Kind::Unknown);
    // In GS1 mode a URI is parsed as element strings and fails.
    let r = d("]Q3https://id.gs1.org/01/09506000134352");
    assert_eq!(r.kind(), Kind::Gs1);
    assert!(!r.is_ok());
}

// ---------------------------------------------------------------- EAN / UPC

#[test]
fn ean_upc() {
    let r = d("5901234123457");
    assert_eq!(r.kind(), Kind::Ean);
    assert_eq!(r.gtin(), Some("05901234123457"));
    assert_eq!(r.quantity(), 1);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({"symbology": null, "gs1": null, "kind": "ean",
               "fields": {"gtin": "05901234123457", "quantity": 1}, "errors": []})
    );
    let r = d("]E05901234123457");
    assert_eq!((r.kind(), r.gtin()), (Kind::Ean, Some("05901234123457")));
    assert_eq!(r.symbology().unwrap().as_str(), "]E0");
    assert_eq!(d("036000291452").gtin(), Some("00036000291452"));
    assert_eq!(d("]E00036000291452").gtin(), Some("00036000291452"));
    assert_eq!(d("96385074").gtin(), Some("00000096385074"));
    assert_eq!(d("]E496385074").gtin(), Some("00000096385074"));
    assert_eq!(d("]E3590123412345712345").gtin(), Some("05901234123457"));
    assert_eq!(d("]I109506000134352").gtin(), Some("09506000134352"));
    // An EAN-13 from Germany (400-440) is an EAN, not a GS1 purchase order (400).
    let r = d("4006381333931");
    assert_eq!((r.kind(), r.gtin()), (Kind::Ean, Some("04006381333931")));

    let r = d("]E05901234123458");
    assert_eq!(r.kind(), Kind::Ean);
    assert_eq!(reasons(&r), ["check_digit"]);
    assert_eq!(r.gtin(), None);
    assert_error(
        &d("]E059012341234"),
        "invalid_barcode",
        "8, 12 or 13 digits expected",
    );
    // Bare digits with a wrong check digit are not taken for an EAN.
    assert_ne!(d("5901234123458").kind(), Kind::Ean);
}

// ---------------------------------------------------------------- AIM ids and plain text

#[test]
fn aim_identifiers_route_the_data() {
    assert_eq!(d("]d2010950600013435210ABC").kind(), Kind::Gs1);
    assert_eq!(d("]Q3010950600013435210ABC").kind(), Kind::Gs1);
    assert_eq!(d("]e00109506000134352").kind(), Kind::Gs1);
    assert_eq!(d("]J1010950600013435210ABC").kind(), Kind::Gs1);
    let r = d("]C0SO-123");
    assert_eq!((r.kind(), r.order()), (Kind::Order, Some("SO-123")));
    assert_eq!(r.symbology().unwrap().as_str(), "]C0");
    // Plain Code 128 is not parsed as GS1 even if it would fit.
    assert_eq!(d("]C0010950600013435210ABC").kind(), Kind::Unknown);
}

#[test]
fn plain_text_rules() {
    let r = d("SO-123");
    assert_eq!((r.kind(), r.order()), (Kind::Order, Some("SO-123")));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({"symbology": null, "gs1": null, "kind": "order", "fields": {"order": "SO-123"}, "errors": []})
    );
    let r = d("A01-02-03");
    assert_eq!(
        (r.kind(), r.location()),
        (Kind::Location, Some("A01-02-03"))
    );
    let r = d("TOTE-7");
    assert_eq!((r.kind(), r.tote()), (Kind::Tote, Some("TOTE-7")));
    assert_eq!(d("CMD-DONE").kind(), Kind::Done);
    assert_eq!(d("CMD-CANCEL\r").kind(), Kind::Cancel);
    let r = d("hello world");
    assert_eq!(r.kind(), Kind::Unknown);
    assert_eq!(reasons(&r), ["unknown_barcode"]);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["errors"],
        json!([{"reason": "unknown_barcode", "message": "unrecognised barcode"}])
    );
    assert_error(&d(""), "unknown_barcode", "nothing was scanned");
}

#[test]
fn custom_rules_and_bad_patterns() {
    let rules = BarcodeRules::new(r"^\d{8}$", "", r"^T\d+$", "DONE", "").unwrap();
    // Eight digits with a wrong EAN-8 check digit: AI (12) with month 56 would be a broken GS1
    // label, but the order pattern claims it.
    let r = decode("12345678", &rules, TODAY);
    assert_eq!((r.kind(), r.order()), (Kind::Order, Some("12345678")));
    // With the default rules nothing else claims it, so the GS1 problem is reported.
    let r = d("12345678");
    assert_eq!(r.kind(), Kind::Gs1);
    assert_error(&r, "invalid_barcode", "AI (12)");
    assert_eq!(decode("DONE", &rules, TODAY).kind(), Kind::Done);
    assert_eq!(decode("CMD-CANCEL", &rules, TODAY).kind(), Kind::Unknown);
    assert_eq!(decode("A01-02-03", &rules, TODAY).kind(), Kind::Unknown);
    // A clean bare GS1 string wins over the patterns (DESIGN §3 order).
    let r = decode("0109506000134352", &rules, TODAY);
    assert_eq!((r.kind(), r.gtin()), (Kind::Gs1, Some("09506000134352")));

    let err = BarcodeRules::new("^SO-(", "", "", "", "").unwrap_err();
    assert!(matches!(
        err,
        BarcodeRulesError::Pattern { rule: "order", .. }
    ));
    assert!(err.to_string().contains("barcodes.order"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    let err = BarcodeRules::new("", "[", "", "", "").unwrap_err();
    assert!(err.to_string().contains("barcodes.location"), "{err}");
}

#[test]
fn errors_serialise_with_reason_and_message() {
    let r = d("]C10109506000134353");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["errors"],
        json!([{"reason": "check_digit", "message": "AI (01) check digit is 3, expected 2"}])
    );
    assert_eq!(v["fields"], json!({}));
    assert_eq!(v["gs1"]["elements"][0]["value"], json!("09506000134353"));
    assert_eq!(r.reason(), Some(Reason::CheckDigit));
}

#[test]
fn unix_days_to_civil_date() {
    assert_eq!(civil_from_unix_days(0), (1970, 1, 1));
    assert_eq!(civil_from_unix_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_unix_days(19_782), (2024, 2, 29));
    assert_eq!(civil_from_unix_days(20_587), (2026, 5, 14));
    assert_eq!(civil_from_unix_days(11_016), (2000, 2, 29));
}

#[test]
fn table_covers_the_general_specifications() {
    assert_eq!(gs1_table::AIS.len(), 536);
    let def = gs1::lookup("8005").unwrap();
    assert!(gs1::needs_separator(def));
    assert_eq!((def.min, def.max), (6, 6));
    assert!(!gs1::needs_separator(gs1::lookup("3695").unwrap()));
    assert!(gs1::lookup("8030").unwrap().parts[0].cset == gs1_table::Cset::Z);
    assert_eq!(gs1::lookup("7041").unwrap().title, "UFRGT UNIT TYPE");
    assert_eq!(gs1::lookup("99").unwrap().max, 90);
}

// ---------------------------------------------------------------- robustness

/// Random bytes, random text over the characters barcodes are made of, and mutated good
/// scans: decoding never panics and always yields a consistent reading.
#[test]
fn random_input_never_panics() {
    const SEEDS: [&str; 8] = [
        "]C1010950600013435217251231\u{1d}10ABC123",
        "https://id.gs1.org/01/09506000134352/10/ABC123/21/S1?17=251231&3103=000195",
        "(01)09506000134352(17)251231(10)AB1",
        "]E05901234123457",
        "]C100106141411234567897020950600013435237 12",
        "SO-123",
        "]d2\u{1d}8030SGVsbG8=\u{1d}8013 1987654Ad4X4bL5ttr2310c2K",
        "]Q1HTTPS://a/414/9506000134359/254/A%2Fb?8020=X+Y&4330=001234-",
    ];
    const ALPHABET: &[u8] = b"0123456789]CdQeEJI()/?&=%+#-ABCxyz \x1d\r\n^<>GS.:";
    let rules = BarcodeRules::default()
        .with_gs_substitutes(["^]", "<GS>"])
        .unwrap();
    let mut rng = StdRng::seed_from_u64(0xD0C6_A7E5);
    let iterations = if cfg!(debug_assertions) {
        60_000
    } else {
        1_000_000
    };
    for i in 0..iterations {
        let bytes: Vec<u8> = match i % 3 {
            0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
            1 => (0..rng.random_range(0..64))
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect(),
            _ => {
                let mut b = SEEDS[rng.random_range(0..SEEDS.len())].as_bytes().to_vec();
                for _ in 0..rng.random_range(1..4) {
                    let pos = rng.random_range(0..=b.len());
                    match rng.random_range(0..3) {
                        0 if pos < b.len() => {
                            b[pos] = ALPHABET[rng.random_range(0..ALPHABET.len())];
                        }
                        1 if pos < b.len() => {
                            b.remove(pos);
                        }
                        _ => b.insert(pos, ALPHABET[rng.random_range(0..ALPHABET.len())]),
                    }
                }
                b
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let year = 1990 + i % 100;
        let r = decode(&text, &rules, (year, 1, 1));
        // Invariants: a reading is unknown exactly when it says "unknown_barcode"; the
        // accessors and the JSON rendering work on whatever came out.
        assert_eq!(
            r.kind() == Kind::Unknown,
            reasons(&r).contains(&"unknown_barcode"),
            "{text:?}"
        );
        for e in r.elements() {
            let _ = e.decimal_value();
        }
        let _ = (
            r.gtin(),
            r.expiry(),
            r.quantity(),
            r.sscc(),
            r.lot(),
            r.serial(),
        );
        serde_json::to_string(&r).unwrap();
    }
}
