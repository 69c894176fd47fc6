//! The status page for the floor (DESIGN §8) and `admin.public_listen`: a daemon with a
//! scanner that is up, one that is unplugged and an ERP that refuses one event serves the
//! page on its read-only listener, which refuses the API. Headless Chromium then reads the
//! page on a desk screen (1280 px) and an emulated handheld (360 px): devices, sinks and the
//! dead letter with the command that replays it are there, the page refreshes itself in place,
//! and nothing scrolls sideways on the handheld. Event data never shows.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::harness::chromium::CHROMIUM;
use crate::harness::*;

/// Data of the refused event: it must never reach the page.
const PAYLOAD_MARK: &str = "PAYLOAD-NEVER-ON-THE-PAGE-7731";

/// Set to `skip` to let the browser part pass where Chromium cannot be installed (hil-tests/run.sh
/// installs it, so CI never needs this).
const NO_BROWSER_VAR: &str = "DOCKGATE_HIL_WITHOUT_CHROMIUM";

/// When set, the screenshots are copied to this directory to be looked at.
const SHOTS_VAR: &str = "DOCKGATE_HIL_SCREENSHOTS";

fn devices(link: &SerialLink) -> String {
    format!(
        "[devices.pick-01]\nsource = \"serial\"\nstation = \"pick\"\npath = {:?}\nterminator = \"any\"\n\
         [devices.pick-09]\nsource = \"serial\"\nstation = \"pick\"\npath = \"/dev/serial/by-id/not-plugged-in\"\n",
        link.device_path().display().to_string()
    )
}

/// Status and body of a request to the read-only listener.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

/// What the page must show, as the browser has it after its script ran, `width` px wide.
fn check_dom(dom: &str, dead_id: &str, width: u64, what: &str) {
    for needed in [
        "<section id=\"devices\">".to_owned(),
        "data-device=\"pick-01\" data-state=\"up\"".to_owned(),
        "data-device=\"pick-09\" data-state=\"down\"".to_owned(),
        "<section id=\"sinks\">".to_owned(),
        "data-sink=\"erp\" data-state=\"ok\"".to_owned(),
        "Dead letters (1)".to_owned(),
        format!("data-event=\"{dead_id}\""),
        format!("dockgate replay --sink erp --event {dead_id}"),
        "SO-4712".to_owned(),
    ] {
        assert!(
            dom.contains(&needed),
            "{what}: {needed:?} missing from {dom}"
        );
    }
    assert!(
        !dom.contains(PAYLOAD_MARK),
        "{what}: event data on the page: {dom}"
    );
    assert!(!dom.contains("http-equiv"), "{what}: a meta refresh: {dom}");
    let scroll = attribute(dom, "data-scroll-width")
        .unwrap_or_else(|| panic!("{what}: the page's script left no data-scroll-width: {dom}"));
    assert!(
        scroll <= width,
        "{what}: the page is {scroll} px wide in a {width} px viewport: it scrolls sideways"
    );
    let refreshes = attribute(dom, "data-refreshes").unwrap_or(0);
    assert!(
        refreshes >= 1,
        "{what}: the page never refreshed itself in place: {dom}"
    );
}

/// The number in `name="..."` of the `<html>` element.
fn attribute(dom: &str, name: &str) -> Option<u64> {
    let html = &dom[dom.find("<html")?..];
    let html = &html[..html.find('>')?];
    let from = html.find(&format!("{name}=\""))? + name.len() + 2;
    html[from..].split('"').next()?.parse().ok()
}

fn keep_screenshot(png: &Path) {
    if let Ok(dir) = std::env::var(SHOTS_VAR) {
        let name = png.file_name().expect("a file name");
        std::fs::create_dir_all(&dir).expect("creating the screenshot directory");
        std::fs::copy(png, Path::new(&dir).join(name)).expect("copying a screenshot");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_reads_well_on_a_desk_and_a_handheld_and_the_public_listener_is_read_only() {
    let refuse = Mode::RefuseEvent(Arc::new(|e: &Value| e["data"]["poison"] == true));
    let erp = StandIn::start("erp", refuse).await;
    let mut link = SerialLink::start().await;
    let public = format!("127.0.0.1:{}", free_port());
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)])
            .public_listen(&public)
            .toml(&devices(&link)),
    )
    .await;
    wait_device_up(&daemon, "pick-01", 0).await;
    link.write_line("SO-1001").await;
    wait_until(secs(20), "the scanner's input is seen", async || {
        daemon.device("pick-01").await["inputs"].as_u64() >= Some(1)
    })
    .await;
    let ids = daemon
        .post_events(
            &json!([
                event("pick.confirmed", "SO-4711", json!({ "n": 1 })),
                event(
                    "pick.confirmed",
                    "SO-4712",
                    json!({ "poison": true, "note": PAYLOAD_MARK })
                ),
            ]),
            None,
        )
        .await
        .ids();
    let dead_id = ids[1].clone();
    erp.wait_received(&ids[..1], secs(20), "the good event is delivered")
        .await;
    wait_until(secs(20), "the refused event is a dead letter", async || {
        daemon.events("erp", "dead").await.len() == 1
    })
    .await;

    // The admin API lists the dead letter in its status; the read-only listener serves the page
    // and nothing of the API.
    let st = daemon.status().await;
    assert_eq!(st["dead_letters"][0]["id"], json!(dead_id), "status: {st}");
    assert_eq!(st["dead_letters"][0]["subject"], "SO-4712", "status: {st}");
    assert!(
        !st.to_string().contains(PAYLOAD_MARK),
        "status shows event data: {st}"
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(secs(30))
        .build()
        .unwrap();
    let base = format!("http://{public}");
    let resp = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{:?}",
        resp.headers()
    );
    assert!(
        header("content-security-policy").contains("default-src 'none'"),
        "{:?}",
        resp.headers()
    );
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(&dead_id) && page.contains(SITE),
        "public page: {page}"
    );
    assert!(
        !page.contains(PAYLOAD_MARK),
        "event data on the page: {page}"
    );
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    assert_eq!(
        call(&http, get.clone(), &format!("{base}/health"), None).await,
        (200, "ok\n".into())
    );
    assert_eq!(
        call(&http, get.clone(), &format!("{base}/ready"), None)
            .await
            .0,
        200
    );
    let (code, metrics) = call(&http, get.clone(), &format!("{base}/metrics"), None).await;
    assert_eq!(code, 200);
    assert!(metrics.contains("dockgate_backlog_events"), "{metrics}");
    for path in [
        "/api/v1/status",
        "/api/v1/events",
        "/api/v1/events?sink=erp&state=dead",
    ] {
        let (code, body) = call(&http, get.clone(), &format!("{base}{path}"), None).await;
        assert_eq!(code, 404, "GET {path} on the read-only listener: {body}");
        assert!(!body.contains(PAYLOAD_MARK));
    }
    let stored = daemon.status().await["buffer"]["events"].clone();
    for (path, body) in [
        (
            "/api/v1/events",
            json!({ "type": "pick.confirmed", "subject": "SO-9", "data": {} }),
        ),
        ("/api/v1/replay", json!({ "sink": "erp", "dead": true })),
        ("/api/v1/ingest/pick-01", json!("SO-9")),
        ("/api/v1/config/rollback", json!({})),
    ] {
        let (code, answer) = call(&http, post.clone(), &format!("{base}{path}"), Some(&body)).await;
        assert!(
            code == 404 || code == 405,
            "POST {path} on the read-only listener answered {code}: {answer}"
        );
    }
    let (code, _) = call(&http, post.clone(), &format!("{base}/"), Some(&json!({}))).await;
    assert_eq!(code, 405, "POST / on the read-only listener");
    assert_eq!(
        daemon.status().await["buffer"]["events"],
        stored,
        "the read-only listener stored something"
    );
    assert_eq!(
        daemon.events("erp", "dead").await.len(),
        1,
        "nothing was replayed"
    );

    if !chromium_installed() {
        if std::env::var(NO_BROWSER_VAR).as_deref() == Ok("skip") {
            eprintln!("SKIPPED: the browser part (no {CHROMIUM}, and {NO_BROWSER_VAR}=skip)");
            return;
        }
        panic!("{CHROMIUM} is missing: install chromium (hil-tests/run.sh does), or set {NO_BROWSER_VAR}=skip");
    }
    let shots = tempfile::Builder::new()
        .prefix("dockgate-hil-page-")
        .tempdir()
        .unwrap();
    let mut browser = Browser::new(&shots.path().join("browser"));
    let url = format!("{base}/");

    // A desk screen.
    let wide = shots.path().join("status-page-1280.png");
    browser.screenshot(&url, 1280, 1000, &wide).await;
    assert_png(
        &std::fs::read(&wide).unwrap(),
        1280,
        1000,
        20_000,
        "the 1280 px screenshot",
    );
    keep_screenshot(&wide);
    // 25 s of the page's time: its 10 s refresh has run twice.
    let dom = browser.dump_dom(&url, 1280, 1000, 25_000).await;
    check_dom(&dom, &dead_id, 1280, "at 1280 px");

    // A handheld 360 px wide, on the admin API's own listener this time.
    let hand = browser
        .handheld(
            &format!("{}/", daemon.base()),
            360,
            740,
            "Number(document.documentElement.getAttribute('data-refreshes')) >= 1",
        )
        .await;
    assert_eq!(hand.inner_width, 360, "the handheld's viewport");
    check_dom(&hand.dom, &dead_id, 360, "at 360 px");
    let narrow = shots.path().join("status-page-360.png");
    std::fs::write(&narrow, &hand.png).unwrap();
    assert_png(&hand.png, 360, 740, 20_000, "the 360 px screenshot");
    keep_screenshot(&narrow);
}

/// Whether something answers 200 at `url`.
async fn serves(http: &reqwest::Client, url: &str) -> bool {
    match http.get(url).send().await {
        Ok(r) => r.status() == 200,
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn public_listener_follows_reloads_and_a_taken_address_changes_nothing() {
    let daemon = Daemon::start(Setup::new(Vec::new())).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(secs(5))
        .build()
        .unwrap();
    let original = std::fs::read_to_string(daemon.config_path()).unwrap();
    // Writes `version` with `public` as admin.public_listen (none: without), then SIGHUP.
    let reload = |version: u64, public: Option<&str>| {
        let mut text = original.replacen("version = 1\n", &format!("version = {version}\n"), 1);
        if let Some(public) = public {
            let at = text
                .find("\nlisten = ")
                .expect("admin.listen in the config")
                + 1;
            text.insert_str(at, &format!("public_listen = {public:?}\n"));
        }
        write_file(daemon.config_path(), &text);
        daemon.reload();
    };
    let version = async || daemon.status().await["config_version"].as_u64();
    let first = format!("127.0.0.1:{}", free_port());
    let second = format!("127.0.0.1:{}", free_port());
    assert!(!serves(&http, &format!("http://{first}/health")).await);

    reload(2, Some(&first));
    wait_until(
        secs(15),
        "the read-only listener serves the page",
        async || serves(&http, &format!("http://{first}/")).await,
    )
    .await;
    reload(3, Some(&second));
    wait_until(secs(15), "it moved to its new address", async || {
        serves(&http, &format!("http://{second}/")).await
            && !serves(&http, &format!("http://{first}/")).await
    })
    .await;
    assert_eq!(version().await, Some(3));

    // An address another program holds: the change is refused whole, the old listener stays.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().to_string();
    reload(4, Some(&taken));
    wait_until(secs(15), "the refusal in the log", async || {
        daemon
            .log()
            .contains(&format!("admin.public_listen {taken}"))
    })
    .await;
    assert_eq!(
        version().await,
        Some(3),
        "a change that cannot listen is refused"
    );
    assert!(serves(&http, &format!("http://{second}/")).await);
    drop(squatter);

    reload(5, None);
    wait_until(secs(15), "the read-only listener is gone", async || {
        !serves(&http, &format!("http://{second}/")).await
    })
    .await;
    assert_eq!(version().await, Some(5));
    assert!(
        serves(&http, &format!("{}/", daemon.base())).await,
        "the admin API stays"
    );
}
