//! The clock: synchronised (timedatectl, else systemd-timesyncd's flag file, else chronyc; or
//! "unknown", said as such), not absurdly early, and in line with the `Date` of the
//! receivers that answered the sinks' probes.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{human, Finding};

/// Whether the clock is synchronised, as this box can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sync {
    /// Synchronised, by this source.
    Yes(&'static str),
    /// Not synchronised, by this source.
    No(&'static str),
    /// Nothing here could tell.
    Unknown,
}

/// A receiver's `Date` and this box's clock when its answer came.
pub(super) type ReceiverDate = (String, SystemTime, SystemTime);

/// Receivers' clocks further off than this are worth a warning.
const SKEW: Duration = Duration::from_secs(60);

/// The clock: synchronised (timedatectl, else systemd-timesyncd's flag file, else chronyc),
/// not absurdly early, and in line with the `Date` of the receivers that answered.
pub(super) async fn clock(receivers: &[ReceiverDate], timeout: Duration) -> Finding {
    clock_verdict(SystemTime::now(), sync_state(timeout).await, receivers)
}

async fn sync_state(timeout: Duration) -> Sync {
    let run = |program: &'static str, args: &'static [&'static str]| async move {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(timeout, cmd.output()).await {
            Ok(Ok(out)) if out.status.success() => {
                Some(String::from_utf8_lossy(&out.stdout).into_owned())
            }
            _ => None,
        }
    };
    let timedatectl = run(
        "timedatectl",
        &["show", "--property", "NTPSynchronized", "--value"],
    );
    if let Some(synced) = timedatectl.await.as_deref().and_then(parse_timedatectl) {
        return if synced {
            Sync::Yes("timedatectl")
        } else {
            Sync::No("timedatectl")
        };
    }
    if Path::new("/run/systemd/timesync/synchronized").exists() {
        return Sync::Yes("systemd-timesyncd");
    }
    match run("chronyc", &["-n", "tracking"])
        .await
        .as_deref()
        .and_then(parse_chronyc)
    {
        Some(true) => Sync::Yes("chronyc"),
        Some(false) => Sync::No("chronyc"),
        None => Sync::Unknown,
    }
}

/// `timedatectl show -p NTPSynchronized --value`: `yes` or `no`.
pub(super) fn parse_timedatectl(out: &str) -> Option<bool> {
    match out.trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// `chronyc tracking`: its `Leap status` is `Normal` (or an announced leap) when synchronised.
pub(super) fn parse_chronyc(out: &str) -> Option<bool> {
    let status = out
        .lines()
        .find_map(|l| l.strip_prefix("Leap status"))?
        .trim_start_matches([' ', ':'])
        .trim();
    Some(!status.eq_ignore_ascii_case("Not synchronised"))
}

/// Earliest plausible time (2025-01-01): a clock before it has never been set.
const EARLIEST: Duration = Duration::from_secs(1_735_689_600);

pub(super) fn clock_verdict(now: SystemTime, sync: Sync, receivers: &[ReceiverDate]) -> Finding {
    let subject = "clock";
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    if since_epoch < EARLIEST {
        return Finding::fail(
            subject,
            format!(
                "the clock says {}, before this dockgate was made: it has not been set",
                humantime::format_rfc3339_seconds(now)
            ),
            "set the time (NTP: timedatectl set-ntp true); event times and certificate checks depend on it",
        );
    }
    // The receiver furthest off; its Date has whole seconds, so up to a second is no news.
    let worst = receivers
        .iter()
        .map(|(name, theirs, ours)| {
            let off = match ours.duration_since(*theirs) {
                Ok(ahead) => ahead.as_secs_f64(),
                Err(behind) => -behind.duration().as_secs_f64(),
            };
            (name, off)
        })
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
    let receivers_say = worst.map(|(name, off)| {
        let side = if off >= 0.0 { "ahead of" } else { "behind" };
        (
            off.abs() > SKEW.as_secs_f64(),
            format!(
                "this clock is {} {side} the Date of sink {name}",
                human(Duration::from_secs(off.abs().round() as u64))
            ),
        )
    });
    let agree = match &receivers_say {
        Some((false, _)) => format!("; within {} of every sink that answered", human(SKEW)),
        _ => String::new(),
    };
    let ntp_fix = "enable NTP (timedatectl set-ntp true) and let the box reach a time server \
                   (UDP 123): event times come from this clock";
    match (sync, receivers_say) {
        (_, Some((true, skew))) => Finding::warn(
            subject,
            skew,
            "one of the two clocks is wrong: check this box's time source, or tell the receiver's owners",
        ),
        (Sync::Yes(source), _) => Finding::pass(subject, format!("synchronised ({source}){agree}")),
        (Sync::No(source), _) => Finding::warn(
            subject,
            format!("not synchronised ({source}){agree}"),
            ntp_fix,
        ),
        (Sync::Unknown, _) => Finding::warn(
            subject,
            format!(
                "synchronisation unknown: neither timedatectl, /run/systemd/timesync/synchronized nor chronyc could tell{agree}"
            ),
            ntp_fix,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doctor::Verdict;

    #[test]
    fn clock_sources_are_read_and_unknown_is_said() {
        assert_eq!(parse_timedatectl("yes\n"), Some(true));
        assert_eq!(parse_timedatectl("no\n"), Some(false));
        assert_eq!(parse_timedatectl(""), None);
        let chrony = "Reference ID    : C0A80001 (192.168.0.1)\nLeap status     : Normal\n";
        assert_eq!(parse_chronyc(chrony), Some(true));
        assert_eq!(
            parse_chronyc("Leap status     : Not synchronised\n"),
            Some(false)
        );
        assert_eq!(parse_chronyc("506 Cannot talk to daemon\n"), None);

        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let f = clock_verdict(now, Sync::Yes("timedatectl"), &[]);
        assert_eq!(f.verdict, Verdict::Pass);
        let f = clock_verdict(now, Sync::Unknown, &[]);
        assert_eq!(f.verdict, Verdict::Warn);
        assert!(f.detail.contains("unknown"), "{f:?}");
        let near = [("erp".to_owned(), now - Duration::from_secs(1), now)];
        let f = clock_verdict(now, Sync::Unknown, &near);
        assert!(f.detail.contains("within 1m of every sink"), "{f:?}");
        let far = [("erp".to_owned(), now + Duration::from_secs(600), now)];
        let f = clock_verdict(now, Sync::Yes("timedatectl"), &far);
        assert_eq!(f.verdict, Verdict::Warn);
        assert!(
            f.detail.contains("10m behind the Date of sink erp"),
            "{f:?}"
        );
        let never_set = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        assert_eq!(
            clock_verdict(never_set, Sync::No("timedatectl"), &[]).verdict,
            Verdict::Fail
        );
    }
}
