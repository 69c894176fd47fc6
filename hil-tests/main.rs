//! End-to-end tests against the real dockgate binary.
//!
//! Every test starts its own daemon (`CARGO_BIN_EXE_dockgate`) on a tempdir and free ports,
//! with HTTP ERP/CRM stand-ins on loopback that inject faults, and asserts what reaches them.
//! Scanner and dock scenarios add a private mosquitto per test and socat pty pairs as serial
//! scanners; signing uses the minisign tool, the reference receivers run on python3 and
//! node, the status page is looked at with headless Chromium, and `dockgate demo`'s live view
//! is read off a tmux pane (all installed by
//! hil-tests/run.sh when missing).
//! Run with `cargo test --test hil`.

mod harness;

mod answers;
mod buffer_full;
mod chaos;
mod check;
mod cli;
mod config_push;
mod crash;
mod demo;
mod dock;
mod doctor;
mod garbage;
mod grafana;
mod ingest;
mod mqtt_tls;
mod nats;
mod outage;
mod pause;
mod poison;
mod power_loss;
mod reference_receivers;
mod returns_counts;
mod scan_http;
mod scan_mqtt;
mod scan_serial;
mod sink_oauth2;
mod sink_templates;
mod sink_tls;
mod status_page;
mod upgrade;
