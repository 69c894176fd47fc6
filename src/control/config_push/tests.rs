//! Configuration changes without a broker or a daemon: the checks of a push, a reload and a
//! rollback, what they record in the data directory, and what runs at start. The apply step is
//! a stand-in that answers as told.

use std::io::Cursor;

use super::*;

struct Site {
    dir: tempfile::TempDir,
    key: minisign::SecretKey,
    other_key: minisign::SecretKey,
    changes: ConfigChanges,
    /// Refuse the next apply with this reason.
    fail_apply: Arc<std::sync::Mutex<Option<String>>>,
    applied: Arc<std::sync::Mutex<Vec<(u64, String)>>>,
}

fn text(dir: &Path, version: u64, extra: &str) -> String {
    format!(
        "version = {version}\n[site]\nid = \"wh-test\"\ndata_dir = \"{data}\"\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n\
         [config_push]\npublic_key_file = \"{keys}\"\n{extra}",
        data = dir.join("data").display(),
        keys = dir.join("push.pub").display(),
    )
}

fn sign(key: &minisign::SecretKey, text: &str) -> String {
    minisign::sign(None, key, Cursor::new(text.as_bytes()), None, None)
        .unwrap()
        .into_string()
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        std::fs::write(
            dir.path().join("push.pub"),
            kp.pk.to_box().unwrap().into_string(),
        )
        .unwrap();
        let local = text(dir.path(), 1, "");
        std::fs::write(dir.path().join("dockgate.toml"), &local).unwrap();
        let config = Arc::new(Config::parse(&local).unwrap());
        let (apply, mut requests) = mpsc::channel::<ApplyRequest>(1);
        let fail_apply = Arc::new(std::sync::Mutex::new(None::<String>));
        let applied = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (fail, seen) = (fail_apply.clone(), applied.clone());
        tokio::spawn(async move {
            while let Some(r) = requests.recv().await {
                let answer = match fail.lock().unwrap().take() {
                    Some(why) => Err(why),
                    None => {
                        seen.lock()
                            .unwrap()
                            .push((r.config.version, r.origin.clone()));
                        Ok(())
                    }
                };
                let _ = r.reply.send(answer);
            }
        });
        let (_, status) = watch::channel(None);
        let changes = ConfigChanges::new(
            config,
            local,
            dir.path().join("dockgate.toml"),
            true,
            apply,
            status,
        )
        .unwrap();
        Self {
            dir,
            key: kp.sk,
            other_key: other.sk,
            changes,
            fail_apply,
            applied,
        }
    }

    fn text(&self, version: u64, extra: &str) -> String {
        text(self.dir.path(), version, extra)
    }

    async fn push_signed(
        &mut self,
        config: &str,
        signature: String,
        retained: bool,
    ) -> Option<ChangeStatus> {
        let payload = serde_json::to_vec(&PushMessage {
            config: config.to_owned(),
            signature,
        })
        .unwrap();
        self.push_raw(payload, retained).await
    }

    async fn push_raw(&mut self, payload: Vec<u8>, retained: bool) -> Option<ChangeStatus> {
        let (done, finished) = oneshot::channel();
        let message = ControlMessage {
            payload,
            retained,
            redelivered: false,
            done,
        };
        let status = self.changes.handle(Trigger::Push(message)).await;
        assert!(finished.await.is_ok(), "the message is always done with");
        status
    }

    async fn push(&mut self, config: &str) -> ChangeStatus {
        let signature = sign(&self.key, config);
        self.push_signed(config, signature, false)
            .await
            .expect("an outcome")
    }

    fn history(&self) -> History {
        History::open(&self.dir.path().join("data")).unwrap()
    }
}

#[track_caller]
fn rejected(status: &ChangeStatus, why: &str) {
    assert_eq!(status.status, "rejected", "{status:?}");
    let error = status.error.as_deref().unwrap_or_default();
    assert!(error.contains(why), "{error:?} does not say {why:?}");
}

#[tokio::test]
async fn a_signed_push_is_applied_recorded_and_reported() {
    let mut site = Site::new();
    let v2 = site.text(2, "[admin]\nlisten = \"127.0.0.1:9999\"\n");
    let status = site.push(&v2).await;
    assert_eq!(status.status, "applied", "{status:?}");
    assert_eq!((status.version, status.origin.as_str()), (Some(2), "push"));
    assert_eq!(site.changes.running.version, 2);
    let applied = site.applied.lock().unwrap().clone();
    assert_eq!(applied.len(), 1);
    assert!(
        applied[0].1.starts_with("push signed by key "),
        "{applied:?}"
    );
    let newest = site.history().newest().cloned().unwrap();
    assert_eq!((newest.version, newest.source), (2, Source::Push));
    assert_eq!(newest.config, v2, "the exact text is kept");
}

#[tokio::test]
async fn every_kind_of_bad_push_is_refused_with_its_reason_and_changes_nothing() {
    let mut site = Site::new();
    let v2 = site.text(2, "");
    // Signed, then changed.
    let tampered = site
        .push_signed(&site.text(3, ""), sign(&site.key, &v2), false)
        .await
        .unwrap();
    rejected(&tampered, "bad signature");
    let other = sign(&site.other_key, &v2);
    rejected(
        &site.push_signed(&v2, other, false).await.unwrap(),
        "not among the trusted keys",
    );
    rejected(
        &site
            .push_raw(b"{\"config\": 1}".to_vec(), false)
            .await
            .unwrap(),
        "not a configuration push",
    );
    let other_site = v2.replace("wh-test", "wh-other");
    rejected(&site.push(&other_site).await, "for site \"wh-other\"");
    rejected(&site.push(&site.text(1, "# edited\n")).await, "not above 1");
    rejected(&site.push(&site.text(0, "")).await, "not above 1");
    rejected(
        &site
            .push(&site.text(2, "[buffer]\nsync = \"sometimes\"\n"))
            .await,
        "invalid configuration: line",
    );
    rejected(
        &site
            .push(&site.text(2, "[buffer]\nmax_disk = \"1KiB\"\n"))
            .await,
        "key `buffer.max_disk`",
    );
    let moved = site.text(2, "").replace("/data\"", "/elsewhere\"");
    rejected(&site.push(&moved).await, "site.data_dir cannot be changed");
    let keys = site.text(2, "").replace("push.pub", "other.pub");
    rejected(&site.push(&keys).await, "config_push cannot be changed");
    *site.fail_apply.lock().unwrap() = Some("sink erp: cannot read /x.token".into());
    rejected(&site.push(&v2).await, "not applied: sink erp: cannot read");
    assert_eq!(site.changes.running.version, 1, "nothing changed");
    assert!(site.applied.lock().unwrap().is_empty());
    assert!(site.history().newest().is_none(), "nothing recorded");
}

#[tokio::test]
async fn a_configuration_applied_before_is_no_news_however_it_comes_again() {
    let mut site = Site::new();
    let v2 = site.text(2, "");
    assert_eq!(site.push(&v2).await.status, "applied");
    // Published again, sent again at a new session, or forwarded again by a bridge: nothing
    // applied a second time, nothing reported over the status of what runs.
    let signature = sign(&site.key, &v2);
    assert_eq!(site.push_signed(&v2, signature.clone(), false).await, None);
    assert_eq!(site.push_signed(&v2, signature, true).await, None);
    assert_eq!(site.applied.lock().unwrap().len(), 1, "applied once");
    // Unsigned, it is still refused, however it looks.
    let forged = site
        .push_signed(&v2, sign(&site.other_key, &v2), false)
        .await
        .unwrap();
    rejected(&forged, "not among the trusted keys");
    assert_eq!(forged.running, 2, "a refusal says what runs");
}

#[tokio::test]
async fn a_push_refused_for_good_is_no_news_when_it_comes_again_but_a_fixable_one_is_retried() {
    let mut site = Site::new();
    let old = site.text(0, "# never above 1\n");
    let signature = sign(&site.key, &old);
    rejected(
        &site
            .push_signed(&old, signature.clone(), true)
            .await
            .unwrap(),
        "not above 1",
    );
    // The broker sends the retained copy again at the next session: already decided.
    assert_eq!(site.push_signed(&old, signature.clone(), true).await, None);
    assert!(site.history().refused_before(&hex(&Sha256::digest(
        serde_json::to_vec(&PushMessage {
            config: old.clone(),
            signature
        })
        .unwrap()
    ))));
    // An unknown key may be trusted after a reload, and a sink's file may be put on the box:
    // those are checked again at every copy.
    let stranger = sign(&site.other_key, &site.text(2, ""));
    for _ in 0..2 {
        let status = site
            .push_signed(&site.text(2, ""), stranger.clone(), true)
            .await
            .unwrap();
        rejected(&status, "not among the trusted keys");
    }
    let v3 = site.text(3, "");
    *site.fail_apply.lock().unwrap() =
        Some("sink crm: auth.bearer_token_file /run/crm.token: cannot be read".into());
    rejected(&site.push(&v3).await, "not applied: sink crm");
    assert_eq!(site.push(&v3).await.status, "applied");
}

#[tokio::test]
async fn sighup_reads_the_local_file_with_the_same_checks() {
    let mut site = Site::new();
    let path = site.dir.path().join("dockgate.toml");
    assert_eq!(
        site.changes.handle(Trigger::Reload).await,
        None,
        "unchanged file"
    );
    // Refused with the reason, which is logged but not reported over the status of what runs.
    std::fs::write(&path, site.text(1, "# an edit without a new version\n")).unwrap();
    rejected(&site.changes.reload().await.unwrap(), "raise version");
    assert_eq!(site.changes.handle(Trigger::Reload).await, None);
    std::fs::write(&path, "version = 5\n[site]\n").unwrap();
    rejected(
        &site.changes.reload().await.unwrap(),
        "invalid configuration",
    );
    assert_eq!(site.changes.running.version, 1);
    std::fs::write(&path, site.text(5, "")).unwrap();
    let status = site.changes.handle(Trigger::Reload).await.unwrap();
    assert_eq!(
        (status.status.as_str(), status.version),
        ("applied", Some(5))
    );
    assert_eq!(status.origin, "local");
    // A push must now go above 5.
    rejected(&site.push(&site.text(4, "")).await, "not above 5");
}

#[tokio::test]
async fn a_rollback_returns_to_the_version_before_and_a_replay_stays_refused() {
    let mut site = Site::new();
    let v2 = site.text(2, "# two\n");
    let v3 = site.text(3, "# three\n");
    site.push(&v2).await;
    site.push(&v3).await;
    let (reply, answer) = oneshot::channel();
    let status = site.changes.handle(Trigger::Rollback(reply)).await.unwrap();
    let rolled = answer.await.unwrap().unwrap();
    assert_eq!((rolled.from, rolled.to), (3, 2));
    assert_eq!(
        (status.version, status.origin.as_str()),
        (Some(2), "rollback")
    );
    assert_eq!(site.changes.running_text, v2);
    // Version 3 again, as the broker still holds it: no news, and 2 still runs.
    assert_eq!(
        site.push_signed(&v3, sign(&site.key, &v3), true).await,
        None
    );
    assert_eq!(site.changes.running_text, v2);
    // Something else as 3 is refused.
    rejected(
        &site.push(&site.text(3, "# another three\n")).await,
        "not above 3",
    );
    // Nothing older than version 2 is kept (the start's local file was never recorded).
    let (reply, answer) = oneshot::channel();
    assert_eq!(site.changes.handle(Trigger::Rollback(reply)).await, None);
    let refused = answer.await.unwrap().unwrap_err();
    assert!(
        refused.contains("no configuration older than version 2"),
        "{refused}"
    );
    // A restart keeps the rollback: the last change applied runs, not the highest version,
    // also when the local file holds the version rolled back from.
    let local = site.dir.path().join("dockgate.toml");
    let (restart, _) = startup(&local).unwrap();
    assert_eq!(restart.config.version, 2);
    assert!(restart.origin.contains("rollback"), "{}", restart.origin);
    std::fs::write(&local, &v3).unwrap();
    assert_eq!(startup(&local).unwrap().0.config.version, 2);
    // A local file above every version applied is a new change: it runs.
    std::fs::write(&local, site.text(4, "")).unwrap();
    let (restart, _) = startup(&local).unwrap();
    assert_eq!(restart.config.version, 4);
    assert!(
        restart.origin.starts_with("local file"),
        "{}",
        restart.origin
    );
}

#[tokio::test]
async fn at_start_the_newest_of_the_local_file_and_the_last_change_runs() {
    let mut site = Site::new();
    let local = site.dir.path().join("dockgate.toml");
    let (startup_1, _) = startup(&local).unwrap();
    assert_eq!(startup_1.config.version, 1);
    assert!(startup_1.origin.starts_with("local file"));
    site.push(&site.text(4, "")).await;
    let (s, problem) = startup(&local).unwrap();
    assert_eq!(s.config.version, 4);
    assert!(s.origin.starts_with("push signed by key"), "{}", s.origin);
    assert!(problem.is_none());
    // A newer local file wins.
    std::fs::write(&local, site.text(7, "")).unwrap();
    assert_eq!(startup(&local).unwrap().0.config.version, 7);
    // A broken local file: the last applied one runs, and the problem is told.
    std::fs::write(&local, site.text(8, "[buffer]\nsync = 3\n")).unwrap();
    let (s, problem) = startup(&local).unwrap();
    assert_eq!(s.config.version, 4);
    assert!(problem.is_some());
    assert!(s.origin.contains("the local file is unusable"));
}
