//! What the demo shows while it runs: on a terminal, a few lines redrawn in place (the shift's
//! progress and what was just scanned; per sink its receiver up or down, dockgate's state,
//! backlog, delivered and dead letters; the inputs), with milestones printed above them;
//! elsewhere (a pipe, a log), the same figures as a plain line every few seconds.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain line is printed when stdout is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// One sink's figures.
#[derive(Debug, Clone, Default)]
pub struct SinkLine {
    /// Sink name.
    pub name: String,
    /// Its receiver takes events.
    pub receiver_up: bool,
    /// dockgate's view: `ok`, `retrying`, `paused`.
    pub state: String,
    /// Events waiting for it.
    pub backlog: u64,
    /// Events its receiver took.
    pub delivered: usize,
    /// Dead letters.
    pub dead: u64,
}

/// Everything one redraw shows.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Time since the shift began.
    pub elapsed: Duration,
    /// The shift's length.
    pub total: Duration,
    /// What happens now.
    pub now: String,
    /// Each sink.
    pub sinks: Vec<SinkLine>,
    /// Inputs the virtual devices sent.
    pub sent: u64,
    /// Inputs the daemon read.
    pub read: u64,
    /// Events committed.
    pub events: i64,
    /// Inputs quarantined.
    pub rejected: usize,
    /// Exception events and unmatched scans delivered.
    pub exceptions: u64,
}

/// `m:ss`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

impl SinkLine {
    fn line(&self) -> String {
        format!(
            "{:<4} receiver {:<5} dockgate {:<9} backlog {:>4}  delivered {:>5}  dead {}",
            self.name,
            if self.receiver_up { "up" } else { "DOWN" },
            self.state,
            self.backlog,
            self.delivered,
            self.dead
        )
    }
}

impl Figures {
    fn inputs(&self) -> String {
        format!(
            "inputs sent {} · read {} · events {} · rejected {} · exceptions {}",
            self.sent, self.read, self.events, self.rejected, self.exceptions
        )
    }

    fn plain(&self) -> String {
        let sinks: Vec<String> = self
            .sinks
            .iter()
            .map(|s| {
                format!(
                    "{} {} backlog {} delivered {} dead {}",
                    s.name,
                    if s.receiver_up { "up" } else { "DOWN" },
                    s.backlog,
                    s.delivered,
                    s.dead
                )
            })
            .collect();
        format!(
            "[{}] {} · {}",
            clock(self.elapsed),
            sinks.join(" · "),
            self.inputs()
        )
    }
}

/// The live view.
pub enum View {
    /// Lines redrawn on a terminal.
    Live {
        /// Draws them.
        multi: MultiProgress,
        /// The shift's progress bar.
        shift: ProgressBar,
        /// One line per sink, then the inputs' line.
        lines: Vec<ProgressBar>,
    },
    /// Plain lines.
    Plain {
        /// When the last one was printed.
        last: Option<Instant>,
        /// What it said.
        said: String,
    },
}

impl View {
    /// A live view on a terminal with `sinks` sink lines, else a plain one.
    pub fn new(terminal: bool, sinks: usize) -> View {
        if !terminal {
            return View::Plain {
                last: None,
                said: String::new(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let bar = ProgressStyle::with_template("{spinner} {prefix} [{bar:20}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
        let shift = multi.add(ProgressBar::new(1000).with_style(bar));
        shift.enable_steady_tick(Duration::from_millis(120));
        let text = ProgressStyle::with_template("  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let lines = (0..=sinks)
            .map(|_| multi.add(ProgressBar::new(1).with_style(text.clone())))
            .collect();
        View::Live {
            multi,
            shift,
            lines,
        }
    }

    /// A line for the record, above the live lines.
    pub fn milestone(&self, at: Duration, text: &str) {
        let line = format!("{} {text}", clock(at));
        match self {
            View::Live { multi, .. } => {
                if multi.println(&line).is_err() {
                    println!("{line}");
                }
            }
            View::Plain { .. } => println!("{line}"),
        }
    }

    /// Shows `f`: redrawn at once on a terminal, else printed when due (or when `force`).
    pub fn show(&mut self, f: &Figures, force: bool) {
        match self {
            View::Live { shift, lines, .. } => {
                let total = f.total.as_millis().max(1) as u64;
                let at = (f.elapsed.as_millis() as u64).min(total);
                shift.set_position(at * 1000 / total);
                shift.set_prefix(format!("{} / {}", clock(f.elapsed), clock(f.total)));
                shift.set_message(f.now.clone());
                for (line, sink) in lines.iter().zip(&f.sinks) {
                    line.set_message(sink.line());
                }
                if let Some(last) = lines.last() {
                    last.set_message(f.inputs());
                }
            }
            View::Plain { last, said } => {
                let line = f.plain();
                let due = force || last.is_none_or(|at| at.elapsed() >= PLAIN_EVERY);
                if due && line != *said {
                    *last = Some(Instant::now());
                    println!("{line}");
                    *said = line;
                }
            }
        }
    }

    /// Leaves the last figures on the screen and stops redrawing.
    pub fn finish(&self) {
        if let View::Live { shift, lines, .. } = self {
            shift.disable_steady_tick();
            shift.finish();
            for line in lines {
                line.finish();
            }
            // The cursor stays at the end of the last line.
            println!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_names_every_figure() {
        let f = Figures {
            elapsed: Duration::from_secs(83),
            total: Duration::from_secs(90),
            now: String::new(),
            sinks: vec![SinkLine {
                name: "erp".into(),
                receiver_up: false,
                state: "retrying".into(),
                backlog: 14,
                delivered: 86,
                dead: 0,
            }],
            sent: 142,
            read: 141,
            events: 120,
            rejected: 1,
            exceptions: 3,
        };
        assert_eq!(
            f.plain(),
            "[1:23] erp DOWN backlog 14 delivered 86 dead 0 · inputs sent 142 · read 141 · \
             events 120 · rejected 1 · exceptions 3"
        );
        assert!(f.sinks[0]
            .line()
            .starts_with("erp  receiver DOWN  dockgate retrying"));
    }
}
