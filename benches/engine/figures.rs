//! Measuring: CPU, disk writes and peak RSS from /proc over a window, CPU per event,
//! percentiles, the time of one SQLite commit, and what machine this ran on.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use dockgate::config::SyncMode;

fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime + stime in seconds of a process (`"self"` or a pid) or one of its threads.
fn cpu_seconds(stat_path: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat_path) else {
        return 0.0;
    };
    let Some(rest) = text.rfind(')').map(|i| &text[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clk_tck()
}

pub(crate) fn process_cpu(pid: &str) -> f64 {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// Busy CPU seconds of the whole machine (all processes, all CPUs) from /proc/stat.
fn system_busy() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    // user nice system idle iowait irq softirq steal ...
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| f.get(i).copied().unwrap_or(0.0))
        .sum();
    busy / clk_tck()
}

/// Bytes a process caused to be written to storage (`write_bytes` of /proc/<pid>/io).
fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("write_bytes:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// VmHWM (peak RSS) in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds of the live threads of `pid`, summed by thread name.
fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let base = entry.path();
        let name = std::fs::read_to_string(base.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let cpu = cpu_seconds(&base.join("stat").to_string_lossy());
        *out.entry(name).or_insert(0.0) += cpu;
    }
    out
}

/// CPU seconds per thread name between two readings, busiest first.
fn diff_threads(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut parts: Vec<(String, f64)> = b
        .iter()
        .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.005)
        .collect();
    parts.sort_by(|x, y| y.1.total_cmp(&x.1));
    parts
}

fn threads_text(parts: &[(String, f64)]) -> String {
    parts
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Filesystem type and device of a directory (longest matching mount point in /proc/mounts).
fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && dir.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} on {}", f[2], f[0])))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "?".into(), |(_, t)| t)
}

/// CPU of the daemon and of this process (load generator + sink) over a window.
pub(crate) struct Meter {
    t0: Instant,
    daemon0: f64,
    bench0: f64,
    system0: f64,
    written0: u64,
    threads0: BTreeMap<String, f64>,
    pid: u32,
}

pub(crate) struct Usage {
    pub(crate) wall: f64,
    pub(crate) daemon_cpu: f64,
    pub(crate) bench_cpu: f64,
    /// CPU used by everything else on the machine (other processes, kernel threads).
    pub(crate) other_cpu: f64,
    /// Bytes the daemon wrote to storage.
    pub(crate) written: u64,
    pub(crate) threads: String,
    /// CPU of the ledger's writer thread, the one part of the daemon that cannot spread over
    /// cores.
    pub(crate) writer_cpu: f64,
}

impl Meter {
    /// Starts measuring the daemon of process `pid` (and this process, and the machine).
    pub(crate) fn start(pid: u32) -> Self {
        Self {
            t0: Instant::now(),
            daemon0: process_cpu(&pid.to_string()),
            bench0: process_cpu("self"),
            system0: system_busy(),
            written0: write_bytes(pid),
            threads0: thread_cpu(pid),
            pid,
        }
    }

    pub(crate) fn stop(&self) -> Usage {
        let daemon_cpu = process_cpu(&self.pid.to_string()) - self.daemon0;
        let bench_cpu = process_cpu("self") - self.bench0;
        let system = system_busy() - self.system0;
        let threads = diff_threads(&self.threads0, &thread_cpu(self.pid));
        Usage {
            wall: self.t0.elapsed().as_secs_f64(),
            daemon_cpu,
            bench_cpu,
            other_cpu: (system - daemon_cpu - bench_cpu).max(0.0),
            written: write_bytes(self.pid).saturating_sub(self.written0),
            threads: threads_text(&threads),
            writer_cpu: threads
                .iter()
                // `store-writer` in builds before the ledger's rename, for A/B runs.
                .find(|(name, _)| name == "ledger-writer" || name == "store-writer")
                .map_or(0.0, |(_, cpu)| *cpu),
        }
    }
}

/// CPU µs per event of one run, split where it can run in parallel and where it cannot.
#[derive(Clone, Copy)]
pub(crate) struct CpuPerEvent {
    /// The daemon's writer thread.
    pub(crate) writer: f64,
    /// The rest of the daemon: HTTP in and out, reads, rendering.
    pub(crate) rest: f64,
    /// This process: the load generator, or the sink stand-in once the load has been posted.
    pub(crate) bench: f64,
}

pub(crate) fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Figure 6: one ledger commit (one small record, the buffer's WAL and sync mode) on the data
/// dir's filesystem: p50 and mean, ms.
pub(crate) fn commit_time(sync: &str, n: usize) -> (f64, f64) {
    let dir = bench_tempdir();
    let mode = if sync == "FULL" {
        SyncMode::Full
    } else {
        SyncMode::Normal
    };
    let mut times: Vec<f64> = dockgate::ledger::commit_times(dir.path(), mode, n)
        .expect("timing commits")
        .into_iter()
        .map(|t| t.as_secs_f64() * 1e3)
        .collect();
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (percentile(&mut times, 0.5), mean)
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dir = bench_tempdir();
    format!(
        "{nproc} CPUs ({cpu}), data dir under {} ({}), CLK_TCK {}",
        dir.path().parent().unwrap_or(Path::new("/")).display(),
        fs_type(dir.path()),
        clk_tck()
    )
}

/// A tempdir for one run (a daemon's config and data, a probe), under `$TMPDIR` or `/tmp`.
pub(crate) fn bench_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dockgate-bench-")
        .tempdir()
        .expect("tempdir")
}
