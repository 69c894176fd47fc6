//! Golden scans for [`decode`]: examples of the GS1 General Specifications, the GS1 syntax
//! engine's tests and `shared/domain/barcodes.md`, plus a seeded random robustness loop.
//!
//! This file holds the helpers shared by the test files in `tests/`, one per topic.

use super::*;

mod digital_links;
mod ean_upc;
mod element_strings;
mod robustness;
mod text;
mod values;

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
