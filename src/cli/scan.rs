//! `dockgate scan parse`: how the daemon reads a barcode, without a configuration or a daemon.

use crate::decode::{self, BarcodeRules, Reading};

/// How `scan parse` lets people type the GS separator in a shell.
const CLI_GS_STAND_INS: [&str; 4] = ["<GS>", "^]", "\\x1d", "\\x1D"];

/// `dockgate scan parse`: decodes `data` with the documented default barcode rules of
/// DESIGN §5 (order `^SO-\d+$`, location `^[A-Z]\d{2}-\d{2}-\d{2}$`, tote `^TOTE-\d+$`,
/// commands `CMD-DONE` and `CMD-CANCEL`), as [`BarcodeRules::default`] defines them. Returns
/// whether the barcode decoded without a problem.
pub fn scan_parse(data: &str, json: bool) -> anyhow::Result<bool> {
    let rules = BarcodeRules::default().with_gs_substitutes(CLI_GS_STAND_INS)?;
    let reading = decode::decode(data, &rules, today_utc());
    if json {
        println!("{}", serde_json::to_string_pretty(&reading)?);
    } else {
        print_reading(&reading);
    }
    for error in reading.errors() {
        eprintln!("{}: {error}", error.reason());
    }
    Ok(reading.is_ok())
}

/// Today's date (UTC) for placing two-digit years.
fn today_utc() -> (i32, u32, u32) {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    decode::civil_from_unix_days(i64::try_from(days).unwrap_or(0))
}

fn print_reading(reading: &Reading) {
    println!("kind:       {}", reading.kind());
    match reading.symbology() {
        Some(aim) => println!("symbology:  {aim} ({})", aim.name()),
        None => println!("symbology:  none"),
    }
    if reading.elements().len() > 0 {
        println!("elements:");
        for e in reading.elements() {
            let ai = format!("({})", e.ai);
            let mut line = format!("  {ai:<7}{:<24} {}", e.title, e.value.escape_debug());
            if let Some(decimal) = e.decimal_value() {
                line.push_str(&format!("  = {decimal}"));
            }
            println!("{line}");
        }
    }
    let mut fields: Vec<String> = Vec::new();
    let named = [
        ("gtin", reading.gtin()),
        ("sscc", reading.sscc()),
        ("lot", reading.lot()),
        ("serial", reading.serial()),
    ];
    for (name, value) in named {
        if let Some(value) = value {
            fields.push(format!("{name}={}", value.escape_debug()));
        }
    }
    if let Some(expiry) = reading.expiry() {
        fields.push(format!("expiry={expiry}"));
    }
    if reading.gtin().is_some() || reading.count().is_some() {
        fields.push(format!("quantity={}", reading.quantity()));
    }
    let text = [
        ("order", reading.order()),
        ("location", reading.location()),
        ("tote", reading.tote()),
    ];
    for (name, value) in text {
        if let Some(value) = value {
            fields.push(format!("{name}={}", value.escape_debug()));
        }
    }
    if !fields.is_empty() {
        println!("fields:     {}", fields.join(" "));
    }
    if reading.is_ok() {
        println!("errors:     none");
    } else {
        println!("errors:");
        for error in reading.errors() {
            println!("  {}: {error}", error.reason());
        }
    }
}
