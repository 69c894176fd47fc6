//! GS1 Digital Link URIs: accepted forms and rejections.

use serde_json::json;

use super::*;

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
