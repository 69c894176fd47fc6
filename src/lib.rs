//! dockgate: a warehouse edge gateway with durable store-and-forward to ERP and CRM.
//!
//! # Layout
//!
//! ```text
//!  POST /api/v1/events ─► control::admin ─► store (LEDGER: one writer thread) ──┬─► forward: sink "erp" ─► ERP
//!  (devices: next)          (parse, check)    journal, route, commit,          └─► forward: sink "crm" ─► CRM
//!                                              then answer 202                     (read heads, batch, retry,
//!                                                                                   order, dead-letter)
//!  control: admin API (/health /ready /metrics /api/v1 /) · systemd notify · telemetry (journald)
//! ```
//!
//! - [`config`]: the TOML contract, validated as a whole.
//! - [`decode`]: scanned barcodes (GS1, Digital Link, EAN/UPC, plain text) into readings.
//! - [`model`]: events, delivery states, the CloudEvents envelope.
//! - [`route`]: which sinks an event type goes to.
//! - [`store`]: the SQLite ledger (writer thread, schema, reads, retention and capacity).
//! - [`forward`]: one HTTP worker per sink.
//! - [`control`]: admin API, status, systemd.
//! - [`app`] wires the daemon; [`cli`] is the command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod decode;
pub mod devices;
pub mod forward;
pub mod model;
pub mod route;
pub mod store;
pub mod telemetry;
pub mod workflow;
