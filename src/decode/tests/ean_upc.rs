//! EAN/UPC and ITF-14, with and without AIM identifiers.

use serde_json::json;

use super::*;

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
