use super::*;
use crate::control::status::BufferStatus;
use crate::devices::DeviceSnapshotReport;

const NOW: &str = "2026-03-02T10:00:00.000Z";

fn sink(name: &str) -> SinkReport {
    SinkReport {
        name: name.into(),
        url: format!("https://{name}.example.com/events"),
        pending: 0,
        held: 0,
        dead: 0,
        oldest_pending_age_seconds: None,
        state: "ok".into(),
        paused_reason: None,
        last_error: None,
        last_error_at: None,
        last_delivery_at: None,
        in_flight: 0,
        concurrency_limit: 4,
    }
}

fn device(id: &str, up: bool) -> DeviceReport {
    DeviceReport {
        id: id.into(),
        source: "serial".into(),
        station: "pick".into(),
        snapshot: DeviceSnapshotReport {
            up,
            ..Default::default()
        },
    }
}

fn status(sinks: Vec<SinkReport>, devices: Vec<DeviceReport>) -> Status {
    Status {
        site: "wh-test".into(),
        config_version: 7,
        config_origin: "local file /etc/dockgate/dockgate.toml".into(),
        version: "0.1.0".into(),
        uptime_seconds: 3600,
        generated_at: NOW.into(),
        buffer: BufferStatus {
            used_bytes: 1,
            max_bytes: 2,
            percent_full: 0.1,
            events: 3,
            events_last_hour: 3,
            hours_left: None,
            summary: "0.1 % of 2.0 GiB used".into(),
            last_sequence: 3,
            set_aside: Vec::new(),
        },
        sinks,
        devices,
        dead_letters: Vec::new(),
    }
}

fn dead_letter(sink: &str, id: &str, subject: &str) -> DeadLetter {
    DeadLetter {
        id: id.into(),
        sink: sink.into(),
        subject: subject.into(),
        event_type: "pick.confirmed".into(),
        time: "2026-03-02T09:57:00.000Z".into(),
        attempts: 1,
        last_status: Some(422),
        last_error: Some("HTTP 422 (unprocessable)".into()),
    }
}

#[test]
fn an_error_before_the_last_delivery_is_past_and_one_after_is_current() {
    let mut recovered = sink("erp");
    recovered.last_error = Some("HTTP 503 (unavailable)".into());
    recovered.last_error_at = Some("2026-03-02T09:20:00.000Z".into());
    recovered.last_delivery_at = Some("2026-03-02T09:59:50.000Z".into());
    let mut failing = sink("crm");
    failing.state = "retrying".into();
    failing.last_error = Some("connection refused".into());
    failing.last_error_at = Some("2026-03-02T09:59:30.000Z".into());
    failing.last_delivery_at = Some("2026-03-02T09:00:00.000Z".into());
    let st = status(vec![recovered, failing], Vec::new());
    let page = view(&st);

    let erp = page.sinks[0].error.as_ref().unwrap();
    assert!(!erp.current, "delivered since the error");
    assert_eq!(erp.age, "40 min ago");
    assert_eq!(page.sinks[0].last_delivery, "10 s ago");
    assert_eq!(page.sinks[0].level, Level::Good);
    let crm = page.sinks[1].error.as_ref().unwrap();
    assert!(crm.current, "nothing delivered since the error");
    assert_eq!(crm.age, "30 s ago");
    assert_eq!(page.sinks[1].level, Level::Warn);
    assert_eq!(page.problems, vec!["sink crm retrying"]);

    let html = render(&st).unwrap();
    let erp_card = between(&html, "data-sink=\"erp\"", "</article>");
    assert!(erp_card.contains("class=\"error past\""), "{erp_card}");
    assert!(erp_card.contains("past: delivered since"), "{erp_card}");
    let crm_card = between(&html, "data-sink=\"crm\"", "</article>");
    assert!(crm_card.contains("class=\"error current\""), "{crm_card}");
    assert!(
        crm_card.contains(">retrying<"),
        "the CLI's state word: {crm_card}"
    );
}

#[test]
fn an_error_without_a_delivery_or_time_is_current() {
    let mut never = sink("erp");
    never.last_error = Some("HTTP 401 (unauthorized)".into());
    never.last_error_at = Some("2026-03-02T09:59:00.000Z".into());
    let mut untimed = sink("crm");
    untimed.last_error = Some("HTTP 500".into());
    untimed.last_delivery_at = Some("2026-03-02T09:59:00.000Z".into());
    assert!(never.error_is_current());
    assert!(untimed.error_is_current());
    assert!(!sink("wms").error_is_current(), "no error at all");
}

#[test]
fn values_are_escaped() {
    let mut evil = sink("erp");
    evil.last_error = Some("<script>alert('x')</script> & \"quoted\"".into());
    evil.last_error_at = Some(NOW.into());
    let mut d = device("pick<1>", false);
    d.snapshot.last_error = Some("<img src=x onerror=alert(1)>".into());
    let mut st = status(vec![evil], vec![d]);
    st.site = "wh-<b>".into();
    st.sinks[0].dead = 1;
    st.dead_letters = vec![dead_letter("erp", "id-1", "SO-1\"><script>bad()</script>")];
    let html = render(&st).unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<script>bad()"), "{html}");
    assert!(!html.contains("wh-<b>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert("), "{html}");
    assert!(html.contains("&amp; &quot;quoted&quot;"), "{html}");
    assert!(html.contains("pick&lt;1&gt;"), "{html}");
    // The only scripts are the page's own.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
}

#[test]
fn dead_letters_show_subject_reason_and_the_command_that_replays_them() {
    let mut erp = sink("erp");
    erp.dead = 25;
    erp.held = 3;
    let mut st = status(vec![erp, sink("crm")], Vec::new());
    st.dead_letters = vec![
        dead_letter("erp", "0196f1c2-aaaa-7000-8000-000000000001", "SO-4712"),
        dead_letter("erp", "0196f1c2-aaaa-7000-8000-000000000002", "SO-4713"),
    ];
    let page = view(&st);
    assert_eq!(page.level, Level::Bad);
    assert_eq!(page.problems, vec!["sink erp: 25 dead letters"]);
    assert_eq!(page.dead.total, 25);
    assert!(page.dead.more);
    let first = &page.dead.lines[0];
    assert_eq!(first.subject, "SO-4712");
    assert_eq!(first.why, "HTTP 422 (unprocessable)");
    assert_eq!(first.age, "3 min ago");
    assert_eq!(
        first.command,
        "dockgate replay --sink erp --event 0196f1c2-aaaa-7000-8000-000000000001"
    );
    assert_eq!(page.dead.sinks.len(), 1, "only sinks with dead letters");
    assert_eq!(
        page.dead.sinks[0].replay_all,
        "dockgate replay --sink erp --dead"
    );
    assert_eq!(
        page.dead.sinks[0].list,
        "dockgate events --sink erp --state dead"
    );

    let html = render(&st).unwrap();
    let dead = between(&html, "<section id=\"dead\">", "</section>");
    assert!(dead.contains("Dead letters (25)"), "{dead}");
    assert!(dead.contains("The oldest 2 of 25 are shown"), "{dead}");
    assert!(
        dead.contains(
            "<code class=\"cmd replay\">dockgate replay --sink erp --event 0196f1c2-aaaa-7000-8000-000000000001</code>"
        ),
        "{dead}"
    );
    assert!(dead.contains(">SO-4713<"), "{dead}");
}

#[test]
fn replay_commands_quote_what_the_shell_would_split() {
    let d = dead_letter("erp", "it's 1", "SO-1");
    assert_eq!(
        d.replay_command(),
        "dockgate replay --sink erp --event 'it'\\''s 1'"
    );
}

#[test]
fn devices_show_up_or_down_last_input_and_error_with_ages() {
    let mut lost = device("pick-03", false);
    lost.snapshot.last_error = Some("device lost: EIO".into());
    lost.snapshot.last_error_at = Some("2026-03-02T09:58:00.000Z".into());
    lost.snapshot.last_input_at = Some("2026-03-02T09:45:00.000Z".into());
    let mut back = device("pick-04", true);
    back.snapshot.last_error = Some("input rejected: overlong_line".into());
    back.snapshot.last_error_at = Some("2026-03-02T08:00:00.000Z".into());
    let st = status(Vec::new(), vec![lost, back]);
    let page = view(&st);
    assert_eq!(page.problems, vec!["device pick-03 down"]);
    let (a, b) = (&page.devices[0], &page.devices[1]);
    assert_eq!((a.word, a.level), ("down", Level::Bad));
    assert_eq!(a.last_input, "15 min ago");
    let err = a.error.as_ref().unwrap();
    assert!(err.current);
    assert_eq!(err.age, "2 min ago");
    assert_eq!((b.word, b.level), ("up", Level::Good));
    assert_eq!(b.last_input, "no input yet");
    assert!(!b.error.as_ref().unwrap().current, "up again: past");

    let html = render(&st).unwrap();
    let devices = between(&html, "<section id=\"devices\">", "</section>");
    assert!(
        devices.contains("data-device=\"pick-03\" data-state=\"down\""),
        "{devices}"
    );
    assert!(
        devices.contains("data-device=\"pick-04\" data-state=\"up\""),
        "{devices}"
    );
    assert!(devices.contains("device lost: EIO"), "{devices}");
}

#[test]
fn a_quiet_site_reads_all_good_and_the_page_stands_alone() {
    let mut erp = sink("erp");
    erp.last_delivery_at = Some(NOW.into());
    let st = status(vec![erp], vec![device("pick-01", true)]);
    let page = view(&st);
    assert_eq!(page.level, Level::Good);
    assert!(page.problems.is_empty());
    let html = render(&st).unwrap();
    assert!(html.contains("All good"), "{html}");
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(
        !html.contains("http-equiv"),
        "no meta refresh: the script swaps content"
    );
    // minijinja escapes `/` too (`&#x2f;`), which a browser shows as `/`.
    assert!(
        html.contains("config version 7 (local file &#x2f;etc&#x2f;dockgate&#x2f;dockgate.toml)"),
        "{html}"
    );
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "loads nothing else: {external}");
    }
    assert!(html.contains("Dead letters (0)"), "{html}");
}

/// The text of `html` from `start` to the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {html}"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}
