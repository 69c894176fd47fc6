#!/usr/bin/env bash
# Builds dockgate for the ARM boxes with Debian's cross compilers (no docker), proves the
# result on this machine under qemu-user and packages it:
#
#   1. a release binary for each target; its `--version` runs under qemu;
#   2. the unit tests (`cargo test --lib`, test profile) built for the target and run under qemu;
#   3. the .deb (`cargo deb --no-build`), then checked: its Architecture, and the packaged
#      /usr/bin/dockgate is an ELF for the target's machine.
#
# Usage: packaging/cross/build.sh [--no-tests] [--skip-unfetchable] [TARGET...]
#   TARGET: aarch64-unknown-linux-gnu (arm64) and/or armv7-unknown-linux-gnueabihf (armhf);
#   both when none is given. --no-tests skips step 2. --skip-unfetchable (CI): where rustup
#   cannot download a target's standard library, say SKIPPED and go on instead of failing.
# Installs what is missing (Debian/Ubuntu; sudo when not root): the target's gcc and libc
# (gcc-<triple>, libc6-dev-<arch>-cross), qemu-user, the Rust target (rustup target add)
# and cargo-deb. Packages land in target/debian/. .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/../.."

tests=1
skip_unfetchable=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --no-tests) tests=0 ;;
    --skip-unfetchable) skip_unfetchable=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

# target -> GNU triple of its gcc and sysroot, Debian architecture, qemu-user binary, and what
# `readelf -h` says as Machine for it.
declare -A gnu=([aarch64-unknown-linux-gnu]=aarch64-linux-gnu [armv7-unknown-linux-gnueabihf]=arm-linux-gnueabihf)
declare -A debarch=([aarch64-unknown-linux-gnu]=arm64 [armv7-unknown-linux-gnueabihf]=armhf)
declare -A qemu=([aarch64-unknown-linux-gnu]=qemu-aarch64 [armv7-unknown-linux-gnueabihf]=qemu-arm)
declare -A machine=([aarch64-unknown-linux-gnu]=AArch64 [armv7-unknown-linux-gnueabihf]=ARM)

step() { printf '\n== %s (%ss so far)\n' "$*" "$SECONDS"; }

need=()
for t in "${targets[@]}"; do
  [ -n "${gnu[$t]:-}" ] || { echo "build.sh: unsupported target $t" >&2; exit 2; }
  command -v "${gnu[$t]}-gcc" >/dev/null || need+=("gcc-${gnu[$t]}")
  [ -e "/usr/${gnu[$t]}/lib/libc.so.6" ] || need+=("libc6-dev-${debarch[$t]}-cross")
  command -v "${qemu[$t]}" >/dev/null || need+=(qemu-user)
done
command -v readelf >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi
installed=$(rustup target list --installed)
available=()
for t in "${targets[@]}"; do
  if grep -qx "$t" <<<"$installed" || rustup target add "$t"; then
    available+=("$t")
  elif [ "$skip_unfetchable" -eq 1 ]; then
    echo "build.sh: SKIPPED $t: rustup could not download its standard library (is static.rust-lang.org reachable?)" >&2
  else
    echo "build.sh: rustup target add $t failed" >&2
    exit 1
  fi
done
[ ${#available[@]} -gt 0 ] || exit 0
targets=("${available[@]}")
if ! command -v cargo-deb >/dev/null; then
  step "installing cargo-deb"
  cargo install cargo-deb --locked
fi

for t in "${targets[@]}"; do
  triple=${gnu[$t]}
  var=$(tr 'a-z-' 'A-Z_' <<<"$t")
  # cargo links with the target's gcc and runs target binaries (tests) under qemu-user, which
  # finds the target's dynamic loader and glibc in the cross sysroot. The cc crate (SQLite,
  # ring) is told the compiler too rather than left to guess it.
  export "CARGO_TARGET_${var}_LINKER=${triple}-gcc"
  export "CARGO_TARGET_${var}_RUNNER=${qemu[$t]} -L /usr/${triple}"
  export "CC_${t//-/_}=${triple}-gcc"
  runner="${qemu[$t]} -L /usr/${triple}"

  step "$t: release build"
  cargo build --locked --release --target "$t"
  bin="target/$t/release/dockgate"
  version=$($runner "$bin" --version)
  echo "under ${qemu[$t]}: $version"
  case "$version" in
    "dockgate "*) ;;
    *) echo "build.sh: $bin --version said '$version'" >&2; exit 1 ;;
  esac

  if [ "$tests" -eq 1 ]; then
    step "$t: unit tests under ${qemu[$t]}"
    # qemu-user (7.2, Debian 12) does not translate the termios2 ioctls (TCGETS2/TCSETS2)
    # that serialport uses to set a baud rate: opening a pty fails with ENOSYS ("Function
    # not implemented") under emulation, never on a real ARM box. Only the tests that open a
    # serial port are skipped; the serial decoder tests run.
    # Without debug info: it makes most of a debug build's compile and link time, and a
    # failing test still names its file and line.
    CARGO_PROFILE_DEV_DEBUG=false CARGO_PROFILE_TEST_DEBUG=false \
      cargo test --locked --lib --target "$t" -- \
        --skip devices::serial::tests::cancel_stops_while_connected_and_while_gone \
        --skip devices::serial::tests::missing_port_at_startup_is_retried \
        --skip devices::serial::tests::sigkill_unplug_and_replug \
        --skip devices::serial::tests::sigterm_unplug_and_replug
  fi

  step "$t: package"
  cargo deb --target "$t" --no-build
  deb=$(ls -t target/debian/dockgate_*_"${debarch[$t]}".deb | head -n 1)
  dpkg-deb -I "$deb"
  dpkg-deb -c "$deb"
  arch=$(dpkg-deb -f "$deb" Architecture)
  [ "$arch" = "${debarch[$t]}" ] || { echo "build.sh: $deb has Architecture $arch" >&2; exit 1; }
  unpacked=$(mktemp -d)
  trap 'rm -rf "$unpacked"' EXIT
  dpkg-deb -x "$deb" "$unpacked"
  elf=$(readelf -h "$unpacked/usr/bin/dockgate")
  grep -Eq "Machine:[[:space:]]+${machine[$t]}\$" <<<"$elf" \
    || { echo "build.sh: $deb's /usr/bin/dockgate is not an ${machine[$t]} ELF:" >&2; echo "$elf" >&2; exit 1; }
  packaged=$($runner "$unpacked/usr/bin/dockgate" --version)
  [ "$packaged" = "$version" ] || { echo "build.sh: packaged binary says '$packaged'" >&2; exit 1; }
  rm -rf "$unpacked"
  trap - EXIT
  echo "$deb: Architecture $arch, /usr/bin/dockgate $(grep -E 'Class:|Machine:' <<<"$elf" | awk -F: '{gsub(/^ +/,"",$2); printf "%s ", $2}')runs: $packaged"
done
step "done"
