//! GS1 element strings: splitting the message (separators, predefined and variable lengths),
//! unknown AIs, the pairing and repeat rules, scanner terminators, and the AI table's coverage.

use serde_json::json;

use super::*;

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
