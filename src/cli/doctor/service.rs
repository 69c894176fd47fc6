//! Who the daemon runs as, and what that user may open. The user and its groups come from
//! `dockgate.service` as systemd has loaded it (`User=`, `Group=`, `SupplementaryGroups=`),
//! else from `--service-user`, else from the shipped unit (`dockgate`, with `dialout`). Access
//! is judged by the owner, group and mode bits of the file and of every directory above it:
//! POSIX ACLs, capabilities and mandatory access control are not looked at. The unit's
//! sandbox (`DeviceAllow=`, `ProtectSystem=strict` with its writable paths) is read too, for
//! the checks of the serial ports and the data directory.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::{Gid, Group, Uid, User};

use super::Finding;

/// The unit the package installs.
pub(super) const UNIT: &str = "dockgate.service";

/// What systemd says about `dockgate.service`, when it has loaded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Unit {
    /// `User=`.
    pub user: Option<String>,
    /// `Group=`.
    pub group: Option<String>,
    /// `SupplementaryGroups=`.
    pub supplementary_groups: Vec<String>,
    /// `DevicePolicy=`: `auto`, `closed` or `strict`.
    pub device_policy: String,
    /// `DeviceAllow=`: (device or class such as `char-ttyUSB`, access such as `rw`).
    pub device_allow: Vec<(String, String)>,
    /// `ProtectSystem=`: `strict` makes everything read-only but the paths below.
    pub protect_system: String,
    /// `ReadWritePaths=`.
    pub read_write_paths: Vec<PathBuf>,
    /// `StateDirectory=`, as the directories under `/var/lib`.
    pub state_directories: Vec<PathBuf>,
}

/// The properties asked of systemd.
const PROPERTIES: &str = "LoadState,User,Group,SupplementaryGroups,DevicePolicy,DeviceAllow,\
                          ProtectSystem,ReadWritePaths,StateDirectory";

impl Unit {
    /// Reads the unit from `systemctl show`; `None` when systemd does not run here or has no
    /// such unit.
    async fn load(timeout: Duration) -> Option<Unit> {
        let mut cmd = tokio::process::Command::new("systemctl");
        cmd.args(["show", UNIT, "--property", PROPERTIES])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .ok()?
            .ok()?;
        if !out.status.success() {
            return None;
        }
        parse_show(&String::from_utf8_lossy(&out.stdout))
    }

    /// Whether the sandbox lets the daemon write `dir` (always, unless `ProtectSystem=strict`).
    pub fn may_write(&self, dir: &Path) -> bool {
        self.protect_system != "strict"
            || self
                .read_write_paths
                .iter()
                .chain(&self.state_directories)
                .any(|p| dir.starts_with(p))
    }

    /// The directories `ProtectSystem=strict` leaves writable, for people.
    pub fn writable(&self) -> String {
        let all: Vec<String> = self
            .state_directories
            .iter()
            .chain(&self.read_write_paths)
            .map(|p| p.display().to_string())
            .collect();
        if all.is_empty() {
            "nothing".into()
        } else {
            all.join(", ")
        }
    }
}

/// The unit from the `KEY=value` lines of `systemctl show` (a key given more than once, as
/// `DeviceAllow=` is, collects every line); `None` unless it is loaded.
pub(super) fn parse_show(text: &str) -> Option<Unit> {
    let mut props: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            props.entry(k.trim()).or_default().push(v.trim());
        }
    }
    let one = |k: &str| {
        props
            .get(k)
            .and_then(|v| v.first())
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
    };
    let words = |k: &str| -> Vec<String> {
        props
            .get(k)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split_whitespace())
            .map(str::to_owned)
            .collect()
    };
    if one("LoadState").as_deref() != Some("loaded") {
        return None;
    }
    Some(Unit {
        user: one("User"),
        group: one("Group"),
        supplementary_groups: words("SupplementaryGroups"),
        device_policy: one("DevicePolicy").unwrap_or_else(|| "auto".into()),
        device_allow: props
            .get("DeviceAllow")
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let mut parts = v.split_whitespace();
                Some((
                    parts.next()?.to_owned(),
                    parts.next().unwrap_or("rwm").to_owned(),
                ))
            })
            .collect(),
        protect_system: one("ProtectSystem").unwrap_or_else(|| "no".into()),
        // `-` (ignore if missing) and `+` prefixes say how, not where.
        read_write_paths: words("ReadWritePaths")
            .iter()
            .map(|p| PathBuf::from(p.trim_start_matches(['-', '+'])))
            .collect(),
        state_directories: words("StateDirectory")
            .iter()
            .map(|d| Path::new("/var/lib").join(d))
            .collect(),
    })
}

/// A user account: its id and every group it has (primary, `/etc/group`, the unit's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Account {
    /// User name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Group ids.
    pub gids: Vec<u32>,
}

/// The service's user as seen from here, and who runs the doctor.
#[derive(Debug, Clone)]
pub(super) struct Service {
    /// The user the daemon runs as.
    pub user: String,
    /// Its account; `None` when there is no such user on this box.
    pub account: Option<Account>,
    /// Where `user` came from, for people.
    pub from: &'static str,
    /// The unit, when systemd has it.
    pub unit: Option<Unit>,
    /// The effective user id of this process.
    pub me: u32,
    /// Its name.
    pub me_name: String,
}

impl Service {
    /// Finds the service user: `flag`, else the unit's `User=`, else `dockgate`.
    pub async fn resolve(flag: Option<&str>, timeout: Duration) -> Service {
        let unit = Unit::load(timeout).await;
        let (user, from, extra_groups) = match (flag, &unit) {
            (Some(user), _) => (user.to_owned(), "--service-user", Vec::new()),
            (None, Some(u)) => {
                let mut groups: Vec<String> = u.group.iter().cloned().collect();
                groups.extend(u.supplementary_groups.iter().cloned());
                (
                    u.user.clone().unwrap_or_else(|| "root".into()),
                    "dockgate.service",
                    groups,
                )
            }
            (None, None) => (
                "dockgate".to_owned(),
                "the shipped unit's default",
                vec!["dialout".to_owned()],
            ),
        };
        let lookup = {
            let (user, groups) = (user.clone(), extra_groups.clone());
            tokio::task::spawn_blocking(move || account(&user, &groups))
        };
        let account = lookup.await.ok().flatten();
        let me = Uid::effective();
        let me_name = User::from_uid(me)
            .ok()
            .flatten()
            .map_or_else(|| me.to_string(), |u| u.name);
        Service {
            user,
            account,
            from,
            unit,
            me: me.as_raw(),
            me_name,
        }
    }

    /// This process runs as the service user: access is tried, not judged.
    pub fn is_me(&self) -> bool {
        self.account.as_ref().is_some_and(|a| a.uid == self.me)
    }

    /// This process runs as root (and can open what the service user's access is judged on).
    pub fn as_root(&self) -> bool {
        self.me == 0
    }

    /// This process may open what the daemon will (it is root or the service user): a failure
    /// to read a file here is the daemon's failure too.
    pub fn privileged(&self) -> bool {
        self.is_me() || self.as_root()
    }

    /// The account whose access is judged by file modes: the service user's, unless this
    /// process is that user (then files are simply opened).
    pub fn judged(&self) -> Option<&Account> {
        self.account.as_ref().filter(|_| !self.is_me())
    }

    /// The line saying whose access the other lines check.
    pub fn finding(&self) -> Finding {
        let subject = "service user";
        let groups = match self.account.as_ref() {
            Some(a) => group_names(&a.gids).join(", "),
            None => String::new(),
        };
        let unit = match &self.unit {
            Some(_) => format!("{UNIT} is loaded"),
            None => format!("{UNIT} is not loaded here (no systemd, or not installed), so its sandbox is not checked"),
        };
        let Some(account) = &self.account else {
            return Finding::warn(
                subject,
                format!(
                    "no user {:?} on this box ({}); {unit}; access is checked for {} only",
                    self.user, self.from, self.me_name
                ),
                "install the package (it creates the dockgate user), or name the daemon's user with --service-user",
            );
        };
        let how = if self.is_me() {
            "running as that user: files and ports are opened for real".to_owned()
        } else if self.as_root() {
            "access judged by file modes (not ACLs), ports also opened as root".to_owned()
        } else {
            format!(
                "access judged by file modes (not ACLs); running as {}, so ports are not opened",
                self.me_name
            )
        };
        let detail = format!(
            "{} (uid {}, groups {groups}; from {}); {unit}; {how}",
            self.user, account.uid, self.from
        );
        if self.is_me() || self.as_root() {
            Finding::pass(subject, detail)
        } else {
            Finding::warn(
                subject,
                detail,
                "run `sudo dockgate doctor` to also open the ports and write the data directory",
            )
        }
    }
}

/// The account of `name` with its groups and `extra` (the unit's `Group=` and
/// `SupplementaryGroups=`); `None` when there is no such user.
fn account(name: &str, extra: &[String]) -> Option<Account> {
    let user = User::from_name(name).ok().flatten()?;
    let mut gids = CString::new(name)
        .ok()
        .and_then(|c| nix::unistd::getgrouplist(&c, user.gid).ok())
        .unwrap_or_else(|| vec![user.gid]);
    for group in extra {
        if let Ok(Some(g)) = Group::from_name(group) {
            gids.push(g.gid);
        }
    }
    let mut gids: Vec<u32> = gids.into_iter().map(Gid::as_raw).collect();
    gids.sort_unstable();
    gids.dedup();
    Some(Account {
        name: name.to_owned(),
        uid: user.uid.as_raw(),
        gids,
    })
}

fn group_names(gids: &[u32]) -> Vec<String> {
    gids.iter()
        .map(|&g| {
            Group::from_gid(Gid::from_raw(g))
                .ok()
                .flatten()
                .map_or_else(|| g.to_string(), |g| g.name)
        })
        .collect()
}

/// Read permission.
pub(super) const READ: u32 = 4;
/// Write permission.
pub(super) const WRITE: u32 = 2;
/// Search (directories) permission.
pub(super) const SEARCH: u32 = 1;

/// Whether `account` has every bit of `want` on a file of `mode`, owned by `uid`:`gid`, by
/// the classic rules: the owner's bits, else the group's, else the others'; root has all.
pub(super) fn allows(account: &Account, mode: u32, uid: u32, gid: u32, want: u32) -> bool {
    if account.uid == 0 {
        return true;
    }
    let bits = if uid == account.uid {
        mode >> 6
    } else if account.gids.contains(&gid) {
        mode >> 3
    } else {
        mode
    } & 0o7;
    bits & want == want
}

/// Why a path is out of an account's reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unreachable {
    /// It does not exist (or a link in it leads nowhere).
    Missing,
    /// `at` (the path or a directory above it) lacks a permission.
    Denied {
        /// The file or directory that stops it.
        at: PathBuf,
        /// What is lacking: `read`, `read and write`, `search`.
        lacking: &'static str,
        /// Its mode and owners, `drwx------ dockgate:dockgate`.
        mode: String,
    },
    /// It could not be looked at from here.
    Unknown(String),
}

/// Checks that `account` can reach `path` (search every directory above it, also above where
/// a symbolic link leads) and has `want` on it.
pub(super) fn reach(account: &Account, path: &Path, want: u32) -> Result<(), Unreachable> {
    let path = std::path::absolute(path).map_err(|e| Unreachable::Unknown(e.to_string()))?;
    let target = match std::fs::canonicalize(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unreachable::Missing),
        Err(e) => return Err(Unreachable::Unknown(e.to_string())),
    };
    let mut dirs: Vec<&Path> = path.ancestors().skip(1).collect();
    if target != path {
        dirs.extend(target.ancestors().skip(1));
    }
    for dir in dirs {
        check_one(account, dir, SEARCH)?;
    }
    check_one(account, &target, want)
}

fn check_one(account: &Account, path: &Path, want: u32) -> Result<(), Unreachable> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Unreachable::Missing,
        _ => Unreachable::Unknown(format!("{}: {e}", path.display())),
    })?;
    if allows(account, meta.mode(), meta.uid(), meta.gid(), want) {
        return Ok(());
    }
    Err(Unreachable::Denied {
        at: path.to_owned(),
        lacking: match want {
            SEARCH => "search",
            READ => "read",
            w if w == READ | WRITE => "read and write",
            _ => "write",
        },
        mode: describe_mode(&meta),
    })
}

/// `crw-rw---- root:dialout`, as `ls -l` shows it.
pub(super) fn describe_mode(meta: &std::fs::Metadata) -> String {
    let user = User::from_uid(Uid::from_raw(meta.uid()))
        .ok()
        .flatten()
        .map_or_else(|| meta.uid().to_string(), |u| u.name);
    let group = Group::from_gid(Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    format!("{} {user}:{group}", mode_string(meta.mode()))
}

/// `drwxr-x---` from a `st_mode`.
pub(super) fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o020000 => 'c',
        0o060000 => 'b',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// A service user that is not this process (so access is judged by modes): a uid nobody has.
#[cfg(test)]
pub(super) fn stranger(unit: Option<Unit>) -> Service {
    Service {
        user: "stranger".into(),
        account: Some(Account {
            name: "stranger".into(),
            uid: 4_000_000,
            gids: vec![4_000_000],
        }),
        from: "--service-user",
        unit,
        me: 0,
        me_name: "root".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dockgate() -> Account {
        Account {
            name: "dockgate".into(),
            uid: 990,
            gids: vec![990, 20],
        }
    }

    #[test]
    fn owner_then_group_then_others_decide() {
        let a = dockgate();
        // Owner bits win even when the group's would allow.
        assert!(!allows(&a, 0o060, 990, 20, READ));
        assert!(allows(&a, 0o600, 990, 0, READ | WRITE));
        // dialout (20) member: the group's bits.
        assert!(allows(&a, 0o660, 0, 20, READ | WRITE));
        assert!(!allows(&a, 0o640, 0, 20, READ | WRITE));
        // Neither: the others' bits.
        assert!(!allows(&a, 0o640, 0, 0, READ));
        assert!(allows(&a, 0o644, 0, 0, READ));
        assert!(allows(&a, 0o711, 0, 0, SEARCH));
        let root = Account {
            name: "root".into(),
            uid: 0,
            gids: vec![0],
        };
        assert!(allows(&root, 0o000, 990, 990, READ | WRITE));
    }

    #[test]
    fn a_directory_above_can_stop_a_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        let token = secrets.join("erp.token");
        std::fs::write(&token, "t0ken").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Someone who owns none of it and is in none of its groups.
        let stranger = Account {
            name: "stranger".into(),
            uid: 4_000_000,
            gids: vec![4_000_000],
        };
        match reach(&stranger, &token, READ) {
            Err(Unreachable::Denied { at, lacking, mode }) => {
                assert_eq!(at, secrets);
                assert_eq!(lacking, "search");
                assert!(mode.starts_with("drwx------ "), "{mode}");
            }
            other => panic!("expected a denial at the directory, got {other:?}"),
        }
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(reach(&stranger, &token, READ), Ok(()));
        assert!(matches!(
            reach(&stranger, &token, READ | WRITE),
            Err(Unreachable::Denied {
                lacking: "read and write",
                ..
            })
        ));
        assert_eq!(
            reach(&stranger, &secrets.join("nope"), READ),
            Err(Unreachable::Missing)
        );
        // Through a symbolic link, the link's directories and the target's both count.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&token, &link).unwrap();
        assert_eq!(reach(&stranger, &link, READ), Ok(()));
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            reach(&stranger, &link, READ),
            Err(Unreachable::Denied {
                lacking: "search",
                ..
            })
        ));
    }

    #[test]
    fn modes_read_as_ls_shows_them() {
        assert_eq!(mode_string(0o020660), "crw-rw----");
        assert_eq!(mode_string(0o040700), "drwx------");
        assert_eq!(mode_string(0o100640), "-rw-r-----");
    }

    #[test]
    fn systemctl_show_gives_the_sandbox() {
        let text = "LoadState=loaded\nUser=dockgate\nGroup=dockgate\nSupplementaryGroups=dialout\n\
                    DevicePolicy=closed\nDeviceAllow=char-ttyUSB rw\nDeviceAllow=char-ttyACM rw\n\
                    ProtectSystem=strict\nReadWritePaths=-/srv/dockgate +/mnt/x\nStateDirectory=dockgate\n";
        let unit = parse_show(text).unwrap();
        assert_eq!(unit.user.as_deref(), Some("dockgate"));
        assert_eq!(unit.supplementary_groups, ["dialout"]);
        assert_eq!(unit.device_policy, "closed");
        assert_eq!(
            unit.device_allow,
            [
                ("char-ttyUSB".to_owned(), "rw".to_owned()),
                ("char-ttyACM".to_owned(), "rw".to_owned())
            ]
        );
        assert_eq!(
            unit.read_write_paths,
            [PathBuf::from("/srv/dockgate"), PathBuf::from("/mnt/x")]
        );
        assert!(unit.may_write(Path::new("/var/lib/dockgate")));
        assert!(unit.may_write(Path::new("/srv/dockgate/buffer")));
        assert!(!unit.may_write(Path::new("/opt/dockgate")));
        assert_eq!(unit.writable(), "/var/lib/dockgate, /srv/dockgate, /mnt/x");
        // Not installed: systemd answers, but with nothing loaded.
        assert_eq!(parse_show("LoadState=not-found\nUser=\n"), None);
        // Empty values are absent, not empty names.
        let bare = parse_show("LoadState=loaded\nUser=\nProtectSystem=no\n").unwrap();
        assert_eq!(bare.user, None);
        assert!(bare.may_write(Path::new("/anywhere")));
    }
}
