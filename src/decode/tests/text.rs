//! AIM identifiers routing the data, and plain text: commands and the order, location, tote,
//! RMA and condition patterns, default and configured.

use serde_json::json;

use super::*;

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
    let r = d("RMA-4711");
    assert_eq!((r.kind(), r.rma()), (Kind::Rma, Some("RMA-4711")));
    let r = d("COND-DAMAGED");
    assert_eq!(r.kind(), Kind::Condition);
    assert_eq!(r.condition().as_deref(), Some("damaged"));
    assert_eq!(
        serde_json::to_value(&r).unwrap()["fields"],
        json!({"condition": "damaged"})
    );
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
    let rules = BarcodeRules::new(&TextPatterns {
        order: r"^\d{8}$",
        location: "",
        tote: r"^T\d+$",
        rma: "",
        condition: "",
        done: "DONE",
        cancel: "",
    })
    .unwrap();
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

    let off = TextPatterns {
        order: "",
        location: "",
        tote: "",
        rma: "",
        condition: "",
        done: "",
        cancel: "",
    };
    let err = BarcodeRules::new(&TextPatterns {
        order: "^SO-(",
        ..off
    })
    .unwrap_err();
    assert!(matches!(
        err,
        BarcodeRulesError::Pattern { rule: "order", .. }
    ));
    assert!(err.to_string().contains("barcodes.order"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    let err = BarcodeRules::new(&TextPatterns {
        location: "[",
        ..off
    })
    .unwrap_err();
    assert!(err.to_string().contains("barcodes.location"), "{err}");
    let err = BarcodeRules::new(&TextPatterns {
        condition: "(",
        ..off
    })
    .unwrap_err();
    assert!(err.to_string().contains("barcodes.condition"), "{err}");
}
