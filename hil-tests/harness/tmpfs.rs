//! A data directory on a tmpfs of a given size, so a test can fill the disk for real.

use std::path::Path;
use std::process::Command;

/// Mounts a tmpfs of `size` (`mount -o size=`) on `dir`.
pub(super) fn mount_tmpfs(dir: &Path, size: &str) -> Result<(), String> {
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .output()
        .map_err(|e| format!("running mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Resizes the tmpfs under `dir` (`mount -o remount,size=`).
pub fn resize_tmpfs(dir: &Path, size: &str) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,size={size}")])
        .arg(dir)
        .status()
        .expect("running mount");
    assert!(status.success(), "remounting {} failed", dir.display());
}

/// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, as on the CI machines);
/// why not, if it may not.
pub fn can_mount_tmpfs() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    mount_tmpfs(dir.path(), "64k")?;
    let _ = Command::new("umount").arg(dir.path()).status();
    Ok(())
}
