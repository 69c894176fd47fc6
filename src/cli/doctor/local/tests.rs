use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::cli::doctor::service::stranger;
use crate::cli::doctor::Verdict;

fn config(extra: &str) -> Config {
    Config::parse(&format!(
        "version = 1\n[site]\nid = \"wh\"\ndata_dir = \"/nonexistent/dg\"\n{extra}"
    ))
    .unwrap()
}

#[test]
fn every_file_the_daemon_reads_is_named_by_its_key() {
    let c = config(
        "[sinks.erp]\nurl = \"https://x/\"\n[sinks.erp.auth]\nbearer_token_file = \"/t\"\n\
         [sinks.erp.tls]\nca_file = \"/ca\"\n\
         [mqtt]\nurl = \"mqtt://b:1883\"\nca_file = \"/unused-ca\"\nusername = \"u\"\npassword_file = \"/pw\"\n",
    );
    let keys: Vec<String> = named_files(&c).into_iter().map(|(k, _)| k).collect();
    // The broker's CA is not read for mqtt://.
    assert_eq!(
        keys,
        [
            "sinks.erp.auth.bearer_token_file",
            "sinks.erp.tls.ca_file",
            "mqtt.password_file"
        ]
    );
}

#[test]
fn a_secret_the_service_user_cannot_read_fails_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = dir.path().join("erp.token");
    std::fs::write(&token, "t0ken\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = config(&format!(
        "[sinks.erp]\nurl = \"https://x/\"\n[sinks.erp.auth]\nbearer_token_file = {:?}\n\
         [sinks.crm]\nurl = \"https://y/\"\n[sinks.crm.auth]\nbearer_token_file = \"/nonexistent/crm.token\"\n",
        token.display().to_string()
    ));
    let found = files(&c, &stranger(None));
    assert_eq!(found.len(), 2, "{found:?}");
    let crm = &found[0];
    assert_eq!(crm.subject, "file sinks.crm.auth.bearer_token_file");
    assert_eq!(crm.verdict, Verdict::Fail);
    assert!(crm.detail.contains("does not exist"), "{crm:?}");
    let erp = &found[1];
    assert_eq!(erp.verdict, Verdict::Fail);
    assert!(erp.detail.contains("stranger cannot read"), "{erp:?}");
    assert!(erp.detail.contains("-rw-------"), "{erp:?}");
    assert!(
        erp.fix.as_deref().unwrap().contains("chmod 0640"),
        "{erp:?}"
    );
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = config(&format!(
        "[sinks.erp]\nurl = \"https://x/\"\n[sinks.erp.auth]\nbearer_token_file = {:?}\n",
        token.display().to_string()
    ));
    let found = files(&c, &stranger(None));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].verdict, Verdict::Pass, "{found:?}");
    assert!(found[0].detail.contains("the 1 files"), "{found:?}");
}

#[test]
fn the_data_dir_is_judged_for_the_service_user_and_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut c = config("");
    c.site.data_dir = data.clone();
    let found = data_dir(&c, &stranger(None));
    assert_eq!(found[0].verdict, Verdict::Fail, "{found:?}");
    assert!(found[0].detail.contains("stranger cannot use"), "{found:?}");
    assert!(found[0]
        .fix
        .as_deref()
        .unwrap()
        .contains("chown -R stranger:stranger"));
    // Open to all: the user may, and (as this test's user) a file is written and removed.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut me = stranger(None);
    me.me = nix::unistd::Uid::effective().as_raw();
    me.me_name = "me".into();
    let is_root = me.me == 0;
    let found = data_dir(&c, &me);
    assert_eq!(found[0].verdict, Verdict::Pass, "{found:?}");
    if is_root {
        assert!(
            found[0].detail.contains("written there and removed"),
            "{found:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "the probe file is gone"
    );
    assert_eq!(found[1].subject, "disk space");
    // Not there yet: made by the daemon in a directory the user may write.
    c.site.data_dir = data.join("sub");
    let found = data_dir(&c, &me);
    assert!(found[0].detail.contains("does not exist yet"), "{found:?}");
    assert_eq!(found[0].verdict, Verdict::Pass, "{found:?}");
    // The shipped unit's sandbox: only /var/lib/dockgate is writable.
    let unit = crate::cli::doctor::service::parse_show(
        "LoadState=loaded\nProtectSystem=strict\nStateDirectory=dockgate\n",
    );
    let found = data_dir(&c, &stranger(unit));
    assert_eq!(found[0].verdict, Verdict::Fail, "{found:?}");
    assert!(
        found[0]
            .detail
            .contains("ProtectSystem=strict leaves /var/lib/dockgate writable"),
        "{found:?}"
    );
    assert!(
        found[0].fix.as_deref().unwrap().contains("ReadWritePaths="),
        "{found:?}"
    );
}

#[test]
fn free_space_is_held_against_max_disk() {
    let dir = Path::new("/var/lib/dockgate");
    const GIB: u64 = 1 << 30;
    assert_eq!(
        space_verdict(dir, 10 * GIB, 0, 2 * GIB).verdict,
        Verdict::Pass
    );
    // What the buffer holds already counts as room.
    assert_eq!(
        space_verdict(dir, GIB, 3 * GIB / 2, 2 * GIB).verdict,
        Verdict::Pass
    );
    let short = space_verdict(dir, GIB, 0, 2 * GIB);
    assert_eq!(short.verdict, Verdict::Warn);
    assert!(
        short.detail.contains("buffer.max_disk is 2.0 GiB"),
        "{short:?}"
    );
    assert!(
        short
            .fix
            .as_deref()
            .unwrap()
            .contains("lower buffer.max_disk"),
        "{short:?}"
    );
    assert_eq!(
        space_verdict(dir, 1 << 20, 0, 2 * GIB).verdict,
        Verdict::Fail
    );
}
