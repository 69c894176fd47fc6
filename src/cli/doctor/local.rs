//! The files the configuration names (there, and readable by the service user) and the data
//! directory (the sandbox and the service user let the daemon write it; free space against
//! `buffer.max_disk`). Everything here blocks: it runs on blocking threads.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytesize::ByteSize;

use super::service::{reach, Service, Unreachable, READ, SEARCH, WRITE};
use super::Finding;
use crate::config::{Config, SinkFormat};

/// Where systemd puts the credentials of `LoadCredential=`: only there while the service runs.
const CREDENTIALS: &str = "/run/credentials/";

/// Less free space than this is a full disk.
const MIN_FREE: u64 = 16 * 1024 * 1024;

/// The files the configuration names, by key: what the daemon reads when the part that uses
/// them starts.
pub(super) fn named_files(config: &Config) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let mut add = |key: String, path: &Option<PathBuf>| {
        if let Some(p) = path {
            files.push((key, p.clone()));
        }
    };
    for (name, sink) in &config.sinks {
        let key = |k: &str| format!("sinks.{name}.{k}");
        let a = &sink.auth;
        add(key("auth.bearer_token_file"), &a.bearer_token_file);
        add(key("auth.password_file"), &a.password_file);
        add(key("auth.header_value_file"), &a.header_value_file);
        add(
            key("auth.oauth2_client_secret_file"),
            &a.oauth2_client_secret_file,
        );
        add(key("tls.ca_file"), &sink.tls.ca_file);
        add(key("tls.client_cert_file"), &sink.tls.client_cert_file);
        add(key("tls.client_key_file"), &sink.tls.client_key_file);
        if sink.format == SinkFormat::Template {
            add(key("template_file"), &sink.template_file);
        }
    }
    if let Some(m) = &config.mqtt {
        add("mqtt.password_file".into(), &m.password_file);
        // The certificates are read for mqtts:// only.
        if m.url.starts_with("mqtts:") {
            add("mqtt.ca_file".into(), &m.ca_file);
            add("mqtt.client_cert_file".into(), &m.client_cert_file);
            add("mqtt.client_key_file".into(), &m.client_key_file);
        }
    }
    if let Some(push) = &config.config_push {
        add(
            "config_push.public_key_file".into(),
            &Some(push.public_key_file.clone()),
        );
    }
    files
}

/// One line per file that is missing or that the service user cannot read; one line in all
/// when every file is fine.
pub(super) fn files(config: &Config, service: &Service) -> Vec<Finding> {
    let named = named_files(config);
    let mut out: Vec<Finding> = named
        .iter()
        .filter_map(|(key, path)| file_problem(key, path, service))
        .collect();
    if out.is_empty() {
        let detail = match named.len() {
            0 => "the configuration names no secret, certificate, key or template file".into(),
            n => format!(
                "the {n} files the configuration names are there and {} can read them",
                who(service)
            ),
        };
        out.push(Finding::pass("files", detail));
    }
    out
}

/// Whose access a line speaks of: the service user when it exists, else this process's.
pub(super) fn who(service: &Service) -> &str {
    match &service.account {
        Some(a) => &a.name,
        None => &service.me_name,
    }
}

fn file_problem(key: &str, path: &Path, service: &Service) -> Option<Finding> {
    let subject = format!("file {key}");
    let shown = path.display();
    if path.starts_with(CREDENTIALS) {
        return Some(Finding::warn(
            subject,
            format!(
                "{shown} is handed over by systemd when the service starts (LoadCredential=), so it cannot be checked from here"
            ),
            "",
        ));
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(Finding::fail(
                subject,
                format!("{shown} does not exist"),
                format!("put the file there, or correct {key}"),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && !service.as_root() => {
            return Some(Finding::warn(
                subject,
                format!("{shown}: {} may not look at it ({e})", service.me_name),
                "run `sudo dockgate doctor`",
            ))
        }
        Err(e) => {
            return Some(Finding::fail(
                subject,
                format!("{shown}: {e}"),
                format!("correct {key}"),
            ))
        }
    };
    if !meta.is_file() {
        return Some(Finding::fail(
            subject,
            format!("{shown} is not a file"),
            format!("correct {key}"),
        ));
    }
    if service.is_me() {
        return std::fs::File::open(path).err().map(|e| {
            Finding::fail(
                subject,
                format!("{} cannot read {shown}: {e}", service.user),
                read_fix(&service.user, path, path),
            )
        });
    }
    let Some(account) = service.judged() else {
        // No service user to judge for: what this process can read, said as such.
        if service.as_root() {
            return None;
        }
        return std::fs::File::open(path).err().map(|e| {
            Finding::warn(
                subject,
                format!("{} cannot read {shown}: {e}", service.me_name),
                "run `sudo dockgate doctor`",
            )
        });
    };
    match reach(account, path, READ) {
        Ok(()) => None,
        Err(Unreachable::Denied { at, lacking, mode }) => Some(Finding::fail(
            subject,
            format!(
                "{} cannot read {shown}: no {lacking} permission on {} ({mode})",
                account.name,
                at.display()
            ),
            read_fix(&account.name, path, &at),
        )),
        Err(Unreachable::Missing) => Some(Finding::fail(
            subject,
            format!("{shown} does not exist"),
            format!("put the file there, or correct {key}"),
        )),
        Err(Unreachable::Unknown(e)) => Some(Finding::warn(
            subject,
            format!("cannot tell whether {} can read {shown}: {e}", account.name),
            "",
        )),
    }
}

/// What to do when `user` cannot read `file` because of `at` (the file or a directory above).
fn read_fix(user: &str, file: &Path, at: &Path) -> String {
    if at == file {
        format!(
            "chgrp {user} {f} && chmod 0640 {f} (owner root), or hand it over with LoadCredential= in a drop-in (packaging/README.md)",
            f = file.display()
        )
    } else {
        format!(
            "let {user} into {d}: chgrp {user} {d} && chmod g+x {d}",
            d = at.display()
        )
    }
}

/// The data directory: the sandbox lets the daemon write it, the service user may, a file can
/// be written there (as root or the service user), and how its free space compares with
/// `buffer.max_disk`. The buffer itself is not opened.
pub(super) fn data_dir(config: &Config, service: &Service) -> Vec<Finding> {
    let subject = "data dir";
    let dir = std::path::absolute(&config.site.data_dir).unwrap_or(config.site.data_dir.clone());
    let shown = dir.display().to_string();
    let mut out = Vec::new();
    if let Some(unit) = service.unit.as_ref().filter(|u| !u.may_write(&dir)) {
        out.push(Finding::fail(
            subject,
            format!(
                "{shown} is outside what dockgate.service may write (ProtectSystem=strict leaves {} writable)",
                unit.writable()
            ),
            format!(
                "use site.data_dir = \"/var/lib/dockgate\", or add ReadWritePaths={shown} in a drop-in (systemctl edit dockgate)"
            ),
        ));
    }
    let Some(existing) = dir.ancestors().find(|p| p.exists()).map(Path::to_path_buf) else {
        out.push(Finding::fail(
            subject,
            format!("nothing of {shown} exists"),
            "correct site.data_dir",
        ));
        return out;
    };
    if existing == dir {
        out.push(existing_dir(&dir, service));
    } else {
        out.push(missing_dir(&dir, &existing, service));
    }
    out.push(space(&dir, &existing, config.buffer.max_disk));
    out
}

fn existing_dir(dir: &Path, service: &Service) -> Finding {
    let subject = "data dir";
    let shown = dir.display();
    if !dir.is_dir() {
        return Finding::fail(
            subject,
            format!("{shown} is not a directory"),
            "correct site.data_dir",
        );
    }
    let mut notes = Vec::new();
    if let Some(account) = service.judged() {
        match reach(account, dir, READ | WRITE | SEARCH) {
            Ok(()) => notes.push(format!("{} may write it", account.name)),
            Err(Unreachable::Denied { at, lacking, mode }) => {
                return Finding::fail(
                    subject,
                    format!(
                        "{} cannot use {shown}: no {lacking} permission on {} ({mode})",
                        account.name,
                        at.display()
                    ),
                    format!(
                        "chown -R {u}:{u} {shown} && chmod 0700 {shown} (the package's tmpfiles entry does this for /var/lib/dockgate)",
                        u = account.name
                    ),
                )
            }
            Err(e) => {
                return Finding::warn(
                    subject,
                    format!("cannot tell whether {} may use {shown}: {e:?}", account.name),
                    "",
                )
            }
        }
    }
    if service.privileged() {
        match write_probe(dir) {
            Ok(()) => notes.push(format!(
                "a file was written there and removed as {}",
                service.me_name
            )),
            Err(e) => {
                let fix = match e.raw_os_error() {
                    Some(30) => "the filesystem is read-only: mount it read-write",
                    Some(28) => "the disk is full: free space",
                    _ => "check the directory and its filesystem (dmesg)",
                };
                return Finding::fail(subject, format!("cannot write in {shown}: {e}"), fix);
            }
        }
    } else if service.account.is_none() {
        // Nobody to judge for, and not allowed to write: what this process may, said as such.
        let me = &service.me_name;
        let flags = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
        if let Err(e) = nix::unistd::access(dir, flags) {
            return Finding::warn(
                subject,
                format!("{shown}: {me} may not write it ({e})"),
                "run `sudo dockgate doctor`",
            );
        }
        notes.push(format!("{me} may write it"));
    } else {
        notes.push(format!("not written to (running as {})", service.me_name));
    }
    if let Some(pid) = crate::ledger::lock_holder(dir) {
        notes.push(format!("dockgate (pid {pid}) is running on it"));
    }
    Finding::pass(subject, format!("{shown}: {}", notes.join("; ")))
}

fn missing_dir(dir: &Path, existing: &Path, service: &Service) -> Finding {
    let subject = "data dir";
    let shown = dir.display();
    let made_by_systemd = service
        .unit
        .as_ref()
        .is_some_and(|u| u.state_directories.iter().any(|s| s == dir));
    if made_by_systemd {
        return Finding::pass(
            subject,
            format!("{shown} does not exist yet; systemd makes it when the service starts (StateDirectory=)"),
        );
    }
    let create = format!(
        "create it: install -d -m 0700 -o {u} -g {u} {shown}",
        u = service.user
    );
    let may = match service.judged() {
        Some(account) => reach(account, existing, WRITE | SEARCH).map_err(|e| match e {
            Unreachable::Denied { at, lacking, mode } => {
                format!("no {lacking} permission on {} ({mode})", at.display())
            }
            other => format!("{other:?}"),
        }),
        None => {
            nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK).map_err(|e| e.to_string())
        }
    };
    match may {
        Ok(()) => Finding::pass(
            subject,
            format!(
                "{shown} does not exist yet; the daemon makes it (mode 0700) in {}, where {} may write",
                existing.display(),
                who(service)
            ),
        ),
        Err(why) => {
            let f = Finding::fail(
                subject,
                format!(
                    "{shown} does not exist and {} cannot make it: {why}",
                    who(service)
                ),
                create,
            );
            // Without a service user to judge for, a refusal speaks of this process only.
            if service.judged().is_none() && !service.privileged() {
                Finding {
                    verdict: super::Verdict::Warn,
                    ..f
                }
            } else {
                f
            }
        }
    }
}

/// Writes and removes a small file in `dir` (never the buffer's files).
fn write_probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(".dockgate-doctor-{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(b"dockgate doctor\n")?;
            f.sync_all()
        });
    let removed = std::fs::remove_file(&path);
    result.and(removed)
}

/// Free space on the filesystem of `dir` (or of `existing`, its nearest existing ancestor).
fn space(dir: &Path, existing: &Path, max_disk: u64) -> Finding {
    let subject = "disk space";
    let stat = match nix::sys::statvfs::statvfs(existing) {
        Ok(s) => s,
        Err(e) => {
            return Finding::warn(
                subject,
                format!("cannot tell the free space of {}: {e}", existing.display()),
                "",
            )
        }
    };
    if stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Finding::fail(
            subject,
            format!("the filesystem of {} is mounted read-only", dir.display()),
            "mount it read-write, or put site.data_dir on a writable one",
        );
    }
    // Both are 32 bits wide on armv7 (a cross target), 64 here.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    space_verdict(dir, free, used_by(dir), max_disk)
}

/// Bytes in the files of `dir` and of its subdirectories (the buffer and what dockgate keeps
/// beside it).
fn used_by(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = todo.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in listing.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_file() => total += m.len(),
                Ok(m) if m.is_dir() && depth < 2 => todo.push((entry.path(), depth + 1)),
                _ => {}
            }
        }
    }
    total
}

/// Whether `free` bytes (with the `used` the buffer holds already) leave the buffer room to
/// grow to `max_disk`.
pub(super) fn space_verdict(dir: &Path, free: u64, used: u64, max_disk: u64) -> Finding {
    let subject = "disk space";
    let shown = dir.display();
    if free < MIN_FREE {
        return Finding::fail(
            subject,
            format!("only {} free on the filesystem of {shown}", ByteSize(free)),
            "free disk space: the buffer cannot take events on a full disk",
        );
    }
    let room = free.saturating_add(used);
    if room < max_disk {
        // Leaves a tenth of the room for the rest of the system.
        let fits = ByteSize(room / 10 * 9);
        return Finding::warn(
            subject,
            format!(
                "buffer.max_disk is {}, but the filesystem of {shown} has {} free and the buffer holds {}: the disk would fill before the buffer's limit",
                ByteSize(max_disk),
                ByteSize(free),
                ByteSize(used)
            ),
            format!("lower buffer.max_disk to about {fits}, or free space"),
        );
    }
    Finding::pass(
        subject,
        format!(
            "{} free on the filesystem of {shown}, room for buffer.max_disk {} (the buffer holds {})",
            ByteSize(free),
            ByteSize(max_disk),
            ByteSize(used)
        ),
    )
}

#[cfg(test)]
mod tests;
