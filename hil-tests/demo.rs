//! `dockgate demo`, run as a user runs it: the real binary on a short shift. Piped, it prints
//! plain progress lines and a clean tally (lost 0, duplicates 0, deliveries to both sinks,
//! the binary noise counted as rejected), and `--keep` leaves a buffer `dockgate check` finds
//! sound. In a detached tmux session of fixed size, its live lines show the sinks, the ERP
//! going down, backlog and delivered figures moving and the status page's address; it ends
//! with the tally and removes its directory. Ctrl-C during the outage ends it early: the
//! backlog drains and the tally is still clean.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::daemon::BIN;
use crate::harness::*;

/// The figure after `label ` in `line` (`committed 25` → 25).
fn figure(line: &str, label: &str) -> Option<u64> {
    let at = line.find(&format!("{label} "))? + label.len() + 1;
    let digits: String = line[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The tally line of `sink`.
fn sink_line<'a>(text: &'a str, sink: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(sink) && l.contains("committed"))
        .unwrap_or_else(|| panic!("no tally line for {sink} in:\n{text}"))
}

/// Checks a clean tally in `text`: both sinks received what was committed for them, nothing
/// lost or twice, the noise quarantined.
fn check_tally(text: &str) {
    for sink in ["erp", "crm"] {
        let line = sink_line(text, sink);
        let committed = figure(line, "committed").expect("a committed figure");
        assert!(committed > 0, "{sink} got nothing: {line}");
        assert_eq!(figure(line, "received"), Some(committed), "{line}");
        assert_eq!(figure(line, "lost"), Some(0), "{line}");
        assert_eq!(figure(line, "duplicates"), Some(0), "{line}");
        assert_eq!(figure(line, "waiting"), Some(0), "{line}");
        assert!(line.contains("in order"), "{line}");
    }
    let inputs = text
        .lines()
        .find(|l| l.trim_start().starts_with("inputs  sent"))
        .unwrap_or_else(|| panic!("no inputs line in:\n{text}"));
    assert_eq!(figure(inputs, "sent"), figure(inputs, "read"), "{inputs}");
    assert!(
        inputs.contains("rejected 1 (pick-02 invalid_utf8"),
        "{inputs}"
    );
    assert!(text.contains("as the script expects"), "{text}");
    assert!(text.contains("result  lost 0, duplicates 0"), "{text}");
    assert!(
        text.contains("every event committed for a sink reached it exactly once"),
        "{text}"
    );
}

/// The path printed after `prefix` on a line of `text`.
fn path_after(text: &str, prefix: &str) -> PathBuf {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
        + prefix.len();
    PathBuf::from(text[at..].split_whitespace().next().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_piped_demo_tallies_a_clean_shift_and_keeps_a_sound_buffer() {
    let out = dockgate(&["demo", "--duration", "15s", "--keep"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let text = &out.stdout;
    check_tally(text);
    // Not a terminal: plain progress lines, no redrawing.
    assert!(!text.contains('\r') && !text.contains("\x1b["), "{text}");
    let progress: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("[0:") && l.contains("erp ") && l.contains("crm "))
        .collect();
    assert!(progress.len() >= 4, "{text}");
    assert!(progress.iter().any(|l| l.contains("erp DOWN")), "{text}");
    assert!(text.contains("the ERP goes down (503)"), "{text}");
    assert!(text.contains("status page http://127.0.0.1:"), "{text}");

    let data = path_after(text, "dockgate check --data-dir ");
    assert!(data.ends_with("data"), "{data:?}");
    let check = dockgate(&["check", "--data-dir", &data.display().to_string()]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
    assert!(check.stdout.contains("The buffer is sound."), "{check:#?}");
    assert!(check.stdout.contains("1 quarantined"), "{check:#?}");
    let dir = data.parent().expect("the demo's directory");
    assert!(dir.join("dockgate.toml").is_file() && dir.join("dockgate.log").is_file());
    let _ = std::fs::remove_dir_all(dir);

    let short = dockgate(&["demo", "--duration", "5s"]).await;
    assert_ne!(short.code, Some(0), "{short:#?}");
    assert!(short.stderr.contains("from 10s to 30m"), "{short:#?}");
}

/// A tmux server of its own (its socket in a tempdir), killed when dropped.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` in a detached session of 110×40.
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            dir: tempfile::Builder::new()
                .prefix("dockgate-hil-tmux-")
                .tempdir()
                .expect("creating the tmux tempdir"),
        };
        let ok = tmux
            .run(&[
                "new-session",
                "-d",
                "-s",
                "demo",
                "-x",
                "110",
                "-y",
                "40",
                command,
            ])
            .status
            .success();
        assert!(ok, "tmux new-session failed");
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("socket"))
            .args(args)
            .output()
            .expect("running tmux (hil-tests/run.sh installs it)")
    }

    /// The pane as it reads now, with its scrollback (not joining wrapped lines: the live
    /// lines fill the width, so tmux takes them for one wrapped line).
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-S", "-200"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "demo", keys]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The live line of `sink` on `screen`, if drawn.
fn live_line<'a>(screen: &'a str, sink: &str) -> Option<&'a str> {
    screen
        .lines()
        .rfind(|l| l.trim_start().starts_with(&format!("{sink}  receiver")))
}

/// Watches the pane until the demo has exited; calls `seen` with each screen before.
async fn watch(tmux: &Tmux, within: Duration, mut seen: impl FnMut(&str)) -> String {
    let start = Instant::now();
    loop {
        let screen = tmux.screen();
        if screen.contains("DEMO-EXIT=") {
            return screen;
        }
        seen(&screen);
        assert!(
            start.elapsed() < within,
            "the demo did not end within {within:?}; screen:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn demo_command(args: &str) -> String {
    format!("{BIN} demo {args}; echo DEMO-EXIT=$?; sleep 600")
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_terminal_the_demo_redraws_its_live_lines_and_ends_with_the_tally() {
    let tmux = Tmux::start(&demo_command("--duration 20s"));
    let mut delivered = Vec::new();
    let (mut down, mut backlog, mut url) = (false, false, false);
    let screen = watch(&tmux, secs(90), |screen| {
        url |= screen.contains("status page http://127.0.0.1:");
        if let (Some(erp), Some(_crm)) = (live_line(screen, "erp"), live_line(screen, "crm")) {
            down |= erp.contains("receiver DOWN");
            backlog |= figure(erp, "backlog").is_some_and(|n| n > 0);
            if let Some(n) = figure(erp, "delivered") {
                if delivered.last() != Some(&n) {
                    delivered.push(n);
                }
            }
        }
    })
    .await;
    assert!(screen.contains("DEMO-EXIT=0"), "{screen}");
    assert!(url, "the status page's address never showed:\n{screen}");
    assert!(down, "the ERP never showed down:\n{screen}");
    assert!(backlog, "the ERP's backlog never showed:\n{screen}");
    assert!(
        delivered.len() >= 3 && delivered.windows(2).all(|w| w[0] < w[1]),
        "delivered to the ERP, as drawn: {delivered:?}\n{screen}"
    );
    // Redrawn in place: the live lines are on the screen once, not once per refresh.
    assert_eq!(
        screen.matches("crm  receiver").count(),
        1,
        "the live lines were not redrawn in place:\n{screen}"
    );
    check_tally(&screen);
    let dir = path_after(&screen, "directory ");
    assert!(
        dir.starts_with(std::env::temp_dir()) && !Path::new(&dir).exists(),
        "the demo's directory {dir:?} is still there"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_the_outage_drains_and_still_tallies_clean() {
    let tmux = Tmux::start(&demo_command("--duration 40s"));
    let mut sent = false;
    let screen = watch(&tmux, secs(90), |screen| {
        let backlog = live_line(screen, "erp").and_then(|l| figure(l, "backlog"));
        if !sent && screen.contains("the ERP goes down") && backlog.is_some_and(|n| n > 0) {
            tmux.keys("C-c");
            sent = true;
        }
    })
    .await;
    assert!(sent, "the outage never showed:\n{screen}");
    assert!(screen.contains("(interrupted by Ctrl-C)"), "{screen}");
    assert!(
        screen.contains("interrupted: draining the buffer"),
        "{screen}"
    );
    assert!(screen.contains("DEMO-EXIT=0"), "{screen}");
    check_tally(&screen);
}
