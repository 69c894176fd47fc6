//! Headless Chromium looking at a page as a person would: a screenshot, and the DOM once the
//! page's own script has run. Each run gets a fresh profile directory and is bounded in time.
//!
//! A desktop window cannot be narrower than 500 px (headless Chromium widens a smaller
//! `--window-size` without a word), so a handheld is emulated through the DevTools protocol
//! instead (`Emulation.setDeviceMetricsOverride`, as the browser's device toolbar does),
//! spoken over `--remote-debugging-pipe`: NUL-terminated JSON on the browser's fds 3 and 4.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Time one browser run gets.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The flags of every run: no sandbox (root in CI), nothing fetched but the page.
const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Whether the browser is installed.
pub fn chromium_installed() -> bool {
    Path::new(CHROMIUM).is_file()
}

/// Runs of the browser whose profiles live under one directory.
pub struct Browser {
    dir: PathBuf,
    runs: usize,
}

/// What the browser showed of a page on an emulated handheld.
pub struct Emulated {
    /// `document.documentElement.outerHTML` once the script has run.
    pub dom: String,
    /// `window.innerWidth`, in CSS pixels.
    pub inner_width: u64,
    /// A PNG of the whole page.
    pub png: Vec<u8>,
}

impl Browser {
    /// Browser runs keeping their profiles (and logs) under `dir`.
    pub fn new(dir: &Path) -> Browser {
        std::fs::create_dir_all(dir).expect("creating the browser directory");
        Browser {
            dir: dir.to_owned(),
            runs: 0,
        }
    }

    /// The common flags with a profile directory of this run's own, and its log file.
    fn run_args(&mut self) -> (Vec<String>, PathBuf) {
        self.runs += 1;
        let profile = self.dir.join(format!("profile-{}", self.runs));
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        (args, self.dir.join(format!("chromium-{}.log", self.runs)))
    }

    /// `program` with `args`, its stderr to `log`.
    fn command(program: &str, args: &[String], log: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(log).expect("creating the browser log"))
            .kill_on_drop(true);
        cmd
    }

    /// Runs `cmd` to its end; panics (with its log) unless it exits 0.
    async fn finish(cmd: &mut Command, log: &Path, what: &str) -> Vec<u8> {
        let out = tokio::time::timeout(RUN_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("chromium {what}: no result within {RUN_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("cannot run {CHROMIUM}: {e}"));
        assert!(
            out.status.success(),
            "chromium {what} failed ({}): {}",
            out.status,
            std::fs::read_to_string(log).unwrap_or_default()
        );
        out.stdout
    }

    /// Saves a screenshot of `url` in a `width` x `height` window to `png`.
    pub async fn screenshot(&mut self, url: &str, width: u32, height: u32, png: &Path) {
        let (args, log) = self.run_args();
        let mut cmd = Self::command(CHROMIUM, &args, &log);
        cmd.arg(format!("--window-size={width},{height}"))
            .arg(format!("--screenshot={}", png.display()))
            .arg(url)
            .stdout(Stdio::null());
        Self::finish(&mut cmd, &log, "--screenshot").await;
    }

    /// The DOM of `url` in a `width` x `height` window after `budget_ms` of virtual time (the
    /// page's timers run, its fetches are waited for).
    pub async fn dump_dom(&mut self, url: &str, width: u32, height: u32, budget_ms: u32) -> String {
        let (args, log) = self.run_args();
        let mut cmd = Self::command(CHROMIUM, &args, &log);
        cmd.arg(format!("--window-size={width},{height}"))
            .arg(format!("--virtual-time-budget={budget_ms}"))
            .arg("--dump-dom")
            .arg(url)
            .stdout(Stdio::piped());
        String::from_utf8_lossy(&Self::finish(&mut cmd, &log, "--dump-dom").await).into_owned()
    }

    /// Opens `url` on an emulated handheld `width` CSS pixels wide (device pixel ratio 2),
    /// waits until the JavaScript expression `ready` is true (polled, at most 40 s), and
    /// returns the DOM, the width and a screenshot of the whole page.
    pub async fn handheld(&mut self, url: &str, width: u32, height: u32, ready: &str) -> Emulated {
        let (mut args, log) = self.run_args();
        // The shell hands the browser our pipes as its fds 3 (commands) and 4 (answers).
        let mut shell = vec![
            "-c".to_owned(),
            "exec \"$0\" \"$@\" 3<&0 4>&1 </dev/null >/dev/null".to_owned(),
            CHROMIUM.to_owned(),
        ];
        args.push("--remote-debugging-pipe".to_owned());
        shell.extend(args);
        let mut cmd = Self::command("sh", &shell, &log);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {CHROMIUM}: {e}"));
        let mut cdp = Cdp::new(&mut child);
        let run = async {
            let target = cdp
                .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
                .await;
            let target = target["targetId"].as_str().expect("a target id").to_owned();
            let attached = cdp
                .call(
                    None,
                    "Target.attachToTarget",
                    json!({ "targetId": target, "flatten": true }),
                )
                .await;
            let session = attached["sessionId"]
                .as_str()
                .expect("a session id")
                .to_owned();
            let s = Some(session.as_str());
            cdp.call(
                s,
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true }),
            )
            .await;
            cdp.call(s, "Page.enable", json!({})).await;
            cdp.call(s, "Page.navigate", json!({ "url": url })).await;
            cdp.event("Page.loadEventFired").await;
            let wait = format!(
                "new Promise(done => {{ const t0 = Date.now(); (function poll() {{ \
                 if ({ready}) done(true); else if (Date.now() - t0 > 40000) done(false); \
                 else setTimeout(poll, 100); }})(); }})"
            );
            let ready_seen = cdp.eval(s, &wait).await;
            assert_eq!(
                ready_seen,
                json!(true),
                "the page never got to `{ready}` on the handheld"
            );
            let dom = cdp.eval(s, "document.documentElement.outerHTML").await;
            let inner_width = cdp.eval(s, "window.innerWidth").await;
            let metrics = cdp.call(s, "Page.getLayoutMetrics", json!({})).await;
            let page_height = metrics["cssContentSize"]["height"]
                .as_f64()
                .unwrap_or(height as f64);
            let shot = cdp
                .call(
                    s,
                    "Page.captureScreenshot",
                    json!({
                        "format": "png",
                        "captureBeyondViewport": true,
                        "clip": { "x": 0, "y": 0, "width": width, "height": page_height, "scale": 1 },
                    }),
                )
                .await;
            let png = base64::engine::general_purpose::STANDARD
                .decode(shot["data"].as_str().expect("screenshot data"))
                .expect("screenshot is base64");
            cdp.call(None, "Browser.close", json!({})).await;
            Emulated {
                dom: dom.as_str().unwrap_or_default().to_owned(),
                inner_width: inner_width.as_u64().unwrap_or(0),
                png,
            }
        };
        let emulated = tokio::time::timeout(RUN_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "chromium on an emulated handheld: no result within {RUN_TIMEOUT:?}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        emulated
    }
}

/// A DevTools protocol connection over the browser's pipe.
struct Cdp {
    to: ChildStdin,
    from: BufReader<ChildStdout>,
    next_id: u64,
    /// Events read while waiting for an answer, oldest first.
    events: Vec<Value>,
}

impl Cdp {
    fn new(child: &mut Child) -> Cdp {
        Cdp {
            to: child.stdin.take().expect("the browser's command pipe"),
            from: BufReader::new(child.stdout.take().expect("the browser's answer pipe")),
            next_id: 0,
            events: Vec::new(),
        }
    }

    async fn read(&mut self) -> Value {
        let mut buf = Vec::new();
        let n = self
            .from
            .read_until(0, &mut buf)
            .await
            .expect("reading from the browser");
        assert!(n > 0, "the browser closed its pipe");
        buf.pop();
        serde_json::from_slice(&buf).expect("the browser speaks JSON")
    }

    /// Sends `method` (to `session`, else the browser) and returns its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("a command is JSON");
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .await
            .expect("writing to the browser");
        loop {
            let m = self.read().await;
            if m["id"] == json!(id) {
                assert!(m.get("error").is_none(), "{method} failed: {m}");
                return m["result"].clone();
            }
            if m.get("method").is_some() {
                self.events.push(m);
            }
        }
    }

    /// Waits for the event `method` (one already read counts).
    async fn event(&mut self, method: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return self.events.remove(i);
        }
        loop {
            let m = self.read().await;
            if m["method"] == method {
                return m;
            }
        }
    }

    /// The value of a JavaScript expression in the page (a promise is waited for).
    async fn eval(&mut self, session: Option<&str>, expression: &str) -> Value {
        let r = self
            .call(
                session,
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        assert!(
            r.get("exceptionDetails").is_none(),
            "`{expression}` threw: {r}"
        );
        r["result"]["value"].clone()
    }
}

/// Panics unless `png` is a PNG image of at least `min_width` x `min_height` pixels and more
/// than `min_bytes` (a blank or broken capture compresses to almost nothing).
pub fn assert_png(png: &[u8], min_width: u32, min_height: u32, min_bytes: usize, what: &str) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24 && &png[12..16] == b"IHDR",
        "{what}: not a PNG ({} bytes)",
        png.len()
    );
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert!(
        width >= min_width && height >= min_height,
        "{what}: {width} x {height} px, expected at least {min_width} x {min_height}"
    );
    assert!(
        png.len() > min_bytes,
        "{what}: only {} bytes: a blank page?",
        png.len()
    );
}
