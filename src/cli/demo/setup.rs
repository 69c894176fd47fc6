//! The demo's world, made before the daemon starts: a directory of its own (buffer,
//! configuration, log), a pseudo-terminal per serial device (the daemon opens its end as any
//! serial port, through a link named after the device, as `/dev/serial/by-id/...` names a
//! USB adapter), the stand-ins' and the admin API's sockets, and the configuration joining
//! them.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tempfile::TempDir;

use super::script::{self, Via, DEVICES};

/// A virtual serial line: the scanner's end of a pseudo-terminal.
pub struct VirtualSerial {
    /// The scanner's end: what is written here, the daemon reads from its port.
    pub master: File,
    /// The port's end, held open so the line never hangs up while the daemon reopens it.
    pub slave: OwnedFd,
    /// The link the daemon's `path` names.
    pub link: PathBuf,
}

impl VirtualSerial {
    /// A raw pseudo-terminal (no echo, no line editing: bytes pass as sent), linked as
    /// `dir/<id>`.
    fn open(dir: &Path, id: &str) -> anyhow::Result<Self> {
        let pty = nix::pty::openpty(None, None).context("opening a pseudo-terminal")?;
        let mut termios = tcgetattr(&pty.slave).context("reading the terminal settings")?;
        cfmakeraw(&mut termios);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &termios)
            .context("setting the pseudo-terminal raw")?;
        let port = nix::unistd::ttyname(&pty.slave).context("naming the pseudo-terminal")?;
        let link = dir.join(id);
        std::os::unix::fs::symlink(&port, &link)
            .with_context(|| format!("linking {} to {}", link.display(), port.display()))?;
        Ok(VirtualSerial {
            master: File::from(pty.master),
            slave: pty.slave,
            link,
        })
    }
}

/// Everything the demo made.
pub struct World {
    /// The demo's directory; removed when dropped, unless kept.
    pub dir: TempDir,
    /// Its configuration file.
    pub config_path: PathBuf,
    /// The buffer's directory (`site.data_dir`).
    pub data_dir: PathBuf,
    /// The daemon's log.
    pub log_path: PathBuf,
    /// The admin API's address.
    pub admin: SocketAddr,
    /// The serial devices' lines, by device id.
    pub serial: BTreeMap<&'static str, VirtualSerial>,
    /// The ERP's and the CRM's sockets, bound.
    pub erp: TcpListener,
    pub crm: TcpListener,
}

/// Makes the world; `listen` is the admin API's address (default: a free port on loopback).
pub fn make(listen: Option<SocketAddr>) -> anyhow::Result<World> {
    let dir = tempfile::Builder::new()
        .prefix("dockgate-demo-")
        .tempdir()
        .context("making the demo's directory")?;
    let serial_dir = dir.path().join("serial");
    std::fs::create_dir(&serial_dir).context("making the demo's serial directory")?;
    let mut serial = BTreeMap::new();
    for d in DEVICES.iter().filter(|d| d.via == Via::Serial) {
        serial.insert(d.id, VirtualSerial::open(&serial_dir, d.id)?);
    }
    let loopback = |what: &str| {
        TcpListener::bind("127.0.0.1:0").with_context(|| format!("binding the {what}"))
    };
    let erp = loopback("ERP stand-in")?;
    let crm = loopback("CRM stand-in")?;
    let admin = match listen {
        Some(addr) => addr,
        // The daemon binds it itself: a free port is found, then let go.
        None => loopback("admin API")?.local_addr()?,
    };
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("dockgate.toml");
    let log_path = dir.path().join("dockgate.log");
    let text = config_text(
        &data_dir,
        admin,
        &format!("http://{}/events", erp.local_addr()?),
        &format!("http://{}/events", crm.local_addr()?),
        &serial,
    );
    std::fs::write(&config_path, text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(World {
        dir,
        config_path,
        data_dir,
        log_path,
        admin,
        serial,
        erp,
        crm,
    })
}

/// A TOML string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The demo's configuration: an ordinary one, as `dockgate run` reads it.
fn config_text(
    data_dir: &Path,
    admin: SocketAddr,
    erp: &str,
    crm: &str,
    serial: &BTreeMap<&'static str, VirtualSerial>,
) -> String {
    let mut text = format!(
        r#"# Made by `dockgate demo` for one scripted shift: virtual scanners on pseudo-terminals,
# an ERP and a CRM stand-in on loopback. An ordinary configuration otherwise.
version = 1

[site]
id = {site}
data_dir = {data_dir}

[admin]
listen = {admin}

# The ERP takes the business flow, in batches; short retry waits, so the demo's outage
# drains within seconds of its end.
[sinks.erp]
url = {erp}
events = ["pick.*", "pack.*", "shipment.*", "return.*"]
batch_max_events = 20
retry_initial = "500ms"
retry_max = "3s"

# The CRM hears of shipments, the docks and every exception, one event per request.
[sinks.crm]
url = {crm}
events = ["shipment.*", "dock.*", "*.exception", "scan.*"]
retry_initial = "500ms"
retry_max = "3s"

[buffer]
max_disk = "64MiB"
"#,
        site = toml_str(script::SITE),
        data_dir = toml_str(&data_dir.to_string_lossy()),
        admin = toml_str(&admin.to_string()),
        erp = toml_str(erp),
        crm = toml_str(crm),
    );
    let debounce = format!("{}ms", script::DOCK_DEBOUNCE.as_millis());
    for d in &DEVICES {
        text.push_str(&format!(
            "\n[devices.{}]\nstation = {}\n",
            d.id,
            toml_str(d.station.as_str())
        ));
        match serial.get(d.id) {
            Some(line) => text.push_str(&format!(
                "source = \"serial\"\npath = {}\n",
                toml_str(&line.link.to_string_lossy())
            )),
            None => text.push_str("source = \"http\"\n"),
        }
        if let Some(door) = d.door {
            text.push_str(&format!("door = {}\n", toml_str(door)));
        }
        if d.station == crate::model::Station::Dock {
            text.push_str(&format!("debounce = {}\n", toml_str(&debounce)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_validates() {
        let world = make(None).expect("the demo's world");
        let config =
            crate::config::Config::load(&world.config_path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.site.id, script::SITE);
        assert_eq!(config.devices.len(), DEVICES.len());
        assert_eq!(config.sinks.len(), 2);
        for (id, line) in &world.serial {
            let path = config.devices[*id].path.clone().expect("a serial path");
            assert_eq!(path, line.link);
            assert!(std::fs::canonicalize(&path)
                .expect("the link leads to the port")
                .starts_with("/dev/pts"));
        }
    }
}
