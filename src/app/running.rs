//! What `dockgate run` has running for its configuration: a worker per sink, a reader per
//! serial device, the site broker's session, the HTTP devices' map and the admin API, and how
//! a new configuration replaces them without a restart.
//!
//! The admin API serves `admin.listen` and, when configured, the read-only
//! `admin.public_listen`; a change of either address (or any `[admin]` setting) restarts both,
//! each new address bound before anything stops.
//!
//! [`Running::apply`] first builds everything that can fail (sink clients, which read their
//! secret files; the broker session, which reads its certificates; a new admin listener), so a
//! configuration that cannot run changes nothing. Then only the parts whose settings changed
//! are stopped and started again. A sink's old worker is stopped before its new one starts and
//! finishes (and records) its requests in flight first, so no event goes out twice or out of
//! order; the ledger takes the new routes between the two, and stays open throughout.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

use crate::config::{Config, DeviceConfig, SourceKind};
use crate::control::admin;
use crate::control::config_push::{config_topic, Trigger};
use crate::control::live::{Live, LiveView};
use crate::devices::http::{HttpDevices, HttpMap};
use crate::devices::intake::{self, FeedbackOut, FeedbackRoute, IntakeHandle};
use crate::devices::mqtt::{ControlMessage, ControlTopic, MqttInput, StatusPublisher};
use crate::devices::{self, DeviceStatus};
use crate::forward::{SinkStatus, SinkWorker};
use crate::ledger::{LedgerHandle, LedgerSettings};
use crate::model::Chain;

/// How long the admin API may take to finish its requests when it is restarted on new
/// settings; a request waiting on the very change that restarts it is cut off after this.
const ADMIN_STOP: Duration = Duration::from_secs(2);

/// How long the parts a change stops may take to finish (a sink's requests in flight, at most
/// its `timeout` each). Past this a sink's worker is stopped where it is: its requests' events
/// stay pending and go out again under the same keys, which a receiver that deduplicates by
/// key counts once.
const DRAIN: Duration = Duration::from_secs(10);

/// How long a change waits for the device input read before it to be committed (longer only
/// while the buffer refuses input; then that input is read under the new settings).
const FLUSH: Duration = Duration::from_secs(5);

/// A task that can be stopped on its own.
struct Task {
    cancel: CancellationToken,
    join: JoinHandle<()>,
}

impl Task {
    /// Stops it and waits until it has finished.
    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }
}

/// Stops `tasks` together, waiting at most [`DRAIN`] for all of them; one still running then
/// is aborted. Returns the names of those.
async fn stop_all(tasks: Vec<(String, Task)>) -> Vec<String> {
    for (_, task) in &tasks {
        task.cancel.cancel();
    }
    let deadline = tokio::time::Instant::now() + DRAIN;
    let mut cut = Vec::new();
    for (name, mut task) in tasks {
        if tokio::time::timeout_at(deadline, &mut task.join)
            .await
            .is_err()
        {
            task.join.abort();
            let _ = task.join.await;
            cut.push(name);
        }
    }
    cut
}

/// Whether a serial device must reopen its port: its source or any setting of the port or of
/// framing changed (the station, door and timers are the ledger's, which takes them at once).
fn port_changed(old: Option<&DeviceConfig>, new: Option<&DeviceConfig>) -> bool {
    let (Some(a), Some(b)) = (old, new) else {
        return true;
    };
    b.source != SourceKind::Serial
        || (
            &a.path,
            a.baud,
            a.data_bits,
            a.parity,
            a.stop_bits,
            a.flow_control,
        ) != (
            &b.path,
            b.baud,
            b.data_bits,
            b.parity,
            b.stop_bits,
            b.flow_control,
        )
        || (&a.terminator, &a.prefix, &a.suffix, a.max_line)
            != (&b.terminator, &b.prefix, &b.suffix, b.max_line)
}

/// A sink's worker and what it shows.
struct SinkTask {
    task: Task,
    status: SinkStatus,
}

/// The admin API's listeners, bound before anything is served on them.
pub(super) struct Listeners {
    /// `admin.listen`: the whole API.
    pub admin: TcpListener,
    /// `admin.public_listen`: the read-only part.
    pub public: Option<TcpListener>,
}

/// What the admin API is started with, again at every restart.
pub(super) struct AdminParts {
    pub prometheus: PrometheusHandle,
    pub started: Instant,
    pub ready: Arc<AtomicBool>,
    pub changes: mpsc::Sender<Trigger>,
}

/// Everything [`Running::start`] needs besides the configuration.
pub(super) struct Wiring {
    pub ledger: LedgerHandle,
    pub tracker: TaskTracker,
    pub cancel: CancellationToken,
    pub admin: AdminParts,
    /// Where messages on the configuration topic go (none without `[config_push]`).
    pub pushes: Option<mpsc::Sender<ControlMessage>>,
    /// Publishes the broker session's status publisher.
    pub status_out: watch::Sender<Option<StatusPublisher>>,
}

/// The running parts of one configuration.
pub(super) struct Running {
    config: Arc<Config>,
    wiring: Wiring,
    intake: IntakeHandle,
    feedback: watch::Sender<Arc<FeedbackRoute>>,
    feedback_out: Option<Arc<dyn FeedbackOut>>,
    http: watch::Sender<Arc<HttpMap>>,
    live: watch::Sender<Arc<Live>>,
    sinks: BTreeMap<String, SinkTask>,
    serial: BTreeMap<String, Task>,
    mqtt: Option<Task>,
    devices: BTreeMap<Arc<str>, DeviceStatus>,
    admin: Task,
}

/// The topics of a configuration's MQTT devices, by device id: what the session subscribes.
fn mqtt_topics(config: &Config) -> BTreeMap<&String, Option<&String>> {
    config
        .devices
        .iter()
        .filter(|(_, d)| d.source == SourceKind::Mqtt)
        .map(|(id, d)| (id, d.topic.as_ref()))
        .collect()
}

impl Running {
    /// Starts everything `config` asks for; `listeners` are the admin API's, bound already.
    pub async fn start(
        config: Arc<Config>,
        origin: String,
        wiring: Wiring,
        listeners: Listeners,
    ) -> anyhow::Result<Self> {
        let (feedback, feedback_rx) = watch::channel(Arc::new(FeedbackRoute::default()));
        let (intake, intake_handle) = intake::channel(wiring.ledger.clone(), feedback_rx);
        // Not cancelled directly: it ends once every source has stopped and what they read
        // is committed.
        wiring.tracker.spawn(
            intake
                .run(wiring.cancel.clone())
                .instrument(tracing::info_span!("intake")),
        );
        let (http, http_rx) = watch::channel(Arc::new(HttpMap::default()));
        let (live, _) = watch::channel(Arc::new(Live {
            config: config.clone(),
            origin: origin.clone(),
            sinks: Vec::new(),
            devices: Vec::new(),
        }));
        let admin = start_admin(&wiring, &live, http_rx, &intake_handle, listeners);
        let mut running = Self {
            config: Arc::new(empty_like(&config)),
            wiring,
            intake: intake_handle,
            feedback,
            feedback_out: None,
            http,
            live,
            sinks: BTreeMap::new(),
            serial: BTreeMap::new(),
            mqtt: None,
            devices: BTreeMap::new(),
            admin,
        };
        // Starting is applying to nothing: the same code path as every later change.
        running
            .apply(config, origin)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(running)
    }

    /// What runs now, for the admin API, status and systemd.
    pub fn live(&self) -> LiveView {
        self.live.subscribe()
    }

    /// Replaces the running configuration by `new`; on an error nothing changed.
    pub async fn apply(&mut self, new: Arc<Config>, origin: String) -> Result<(), String> {
        let old = self.config.clone();
        let ledger = self.wiring.ledger.clone();

        // 1. Everything that can fail, before anything stops.
        let mut new_sinks = BTreeMap::new();
        for (name, sink) in &new.sinks {
            if old.sinks.get(name) != Some(sink) || !self.sinks.contains_key(name) {
                let built = SinkWorker::build(sink, &new.site.id, ledger.sink(name))
                    .map_err(|e| format!("sink {name}: {}", Chain(&e)))?;
                new_sinks.insert(name.clone(), built);
            }
        }
        for id in new.devices.keys() {
            let id: Arc<str> = Arc::from(id.as_str());
            self.devices.entry(id).or_default();
        }
        let mqtt_changed = old.mqtt != new.mqtt || mqtt_topics(&old) != mqtt_topics(&new);
        let new_mqtt = if mqtt_changed {
            let control = self.wiring.pushes.clone().map(|tx| ControlTopic {
                topic: config_topic(&new.site.id),
                tx,
            });
            let statuses = self.statuses_of(&new, SourceKind::Mqtt);
            // Topics the new session does not take any more: the persistent session at the
            // broker would keep delivering them.
            let gone: Vec<String> = mqtt_topics(&old)
                .into_values()
                .flatten()
                .filter(|t| !mqtt_topics(&new).values().any(|n| n.as_ref() == Some(t)))
                .cloned()
                .collect();
            MqttInput::build(&new, statuses, control)
                .map_err(|e| format!("the site broker: {}", Chain(&e)))?
                .map(|m| m.unsubscribing(gone))
        } else {
            None
        };
        let admin_changed = old.admin != new.admin;
        let new_listener = if admin_changed && old.admin.listen != new.admin.listen {
            Some(
                TcpListener::bind(new.admin_addr())
                    .await
                    .map_err(|e| format!("admin.listen {}: {e}", new.admin.listen))?,
            )
        } else {
            None
        };
        // Outer `None`: the read-only address is the same (bound again once the old server
        // lets go of it); `Some(None)`: it was removed.
        let new_public = if admin_changed && old.admin.public_listen != new.admin.public_listen {
            match new.public_addr() {
                Some(addr) => Some(Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|e| format!("admin.public_listen {addr}: {e}"))?,
                )),
                None => Some(None),
            }
        } else {
            None
        };

        // 2. Stop what changed or went: the sources first (what they read is committed under
        // the settings it was read with), then the sinks, together.
        let serial_stale: Vec<String> = self
            .serial
            .keys()
            .filter(|id| port_changed(old.devices.get(*id), new.devices.get(*id)))
            .cloned()
            .collect();
        let mut sources: Vec<(String, Task)> = serial_stale
            .into_iter()
            .filter_map(|id| self.serial.remove(&id).map(|t| (format!("device {id}"), t)))
            .collect();
        if mqtt_changed {
            if let Some(task) = self.mqtt.take() {
                sources.push(("the site broker's session".into(), task));
            }
            self.feedback_out = None;
            self.wiring.status_out.send_replace(None);
        }
        stop_all(sources).await;
        if tokio::time::timeout(FLUSH, self.intake.flush())
            .await
            .is_err()
        {
            warn!("Device input read before the change is not committed yet; it is read under the new settings.");
        }
        let stale: Vec<(String, Task)> = self
            .sinks
            .keys()
            .filter(|n| !new.sinks.contains_key(*n) || new_sinks.contains_key(*n))
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|n| self.sinks.remove(&n).map(|s| (n, s.task)))
            .collect();
        for name in stop_all(stale).await {
            warn!(sink = %name, "The sink's requests did not finish in time; they go out again under the same keys.");
        }

        // 3. The ledger takes the new routes, devices and rules from its next commit on.
        ledger
            .reconfigure(LedgerSettings::from_config(&new))
            .await
            .map_err(|e| format!("the ledger: {}", Chain(&e)))?;

        // 4. Start what is new. Who is told of each input's outcome comes first: a session
        // with messages waiting at the broker hands them over as soon as it connects.
        if let Some(mqtt) = &new_mqtt {
            self.feedback_out = Some(Arc::new(mqtt.feedback()));
        }
        self.feedback.send_replace(Arc::new(FeedbackRoute {
            out: self.feedback_out.clone(),
            devices: new
                .devices
                .iter()
                .filter(|(_, d)| d.feedback)
                .map(|(id, _)| Arc::from(id.as_str()))
                .collect(),
            statuses: self.statuses_of_all(&new),
        }));
        for (name, (worker, status)) in new_sinks {
            let cancel = self.wiring.cancel.child_token();
            let join = self.wiring.tracker.spawn(worker.run(cancel.clone()));
            let task = Task { cancel, join };
            self.sinks.insert(name, SinkTask { task, status });
        }
        self.devices.retain(|id, _| new.devices.contains_key(&**id));
        for (id, device) in &new.devices {
            if device.source != SourceKind::Serial || self.serial.contains_key(id) {
                continue;
            }
            let key: Arc<str> = Arc::from(id.as_str());
            let status = self.devices.entry(key.clone()).or_default().clone();
            let cancel = self.wiring.cancel.child_token();
            let join = self.wiring.tracker.spawn(devices::serial::run(
                key,
                device.clone(),
                self.intake.clone(),
                status,
                cancel.clone(),
            ));
            self.serial.insert(id.clone(), Task { cancel, join });
        }
        if let Some(mqtt) = new_mqtt {
            self.wiring
                .status_out
                .send_replace(Some(mqtt.status_publisher()));
            let cancel = self.wiring.cancel.child_token();
            let join = self
                .wiring
                .tracker
                .spawn(mqtt.run(self.intake.clone(), cancel.clone()));
            self.mqtt = Some(Task { cancel, join });
        }
        let http_statuses = self.statuses_of(&new, SourceKind::Http);
        // An HTTP device has no connection of its own: it is up while its endpoint takes input.
        for status in http_statuses.values() {
            if let Ok(mut st) = status.lock() {
                st.up = true;
            }
        }
        self.http
            .send_replace(Arc::new(HttpMap::of(&new, http_statuses)));

        // 5. The new view, then the admin API on its new settings.
        self.config = new.clone();
        self.publish_live(origin);
        if admin_changed {
            self.restart_admin(new_listener, new_public).await;
        }
        Ok(())
    }

    /// The status views of `config`'s devices of `kind`.
    fn statuses_of(&self, config: &Config, kind: SourceKind) -> HashMap<Arc<str>, DeviceStatus> {
        config
            .devices
            .iter()
            .filter(|(_, d)| d.source == kind)
            .filter_map(|(id, _)| {
                let id: Arc<str> = Arc::from(id.as_str());
                self.devices.get(&id).map(|s| (id, s.clone()))
            })
            .collect()
    }

    /// The status views of all of `config`'s devices.
    fn statuses_of_all<C: FromIterator<(Arc<str>, DeviceStatus)>>(&self, config: &Config) -> C {
        config
            .devices
            .keys()
            .filter_map(|id| {
                let id: Arc<str> = Arc::from(id.as_str());
                self.devices.get(&id).map(|s| (id, s.clone()))
            })
            .collect()
    }

    fn publish_live(&self, origin: String) {
        let config = self.config.clone();
        let devices = self.statuses_of_all(&config);
        let sinks = self
            .sinks
            .iter()
            .map(|(n, s)| (n.clone(), s.status.clone()))
            .collect();
        self.live.send_replace(Arc::new(Live {
            config,
            origin,
            sinks,
            devices,
        }));
    }

    /// Restarts the admin API: on `listener` when the address changed, else on the same one
    /// once the old server has let go of it; likewise the read-only listener (`public` as
    /// [`Running::apply`] bound it).
    async fn restart_admin(
        &mut self,
        listener: Option<TcpListener>,
        public: Option<Option<TcpListener>>,
    ) {
        let old = std::mem::replace(
            &mut self.admin,
            Task {
                cancel: CancellationToken::new(),
                join: tokio::spawn(async {}),
            },
        );
        old.cancel.cancel();
        let mut join = old.join;
        if tokio::time::timeout(ADMIN_STOP, &mut join).await.is_err() {
            join.abort();
            let _ = join.await;
        }
        let addr = self.config.admin_addr();
        let listener = match listener {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    error!(admin = %addr, error = %e, "The admin API could not listen again; it stays down until the next change or restart.");
                    return;
                }
            },
        };
        let public = match (public, self.config.public_addr()) {
            (Some(bound), _) => bound,
            (None, None) => None,
            (None, Some(addr)) => match TcpListener::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    error!(public = %addr, error = %e, "The read-only status listener could not listen again; it stays down until the next change or restart.");
                    None
                }
            },
        };
        let public_addr = public.as_ref().and_then(|l| l.local_addr().ok());
        let http_rx = self.http.subscribe();
        let listeners = Listeners {
            admin: listener,
            public,
        };
        self.admin = start_admin(&self.wiring, &self.live, http_rx, &self.intake, listeners);
        info!(admin = %addr, "Admin API restarted on its new settings.");
        if let Some(public) = public_addr {
            info!(public = %public, "Read-only status page and metrics served.");
        }
    }

    /// Stops accepting input and lets go of what it holds, so the intake and the ledger can
    /// finish: call at shutdown, after the daemon's cancel.
    pub async fn stop(self) {
        let Self {
            sinks,
            serial,
            mqtt,
            admin,
            ..
        } = self;
        for (_, sink) in sinks {
            sink.task.stop().await;
        }
        for (_, task) in serial {
            task.stop().await;
        }
        if let Some(task) = mqtt {
            task.stop().await;
        }
        admin.stop().await;
    }
}

/// A configuration like `config` with nothing configured: what [`Running::start`] applies to.
fn empty_like(config: &Config) -> Config {
    let mut empty = config.clone();
    empty.sinks.clear();
    empty.devices.clear();
    empty.mqtt = None;
    // Marks the admin API as already started on this configuration's settings.
    empty
}

fn start_admin(
    wiring: &Wiring,
    live: &watch::Sender<Arc<Live>>,
    http: watch::Receiver<Arc<HttpMap>>,
    intake: &IntakeHandle,
    listeners: Listeners,
) -> Task {
    let state = admin::AdminState {
        ledger: wiring.ledger.clone(),
        live: live.subscribe(),
        changes: wiring.admin.changes.clone(),
        ready: wiring.admin.ready.clone(),
        prometheus: wiring.admin.prometheus.clone(),
        started: wiring.admin.started,
    };
    let devices = HttpDevices::new(http, intake.clone()).router();
    let cancel = wiring.cancel.child_token();
    let stop = cancel.clone();
    let public = listeners.public.map(|l| {
        let stop = stop.clone();
        axum::serve(l, admin::public_router(state.clone()))
            .with_graceful_shutdown(async move { stop.cancelled().await })
    });
    let join = wiring.tracker.spawn(
        async move {
            let api = axum::serve(listeners.admin, admin::router(state, devices))
                .with_graceful_shutdown(async move { stop.cancelled().await });
            let public = async move {
                match public {
                    Some(server) => server.await,
                    None => Ok(()),
                }
            };
            let (api, public) = tokio::join!(api, public);
            if let Err(error) = api {
                tracing::error!(error = %error, "Admin API stopped.");
            }
            if let Err(error) = public {
                tracing::error!(error = %error, "Read-only status listener stopped.");
            }
        }
        .instrument(tracing::info_span!("admin")),
    );
    Task { cancel, join }
}
