//! The `/` status page (DESIGN §8): what a supervisor on the floor reads at a glance, on a desk
//! screen or a 360 px handheld. Made from a [`Status`] in two steps: [`view`] decides what
//! every line says (pure, tested below), then a minijinja template lays it out with HTML
//! escaping. Its CSS and the script that refreshes it in place are inline: the page loads
//! nothing else. It uses the CLI's words (sink, pending, held, dead, device up or down), and
//! never shows an event's data: a dead letter is shown by its subject, type and refusal.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::status::{
    dead_letter_commands, human_age, DeadLetter, DeviceReport, SinkReport, Status,
    DEAD_LETTERS_SHOWN,
};

/// The layout; `.html`, so minijinja escapes every value put into it.
const TEMPLATE: &str = include_str!("page.html");

/// How often the page fetches itself again and swaps in what changed.
const REFRESH_MS: u64 = 10_000;

/// A sink whose oldest pending event is older than this is behind.
const BEHIND_SECS: f64 = 300.0;

/// Buffer fill at which the page warns.
const BUFFER_WARN_PERCENT: f64 = 80.0;

/// How a line is coloured: good (green), warn (amber), bad (red: someone must act), quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Quiet,
    Good,
    Warn,
    Bad,
}

/// Everything the template shows.
#[derive(Debug, Serialize)]
struct Page {
    site: String,
    generated_at: String,
    refresh_ms: u64,
    level: Level,
    verdict: String,
    problems: Vec<String>,
    devices: Vec<DeviceLine>,
    sinks: Vec<SinkLine>,
    dead: DeadLetters,
    buffer: String,
    buffer_level: Level,
    config_version: u64,
    config_origin: String,
    version: String,
    uptime: String,
}

/// A last error, with its age and whether it still holds.
#[derive(Debug, Serialize)]
struct ErrorLine {
    text: String,
    at: Option<String>,
    /// "3 min ago", or empty without a time.
    age: String,
    current: bool,
}

#[derive(Debug, Serialize)]
struct DeviceLine {
    id: String,
    source: String,
    station: String,
    /// `up` or `down`.
    word: &'static str,
    level: Level,
    last_input: String,
    last_input_at: Option<String>,
    inputs: u64,
    rejected: u64,
    error: Option<ErrorLine>,
}

#[derive(Debug, Serialize)]
struct SinkLine {
    name: String,
    /// The CLI's `STATE`: `ok`, `retrying`, `paused` or `removed`.
    state: String,
    /// How the state alone reads (the badge).
    state_level: Level,
    /// How the sink as a whole reads: dead letters and lag count too.
    level: Level,
    /// What the state means for the floor.
    meaning: String,
    pending: u64,
    held: u64,
    dead: u64,
    oldest: String,
    last_delivery: String,
    last_delivery_at: Option<String>,
    error: Option<ErrorLine>,
}

#[derive(Debug, Serialize)]
struct DeadLetters {
    total: u64,
    /// The lines below are the oldest `shown` of `total`.
    more: bool,
    shown_max: usize,
    lines: Vec<DeadLine>,
    sinks: Vec<DeadSink>,
}

#[derive(Debug, Serialize)]
struct DeadLine {
    id: String,
    sink: String,
    subject: String,
    event_type: String,
    age: String,
    time: String,
    why: String,
    command: String,
}

/// A sink's dead letters as a whole: the commands for all of them.
#[derive(Debug, Serialize)]
struct DeadSink {
    name: String,
    dead: u64,
    replay_all: String,
    list: String,
}

/// Renders the page.
pub fn render(st: &Status) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("page.html", TEMPLATE)?;
    env.get_template("page.html")?.render(view(st))
}

/// "12 s ago", or `none` without a time.
fn ago(st: &Status, at: Option<&str>, none: &str) -> String {
    match st.age_of(at) {
        Some(secs) => format!("{} ago", human_age(secs)),
        None => none.to_owned(),
    }
}

fn error_line(
    st: &Status,
    text: Option<&String>,
    at: Option<&String>,
    current: bool,
) -> Option<ErrorLine> {
    Some(ErrorLine {
        text: text?.clone(),
        at: at.cloned(),
        age: ago(st, at.map(String::as_str), ""),
        current,
    })
}

fn device_line(st: &Status, d: &DeviceReport) -> DeviceLine {
    let s = &d.snapshot;
    DeviceLine {
        id: d.id.clone(),
        source: d.source.clone(),
        station: d.station.clone(),
        word: d.word(),
        level: if s.up { Level::Good } else { Level::Bad },
        last_input: ago(st, s.last_input_at.as_deref(), "no input yet"),
        last_input_at: s.last_input_at.clone(),
        inputs: s.inputs,
        rejected: s.rejected,
        error: error_line(
            st,
            s.last_error.as_ref(),
            s.last_error_at.as_ref(),
            d.error_is_current(),
        ),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn sink_line(st: &Status, s: &SinkReport) -> SinkLine {
    let behind = s
        .oldest_pending_age_seconds
        .is_some_and(|a| a > BEHIND_SECS);
    let (state_level, mut meaning) = match s.state.as_str() {
        "paused" => (
            Level::Bad,
            match &s.paused_reason {
                Some(why) => format!("stopped sending ({why}): needs IT"),
                None => "stopped sending: needs IT".to_owned(),
            },
        ),
        "retrying" => (Level::Warn, "not reachable, retrying".to_owned()),
        "removed" => (
            Level::Quiet,
            "removed from the configuration; its events wait and can be replayed".to_owned(),
        ),
        _ if behind => (Level::Warn, "delivering, but behind".to_owned()),
        _ if s.pending > 0 => (Level::Good, "delivering".to_owned()),
        _ if s.held + s.dead > 0 => (Level::Good, "nothing else to send".to_owned()),
        _ => (Level::Good, "up to date".to_owned()),
    };
    let mut level = state_level;
    if s.dead > 0 {
        level = Level::Bad;
        meaning.push_str(&format!(
            "; {} refused (dead letters, see below)",
            plural(s.dead, "event", "events")
        ));
    }
    if s.held > 0 {
        meaning.push_str(&format!(
            "; {} held behind dead letters",
            plural(s.held, "event", "events")
        ));
    }
    SinkLine {
        name: s.name.clone(),
        state: s.state.clone(),
        state_level,
        level,
        meaning,
        pending: s.pending,
        held: s.held,
        dead: s.dead,
        oldest: s
            .oldest_pending_age_seconds
            .map(human_age)
            .unwrap_or_else(|| "-".into()),
        last_delivery: ago(st, s.last_delivery_at.as_deref(), "none yet"),
        last_delivery_at: s.last_delivery_at.clone(),
        error: error_line(
            st,
            s.last_error.as_ref(),
            s.last_error_at.as_ref(),
            s.error_is_current(),
        ),
    }
}

fn dead_line(st: &Status, d: &DeadLetter) -> DeadLine {
    DeadLine {
        id: d.id.clone(),
        sink: d.sink.clone(),
        subject: d.subject.clone(),
        event_type: d.event_type.clone(),
        age: ago(st, Some(&d.time), ""),
        time: d.time.clone(),
        why: d.why(),
        command: d.replay_command(),
    }
}

/// What the page says about `st`.
fn view(st: &Status) -> Page {
    let devices: Vec<DeviceLine> = st.devices.iter().map(|d| device_line(st, d)).collect();
    let sinks: Vec<SinkLine> = st.sinks.iter().map(|s| sink_line(st, s)).collect();
    let mut problems = Vec::new();
    let mut level = Level::Good;
    let mut note = |l: Level, text: String| {
        level = level.max(l);
        problems.push(text);
    };
    // Sinks first: whether events reach the ERP is what the page is for.
    for s in &st.sinks {
        match s.state.as_str() {
            "paused" => note(Level::Bad, format!("sink {} paused: needs IT", s.name)),
            "retrying" => note(Level::Warn, format!("sink {} retrying", s.name)),
            _ => {}
        }
        if s.dead > 0 {
            note(
                Level::Bad,
                format!(
                    "sink {}: {}",
                    s.name,
                    plural(s.dead, "dead letter", "dead letters")
                ),
            );
        }
        if s.oldest_pending_age_seconds
            .is_some_and(|a| a > BEHIND_SECS)
        {
            let oldest = s
                .oldest_pending_age_seconds
                .map(human_age)
                .unwrap_or_default();
            note(
                Level::Warn,
                format!("sink {} behind: oldest pending {oldest}", s.name),
            );
        }
    }
    for d in &devices {
        if d.word == "down" {
            note(Level::Bad, format!("device {} down", d.id));
        }
    }
    let buffer_level = if !st.buffer.set_aside.is_empty() {
        note(Level::Bad, "a damaged buffer was set aside: tell IT".into());
        Level::Bad
    } else if st.buffer.percent_full >= BUFFER_WARN_PERCENT {
        note(
            Level::Warn,
            format!("buffer {:.0} % full", st.buffer.percent_full),
        );
        Level::Warn
    } else {
        Level::Good
    };
    let verdict = if problems.is_empty() {
        "All good: every device up, every sink delivering".to_owned()
    } else {
        format!(
            "{} to look at",
            plural(problems.len() as u64, "problem", "problems")
        )
    };
    let dead = DeadLetters {
        total: st.dead_total(),
        more: st.dead_total() > st.dead_letters.len() as u64,
        shown_max: DEAD_LETTERS_SHOWN,
        lines: st.dead_letters.iter().map(|d| dead_line(st, d)).collect(),
        sinks: st
            .sinks
            .iter()
            .filter(|s| s.dead > 0)
            .map(|s| {
                let (replay_all, list) = dead_letter_commands(&s.name);
                DeadSink {
                    name: s.name.clone(),
                    dead: s.dead,
                    replay_all,
                    list,
                }
            })
            .collect(),
    };
    Page {
        site: st.site.clone(),
        generated_at: st.generated_at.clone(),
        refresh_ms: REFRESH_MS,
        level,
        verdict,
        problems,
        devices,
        sinks,
        dead,
        buffer: st.buffer.summary.clone(),
        buffer_level,
        config_version: st.config_version,
        config_origin: st.config_origin.clone(),
        version: st.version.clone(),
        uptime: human_age(st.uptime_seconds as f64),
    }
}

#[cfg(test)]
mod tests;
