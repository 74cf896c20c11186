#!/usr/bin/env bash
# Compiles the Swift package (ios/) with Swift 6 and complete strict-concurrency
# checking, and runs its XCTests, on Linux: inside a Debian trixie chroot
# (Debian's `swiftlang`, Swift 6.0.x), against the host-built Rust library
# and the reference server.
#
#   scripts/swift-test.sh                          # as root
#   SWIFT_TEST_SKIP_SETUP=1 scripts/swift-test.sh  # fail at once if the chroot is missing
#
# Environment: SWIFT_CHROOT (default /work/swift-chroot, outside the
# repository), DEBIAN_MIRROR (default: the host's apt mirror),
# SWIFT_TEST_TIMEOUT (seconds for `swift test`, default 900),
# SWIFT_TEST_FILTER (passed to `swift test --filter`).
#
# Steps: the chroot (debootstrap --variant=minbase trixie + swiftlang; about
# 3 minutes and 2.7 GB, once); the library, the generated bindings
# (scripts/gen-bindings.sh) and the server (cargo); copies of the generated
# Swift (with ios/tools/backport_uniffi_sendable.py applied) and C header
# where Package.swift expects them (not committed) and of
# the library and server into the chroot's build folder, so that a
# concurrent cargo build cannot swap them mid-run; then, in the chroot with
# the repository bind-mounted at /repo, `swift build --build-tests
# -Xswiftc -strict-concurrency=complete` and `swift test`. The build folder
# is /var/tmp/altyn-ios-build inside the chroot (never in the work tree).
# /proc, /dev and the repository are mounted only while it runs, and
# unmounted on exit, failed or not.
#
# The closing line is `swift: N passed, M failed` (", K skipped" when
# tests were skipped), counted from XCTest's per-test lines; a build that
# fails counts as one failure, and so does a test that never finished (crash
# or timeout). The exit code is non-zero unless everything built and passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$(date +%s)

chroot_dir="${SWIFT_CHROOT:-/work/swift-chroot}"
timeout_secs="${SWIFT_TEST_TIMEOUT:-900}"
inside_build=/var/tmp/altyn-ios-build        # SwiftPM's scratch path, in the chroot
inside_tmp=/tmp/altyn-swift-test             # TMPDIR of the tests, in the chroot
packages=(swiftlang libc6-dev libstdc++-14-dev pkg-config libcurl4-openssl-dev libxml2-dev ca-certificates)

say() { printf 'swift-test: %s\n' "$*"; }
closed=0
closing() { closed=1; printf 'swift: %s passed, %s failed%s\n' "$1" "$2" "${3:+, $3 skipped}"; }
die() { say "$*" >&2; closing 0 1; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and bind mounts)"
[ "$(uname -s)" = Linux ] || die "Linux only; on a Mac run scripts/build-ios.sh and swift test in ios/"

[ -d "$chroot_dir" ] || [ "${SWIFT_TEST_SKIP_SETUP:-}" != 1 ] ||
  die "no Swift chroot at $chroot_dir (SWIFT_TEST_SKIP_SETUP=1): run scripts/swift-test.sh without it once, as root, to create it"

# One run at a time per chroot: runs share its mounts and build folder.
exec 9>"$chroot_dir.lock"
flock -w 1800 9 || die "another swift-test.sh holds $chroot_dir.lock"

# --- mounts and processes, always undone ------------------------------------
mounted=()
# Processes whose root is the chroot were started by this script (the lock
# keeps other runs out): test binaries, the reference servers they spawn.
kill_chroot_processes() {
  local dir pid root
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    root=$(readlink "$dir/root" 2>/dev/null) || continue
    [ "$root" = "$chroot_dir" ] && kill -9 "$pid" 2>/dev/null || true
  done
}
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || say "could not unmount ${mounted[i]}"
  done
  mounted=()
}
cleanup() {
  local code=$?
  kill_chroot_processes
  unmount_all
  # A step that failed under `set -e` (cargo, gen-bindings, ...) still closes the run.
  if [ "$closed" = 0 ]; then
    say "failed before the tests ran (exit $code)" >&2
    closing 0 1
    [ "$code" = 0 ] && exit 1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Mounts left by a run that was killed (SIGKILL skips traps) are ours: the lock is held.
for m in repo dev proc; do
  if mountpoint -q "$chroot_dir/$m" 2>/dev/null; then
    kill_chroot_processes
    umount "$chroot_dir/$m" 2>/dev/null || umount -l "$chroot_dir/$m"
  fi
done

bind() { # bind SOURCE TARGET_IN_CHROOT_ROOT
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
}

# --- the chroot -----------------------------------------------------------
host_mirror() {
  # The Debian mirror the host uses (deb822 URIs: or one-line deb), not the security one.
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -nE 's/^[[:space:]]*(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:\/\/[^[:space:]]+).*/\3/p' |
    grep -E '/debian/?$' | head -n 1 || true
}

# The chroot's swift is an absolute symlink: look at it from inside.
has_swift() { [ -d "$chroot_dir" ] && chroot "$chroot_dir" test -x /usr/bin/swift 2>/dev/null; }

create_chroot() {
  local t0 mirror partial
  t0=$(date +%s)
  mirror="${DEBIAN_MIRROR:-$(host_mirror)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null
  }
  partial="$chroot_dir.partial"
  for m in dev proc; do mountpoint -q "$partial/$m" 2>/dev/null && umount -l "$partial/$m"; done
  rm -rf --one-file-system "$partial"
  say "creating the chroot: debootstrap --variant=minbase trixie $chroot_dir $mirror, then swiftlang (about 3 minutes)"
  nice -n 10 debootstrap --variant=minbase trixie "$partial" "$mirror" >"$chroot_dir.debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $chroot_dir.debootstrap.log"
  cp /etc/resolv.conf "$partial/etc/resolv.conf" 2>/dev/null || true
  bind /proc "$partial/proc"
  bind /dev "$partial/dev"
  say "installing ${packages[*]} in the chroot"
  nice -n 10 chroot "$partial" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends ${packages[*]} && apt-get clean" \
    >>"$chroot_dir.debootstrap.log" 2>&1 || die "apt-get install in the chroot failed; see $chroot_dir.debootstrap.log"
  unmount_all
  chroot "$partial" test -x /usr/bin/swift || die "swiftlang installed no /usr/bin/swift"
  if [ -e "$chroot_dir" ]; then
    # A chroot without Swift (an older, broken setup): replaced, but only if it is one.
    [ "$chroot_dir" != / ] && [ -f "$chroot_dir/etc/debian_version" ] ||
      die "$chroot_dir exists and is not a Debian chroot: remove it or set SWIFT_CHROOT"
    rm -rf --one-file-system "$chroot_dir"
  fi
  mv "$partial" "$chroot_dir"
  say "chroot ready in $(( $(date +%s) - t0 ))s ($(du -sh "$chroot_dir" 2>/dev/null | cut -f1))"
}

if ! has_swift; then
  [ "${SWIFT_TEST_SKIP_SETUP:-}" = 1 ] &&
    die "no Swift chroot at $chroot_dir (SWIFT_TEST_SKIP_SETUP=1): run scripts/swift-test.sh without it once, as root, to create it"
  create_chroot
fi

# --- the library, the bindings, the server ---------------------------------
# gen-bindings builds the library, then generates from it; if a concurrent
# cargo build replaced the library after the bindings were written, generate
# again so that the Swift code and the library agree.
for attempt in 1 2 3; do
  lib=$(nice -n 10 scripts/gen-bindings.sh | tail -n 1)
  generated=target/bindings/swift
  mkdir -p "$chroot_dir$inside_build/altyn-ffi"
  cp "$lib" "$chroot_dir$inside_build/altyn-ffi/libaltyn_consent.so.new"
  [ "$lib" -nt "$generated/AltynConsent.swift" ] || break
  [ "$attempt" = 3 ] && die "$lib keeps changing under a concurrent build; try again"
  say "$lib changed while the bindings were generated: again"
done
ffi="$chroot_dir$inside_build/altyn-ffi"
if cmp -s "$ffi/libaltyn_consent.so.new" "$ffi/libaltyn_consent.so"; then
  rm -f "$ffi/libaltyn_consent.so.new"
else
  mv "$ffi/libaltyn_consent.so.new" "$ffi/libaltyn_consent.so"
fi
# Copies that keep their date when nothing changed, so that a warm run
# does not recompile the bindings.
place() { # place SOURCE TARGET
  mkdir -p "$(dirname "$2")"
  cmp -s "$1" "$2" || cp "$1" "$2"
}
# Both crates' Swift files (the bindings' and the core's records) go into
# the one module; both headers into the one C module (module.modulemap).
for swift_file in AltynConsent.swift AltynConsentCore.swift; do
  staged=$(mktemp --suffix=.swift)
  cp "$generated/$swift_file" "$staged"
  # uniffi 0.32.2's async foreign-trait code (HttpClient) crashes Swift 6.0.3:
  # the upstream fix (uniffi-rs#2929), applied to the copy; a no-op once uniffi has it.
  python3 ios/tools/backport_uniffi_sendable.py "$staged" | sed 's/^/swift-test: /'
  place "$staged" "ios/Sources/AltynConsent/Generated/$swift_file"
  rm -f "$staged"
done
place "$generated/AltynConsentFFI.h" ios/Linux/AltynConsentFFI/AltynConsentFFI.h
place "$generated/AltynConsentCoreFFI.h" ios/Linux/AltynConsentFFI/AltynConsentCoreFFI.h
say "library: $lib (links: $(ldd "$lib" | awk '/=>/{print $1}' | paste -sd ' '))"

nice -n 10 cargo build --quiet -p altyn-consent-server
if ! cmp -s target/debug/altyn-consent-server "$ffi/altyn-consent-server"; then
  cp target/debug/altyn-consent-server "$ffi/altyn-consent-server.new"
  mv "$ffi/altyn-consent-server.new" "$ffi/altyn-consent-server"
fi

# --- build and test in the chroot ----------------------------------------------
bind /proc "$chroot_dir/proc"
bind /dev "$chroot_dir/dev"
bind "$repo" "$chroot_dir/repo"
rm -rf "${chroot_dir:?}$inside_tmp"
mkdir -p "$chroot_dir$inside_tmp"

in_chroot() {
  nice -n 10 chroot "$chroot_dir" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 TMPDIR="$inside_tmp" \
    ALTYN_CONSENT_LIB_DIR="$inside_build/altyn-ffi" ALTYN_SERVER_BIN="$inside_build/altyn-ffi/altyn-consent-server" \
    "$@"
}
swiftpm=(--package-path /repo/ios --scratch-path "$inside_build")

say "$(in_chroot swift --version 2>&1 | grep -m 1 'Swift version' || echo 'swift --version failed')"
# swift-format (the toolchain's own, 600.x) with the committed ios/.swift-format:
# every hand-written Swift file, Apple-only ones included (it only parses).
say "swift-format lint --strict (ios/.swift-format)"
# (Relative paths from ios/: given absolute ones, swift-format 600 cuts the
# start off the file names it recurses into.)
if ! in_chroot sh -c 'cd /repo/ios && LD_LIBRARY_PATH=/usr/libexec/swift/lib/swift/linux \
  exec /usr/libexec/swift/bin/swift-format lint --strict --recursive --configuration .swift-format \
  Package.swift Sources/AltynConsent/Shell Tests'; then
  say "swift-format found problems: run it with \`format -i\` (see above; counted as one failure)"
  closing 0 1
  exit 1
fi

say "swift build --build-tests -Xswiftc -strict-concurrency=complete"
t0=$(date +%s)
build_log=$(mktemp)
set +e
in_chroot swift build "${swiftpm[@]}" --build-tests -Xswiftc -strict-concurrency=complete 2>&1 | tee "$build_log"
built=${PIPESTATUS[0]}
set -e
warnings=$({ grep -E '^/repo/.*: warning: ' "$build_log" || true; } | sort -u | wc -l)
rm -f "$build_log"
if [ "$built" != 0 ]; then
  say "the Swift package did not build (counted as one failure)"
  closing 0 1
  exit 1
fi
say "built in $(( $(date +%s) - t0 ))s, $warnings compiler warning(s) in the package's sources"

say "swift test"
log=$(mktemp)
t0=$(date +%s)
filter=()
[ -n "${SWIFT_TEST_FILTER:-}" ] && filter=(--filter "$SWIFT_TEST_FILTER")
set +e
# --skip-build: run what was just built with the strict flags. Swift Testing
# is off: the tests are XCTest, and its "0 tests" line would only confuse.
in_chroot timeout -k 10 "$timeout_secs" swift test "${swiftpm[@]}" --skip-build --disable-swift-testing "${filter[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
timed_out=0
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  timed_out=1
  say "swift test timed out after ${timeout_secs}s"
fi

# XCTest prints one line per test: "Test Case 'X.y' started|passed|failed|skipped".
passed=$(grep -cE "^Test Case '[^']+' passed" "$log" || true)
failed=$(grep -cE "^Test Case '[^']+' failed" "$log" || true)
skipped=$(grep -cE "^Test Case '[^']+' skipped" "$log" || true)
started=$(grep -cE "^Test Case '[^']+' started" "$log" || true)
unfinished=$((started - passed - failed - skipped))
if [ "$unfinished" -gt 0 ]; then
  say "$unfinished test(s) started and never finished (crash or timeout): counted as failed"
  failed=$((failed + unfinished))
elif [ "$timed_out" = 1 ]; then
  failed=$((failed + 1))
fi
summary=$({ grep -E "Executed [0-9]+ tests?, with" "$log" || true; } | tail -n 1 | sed -E 's/^[[:space:]]+//')
rm -f "$log"
say "tests took $(( $(date +%s) - t0 ))s; XCTest: ${summary:-no summary}; whole run $(( $(date +%s) - start ))s"
rm -rf "${chroot_dir:?}$inside_tmp"

if [ "$passed" = 0 ] && [ "$failed" = 0 ] && [ "$status" = 0 ]; then
  say "no test ran"
  status=1
fi
[ "$failed" -gt 0 ] && [ "$status" = 0 ] && status=1
if [ "$skipped" -gt 0 ]; then closing "$passed" "$failed" "$skipped"; else closing "$passed" "$failed"; fi
exit "$status"
