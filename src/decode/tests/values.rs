//! What GS1 values may contain: dates (day 00, the century rule, the civil date behind
//! `today`), check digits, implied decimals of measures, CSET 82; and how such an error
//! serialises.

use serde_json::json;

use super::*;

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
fn unix_days_to_civil_date() {
    assert_eq!(civil_from_unix_days(0), (1970, 1, 1));
    assert_eq!(civil_from_unix_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_unix_days(19_782), (2024, 2, 29));
    assert_eq!(civil_from_unix_days(20_587), (2026, 5, 14));
    assert_eq!(civil_from_unix_days(11_016), (2000, 2, 29));
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
