#!/usr/bin/env bash
# Runs dockgate's whole test suite: unit tests beside the code and the end-to-end tests in
# hil-tests/ that drive the real binary against HTTP stand-ins. Installs what the tests need
# when it is missing (Debian/Ubuntu; uses sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

# tool:package pairs the end-to-end tests run (python3 and node run the reference receivers
# of docs/receivers/; the mosquitto package also brings mosquitto_passwd, which writes the TLS
# broker's password file; chromium looks at the status page, hil-tests/status_page.rs; tmux
# holds the terminal `dockgate demo` draws its live lines on; nats-server is the JetStream
# server of the NATS sink tests, hil-tests/nats.rs).
need=()
for pair in kill:procps mosquitto:mosquitto socat:socat minisign:minisign python3:python3 node:nodejs chromium:chromium tmux:tmux nats-server:nats-server; do
  # mosquitto and nats-server live in /usr/sbin, which is not in every user's PATH.
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need[@]}"
fi

# The power-loss test (hil-tests/power_loss.rs) needs lazyfs, a FUSE power-loss simulator kept
# beside the checkout on the development machines (LAZYFS_SRC); built once into
# /tmp/lazyfs-target. Without it, or without /dev/fuse, that test says SKIPPED and passes.
lazyfs_src="${LAZYFS_SRC:-../shared/tools/lazyfs}"
if [ -z "${DOCKGATE_LAZYFS:-}" ] && [ -x "$lazyfs_src/build" ] && [ -e /dev/fuse ]; then
  if bin=$("$lazyfs_src/build" | tail -n 1); then
    export DOCKGATE_LAZYFS="$bin"
  else
    echo "run.sh: building lazyfs failed; the power-loss test will be skipped" >&2
  fi
elif [ -z "${DOCKGATE_LAZYFS:-}" ]; then
  echo "run.sh: no lazyfs (LAZYFS_SRC=$lazyfs_src not found, or no /dev/fuse): the power-loss test will be skipped" >&2
fi

cargo test --locked "$@"
