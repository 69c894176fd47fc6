//! A data directory on lazyfs, a FUSE filesystem that keeps every write in memory until the
//! file is fsynced and drops what was not on command: a power cut, not just a crashed
//! process (whose writes the kernel's page cache would keep).
//!
//! The simulator is a separate tool (`DOCKGATE_LAZYFS` names its binary; `.ci/run` builds it
//! when its source is on the machine). Tests skip with a message where it or `/dev/fuse` is
//! missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The lazyfs binary, or why a test cannot use one here.
pub fn lazyfs_binary() -> Result<PathBuf, String> {
    let bin = std::env::var_os("DOCKGATE_LAZYFS")
        .map(PathBuf::from)
        .ok_or("DOCKGATE_LAZYFS is not set (the power-loss simulator was not built)")?;
    if !bin.is_file() {
        return Err(format!("DOCKGATE_LAZYFS={} is not a file", bin.display()));
    }
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse is missing (no FUSE in this machine)".into());
    }
    Ok(bin)
}

/// A mounted lazyfs; unmounted when dropped.
pub struct Lazyfs {
    bin: PathBuf,
    mount: PathBuf,
    backing: PathBuf,
    control: PathBuf,
    child: Option<Child>,
}

impl Lazyfs {
    /// Mounts lazyfs on `mount` over `backing` (both existing directories).
    pub fn mount(bin: &Path, mount: &Path, backing: &Path) -> Lazyfs {
        let control = backing.with_extension("lazyfs.sock");
        let _ = std::fs::remove_file(&control);
        let child = Command::new(bin)
            .arg(mount)
            .arg("--backing")
            .arg(backing)
            .arg("--control")
            .arg(&control)
            .arg("--on-exit")
            .arg("drop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting lazyfs");
        let fs = Lazyfs {
            bin: bin.to_owned(),
            mount: mount.to_owned(),
            backing: backing.to_owned(),
            control,
            child: Some(child),
        };
        let start = Instant::now();
        while !(fs.mounted() && fs.control.exists()) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "lazyfs did not mount on {} within 10 s",
                mount.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        fs
    }

    fn mounted(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let target = self.mount.display().to_string();
        mounts
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(target.as_str()))
    }

    fn ctl(&self, command: &str) -> String {
        let out = Command::new(&self.bin)
            .arg("ctl")
            .arg(&self.control)
            .arg(command)
            .output()
            .expect("running lazyfs ctl");
        let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(out.status.success(), "lazyfs {command} failed: {said}");
        said
    }

    /// The power goes: everything not fsynced is gone.
    pub fn cut_power(&self) {
        self.ctl("clear-cache");
    }

    /// `cached_bytes=… dirty_pages=… fsyncs=… clears=…`.
    pub fn stats(&self) -> String {
        self.ctl("stats")
    }

    /// Unmounts and waits for lazyfs to exit.
    pub fn unmount(mut self) {
        self.stop();
    }

    /// Unmounts, then mounts again over the same backing directory: the box boots.
    pub fn remount(self) -> Lazyfs {
        let (bin, mount, backing) = (self.bin.clone(), self.mount.clone(), self.backing.clone());
        self.unmount();
        Lazyfs::mount(&bin, &mount, &backing)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg(&self.mount)
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Lazyfs {
    fn drop(&mut self) {
        self.stop();
    }
}
