//! Fuzz target for the barcode decoder: arbitrary bytes (as lossy UTF-8) through
//! `dockgate::decode::decode` with the default rules plus the keyboard GS stand-ins, then
//! through the JSON rendering. Any panic is a bug.
//!
//! Run: `cargo +nightly fuzz run decode -- -max_total_time=60` (from the repository root).
#![no_main]

use std::sync::OnceLock;

use dockgate::decode::{decode, BarcodeRules};
use libfuzzer_sys::fuzz_target;

static RULES: OnceLock<BarcodeRules> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rules = RULES.get_or_init(|| {
        BarcodeRules::default()
            .with_gs_substitutes(["^]", "<GS>"])
            .unwrap_or_default()
    });
    let text = String::from_utf8_lossy(data);
    // Vary the year so the century rule is exercised too.
    let year = 1950 + i32::from(data.first().copied().unwrap_or(0) % 128);
    let reading = decode(&text, rules, (year, 1, 1));
    let _ = reading.gtin();
    let _ = reading.expiry();
    let _ = reading.quantity();
    let _ = serde_json::to_string(&reading);
});
