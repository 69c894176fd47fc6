//! What runs now: the configuration in force, where it came from, and the views of the sink
//! workers and device tasks it started. The daemon's wiring publishes a new [`Live`] after
//! every change of configuration; the admin API, the status and systemd read the latest.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::devices::DeviceStatus;
use crate::forward::SinkStatus;

/// The running configuration and the parts it started.
#[derive(Clone)]
pub struct Live {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Where it came from, for people: `local file /etc/dockgate/dockgate.toml`, `push`,
    /// `rollback`.
    pub origin: String,
    /// Sink workers' views, by name.
    pub sinks: Vec<(String, SinkStatus)>,
    /// Device tasks' views, by id.
    pub devices: Vec<(Arc<str>, DeviceStatus)>,
}

/// The latest [`Live`], as every reader sees it.
pub type LiveView = watch::Receiver<Arc<Live>>;
