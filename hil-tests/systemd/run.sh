#!/usr/bin/env bash
# The Debian package under a real systemd.
#
# Builds the .deb with cargo-deb (the release build in target/release), runs lintian on it,
# then boots a minimal Debian 12 with systemd as PID 1 in systemd-nspawn, installs the package
# there and checks what the unit promises against that systemd: first install, start with
# Type=notify readiness after the buffer's recovery, reload, the watchdog, the journal's
# fields, a sink token given as a LoadCredential=, serial ports and the state directory inside
# the sandbox, a start that fails (its reason at error priority), upgrade and purge.
#
#   hil-tests/systemd/run.sh            (as root; .ci/run runs it after the main suite)
#
# The Debian tree is made once with debootstrap from the machine's Debian mirror and kept in
# $DOCKGATE_SYSTEMD_CACHE (default /var/cache/dockgate-hil), keyed by what goes into it; each
# run boots it read-only under a throwaway overlay, so the cache stays clean. A first run takes
# about 2 minutes more for debootstrap (done while cargo builds).
#
# Where the machine forbids booting a container (not root, no cgroup hierarchy, namespaces
# refused) it prints SKIPPED with the reason and exits 0; every other problem exits 1.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

SUITE=bookworm
# systemd and dbus make the booted system; adduser and procps are the package's Depends
# besides libc6, so `dpkg -i` finds them installed (the container has no network).
INCLUDE=systemd,dbus,adduser,procps
CACHE=${DOCKGATE_SYSTEMD_CACHE:-/var/cache/dockgate-hil}

started=$SECONDS
say() { printf '%s\n' "systemd test [$((SECONDS - started))s]: $*"; }
ok() { printf '  ok    %s\n' "$*"; }
note() { printf '  note  %s\n' "$*"; }
skip() {
  say "SKIPPED: $*"
  exit 0
}
leader=""
fail() {
  trap - ERR
  printf '  FAIL  %s\n' "$*" >&2
  # Inside a command substitution: the message only; the caller fails in turn.
  [ "$BASH_SUBSHELL" -eq 0 ] || exit 1
  if [ -n "$leader" ]; then
    echo "--- journal of dockgate.service in the container (last 60 lines) ---" >&2
    ct journalctl -u dockgate --no-pager -n 60 -o short-precise >&2 || true
    echo "--- failed units ---" >&2
    ct systemctl --failed --no-pager >&2 || true
  fi
  say "FAILED" >&2
  exit 1
}
# Any command that fails where no check expects it fails the test, saying where.
trap 'fail "unexpected failure (status $?) at line $LINENO: $BASH_COMMAND"' ERR

need_root_tools() {
  # tool:package pairs this test runs on the host.
  local need=() pair
  for pair in systemd-nspawn:systemd-container debootstrap:debootstrap lintian:lintian \
      socat:socat python3:python3 nsenter:util-linux; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || fail "missing ${need[*]} and no apt-get to install them"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# --- What the machine allows ----------------------------------------------------------------
[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and systemd-nspawn); run it as root"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  cgroups=unified
elif [ -d /sys/fs/cgroup/unified ] || [ -d /sys/fs/cgroup/systemd ]; then
  cgroups=hybrid
else
  skip "no cgroup hierarchy mounted under /sys/fs/cgroup; systemd-nspawn cannot boot a container"
fi
need_root_tools
PATH=$PATH:/usr/sbin:/sbin

# --- The Debian tree (in the background while cargo builds) ---------------------------------
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # The machine's own Debian mirror: the first archive (not security) URI it is configured with.
  mirror=$( (grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
             grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}') |
           grep -v security | grep '/debian/\?$' | sed -n 1p || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
key=$(printf '%s\n' "$SUITE" minbase "$INCLUDE" "$mirror" | sha256sum | cut -c1-12)
root=$CACHE/$SUITE-$key
mkdir -p "$CACHE"
work=$(mktemp -d /tmp/dockgate-systemd.XXXXXX)
bootstrap_pid=""
if [ ! -e "$root/.complete" ]; then
  say "making the $SUITE tree in $root (debootstrap from $mirror, in the background)"
  (
    exec 9>"$CACHE/.lock"
    flock 9
    [ -e "$root/.complete" ] && exit 0
    rm -rf "$root.partial"
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root.partial" "$mirror"
    rm -rf "$root"
    touch "$root.partial/.complete"
    mv "$root.partial" "$root"
  ) >"$work/debootstrap.log" 2>&1 &
  bootstrap_pid=$!
fi

nspawn_pid=""
socat_pid=""
crm_pid=""
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # The first SIGTERM asks the container's systemd to power off, a second one ends it.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  [ -z "$socat_pid" ] || kill "$socat_pid" 2>/dev/null || true
  [ -z "$crm_pid" ] || kill "$crm_pid" 2>/dev/null || true
  [ -z "$bootstrap_pid" ] || kill "$bootstrap_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- The package ------------------------------------------------------------------------------
if ! cargo deb --version >/dev/null 2>&1; then
  say "installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi
say "building the package (cargo deb: release build in target/release)"
deb=$(cargo deb --locked 2>"$work/cargo-deb.log" | tail -n 1) || {
  cat "$work/cargo-deb.log" >&2
  fail "cargo deb failed"
}
[ -f "$deb" ] || fail "cargo deb named no package (got '$deb')"
version=$(dpkg-deb -f "$deb" Version)
ok "built $(basename "$deb") ($(du -h "$deb" | cut -f1), at ${SECONDS}s): Depends: $(dpkg-deb -f "$deb" Depends)"
synopsis=$(dpkg-deb -f "$deb" Description | sed -n 1p)
[ ${#synopsis} -le 80 ] || fail "the package synopsis is ${#synopsis} characters (at most 80): $synopsis"

lintian_out=$(lintian --fail-on error --display-info --show-overrides "$deb" 2>&1) ||
  { printf '%s\n' "$lintian_out" >&2; fail "lintian reports errors"; }
ok "lintian: no errors; what it says:"
printf '%s\n' "$lintian_out" | grep -v 'running with root privileges' | sed 's/^/          /'

# The upgrade below installs the same build again under a higher version.
mkdir -p "$work/pkg"
cp "$deb" "$work/pkg/dockgate.deb"
cargo deb --no-build --fast --deb-version "$version+hil1" -o "$work/pkg/dockgate-upgrade.deb" \
  >/dev/null 2>"$work/cargo-deb.log" || { cat "$work/cargo-deb.log" >&2; fail "cargo deb (upgrade package) failed"; }

if [ -n "$bootstrap_pid" ]; then
  wait "$bootstrap_pid" || { bootstrap_pid=""; tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
  bootstrap_pid=""
  say "the $SUITE tree is made"
fi
[ -e "$root/.complete" ] || fail "no $SUITE tree in $root"

# --- Booting --------------------------------------------------------------------------------
nspawn=(systemd-nspawn --quiet --directory="$root" --volatile=overlay --register=no
  --private-network)
# Without a systemd on the host there is no one to make a scope for the container: it stays in
# this process's cgroup.
[ -d /run/systemd/system ] || nspawn+=(--keep-unit)
# systemd-nspawn's own seccomp filter refuses bpf(), which systemd in the container needs for
# DevicePolicy= on cgroup v2: without this the unit's device policy silently does nothing,
# unlike on a real box.
nspawn+=(--system-call-filter=bpf)
# A Debian 12 box boots with cgroup v2 only; on a hybrid host the container gets the same.
[ "$cgroups" = unified ] || export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1

if ! probe=$("${nspawn[@]}" /bin/true 2>&1 </dev/null); then
  skip "systemd-nspawn cannot run a container here: $probe"
fi

# The serial scanner: a pty pair, one end bound into the container as /dev/ttyUSB0, the other
# end written here. udev gives real serial ports root:dialout 0660; the pty gets the same.
socat pty,raw,echo=0,link="$work/scanner" pty,raw,echo=0,link="$work/port" 2>"$work/socat.log" &
socat_pid=$!
for _ in $(seq 1 50); do [ -e "$work/port" ] && [ -e "$work/scanner" ] && break; sleep 0.1; done
pty=$(readlink -f "$work/port")
[ -c "$pty" ] || fail "socat made no pty pair: $(cat "$work/socat.log")"
chgrp dialout "$pty" 2>/dev/null || chgrp 20 "$pty"
chmod 0660 "$pty"

"${nspawn[@]}" --boot --machine="dockgate-hil-$$" --console=passive \
  --bind-ro="$work/pkg:/srv/pkg" --bind="$pty:/dev/ttyUSB0" </dev/null >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 1 100); do
  leader=$(pgrep -P "$nspawn_pid" | sed -n 1p || true)
  [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ] && break
  leader=""
  kill -0 "$nspawn_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$leader" ] || fail "the container did not start: $(cat "$work/nspawn.log")"

# A command inside the container (all its namespaces), with a clean environment.
ct() {
  nsenter --target "$leader" --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    SYSTEMD_PAGER= SYSTEMD_COLORS=0 DEBIAN_FRONTEND=noninteractive "$@"
}
# `http METHOD PATH [BODY]` to the admin API inside the container (private network; bash's
# /dev/tcp, the tree has no curl): the status line, headers and body.
http() {
  ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/8686 || exit 1
    if [ $# -ge 3 ]; then
      printf "%s %s HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" "$1" "$2" "${#3}" "$3" >&3
    else
      printf "%s %s HTTP/1.0\r\n\r\n" "$1" "$2" >&3
    fi
    cat <&3' http "$@"
}
http_code() { { http "$@" 2>/dev/null || true; } | sed -n 1p | cut -d' ' -f2; }
# `json EXPR` evaluates EXPR on the JSON read from stdin, bound to `d`.
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
prop() { ct systemctl show -P "$1" dockgate; }
# `equals TEXT COMMAND...`: whether COMMAND prints TEXT (for wait_until).
equals() {
  local want=$1
  shift
  [ "$("$@" 2>/dev/null)" = "$want" ]
}
# `wait_until SECONDS WHAT COMMAND...`: runs COMMAND until it succeeds, or fails naming WHAT.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "waited ${limit}s: $what"
    sleep 0.2
  done
}

wait_until 30 "the container's systemd listening" ct test -S /run/systemd/private
state=$(ct timeout 60 systemctl is-system-running --wait 2>&1 || true)
case "$state" in
  running) ok "container booted: systemd $(ct systemctl --version | sed -n 1p | cut -d' ' -f2) as PID 1, state running" ;;
  degraded) note "container booted degraded; failed units: $(ct systemctl --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')" ;;
  *) fail "the container's systemd did not finish booting: $state" ;;
esac
# Whether the container's systemd can enforce DevicePolicy= at all (BPF device programs).
if ct systemd-run --quiet --wait --pipe --collect -p DevicePolicy=strict head -c 1 /dev/zero >/dev/null 2>&1; then
  devices_enforced=no
  note "this container's systemd does not enforce DevicePolicy=; the device checks below cannot tell"
else
  devices_enforced=yes
fi

# --- First install ----------------------------------------------------------------------------
out=$(ct dpkg -i /srv/pkg/dockgate.deb 2>&1) || { printf '%s\n' "$out" >&2; fail "dpkg -i failed"; }
printf '%s\n' "$out" | grep -q 'then run: systemctl start dockgate' || fail "postinst did not say how to start: $out"
ok "dpkg -i $(basename "$deb"): installed, dependencies satisfied"
passwd=$(ct getent passwd dockgate) || fail "no dockgate account"
[[ $passwd == *:/var/lib/dockgate:/usr/sbin/nologin ]] || fail "dockgate account: $passwd"
ok "account: $passwd"
dir=$(ct stat -c '%a %U:%G' /var/lib/dockgate)
[ "$dir" = "700 dockgate:dockgate" ] || fail "/var/lib/dockgate is $dir"
ok "/var/lib/dockgate: mode $dir"
[ "$(ct systemctl is-enabled dockgate)" = enabled ] || fail "unit not enabled"
[ "$(ct systemctl is-active dockgate || true)" = inactive ] || fail "a first install started the daemon"
ok "unit enabled for boot, not started by the first install"
conffiles=$(ct dpkg-query -W -f='${Conffiles}' dockgate)
[[ $conffiles == *"/etc/dockgate/dockgate.toml "* ]] || fail "dockgate.toml is no conffile: $conffiles"
ok "conffile:$conffiles"
verify=$(ct systemd-analyze verify /lib/systemd/system/dockgate.service 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify complains: $verify"
ok "systemd-analyze verify: no complaint; $(ct systemd-analyze security dockgate.service --no-pager 2>&1 | tail -n 1 | sed 's/^→ //')"
ct grep -qx 'WatchdogSec=30s' /lib/systemd/system/dockgate.service || fail "the shipped unit has no WatchdogSec=30s"
ok "unit as shipped: WatchdogSec=30s, Type=$(prop Type), DevicePolicy=$(prop DevicePolicy), $(ct systemctl show -p DeviceAllow dockgate | tr '\n' ' ')"

# --- Configure, with a buffer written by an older dockgate ------------------------------------
# The buffer: the upgrade test's layout-3 fixture, which this dockgate migrates before it may
# report READY=1; its events are pending for sinks that do not answer (nothing listens in the
# container's network).
ct sh -c 'cat > /var/lib/dockgate/buffer.sqlite && chown dockgate:dockgate /var/lib/dockgate/buffer.sqlite && chmod 0600 /var/lib/dockgate/buffer.sqlite' \
  <"$repo/hil-tests/fixtures/buffer-layout-3.sqlite"
# Two more ports, made inside the container: a USB serial adapter (ttyUSB, major 188) and an
# on-board serial port (ttyS, major 4). Neither has hardware behind it: when the device policy
# admits them, opening fails in the driver (ENXIO/EIO); when it does not, with EPERM.
ct sh -c 'mknod -m 0660 /dev/ttyUSB1 c 188 1 && mknod -m 0660 /dev/ttyS1 c 4 65 && chgrp dialout /dev/ttyUSB1 /dev/ttyS1'
config() {
  cat <<EOF
# /etc/dockgate/dockgate.toml as the systemd test edits it (the conffile, changed locally).
version = $1
[site]
id = "wh-hil"
data_dir = "/var/lib/dockgate"
[sinks.erp]
url = "http://127.0.0.1:9/events"
retry_initial = "200ms"
retry_max = "2s"
[sinks.crm]
url = "http://127.0.0.1:8702/crm"
events = ["shipment.*"]
batch_max_events = 10
[sinks.crm.auth]
# The token as a systemd credential (LoadCredential= in the test drop-in): the file in
# /etc/dockgate is root's alone, the service reads systemd's copy.
bearer_token_file = "/run/credentials/dockgate.service/crm.token"
[devices.pick-01]
source = "http"
station = "pick"
session_idle = "36500d"
[devices.scanner-01]
source = "serial"
station = "pick"
path = "/dev/ttyUSB0"
[devices.usb-01]
source = "serial"
station = "pick"
path = "/dev/ttyUSB1"
[devices.onboard-01]
source = "serial"
station = "pick"
path = "/dev/ttyS1"
EOF
}
config 2 | ct sh -c 'cat > /etc/dockgate/dockgate.toml'
# Test only: the watchdog and restart delay shortened, so a wedged daemon is restarted in
# seconds rather than 35 s; everything else is the unit as shipped.
ct sh -c 'mkdir -p /etc/systemd/system/dockgate.service.d && printf "[Service]\nWatchdogSec=5s\nRestartSec=1s\n" > /etc/systemd/system/dockgate.service.d/hil-test.conf && systemctl daemon-reload'
note "test drop-in: WatchdogSec=5s, RestartSec=1s"
# The CRM's token handed over as packaging/README.md shows: a root-only file and a drop-in
# with LoadCredential=. The CRM stand-in runs in the container's network (the host's python3
# under nsenter --net) and notes the Authorization header of each POST.
token="hil-$RANDOM$RANDOM"
printf '%s\n' "$token" | ct sh -c 'umask 077 && cat > /etc/dockgate/crm.token'
ct sh -c 'printf "[Service]\nLoadCredential=crm.token:/etc/dockgate/crm.token\n" > /etc/systemd/system/dockgate.service.d/credentials.conf && systemctl daemon-reload'
cat >"$work/crm.py" <<'PY'
import http.server, sys
class Crm(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[1], "a") as seen:
            seen.write(self.headers.get("Authorization", "-") + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8702), Crm).serve_forever()
PY
nsenter --target "$leader" --net python3 "$work/crm.py" "$work/crm.seen" 2>"$work/crm.log" &
crm_pid=$!

# --- Start: READY only after recovery ---------------------------------------------------------
t0=$SECONDS
ct systemctl start dockgate || fail "systemctl start dockgate failed"
ready=$(http_code GET /ready)
[ "$ready" = 200 ] || fail "/ready answered '$ready' right after systemctl start returned"
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] || fail "after start: $(prop ActiveState)/$(prop SubState)"
pid1=$(prop MainPID)
[ "$(prop WatchdogUSec)" = 5s ] || fail "WatchdogUSec of the running unit is $(prop WatchdogUSec), not the drop-in's 5s"
ok "systemctl start returned after $((SECONDS - t0))s: active/running, MainPID $pid1, /ready 200 at once"
# The migration's journal entry comes before systemd saw READY=1 (same monotonic clock).
migrated_at=$(ct journalctl -u dockgate -o json --no-pager MESSAGE="Buffer brought up to this dockgate's layout." |
  tail -n 1 | json 'd["__MONOTONIC_TIMESTAMP"]') || fail "no migration entry in the journal"
active_at=$(prop ActiveEnterTimestampMonotonic)
[ "$active_at" -gt "$migrated_at" ] || fail "unit active at ${active_at}µs, buffer migrated at ${migrated_at}µs"
ok "READY=1 after recovery: buffer migrated at ${migrated_at}µs (monotonic), unit active at ${active_at}µs"
status_line=$(prop StatusText)
[[ $status_line == *"erp: "*" pending"* ]] || fail "STATUS= line: '$status_line'"
ok "STATUS= line: \"$status_line\""

# --- The sandbox: state directory, serial ports -----------------------------------------------
erp_pending() { ct dockgate status --json | json '[s["pending"] for s in d["sinks"] if s["name"] == "erp"][0]'; }
pending=$(erp_pending)
[ "$pending" = 6 ] || fail "the migrated buffer has $pending events pending for erp, not the fixture's 6"
code=$(http_code POST /api/v1/events '{"type":"pick.confirmed","subject":"SO-SYSTEMD","data":{"quantity":1}}')
[ "$code" = 202 ] || fail "POST /api/v1/events answered $code"
pending=$(erp_pending)
[ "$pending" = 7 ] || fail "after a 202, $pending events pending for erp"
owner=$(ct stat -c '%U %a' /var/lib/dockgate/buffer.sqlite /var/lib/dockgate/buffer.sqlite-wal | sort -u | tr '\n' ' ')
[ "$owner" = "dockgate 600 " ] || fail "buffer files: $owner"
ok "state directory written: the fixture's 6 events pending for erp, a POSTed one committed (202) makes $pending; buffer.sqlite and -wal owned by dockgate, mode 600"

# --- LoadCredential= ---------------------------------------------------------------------------
crm_delivered() { grep -q . "$work/crm.seen" 2>/dev/null; }
wait_until 20 "the CRM stand-in receiving the fixture's shipment events" crm_delivered
auth=$(sort -u "$work/crm.seen")
[ "$auth" = "Bearer $token" ] || fail "the CRM saw Authorization '$auth', not the credential's token"
mode=$(ct stat -c '%a %U' /etc/dockgate/crm.token)
[ "$mode" = "600 root" ] || fail "/etc/dockgate/crm.token is $mode"
! ct setpriv --reuid=dockgate --regid=dockgate --clear-groups cat /etc/dockgate/crm.token >/dev/null 2>&1 \
  || fail "the dockgate user can read /etc/dockgate/crm.token itself: the test proves nothing"
ok "LoadCredential=: /etc/dockgate/crm.token ($mode, unreadable to dockgate) reached the CRM as 'Authorization: Bearer …' from /run/credentials/dockgate.service/crm.token"

device() { ct dockgate status --json | json "[x for x in d['devices'] if x['id'] == '$1'][0]$2"; }
wait_until 10 "scanner-01 (/dev/ttyUSB0, a pty) up" equals True device scanner-01 "['up']"
printf 'SO-4711\r\n' >"$work/scanner"
printf 'A01-02-03\r\n' >"$work/scanner"
wait_until 10 "scanner-01 read two lines" equals 2 device scanner-01 "['inputs']"
ok "serial: scanner-01 on /dev/ttyUSB0 (a pty, char-pts, which DevicePolicy=closed always admits): up, 2 lines read"
# What the device policy does with real serial majors, which have no hardware here.
policy_check() { # device-id path /proc/devices-name
  local err
  wait_until 10 "$1 tried" equals True device "$1" "['last_error'] is not None"
  err=$(device "$1" "['last_error']")
  if [ "$devices_enforced" = no ]; then
    note "$1 ($2): $err"
  elif ct grep -qw "$3" /proc/devices; then
    [[ $err != *"Operation not permitted"* ]] || fail "$1 ($2) refused by the device policy although $3 is a registered driver: $err"
    ok "serial: $1 ($2) admitted by DeviceAllow=char-$3, fails only in the driver: $err"
  else
    [[ $err == *"Operation not permitted"* ]] || fail "$1 ($2): expected EPERM, no $3 driver was loaded when the unit started: $err"
    ok "serial: $1 ($2) refused (EPERM): no $3 driver in /proc/devices when the unit started, so DeviceAllow=char-$3 admits nothing"
  fi
}
policy_check usb-01 /dev/ttyUSB1 ttyUSB
policy_check onboard-01 /dev/ttyS1 ttyS

# --- Reload -----------------------------------------------------------------------------------
config 3 | ct sh -c 'cat > /etc/dockgate/dockgate.toml'
ct systemctl reload dockgate || fail "systemctl reload failed"
config_version() { ct dockgate status --json | json 'd["config_version"]'; }
wait_until 10 "config version 3 running" equals 3 config_version
[ "$(prop MainPID)" = "$pid1" ] || fail "reload changed MainPID $pid1 -> $(prop MainPID)"
[ "$(prop ActiveState)" = active ] || fail "after reload: $(prop ActiveState)"
applied=$(ct journalctl -u dockgate -o json --no-pager MESSAGE="Configuration applied." | tail -n 1 | json 'd["VERSION"]')
[ "$applied" = 3 ] || fail "journal: Configuration applied. VERSION=$applied"
ok "systemctl reload: same MainPID $pid1, still active, journal 'Configuration applied.' VERSION=3"

# --- Journal fields ---------------------------------------------------------------------------
sink_failure_logged() { ct journalctl -u dockgate --no-pager -o cat SINK=erp MESSAGE='Delivery failed; retrying.' | grep -q .; }
wait_until 20 "a delivery failure of sink erp in the journal" sink_failure_logged
ct journalctl -u dockgate -o json --no-pager >"$work/journal.json"
python3 - "$work/journal.json" <<'EOF' || fail "journal fields (above)"
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1])]
own = [e for e in entries if e.get("_TRANSPORT") == "journal" and e.get("SYSLOG_IDENTIFIER") == "dockgate"]
def one(message):
    for e in own:
        if e.get("MESSAGE") == message:
            return e
    sys.exit(f"no journal entry {message!r}")
def has(e, **want):
    for k, v in want.items():
        got = e.get(k)
        if got is None or (v is not None and got != v):
            sys.exit(f"{e.get('MESSAGE')!r}: {k}={got!r}, expected {v!r}; entry: {e}")
has(one("dockgate ready."), PRIORITY="5", TARGET="dockgate::app", CODE_FILE="src/app.rs",
    CODE_LINE=None, ADMIN="127.0.0.1:8686", SINKS="2", DEVICES="4")
failed = [e for e in own if e.get("MESSAGE") == "Delivery failed; retrying." and e.get("SINK") == "erp"][0]
has(failed, PRIORITY="4", SPAN_NAME="sink", SINK="erp", TARGET="dockgate::forward", ERROR=None, RETRY_IN=None)
opened = [e for e in own if e.get("MESSAGE") == "serial device opened"][0]
has(opened, SPAN_NAME="device", DEVICE="scanner-01", PATH="/dev/ttyUSB0")
prefixed = sorted({k for e in own for k in e if k.startswith("F_")})
if prefixed:
    sys.exit(f"fields with an F_ prefix: {prefixed}")
print(f"  ok    journal: {len(own)} entries of dockgate's own, no F_ prefix; one of them:")
for k, v in sorted(failed.items()):
    if not k.startswith("_"):
        print(f"          {k}={v}")
EOF

# --- Watchdog ---------------------------------------------------------------------------------
restarts=$(prop NRestarts)
ct kill -STOP "$pid1"
t0=$SECONDS
replaced() {
  local pid
  pid=$(prop MainPID)
  [ "$pid" != 0 ] && [ "$pid" != "$pid1" ] && ct systemctl is-active --quiet dockgate
}
wait_until 30 "a new daemon after the watchdog fired" replaced
pid2=$(prop MainPID)
ct journalctl -u dockgate --no-pager -o cat | grep -q "Watchdog timeout" || fail "no watchdog timeout in the journal"
[ "$(prop NRestarts)" -gt "$restarts" ] || fail "NRestarts stayed $restarts"
[ "$(http_code GET /ready)" = 200 ] || fail "/ready after the watchdog restart"
ok "watchdog: SIGSTOP of $pid1 -> 'Watchdog timeout', restarted as MainPID $pid2 within $((SECONDS - t0))s, NRestarts $(prop NRestarts), /ready 200"
# A pty stays exclusive (TIOCEXCL) after its holder was killed, while its other end is open, so
# scanner-01 is busy from here on; a real port is released with its last close.

# --- A start that fails ----------------------------------------------------------------------
# A sink whose token file is missing: the file is valid, so this version runs and fails to
# start (exit 1), which only stderr can tell; it must reach the journal at error priority.
{ config 4; printf '[sinks.audit]\nurl = "http://127.0.0.1:9/audit"\n[sinks.audit.auth]\nbearer_token_file = "/etc/dockgate/audit.token"\n'; } |
  ct sh -c 'cat > /etc/dockgate/dockgate.toml'
! ct systemctl restart dockgate 2>/dev/null || fail "dockgate started without the audit sink's token file"
start_error() { ct journalctl -u dockgate --no-pager -o cat -p err | grep 'audit.token'; }
wait_until 10 "why the start failed, in journalctl -p err" start_error
why=$(start_error | tail -n 1)
config 3 | ct sh -c 'cat > /etc/dockgate/dockgate.toml'
ct systemctl reset-failed dockgate
ct systemctl start dockgate || fail "dockgate did not start again with the corrected config"
wait_until 30 "dockgate ready again" equals 200 http_code GET /ready
pid2=$(prop MainPID)
ok "a start that fails (a token file missing): \`journalctl -p err\` says why: '$why'; started again once corrected"

# --- Upgrade ----------------------------------------------------------------------------------
ids_before=$(ct dockgate events --sink erp --state pending --json | json 'json.dumps(sorted(e["id"] for e in d))')
conf_before=$(ct sha256sum /etc/dockgate/dockgate.toml)
out=$(ct dpkg -i /srv/pkg/dockgate-upgrade.deb 2>&1 </dev/null) || { printf '%s\n' "$out" >&2; fail "upgrade failed"; }
[ "$(ct dpkg-query -W -f='${Version}' dockgate)" = "$version+hil1" ] || fail "upgrade installed $(ct dpkg-query -W -f='${Version}' dockgate)"
wait_until 30 "the upgraded daemon ready" equals 200 http_code GET /ready
pid3=$(prop MainPID)
[ "$pid3" != "$pid2" ] || fail "the upgrade did not restart the running daemon"
[ "$(ct sha256sum /etc/dockgate/dockgate.toml)" = "$conf_before" ] || fail "the upgrade changed the edited conffile"
leftovers=$(ct sh -c 'ls /etc/dockgate/*.dpkg-* 2>/dev/null' || true)
[ -z "$leftovers" ] || fail "the upgrade left $leftovers"
ids_after=$(ct dockgate events --sink erp --state pending --json | json 'json.dumps(sorted(e["id"] for e in d))')
[ "$ids_after" = "$ids_before" ] || fail "pending events changed over the upgrade: $ids_before -> $ids_after"
kept=$(printf '%s' "$ids_after" | json 'len(d)')
[ "$kept" = 7 ] || fail "$kept events pending for erp after the upgrade, not 7"
ok "upgrade $version -> $version+hil1: restarted (MainPID $pid2 -> $pid3), edited conffile kept, the $kept pending events kept with their ids"

# --- Purge ------------------------------------------------------------------------------------
out=$(ct dpkg --purge dockgate 2>&1) || { printf '%s\n' "$out" >&2; fail "dpkg --purge failed"; }
printf '%s\n' "$out" | grep -q '/var/lib/dockgate was kept' || fail "purge did not say the buffer was kept: $out"
ct journalctl -u dockgate --no-pager -o cat _PID="$pid3" | grep -q '^dockgate stopped.$' || fail "the daemon did not stop gracefully on removal"
! ct pgrep -x dockgate >/dev/null || fail "a dockgate process survived the purge"
for gone in /usr/bin/dockgate /lib/systemd/system/dockgate.service /etc/dockgate/dockgate.toml; do
  ! ct test -e "$gone" || fail "$gone is still there after purge"
done
# The operator's own file is not the package's: it stays, and with it the directory.
ct test -s /etc/dockgate/crm.token || fail "the purge removed the operator's /etc/dockgate/crm.token"
ct test -s /var/lib/dockgate/buffer.sqlite || fail "the purge removed the buffer"
ct getent passwd dockgate >/dev/null || fail "the purge removed the account"
ok "dpkg --purge: stopped gracefully ('dockgate stopped.'), binary, unit and dockgate.toml gone, the operator's crm.token kept; /var/lib/dockgate/buffer.sqlite and the account kept, as documented"

say "all checks passed ($((SECONDS - started))s)"
