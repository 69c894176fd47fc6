//! `dockgate scan parse`: how the daemon reads a barcode, without a daemon.

use std::path::Path;

use crate::config::Config;
use crate::decode::{self, BarcodeRules, Reading};

/// How `scan parse` lets people type the GS separator in a shell.
const CLI_GS_STAND_INS: [&str; 4] = ["<GS>", "^]", "\\x1d", "\\x1D"];

/// `dockgate scan parse`: decodes `data` as the daemon configured by `config` would: with its
/// `[barcodes]` rules when that file exists, else with the documented defaults
/// ([`BarcodeRules::default`]). Returns whether the barcode decoded without a problem.
pub fn scan_parse(data: &str, json: bool, config: &Path) -> anyhow::Result<bool> {
    let (rules, from) = site_rules(config);
    // The site's own stand-ins stay; these are for typing GS in a shell.
    let rules = rules.with_gs_substitutes(CLI_GS_STAND_INS)?;
    let reading = decode::decode(data, &rules, today_utc());
    if json {
        out!("{}", serde_json::to_string_pretty(&reading)?);
    } else {
        out!("rules:      {from}");
        print_reading(&reading);
    }
    for error in reading.errors() {
        eprintln!("{}: {error}", error.reason());
    }
    Ok(reading.is_ok())
}

/// The `[barcodes]` rules of the configuration at `path` and where they came from. A file
/// that is missing gives the defaults; one that cannot be used gives them too, with a note on
/// stderr (decoding a barcode needs no more than the patterns).
fn site_rules(path: &Path) -> (BarcodeRules, String) {
    if !path.exists() {
        return (BarcodeRules::default(), "defaults".into());
    }
    let rules = Config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|c| c.barcodes.rules().map_err(|e| e.to_string()));
    match rules {
        Ok(rules) => (rules, format!("[barcodes] of {}", path.display())),
        Err(why) => {
            eprintln!("dockgate: using the default barcode rules: {why}");
            (BarcodeRules::default(), "defaults".into())
        }
    }
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
    out!("kind:       {}", reading.kind());
    match reading.symbology() {
        Some(aim) => out!("symbology:  {aim} ({})", aim.name()),
        None => out!("symbology:  none"),
    }
    if reading.elements().len() > 0 {
        out!("elements:");
        for e in reading.elements() {
            let ai = format!("({})", e.ai);
            let mut line = format!("  {ai:<7}{:<24} {}", e.title, e.value.escape_debug());
            if let Some(decimal) = e.decimal_value() {
                line.push_str(&format!("  = {decimal}"));
            }
            out!("{line}");
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
    let condition = reading.condition();
    let text = [
        ("order", reading.order()),
        ("location", reading.location()),
        ("tote", reading.tote()),
        ("rma", reading.rma()),
        ("condition", condition.as_deref()),
    ];
    for (name, value) in text {
        if let Some(value) = value {
            fields.push(format!("{name}={}", value.escape_debug()));
        }
    }
    if !fields.is_empty() {
        out!("fields:     {}", fields.join(" "));
    }
    if reading.is_ok() {
        out!("errors:     none");
    } else {
        out!("errors:");
        for error in reading.errors() {
            out!("  {}: {error}", error.reason());
        }
    }
}
