//! A serial port: its path leads to a character device, the unit's device policy admits it,
//! the service user may read and write it, and it opens with the device's line settings
//! (the daemon's own open). Blocks: it runs on a blocking thread, bounded by the timeout.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::local::who;
use super::service::{describe_mode, reach, Service, Unit, Unreachable, READ, WRITE};
use super::Finding;
use crate::config::DeviceConfig;

/// The line of serial device `id`.
///
/// `daemon`: the pid of a daemon running on the data directory. Root then leaves the port
/// alone: opening it would change nothing for the better and, on closing, clear the exclusive
/// use the daemon took of it.
pub(super) fn serial(
    id: &str,
    device: &DeviceConfig,
    service: &Service,
    daemon: Option<u32>,
) -> Finding {
    let subject = format!("device {id} serial");
    let key = format!("devices.{id}.path");
    let Some(path) = &device.path else {
        return Finding::fail(subject, "no path", format!("set {key}"));
    };
    let shown = path.display();
    let absent_fix = format!(
        "plug the scanner in, or correct {key} (`ls -l /dev/serial/by-id/` lists the adapters)"
    );
    let target = match std::fs::canonicalize(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let detail = if std::fs::symlink_metadata(path).is_ok() {
                format!("{shown} is a link to a device that is not there")
            } else {
                format!("{shown} does not exist")
            };
            return Finding::fail(subject, detail, absent_fix);
        }
        Err(e) => return Finding::fail(subject, format!("{shown}: {e}"), absent_fix),
    };
    let meta = match std::fs::metadata(&target) {
        Ok(m) => m,
        Err(e) => return Finding::fail(subject, format!("{shown}: {e}"), absent_fix),
    };
    if !meta.file_type().is_char_device() {
        return Finding::fail(
            subject,
            format!(
                "{shown} leads to {}, which is not a character device",
                target.display()
            ),
            format!("point {key} at the serial port"),
        );
    }
    let mode = describe_mode(&meta);
    let leads = if target.as_path() == path.as_path() {
        format!("{shown} ({mode})")
    } else {
        format!("{shown} -> {} ({mode})", target.display())
    };
    if let Some(unit) = &service.unit {
        let major = nix::sys::stat::major(meta.rdev());
        let drivers = std::fs::read_to_string("/proc/devices")
            .map(|text| drivers_of(&text, major))
            .unwrap_or_default();
        if !admitted(unit, &target, &drivers) {
            let driver = drivers.first().map_or("its driver", String::as_str);
            let allowed: Vec<String> = unit.device_allow.iter().map(|(d, _)| d.clone()).collect();
            return Finding::fail(
                subject,
                format!(
                    "{leads}: dockgate.service admits only {} (DevicePolicy={}), and this is {driver} (major {major})",
                    if allowed.is_empty() { "the standard pseudo devices".into() } else { allowed.join(", ") },
                    unit.device_policy
                ),
                format!("add DeviceAllow=char-{driver} rw in a drop-in (systemctl edit dockgate)"),
            );
        }
    }
    let user = who(service).to_owned();
    if service.is_me() && daemon.is_none() {
        return match crate::devices::serial::open(path, device) {
            Ok(_port) => Finding::pass(
                subject,
                format!("{leads}: opened as {user} at {} baud", device.baud),
            ),
            Err(e) => open_failed(subject, &leads, &user, &e, &meta),
        };
    }
    let mut notes = Vec::new();
    // Judged by the modes (also for this process's own user when the daemon holds the port).
    if let Some(account) = &service.account {
        match reach(account, path, READ | WRITE) {
            Ok(()) => notes.push(format!("{user} may read and write it")),
            Err(Unreachable::Denied { at, lacking, mode }) => {
                return Finding::fail(
                    subject,
                    format!(
                        "{leads}: {user} cannot open it, no {lacking} permission on {} ({mode})",
                        at.display()
                    ),
                    group_fix(&user, &meta, &at, path),
                )
            }
            Err(e) => notes.push(format!("cannot tell whether {user} may open it: {e:?}")),
        }
    } else {
        notes.push(format!(
            "access of {} not checked (no such user)",
            service.user
        ));
    }
    match daemon {
        Some(pid) => notes.push(format!(
            "not opened: the running daemon (pid {pid}) has the ports"
        )),
        None if service.as_root() => match crate::devices::serial::open(path, device) {
            Ok(_port) => notes.push(format!("opened as root at {} baud", device.baud)),
            Err(e) => return open_failed(subject, &leads, "root", &e, &meta),
        },
        None if service.account.is_none() => {
            // Neither judged nor opened: only that the device is there is known.
            notes.push(format!("not opened (running as {})", service.me_name));
            return Finding::warn(
                subject,
                format!("{leads}: {}", notes.join("; ")),
                "run `sudo dockgate doctor`, or name the daemon's user with --service-user",
            );
        }
        None => notes.push(format!("not opened (running as {})", service.me_name)),
    }
    Finding::pass(subject, format!("{leads}: {}", notes.join("; ")))
}

fn open_failed(
    subject: String,
    leads: &str,
    user: &str,
    e: &tokio_serial::Error,
    meta: &std::fs::Metadata,
) -> Finding {
    let text = e.to_string();
    let busy = text.contains("busy") || text.contains("Resource busy");
    if busy {
        return Finding::warn(
            subject,
            format!("{leads}: in use by another program ({text})"),
            "if it is not the running daemon, find it with `fuser -v` on the device and stop it",
        );
    }
    let denied = text.contains("ermission denied");
    let fix = if denied {
        format!(
            "give {user} the device's group ({})",
            describe_mode(meta).rsplit(':').next().unwrap_or("dialout")
        )
    } else {
        "check the adapter and its driver (dmesg), and the line settings of the device".into()
    };
    Finding::fail(
        subject,
        format!("{leads}: cannot open it as {user}: {text}"),
        fix,
    )
}

/// What to do when `user` cannot open the port because of `at`.
fn group_fix(user: &str, meta: &std::fs::Metadata, at: &Path, path: &Path) -> String {
    if at != path && std::fs::canonicalize(path).ok().as_deref() != Some(at) {
        return format!("let {user} into {}", at.display());
    }
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    if group == "root" {
        format!(
            "the port belongs to group root: have udev give it group dialout (a rule with GROUP=\"dialout\", MODE=\"0660\"), and {user} that group (the shipped unit has SupplementaryGroups=dialout)"
        )
    } else {
        format!(
            "the port belongs to group {group}: add SupplementaryGroups={group} in a drop-in (systemctl edit dockgate), or usermod -aG {group} {user}"
        )
    }
}

/// The names `/proc/devices` gives character major `major` (several drivers may share one).
pub(super) fn drivers_of(proc_devices: &str, major: u64) -> Vec<String> {
    proc_devices
        .lines()
        .skip_while(|l| !l.starts_with("Character devices:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Block devices:"))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let m: u64 = parts.next()?.parse().ok()?;
            (m == major)
                .then(|| parts.next().map(str::to_owned))
                .flatten()
        })
        .collect()
}

/// Whether the unit's device policy lets the daemon read and write `target`, a character
/// device whose major is known to `/proc/devices` as `drivers`.
pub(super) fn admitted(unit: &Unit, target: &Path, drivers: &[String]) -> bool {
    if unit.device_policy == "auto" && unit.device_allow.is_empty() {
        return true;
    }
    unit.device_allow.iter().any(|(spec, access)| {
        if !(access.contains('r') && access.contains('w')) {
            return false;
        }
        match spec.strip_prefix("char-") {
            Some(class) => drivers.iter().any(|d| glob(class, d)),
            None => Path::new(spec) == target,
        }
    })
}

/// `*` matches any text, as systemd's device classes allow.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doctor::service::stranger;
    use crate::cli::doctor::Verdict;
    use crate::config::Config;

    fn config(extra: &str) -> Config {
        Config::parse(&format!("version = 1\n[site]\nid = \"wh\"\n{extra}")).unwrap()
    }

    #[test]
    fn the_device_policy_admits_by_class_or_path() {
        let proc = "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  4 ttyS\n136 pts\n166 ttyACM\n188 ttyUSB\n\nBlock devices:\n  8 sd\n";
        assert_eq!(drivers_of(proc, 188), ["ttyUSB"]);
        assert_eq!(drivers_of(proc, 4), ["/dev/vc/0", "tty", "ttyS"]);
        assert!(
            drivers_of(proc, 8).is_empty(),
            "block majors are not character ones"
        );
        let unit = crate::cli::doctor::service::parse_show(
            "LoadState=loaded\nDevicePolicy=closed\nDeviceAllow=char-ttyUSB rw\nDeviceAllow=char-ttyACM rw\nDeviceAllow=/dev/ttyS9 r\n",
        )
        .unwrap();
        let usb = drivers_of(proc, 188);
        assert!(admitted(&unit, Path::new("/dev/ttyUSB0"), &usb));
        assert!(!admitted(
            &unit,
            Path::new("/dev/pts/3"),
            &drivers_of(proc, 136)
        ));
        // Read-only access is not enough.
        assert!(!admitted(
            &unit,
            Path::new("/dev/ttyS9"),
            &drivers_of(proc, 4)
        ));
        let mut open = unit.clone();
        open.device_policy = "auto".into();
        open.device_allow.clear();
        assert!(admitted(&open, Path::new("/dev/pts/3"), &[]));
        let mut glob = unit;
        glob.device_allow = vec![("char-tty*".into(), "rw".into())];
        assert!(admitted(
            &glob,
            Path::new("/dev/ttyS0"),
            &drivers_of(proc, 4)
        ));
    }

    #[test]
    fn a_missing_serial_path_fails_with_what_to_plug_in() {
        let c = config(
            "[devices.p1]\nsource = \"serial\"\nstation = \"pick\"\npath = \"/nonexistent/ttyUSB9\"\n",
        );
        let f = serial("p1", &c.devices["p1"], &stranger(None), None);
        assert_eq!(f.verdict, Verdict::Fail);
        assert_eq!(f.subject, "device p1 serial");
        assert!(
            f.detail.contains("/nonexistent/ttyUSB9 does not exist"),
            "{f:?}"
        );
        assert!(
            f.fix.as_deref().unwrap().contains("/dev/serial/by-id/"),
            "{f:?}"
        );
        // A regular file is no port.
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut d = c.devices["p1"].clone();
        d.path = Some(file.path().to_owned());
        let f = serial("p1", &d, &stranger(None), None);
        assert!(f.detail.contains("not a character device"), "{f:?}");
    }
}
