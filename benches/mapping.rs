//! Cost of payload mapping: each shipped template (`config/templates/`) rendering the events
//! it is for, on one core, as a sink renders them before a POST (the stored CloudEvent read
//! back, then rendered). Prints µs per event; the CloudEvents body, which is sent as stored,
//! is the baseline. No assertions; the figure to watch is `erp-flat.json.j2` (target: at most
//! 5 µs per event).
//!
//! Knobs (environment): `DOCKGATE_BENCH_QUICK=1` (or `-- --quick`) for a short run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dockgate::config::Config;
use dockgate::forward::mapping::Mapping;

/// Events as the ledger stores them (one line of CloudEvents JSON each).
const SHIPMENT: &str = r#"{"specversion":"1.0","id":"0193a0c4-7d1e-7c2a-9b1f-0000000005e5","source":"dockgate://wh-berlin-01/devices/ship-07","type":"shipment.loaded","subject":"009506000134350004","time":"2026-12-02T10:15:05.113Z","datacontenttype":"application/json","sequence":"6","data":{"device":"ship-07","door":"D07","input":"]C100009506000134350004","site":"wh-berlin-01","sscc":"009506000134350004","station":"ship"}}"#;
const PICK: &str = r#"{"specversion":"1.0","id":"0193a0c4-7d1e-7c2a-9b1f-0000000005e0","source":"dockgate://wh-berlin-01/devices/pick-01","type":"pick.confirmed","subject":"SO-1001","time":"2026-12-02T10:15:00.113Z","datacontenttype":"application/json","sequence":"1","data":{"device":"pick-01","expiry":"2027-12-31","gtin":"09506000134352","input":"]C1010950600013435217271231\u001d10L4711","line":1,"location":"A01-02-03","lot":"L4711","order":"SO-1001","quantity":1,"site":"wh-berlin-01","station":"pick","tote":"TOTE-12"}}"#;
const EXCEPTION: &str = r#"{"specversion":"1.0","id":"0193a0c4-7d1e-7c2a-9b1f-0000000005e2","source":"dockgate://wh-berlin-01/devices/pick-01","type":"pick.exception","subject":"pick-01","time":"2026-12-02T10:15:02.113Z","datacontenttype":"application/json","sequence":"3","data":{"device":"pick-01","expiry":"2027-12-31","gtin":"09506000134352","input":"]C1010950600013435217271231\u001d10L4711","lot":"L4711","message":"no open order: scan an order first","quantity":1,"reason":"no_open_order","site":"wh-berlin-01","station":"pick"}}"#;

fn mapping(path: &str, content_type: &str) -> Mapping {
    let text = format!(
        "version = 1\n[site]\nid = \"wh-berlin-01\"\n[sinks.s]\nurl = \"http://x/\"\n\
         format = \"template\"\ntemplate_file = {path:?}\ncontent_type = {content_type:?}\n\
         [sinks.s.lookup.shipping_point]\nD07 = \"1000\"\n"
    );
    let config = Config::parse(&text).expect("bench config");
    Mapping::compile(&config.sinks["s"])
        .expect("template compiles")
        .expect("a template sink")
}

/// Renders `event` until `min_time` has passed; µs per event and bytes per body.
fn measure(render: &dyn Fn() -> usize, min_time: Duration) -> (f64, usize) {
    let bytes = render();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min_time {
        for _ in 0..200 {
            black_box(render());
            n += 1;
        }
    }
    (start.elapsed().as_secs_f64() * 1e6 / n as f64, bytes)
}

fn main() {
    let quick = std::env::var_os("DOCKGATE_BENCH_QUICK").is_some()
        || std::env::args().any(|a| a == "--quick");
    let min_time = Duration::from_millis(if quick { 200 } else { 2000 });
    println!("payload mapping, one core, µs per event (lower is better)");
    println!("{:<38} {:>10} {:>12}", "body", "µs/event", "body bytes");
    let cloudevents = [PICK.to_owned()];
    let (us, bytes) = measure(&|| black_box(&cloudevents)[0].clone().len(), min_time);
    println!("{:<38} {us:>10.2} {bytes:>12}", "cloudevents (as stored)");
    for (file, content_type, event) in [
        ("erp-flat.json.j2", "application/json", PICK),
        ("shpcon.xml.j2", "application/xml", SHIPMENT),
        ("crm-case.json.j2", "application/json", EXCEPTION),
    ] {
        let path = format!("{}/config/templates/{file}", env!("CARGO_MANIFEST_DIR"));
        let m = mapping(&path, content_type);
        let events: [std::sync::Arc<str>; 1] = [event.into()];
        let (us, bytes) = measure(
            &|| m.render(black_box(&events)).expect("renders").len(),
            min_time,
        );
        println!("{file:<38} {us:>10.2} {bytes:>12}");
    }
    // What a template costs besides its fields, and what each field adds: the same JSON
    // template with none of the event's fields, and with 16 of them.
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in [
        ("no field (text only)", "{\"a\": 1}\n".repeat(16)),
        (
            "16 × event.data.site | default(none)",
            "{{ event.data.site | default(none) }}\n".repeat(16),
        ),
    ] {
        let path = dir.path().join("probe.json.j2");
        std::fs::write(&path, body).expect("probe template");
        let m = mapping(&path.display().to_string(), "application/json");
        let events: [std::sync::Arc<str>; 1] = [PICK.into()];
        let (us, bytes) = measure(
            &|| m.render(black_box(&events)).expect("renders").len(),
            min_time,
        );
        println!("{name:<38} {us:>10.2} {bytes:>12}");
    }
}
