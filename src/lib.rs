//! dockgate: a warehouse edge gateway with durable store-and-forward to ERP and CRM.
//!
//! # How a scan travels
//!
//! ```text
//!  serial scanner ─┐ framing                                       ┌─► forward: sink "erp" ─► ERP
//!  MQTT scanner ───┼─► devices ──Input──► intake ──► ledger ────────┤    (read next, batch, POST,
//!  dock sensor ────┤   (one per source   (group,     (one writer:  └─► forward: sink "crm" ─► CRM
//!  HTTP ingest ────┘    kind)             commit,     journal, fold       retry, order,
//!                                         then ack,   the workflow,       dead-letter, record
//!                          ◄── feedback ── feedback)  append events,      the outcome)
//!                                                     commit)
//!  POST /api/v1/events (local software) ─► control::admin ─► ledger
//!  control: admin API (/health /ready /metrics /api/v1 /) · status · systemd notify
//! ```
//!
//! An input is acknowledged to its source (MQTT PUBACK, HTTP 202) only after the ledger
//! committed what came of it; a sink reads only committed events and reports every outcome
//! back before it forgets a request.
//!
//! # Modules, top to bottom (each imports only from modules below it)
//!
//! - [`cli`], [`app`]: the command line, and the wiring of `dockgate run`. `main.rs` only
//!   parses, starts logging and calls [`cli::run`].
//! - [`control`]: beside the flow. The admin API, the status every view shows, systemd. Reads
//!   and writes through the ledger's handle; owns no data of its own.
//! - [`devices`]: what scanners and sensors send, per source kind (serial framing, the MQTT
//!   session, HTTP ingest), turned into [`model::Input`] and handed to the one intake, which
//!   commits, acknowledges and publishes operator feedback. The only module that talks to a
//!   device. May not touch storage other than through [`ledger::LedgerHandle`].
//! - [`forward`]: one worker per sink: delivery policy (batches, pacing, retries, pauses,
//!   splitting a refused batch) over HTTP. Sees the ledger only as a [`ledger::SinkReader`].
//! - [`ledger`]: the one durable record, behind a storage-free interface. Owns the buffer file,
//!   the data directory's lock, the writer thread and every table; no SQL, table or row
//!   layout leaves `src/ledger/`. Folds inputs through the workflow inside its transaction.
//! - [`workflow`]: the stations (pick, pack, ship, receive, return, count, dock), pure: input + session +
//!   device settings in, events + new session out; no I/O, no configuration, no ledger.
//! - [`decode`] (barcodes: GS1, Digital Link, EAN/UPC, plain text), [`route`] (which sinks an
//!   event type goes to), [`backoff`] (the one retry schedule), [`model`] (what crosses module
//!   lines: inputs, stations, events, delivery states, the CloudEvents envelope), [`config`]
//!   (the TOML contract, validated as a whole; checks that need a stage's knowledge are handed
//!   in) and [`telemetry`] (logging, metrics): the bottom; none imports a stage above.
#![forbid(unsafe_code)]

pub mod app;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod control;
pub mod decode;
pub mod devices;
pub mod forward;
pub mod ledger;
pub mod model;
pub mod route;
pub mod telemetry;
pub mod workflow;
