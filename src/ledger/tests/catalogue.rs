//! The event catalogue of `docs/integrating.md` is what dockgate sends: scripted scans at a
//! device of every station go through the ledger as the daemon's do, and the CloudEvents the
//! ERP would get (id and time replaced by fixed values) must equal the examples in the guide,
//! one per event type, and use only the `data` fields its glossary lists.
//!
//! After a deliberate change: `DOCKGATE_BLESS=1 cargo test --lib catalogue` rewrites the
//! examples in the guide from the code (review the diff).

use serde_json::Value;

use super::*;

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/integrating.md");
const EXAMPLE_MARK: &str = "<!-- example ";

/// Every event type dockgate makes from device input (DESIGN §2).
const TYPES: [&str; 18] = [
    "pick.confirmed",
    "pick.completed",
    "pick.exception",
    "pack.completed",
    "pack.exception",
    "shipment.loaded",
    "shipment.dispatched",
    "receipt.confirmed",
    "return.received",
    "return.completed",
    "return.exception",
    "inventory.counted",
    "inventory.exception",
    "dock.door.opened",
    "dock.door.closed",
    "dock.trailer.arrived",
    "dock.trailer.departed",
    "scan.unmatched",
];

const DEVICES: &str = "\
[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n\
[devices.pack-01]\nsource = \"http\"\nstation = \"pack\"\n\
[devices.ship-07]\nsource = \"http\"\nstation = \"ship\"\ndoor = \"D07\"\n\
[devices.recv-01]\nsource = \"http\"\nstation = \"receive\"\n\
[devices.returns-01]\nsource = \"http\"\nstation = \"return\"\n\
[devices.count-01]\nsource = \"http\"\nstation = \"count\"\n\
[devices.door-07]\nsource = \"http\"\nstation = \"dock\"\ndoor = \"D07\"\ndebounce = \"0s\"\n";

/// GTIN 09506000134352, expiry 2027-12-31, lot L4711.
const ITEM: &str = "]C1010950600013435217271231\u{1d}10L4711";
/// GTIN 04006381333931, serial SN-88.
const ITEM_SERIAL: &str = "]C10104006381333931\u{1d}21SN-88";
/// GTIN 05901234123457, 12 units (AI 30).
const ITEM_TWELVE: &str = "]C101059012341234573012";
/// SSCC 009506000134350004.
const SSCC: &str = "]C100009506000134350004";
/// A GTIN whose check digit is wrong.
const BAD_CHECK: &str = "]C10109506000134353";

/// The scans of the catalogue, device by device.
const SCRIPT: &[(&str, &str)] = &[
    ("pick-01", "SO-1001"),
    ("pick-01", "A01-02-03"),
    ("pick-01", "TOTE-12"),
    ("pick-01", ITEM),
    ("pick-01", "CMD-DONE"),
    ("pick-01", ITEM),
    ("pack-01", "SO-1001"),
    ("pack-01", ITEM),
    ("pack-01", ITEM_SERIAL),
    ("pack-01", SSCC),
    ("pack-01", BAD_CHECK),
    ("ship-07", SSCC),
    ("ship-07", "CMD-DONE"),
    ("recv-01", ITEM_TWELVE),
    ("returns-01", "RMA-5001"),
    ("returns-01", "COND-DAMAGED"),
    ("returns-01", ITEM),
    ("returns-01", "CMD-DONE"),
    ("returns-01", ITEM_SERIAL),
    ("count-01", "B01-02-03"),
    ("count-01", ITEM),
    ("count-01", ITEM),
    ("count-01", ITEM_TWELVE),
    ("count-01", "CMD-DONE"),
    ("count-01", ITEM),
    ("door-07", "open"),
    ("door-07", "present"),
    ("door-07", "closed"),
    ("door-07", "absent"),
    ("recv-01", "HELLO-WORLD"),
];

/// The first event of each type the script makes, as the ERP receives it, with a fixed id
/// and time.
async fn generated() -> BTreeMap<String, String> {
    let l = Ledger::open(DEVICES);
    for (device, scan) in SCRIPT {
        l.handle
            .submit_inputs(vec![input(device, scan.as_bytes(), None)])
            .await
            .unwrap();
    }
    let mut events: Vec<(i64, String)> = l
        .next("erp", 1000)
        .await
        .into_iter()
        .flat_map(|r| match r {
            Ready::Fresh(events) | Ready::Planned { events, .. } => events,
        })
        .map(|e| (e.seq, e.body.to_string()))
        .collect();
    events.sort();
    let mut first = BTreeMap::new();
    for (n, (_, body)) in events.into_iter().enumerate() {
        let e: Value = serde_json::from_str(&body).unwrap();
        let (id, time) = (e["id"].as_str().unwrap(), e["time"].as_str().unwrap());
        let body = body
            .replacen(
                id,
                &format!("0193a0c4-7d1e-7c2a-9b1f-{:012x}", 0x5e0 + n),
                1,
            )
            .replacen(time, &format!("2026-12-02T10:15:{:02}.113Z", n % 60), 1);
        let t = e["type"].as_str().unwrap().to_owned();
        first.entry(t).or_insert(body);
    }
    first
}

/// `body` indented, its members in the order dockgate writes them.
fn pretty(body: &str) -> String {
    let mut out = Vec::new();
    let mut from = serde_json::Deserializer::from_str(body);
    serde_transcode::transcode(&mut from, &mut serde_json::Serializer::pretty(&mut out)).unwrap();
    String::from_utf8(out).unwrap()
}

/// `(type, the JSON text, its byte range in the guide)` of every example.
fn examples(guide: &str) -> Vec<(String, String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = guide[at..].find(EXAMPLE_MARK) {
        let start = at + i + EXAMPLE_MARK.len();
        let end = start + guide[start..].find(" -->").expect("closed example mark");
        let t = guide[start..end].to_owned();
        let open = end + guide[end..].find("```json\n").expect("a JSON block") + 8;
        let close = open + guide[open..].find("```").expect("closed block");
        out.push((t, guide[open..close].to_owned(), open..close));
        at = close;
    }
    out
}

/// The field names of the `data` glossary table (rows starting with "| `name`").
fn glossary(guide: &str) -> HashSet<String> {
    let start = guide
        .find("## Fields of `data`")
        .expect("the glossary heading");
    let section = &guide[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[tokio::test]
async fn the_integrators_guide_shows_exactly_what_dockgate_sends() {
    let made = generated().await;
    let missing: Vec<&str> = TYPES
        .iter()
        .copied()
        .filter(|t| !made.contains_key(*t))
        .collect();
    assert!(missing.is_empty(), "the script makes no {missing:?}");
    assert_eq!(made.len(), TYPES.len(), "{:?}", made.keys());

    let mut guide = std::fs::read_to_string(GUIDE).unwrap();
    if std::env::var_os("DOCKGATE_BLESS").is_some() {
        for (t, _, range) in examples(&guide).into_iter().rev() {
            if let Some(e) = made.get(&t) {
                let text = format!("{}\n", pretty(e));
                guide.replace_range(range, &text);
            }
        }
        std::fs::write(GUIDE, &guide).unwrap();
    }

    let shown = examples(&guide);
    let mut seen = HashSet::new();
    for (t, text, _) in &shown {
        assert!(seen.insert(t.clone()), "two examples of {t}");
        let want = made
            .get(t)
            .unwrap_or_else(|| panic!("the guide shows {t}, which dockgate does not make"));
        let got: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the example of {t} is not JSON: {e}"));
        assert_eq!(
            got,
            serde_json::from_str::<Value>(want).unwrap(),
            "the guide's example of {t} is not what dockgate sends; it sends\n{}\n\
             (DOCKGATE_BLESS=1 cargo test --lib catalogue rewrites the examples)",
            pretty(want)
        );
    }
    let unshown: Vec<&str> = TYPES
        .iter()
        .copied()
        .filter(|t| !seen.contains(*t))
        .collect();
    assert!(
        unshown.is_empty(),
        "the guide has no example of {unshown:?}"
    );

    let names = glossary(&guide);
    for (t, body) in &made {
        let e: Value = serde_json::from_str(body).unwrap();
        let data = e["data"].as_object().unwrap();
        let items = data
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|item| item.keys());
        for key in data.keys().chain(items) {
            assert!(
                names.contains(key),
                "{t}: data.{key} is not in the guide's glossary"
            );
        }
    }
}
