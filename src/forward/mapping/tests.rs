//! Templates against real CloudEvents: escaping by file name, the filters, strict fields,
//! batches, and compile errors with their line.

use std::path::Path;

use super::*;

const EVENT: &str = r#"{"specversion":"1.0","id":"0193a0c4-7d1e-7c2a-9b1f-0000000005e0","source":"dockgate://wh-test/devices/ship-07","type":"shipment.loaded","subject":"009506000134350004","time":"2026-12-02T10:15:04.113Z","datacontenttype":"application/json","sequence":"42","data":{"site":"wh-test","device":"ship-07","station":"ship","input":"]C1<&>","door":"D07","sscc":"009506000134350004","quantity":3}}"#;

fn sink(dir: &Path, file: &str, template: &str, extra: &str) -> SinkConfig {
    let path = dir.join(file);
    std::fs::write(&path, template).unwrap();
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\n[sinks.erp]\nurl = \"http://x/\"\nformat = \"template\"\n\
         template_file = {:?}\ncontent_type = \"text/plain\"\n{extra}",
        path.display().to_string()
    );
    Config::parse(&text).unwrap().sinks.remove("erp").unwrap()
}

fn render(file: &str, template: &str, extra: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let mapping = Mapping::compile(&sink(dir.path(), file, template, extra))
        .unwrap()
        .unwrap();
    mapping.render(&[EVENT.into()])
}

#[test]
fn escaping_follows_the_file_name() {
    let xml = render("a.xml.j2", "<i>{{ event.data.input }}</i>", "").unwrap();
    assert_eq!(xml, "<i>]C1&lt;&amp;&gt;</i>");
    let json = render("a.json.j2", "{\"in\": {{ event.data.input }}}", "").unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["in"],
        "]C1<&>"
    );
    let csv = render("a.csv.j2", "{{ event.data.input }}", "").unwrap();
    assert_eq!(csv, "]C1<&>");
}

#[test]
fn the_filters_format_dates_pad_quote_and_look_up() {
    let out = render(
        "a.txt.j2",
        "{{ event.time | dateformat(format=\"[year][month][day]\") }} \
         {{ event.time | timeformat(format=\"[hour][minute][second]\") }} \
         {{ event.sequence | zfill(8) }} {{ \"a,b\" | csv }} \
         {{ event.data.door | lookup(\"plant\") }} {{ \"D99\" | lookup(\"plant\", \"0000\") }}",
        "[sinks.erp.lookup.plant]\nD07 = \"1010\"\n",
    )
    .unwrap();
    assert_eq!(out, "20261202 101504 00000042 \"a,b\" 1010 0000");
}

#[test]
fn a_missing_field_or_lookup_fails_the_render_with_its_reason() {
    let err = render("a.txt.j2", "{{ event.data.order }}", "").unwrap_err();
    assert!(err.contains("line 1") && err.contains("default"), "{err}");
    assert_eq!(
        render("a.txt.j2", "{{ event.data.order | default(\"-\") }}", "").unwrap(),
        "-"
    );
    let err = render(
        "a.txt.j2",
        "{{ \"D99\" | lookup(\"plant\") }}",
        "[sinks.erp.lookup.plant]\nD07 = \"1010\"\n",
    )
    .unwrap_err();
    assert!(
        err.contains("\"D99\" is not in lookup table \"plant\""),
        "{err}"
    );
    // A missing field handed to a filter fails too, rather than going out as "", zeros or the
    // lookup's default.
    for filter in [
        "zfill(5)",
        "csv",
        "lookup(\"plant\", \"0000\")",
        "dateformat",
        "datetimeformat",
        "timeformat",
    ] {
        let template = format!("{{{{ event.data.order | {filter} }}}}");
        let err = render(
            "a.txt.j2",
            &template,
            "[sinks.erp.lookup.plant]\nD07 = \"1010\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("undefined value given to") && err.contains("default"),
            "{filter}: {err}"
        );
    }
    assert_eq!(
        render(
            "a.txt.j2",
            "{{ event.data.order | default(7) | zfill(3) }}",
            ""
        )
        .unwrap(),
        "007"
    );
}

#[test]
fn a_batch_renders_the_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink(
        dir.path(),
        "b.txt.j2",
        "{% for e in events %}{{ e.sequence }};{% endfor %}",
        "",
    );
    config.batch_max_events = 10;
    let mapping = Mapping::compile(&config).unwrap().unwrap();
    let second = EVENT.replace("\"42\"", "\"43\"");
    assert_eq!(
        mapping.render(&[EVENT.into(), second.into()]).unwrap(),
        "42;43;"
    );
}

#[test]
fn a_syntax_error_is_a_configuration_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = sink(
        dir.path(),
        "bad.xml.j2",
        "<a>\n{{ event.subject }\n</a>",
        "",
    );
    match Mapping::compile(&config) {
        Err(MappingError::Syntax { line, .. }) => assert_eq!(line, Some(2)),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\n[sinks.erp]\nurl = \"http://x/\"\nformat = \"template\"\n\
         template_file = {:?}\ncontent_type = \"application/xml\"\n\
         [sinks.crm]\nurl = \"http://x/\"\nformat = \"template\"\ntemplate_file = \"/nonexistent/t.j2\"\n\
         content_type = \"text/csv\"\n",
        dir.path().join("bad.xml.j2").display().to_string()
    );
    let (problems, absent) = check(&Config::parse(&text).unwrap());
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].1.key, "sinks.erp.template_file");
    assert_eq!(problems[0].1.line, Some(2));
    assert_eq!(absent, ["sinks.crm.template_file /nonexistent/t.j2"]);
}

/// Every event of the integrator's guide, as the guide shows it.
fn guide_examples() -> Vec<serde_json::Value> {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/integrating.md"))
            .unwrap();
    guide
        .split("<!-- example ")
        .skip(1)
        .map(|part| {
            let json = &part[part.find("```json\n").unwrap() + 8..];
            serde_json::from_str(&json[..json.find("```").unwrap()]).unwrap()
        })
        .collect()
}

/// The shipped template `file` as a sink's, with the lookup table the XML one needs.
fn shipped(file: &str) -> Mapping {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates/").to_owned() + file;
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\n[sinks.erp]\nurl = \"http://x/\"\nformat = \"template\"\n\
         template_file = {path:?}\ncontent_type = \"application/xml\"\n\
         [sinks.erp.lookup.shipping_point]\nD07 = \"1000\"\n"
    );
    let config = Config::parse(&text).unwrap();
    Mapping::compile(&config.sinks["erp"]).unwrap().unwrap()
}

#[test]
fn the_shipped_templates_render_every_event_they_are_for_into_valid_documents() {
    let (xml, flat, case) = (
        shipped("shpcon.xml.j2"),
        shipped("erp-flat.json.j2"),
        shipped("crm-case.json.j2"),
    );
    let mut rendered = 0;
    for e in guide_examples() {
        let t = e["type"].as_str().unwrap().to_owned();
        let body: [std::sync::Arc<str>; 1] = [e.to_string().into()];
        if t.starts_with("shipment.") {
            let doc = xml.render(&body).unwrap();
            let parsed = roxmltree::Document::parse(&doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
            let text = |tag: &str| {
                parsed
                    .descendants()
                    .find(|n| n.has_tag_name(tag))
                    .and_then(|n| n.text())
                    .map(str::to_owned)
            };
            assert_eq!(text("VBELN").as_deref(), e["subject"].as_str());
            assert_eq!(text("VSTEL").as_deref(), Some("1000"));
            assert_eq!(text("ARCKEY").as_deref(), e["id"].as_str());
            let units = parsed
                .descendants()
                .filter(|n| n.has_tag_name("EXIDV"))
                .count();
            assert!(units >= 1, "{doc}");
            rendered += 1;
        }
        if !t.starts_with("dock.") && t != "scan.unmatched" {
            let doc: serde_json::Value =
                serde_json::from_str(&flat.render(&body).unwrap()).unwrap();
            assert_eq!(doc["eventId"], e["id"]);
            assert_eq!(doc["reference"], e["subject"]);
            assert_eq!(
                doc["sequence"].as_u64().map(|s| s.to_string()).as_deref(),
                e["sequence"].as_str()
            );
            assert_eq!(
                doc["gtin"],
                *e["data"].get("gtin").unwrap_or(&serde_json::Value::Null)
            );
            rendered += 1;
        }
        if t.ends_with(".exception") {
            let doc: serde_json::Value =
                serde_json::from_str(&case.render(&body).unwrap()).unwrap();
            let title = doc["title"].as_str().unwrap();
            assert!(
                title.contains(e["data"]["reason"].as_str().unwrap()),
                "{title}"
            );
            assert_eq!(doc["externalId"], e["id"]);
            rendered += 1;
        }
    }
    // 2 shipment events as XML, 13 business events as flat JSON, 4 exceptions as cases.
    assert_eq!(rendered, 2 + 13 + 4);
}

#[test]
fn the_shipped_configurations_are_valid_and_their_templates_compile() {
    for file in ["config/dockgate.toml", "packaging/dockgate.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let (problems, absent) = check(&config);
        assert!(problems.is_empty(), "{file}: {problems:?}");
        // The example's template is in the repository, so it was compiled.
        assert!(
            file.starts_with("packaging") || absent.is_empty(),
            "{absent:?}"
        );
    }
}

#[test]
fn events_read_on_demand_behave_like_json_maps() {
    const NESTED: &str = r#"{"id":"e1","data":{"lines":[{"gtin":"1","qty":2},{"gtin":"3","qty":4}],"by":{"ok":1,"damaged":2},"note":"a\"b\u00e9","n":null,"f":1.5,"t":true}}"#;
    let dir = tempfile::tempdir().unwrap();
    let template = "{% for l in event.data.lines %}{{ l.gtin }}x{{ l.qty }};{% endfor %}\
                    {% for k, v in event.data.by | items %}{{ k }}={{ v }};{% endfor %}\
                    {{ event.data.note }}|{{ event.data.n }}|{{ event.data.f }}|{{ event.data.t }}|\
                    {{ event.data | length }}|{{ event.data.by | tojson }}|\
                    {{ event.data.missing is defined }}|{{ event.data.by.ok + 1 }}";
    let mapping = Mapping::compile(&sink(dir.path(), "a.txt.j2", template, ""))
        .unwrap()
        .unwrap();
    let out = mapping.render(&[NESTED.into()]).unwrap();
    assert_eq!(
        out,
        "1x2;3x4;ok=1;damaged=2;a\"bé|None|1.5|True|6|{\"ok\":1,\"damaged\":2}|False|2"
    );
    let err = mapping.render(&["{\"id\": ".into()]).unwrap_err();
    assert!(err.starts_with("reading the event:"), "{err}");
}

#[test]
fn unknown_filters_and_a_template_for_the_wrong_request_shape_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let syntax = |file: &str, template: &str, extra: &str| match Mapping::compile(&sink(
        dir.path(),
        file,
        template,
        extra,
    )) {
        Err(MappingError::Syntax { line, message, .. }) => (line, message),
        other => panic!("{file}: {:?}", other.map(|_| ())),
    };
    let (line, message) = syntax("f.txt.j2", "a\n{{ event.id | nosuchfilter }}", "");
    assert_eq!(line, Some(2));
    assert!(message.contains("nosuchfilter"), "{message}");
    let (_, message) = syntax(
        "t.txt.j2",
        "{% if event.id is nosuchtest %}x{% endif %}",
        "",
    );
    assert!(message.contains("nosuchtest"), "{message}");
    let (line, message) = syntax("b.txt.j2", "{{ event.id }}", "batch_max_events = 5\n");
    assert_eq!(line, None);
    assert!(
        message.contains("batch_max_events = 5") && message.contains("`events`"),
        "{message}"
    );
    let (_, message) = syntax(
        "s.txt.j2",
        "{% for e in events %}{{ e.id }}{% endfor %}",
        "",
    );
    assert!(message.contains("one event per request"), "{message}");
    // Fields an event may lack, filters on them and branches not taken are not problems.
    for (file, template, extra) in [
        (
            "ok1.txt.j2",
            "{{ event.data.x | int | zfill(4) }}{{ event.time | dateformat }}",
            "",
        ),
        (
            "ok2.txt.j2",
            "{% for e in events %}{{ e.data.door | lookup(\"plant\", \"0\") }}{% endfor %}",
            "batch_max_events = 5\n",
        ),
    ] {
        Mapping::compile(&sink(dir.path(), file, template, extra))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .unwrap();
    }
}

#[test]
fn the_crm_case_shows_the_group_separator_of_a_scan_as_gs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates/crm-case.json.j2");
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\n[sinks.crm]\nurl = \"http://x/\"\nformat = \"template\"\n\
         template_file = {:?}\ncontent_type = \"application/json\"\n",
        path.display().to_string()
    );
    let config = Config::parse(&text).unwrap();
    let mapping = Mapping::compile(&config.sinks["crm"]).unwrap().unwrap();
    let event = r#"{"id":"e1","type":"pick.exception","subject":"pick-01","time":"2026-12-02T10:15:02.113Z","sequence":"3","data":{"site":"wh","device":"pick-01","station":"pick","reason":"no_open_order","message":"no open order","input":"]C101123\u001d10L1"}}"#;
    let body: serde_json::Value =
        serde_json::from_str(&mapping.render(&[event.into()]).unwrap()).unwrap();
    let description = body["description"].as_str().unwrap();
    assert!(
        description.contains("(scan ]C101123<GS>10L1 at device pick-01"),
        "{description}"
    );
}
