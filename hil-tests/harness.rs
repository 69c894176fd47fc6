//! Test harness: the daemon under test, ERP/CRM stand-ins, a site broker with MQTT test
//! clients, socat serial links, scan helpers, headless Chromium, and bounded waits.

pub mod broker;
pub mod chromium;
pub mod daemon;
pub mod http_proxy;
pub mod lazyfs;
pub mod nats;
pub mod pki;
pub mod proxy;
pub mod scan;
pub mod serial;
pub mod setup;
pub mod signing;
pub mod standin;
pub mod tls_front;
pub mod tmpfs;
pub mod token_server;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use broker::{Broker, BrokerTls, MqttClient};
pub use chromium::{assert_png, chromium_installed, Browser};
pub use daemon::{dockgate, free_port, metric_total, write_file, CliOutput, Daemon, SITE};
pub use http_proxy::ConnectProxy;
pub use lazyfs::{lazyfs_binary, Lazyfs};
pub use pki::{make_pki, Pki};
pub use proxy::TcpProxy;
pub use scan::*;
pub use serial::SerialLink;
pub use setup::{Setup, SinkSpec};
pub use signing::Signer;
pub use standin::{str_field, Mode, Outcome, StandIn};
pub use tls_front::TlsFront;
pub use tmpfs::{can_mount_tmpfs, resize_tmpfs};
pub use token_server::{TokenMode, TokenServer};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `cond` until it holds; panics with `what` once `timeout` has passed.
pub async fn wait_until(timeout: Duration, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    wait_for(timeout, what, async || {
        if cond().await {
            Ok(())
        } else {
            Err(String::new())
        }
    })
    .await
}

/// Polls `probe` until it returns `Ok`; panics with `what` and the last `Err` (a description
/// of what was seen) once `timeout` has passed.
pub async fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) if start.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting until {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One event of a `POST /api/v1/events` body.
pub fn event(event_type: &str, subject: &str, data: Value) -> Value {
    json!({ "type": event_type, "subject": subject, "data": data })
}
