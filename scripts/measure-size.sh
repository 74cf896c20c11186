#!/usr/bin/env bash
# Measures the stripped release size of the app library (libaltyn_consent)
# the ways BENCHMARKS.md reports it. Not part of CI (it builds OpenSSL and
# the library several times: about 15 minutes on 2 cores).
#
#   scripts/measure-size.sh            # x86_64 Linux: default and minimal OpenSSL
#   WITH_ARM64=1 scripts/measure-size.sh
#     # also aarch64 Linux (the Android arm64 proxy), with lld's identical-code
#     # folding and packed relocations as the NDK links; needs
#     # gcc-aarch64-linux-gnu and lld (apt) and the rustup target.
set -euo pipefail
cd "$(dirname "$0")/.."

bytes() { wc -c <"$1" | tr -d ' '; }
report() { printf '%-58s %9s bytes (%s MB)\n' "$1" "$2" "$(awk -v b="$2" 'BEGIN{printf "%.2f", b/1048576}')"; }

# 1. Default build: the whole vendored OpenSSL (what cargo build gives).
CARGO_TARGET_DIR=target/size cargo build -q --release --locked -p altyn-consent-bindings
report "x86_64 linux, vendored OpenSSL" "$(bytes target/size/release/libaltyn_consent.so)"

# 2. The app build: a minimal OpenSSL (scripts/build-min-openssl.sh).
min="$PWD/target/openssl-min/x86_64-unknown-linux-gnu"
scripts/build-min-openssl.sh linux-x86_64 "$min" >/dev/null
OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1 OPENSSL_DIR="$min" CARGO_TARGET_DIR=target/size-min \
  cargo build -q --release --locked -p altyn-consent-bindings
report "x86_64 linux, minimal OpenSSL" "$(bytes target/size-min/release/libaltyn_consent.so)"
# SQLCipher must work the same on the minimal OpenSSL: the store tests
# (encryption, wrong key, damaged files, crash) and the golden journey.
OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1 OPENSSL_DIR="$min" CARGO_TARGET_DIR=target/size-min-test \
  cargo test -q --locked -p altyn-consent-core -p altyn-consent-bindings 2>&1 | grep -E '^test result' |
  awk '{ p += $4; f += $6 } END { printf "tests on the minimal OpenSSL: %d passed, %d failed\n", p, f; exit f > 0 }'

if [ -n "${WITH_ARM64:-}" ]; then
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
  t=aarch64-unknown-linux-gnu
  CARGO_TARGET_DIR=target/size cargo build -q --release --locked -p altyn-consent-bindings --target $t
  report "aarch64 linux, vendored OpenSSL" "$(bytes target/size/$t/release/libaltyn_consent.so)"
  amin="$PWD/target/openssl-min/$t"
  CROSS_COMPILE_PREFIX=aarch64-linux-gnu- scripts/build-min-openssl.sh linux-aarch64 "$amin" >/dev/null
  export OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1 OPENSSL_DIR="$amin"
  CARGO_TARGET_DIR=target/size-min cargo build -q --release --locked -p altyn-consent-bindings --target $t
  report "aarch64 linux, minimal OpenSSL" "$(bytes target/size-min/$t/release/libaltyn_consent.so)"
  # The NDK links with lld; fold identical code and pack relocations as an
  # Android build can (RELR needs API 28+; API 23+ has Android's own packing).
  lld_dir=$(mktemp -d); ln -s "$(command -v ld.lld)" "$lld_dir/ld.lld"; ln -s "$(command -v ld.lld)" "$lld_dir/ld"
  RUSTFLAGS="-C link-arg=-B$lld_dir -C link-arg=-fuse-ld=lld -C link-arg=-Wl,--icf=all -C link-arg=-Wl,--pack-dyn-relocs=relr" \
    CARGO_TARGET_DIR=target/size-lld cargo build -q --release --locked -p altyn-consent-bindings --target $t
  report "aarch64 linux, minimal OpenSSL, lld --icf=all + RELR" "$(bytes target/size-lld/$t/release/libaltyn_consent.so)"
fi
