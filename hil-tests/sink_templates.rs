//! Payload mapping end to end, with the shipped templates: scans at HTTP scanners feed a
//! legacy ERP (SAP-style XML shipment confirmations), a cloud ERP (flat JSON) and a CRM (case
//! notes for exceptions) side by side from the same events, each in its own format and
//! content type, read by the receivers as XML or JSON, in order per subject and under the
//! events' idempotency keys. A shipment from a door the XML mapping has no shipping point for
//! is dead-lettered on that sink alone (`mapping_failed`, counted), and the others get it.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::*;

const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates");

const DEVICES: &str = "[devices.ship-07]\nsource = \"http\"\nstation = \"ship\"\ndoor = \"D07\"\n\
                       [devices.ship-09]\nsource = \"http\"\nstation = \"ship\"\ndoor = \"D09\"\n\
                       [devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n";

/// SSCCs with their check digits.
const SSCCS: [&str; 3] = [
    "]C100009506000134350004",
    "]C100009506000134350011",
    "]C100009506000134350028",
];

fn template_sink(name: &str, standin: &StandIn, file: &str, content_type: &str) -> SinkSpec {
    SinkSpec::new(name, standin).with(&format!(
        "format = \"template\"\ntemplate_file = \"{TEMPLATES}/{file}\"\ncontent_type = {content_type:?}\n"
    ))
}

/// Text of the first element named `tag`.
fn text(doc: &roxmltree::Document, tag: &str) -> String {
    doc.descendants()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_and_a_cloud_erp_and_a_crm_each_get_their_own_format_from_the_same_events() {
    let legacy = StandIn::start("erp-legacy", Mode::Ok).await;
    let cloud = StandIn::start("erp-cloud", Mode::Ok).await;
    let crm = StandIn::start("crm", Mode::Ok).await;
    let daemon = Daemon::start(
        Setup::new(vec![
            template_sink("erp-legacy", &legacy, "shpcon.xml.j2", "application/xml")
                .events(&["shipment.*"])
                .with("[sinks.erp-legacy.lookup.shipping_point]\nD07 = \"1000\"\n"),
            template_sink("erp-cloud", &cloud, "erp-flat.json.j2", "application/json")
                .events(&["pick.*", "shipment.*"]),
            template_sink("crm", &crm, "crm-case.json.j2", "application/json")
                .events(&["*.exception"]),
        ])
        .toml(DEVICES),
    )
    .await;
    let client = daemon.ingest_client();
    let scan = async |device: &str, text: &str| {
        let answer = client.post_device(device, text.as_bytes().to_vec()).await;
        assert_eq!(answer.status, 202, "{answer:?}");
        answer.ids()
    };
    let mut shipments = Vec::new();
    for sscc in &SSCCS[..2] {
        shipments.extend(scan("ship-07", sscc).await);
    }
    shipments.extend(scan("ship-07", "CMD-DONE").await);
    // Door 9 has no shipping point in the XML mapping.
    let unmapped = scan("ship-09", SSCCS[2]).await;
    let gtin = gtin14("0950600013435");
    let exception = scan("pick-01", &gs1_item(&gtin, "271231", "L1")).await;
    scan("pick-01", "SO-77").await;
    let mut picks = Vec::new();
    for lot in ["L1", "L2", "L3"] {
        picks.extend(scan("pick-01", &gs1_item(&gtin, "271231", lot)).await);
    }
    picks.extend(scan("pick-01", "CMD-DONE").await);

    // The legacy ERP: XML documents, one per shipment event of door 7, in order.
    wait_until(secs(20), "three documents at the legacy ERP", async || {
        legacy.count(&Outcome::Accepted) >= 3
    })
    .await;
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut keys = Vec::new();
    for r in legacy.requests() {
        assert_eq!(r.content_type(), "application/xml");
        let doc = roxmltree::Document::parse(&r.body)
            .unwrap_or_else(|e| panic!("not XML ({e}): {}", r.body));
        assert_eq!(doc.root_element().tag_name().name(), "SHPCON03");
        assert_eq!(text(&doc, "VSTEL"), "1000");
        assert_eq!(
            r.key(),
            Some(text(&doc, "ARCKEY").as_str()),
            "keyed by the event id"
        );
        let seq: u64 = text(&doc, "DOCNUM").parse().unwrap();
        let subject = text(&doc, "VBELN");
        assert!(last.insert(subject, seq).is_none_or(|before| before < seq));
        keys.push(text(&doc, "ARCKEY"));
    }
    keys.sort();
    let mut want = shipments.clone();
    want.sort();
    assert_eq!(keys, want, "every shipment event of door 7, once");

    // The door 9 shipment is dead on the legacy sink alone, with the reason.
    let dead = wait_for(
        secs(10),
        "the unmapped shipment dead-lettered",
        async || {
            let dead = daemon.events("erp-legacy", "dead").await;
            if dead.len() == 1 {
                Ok(dead)
            } else {
                Err(format!("{dead:?}"))
            }
        },
    )
    .await;
    assert_eq!(dead[0]["id"], unmapped[0]);
    // Never sent: no HTTP status and no receiver's answer to show.
    assert!(dead[0]["last_status"].is_null(), "{}", dead[0]);
    assert!(dead[0]["excerpt"].is_null(), "{}", dead[0]);
    let error = dead[0]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("mapping_failed") && error.contains("\"D09\" is not in lookup table"),
        "{error}"
    );
    assert_eq!(
        daemon.metric_total("dockgate_mapping_failures_total").await,
        1.0
    );

    // The cloud ERP: flat JSON of picks (the exception too) and shipments, door 9 included,
    // in order per subject.
    let mut all: Vec<String> = shipments
        .iter()
        .chain(&unmapped)
        .chain(&exception)
        .chain(&picks)
        .cloned()
        .collect();
    wait_until(
        secs(20),
        "every pick and shipment at the cloud ERP",
        async || cloud.count(&Outcome::Accepted) >= all.len(),
    )
    .await;
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut got = Vec::new();
    for r in cloud.requests() {
        assert_eq!(r.content_type(), "application/json");
        let doc: Value = serde_json::from_str(&r.body).unwrap();
        let seq = doc["sequence"].as_u64().unwrap();
        let subject = doc["reference"].as_str().unwrap().to_owned();
        assert!(last.insert(subject, seq).is_none_or(|before| before < seq));
        assert_eq!(r.key(), doc["eventId"].as_str());
        if doc["eventType"] == "pick.confirmed" {
            assert_eq!(doc["gtin"], gtin.as_str());
            assert_eq!(doc["order"], "SO-77");
        }
        got.push(doc["eventId"].as_str().unwrap().to_owned());
    }
    got.sort();
    all.sort();
    assert_eq!(got, all);

    // The CRM: one case note for the pick without an order.
    let cases = wait_for(secs(20), "the case note at the CRM", async || {
        let r = crm.requests();
        if r.len() == 1 {
            Ok(r)
        } else {
            Err(format!("{} requests", r.len()))
        }
    })
    .await;
    let case: Value = serde_json::from_str(&cases[0].body).unwrap();
    assert_eq!(case["externalId"], exception[0]);
    assert!(
        case["title"]
            .as_str()
            .is_some_and(|t| t.contains("pick exception") && t.contains("no_open_order")),
        "{case}"
    );
    assert_eq!(case["priority"], "high");
}

/// A template that does not compile is a configuration error with its file and line, for
/// `config validate` and for `run` (exit 78); one that is not on the machine is named by
/// `validate`, which does not fail for it (the file is checked where the daemon runs).
#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_does_not_compile_is_a_configuration_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("bad.xml.j2");
    write_file(&template, "<a>\n{{ event.subject }\n</a>\n");
    let config = |file: &str| {
        format!(
            "version = 1\n[site]\nid = \"wh-hil\"\ndata_dir = {:?}\n[admin]\nlisten = \"127.0.0.1:{}\"\n\
             [sinks.erp]\nurl = \"http://127.0.0.1:9/\"\nformat = \"template\"\ntemplate_file = {file:?}\n\
             content_type = \"application/xml\"\n",
            dir.path().join("data").display().to_string(),
            free_port()
        )
    };
    let path = dir.path().join("dockgate.toml");
    write_file(&path, &config(&template.display().to_string()));
    let path_s = path.display().to_string();
    let want = format!("{}:2: key `sinks.erp.template_file`", template.display());
    let out = dockgate(&["config", "validate", &path_s]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains(&want), "{out:#?}");
    let out = dockgate(&["--config", &path_s, "run"]).await;
    assert_eq!(out.code, Some(78), "{out:#?}");
    assert!(out.stderr.contains(&want), "{out:#?}");

    write_file(&path, &config("/nonexistent/shpcon.xml.j2"));
    let out = dockgate(&["config", "validate", &path_s]).await;
    out.assert_ok();
    assert!(
        out.stderr.contains(
            "not checked, not on this machine: sinks.erp.template_file /nonexistent/shpcon.xml.j2"
        ),
        "{out:#?}"
    );
}
