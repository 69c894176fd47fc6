//! Throughput of the barcode decoder on one core.
//!
//! `cargo bench --bench decode` decodes mixes of typical scans in a tight loop on the current
//! thread and prints decodes per second for each mix. No assertions; the figure to watch is
//! "gs1 typical" (target: at least 1,000,000 decodes/s).
//!
//! Knobs (environment): `DOCKGATE_BENCH_QUICK=1` (or `-- --quick`) for a short run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dockgate::decode::{decode, BarcodeRules};

const TODAY: (i32, u32, u32) = (2026, 5, 14);

/// GS1 labels as GS1-128 / DataMatrix readers send them.
const GS1_TYPICAL: &[&str] = &["]C1010950600013435217251231\u{1d}10ABC123"];

const GS1_MIX: &[&str] = &[
    "]C1010950600013435217251231\u{1d}10ABC123",
    "]C100106141411234567897",
    "]C1001061414112345678970209506000134352\u{1d}3712",
    "]d2010950600013435217251231\u{1d}10ABC123\u{1d}21SERIAL000123",
    "]C101095060001343523103001250\u{1d}10LOT-42",
    "]e00109506000134352",
    "]C1010703206980498810032915210526",
    "]C10109506000134353", // check digit error
];

const EAN_MIX: &[&str] = &[
    "5901234123457",
    "]E05901234123457",
    "036000291452",
    "]E496385074",
];

const DIGITAL_LINK_MIX: &[&str] = &[
    "]Q1https://id.gs1.org/01/09506000134352/10/ABC123/21/S1?17=251231&3103=000195",
    "https://brand.example/x/01/09506000134352?17=251231",
    "]Q1https://id.gs1.org/00/106141411234567897",
];

const TEXT_MIX: &[&str] = &["SO-123456", "A01-02-03", "TOTE-77", "CMD-DONE", "hello"];

fn run(name: &str, inputs: &[&str], rules: &BarcodeRules, min_time: Duration) {
    // Warm up, then run whole passes over the inputs until `min_time` has passed.
    for raw in inputs {
        black_box(decode(black_box(raw), rules, TODAY));
    }
    let start = Instant::now();
    let mut n = 0u64;
    let mut errors = 0u64;
    while start.elapsed() < min_time {
        for _ in 0..1000 {
            for raw in inputs {
                let reading = decode(black_box(raw), rules, TODAY);
                errors += u64::from(!reading.is_ok());
                black_box(reading);
                n += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<16} {:>12.0} decodes/s  {:>7.1} ns/decode  ({n} decodes, {errors} with errors, {} inputs)",
        n as f64 / secs,
        secs * 1e9 / n as f64,
        inputs.len()
    );
}

fn main() {
    let quick = std::env::var_os("DOCKGATE_BENCH_QUICK").is_some()
        || std::env::args().any(|a| a == "--quick");
    let min_time = Duration::from_millis(if quick { 300 } else { 2000 });
    let rules = BarcodeRules::default();
    println!("dockgate decode benchmark, one core");
    run("gs1 typical", GS1_TYPICAL, &rules, min_time);
    run("gs1 mix", GS1_MIX, &rules, min_time);
    run("ean", EAN_MIX, &rules, min_time);
    run("digital link", DIGITAL_LINK_MIX, &rules, min_time);
    run("plain text", TEXT_MIX, &rules, min_time);
}
