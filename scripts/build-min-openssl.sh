#!/usr/bin/env bash
# Builds a minimal static libcrypto for SQLCipher (AES-256-CBC, HMAC-SHA1/
# SHA256/SHA512, PBKDF2, RAND) from the OpenSSL source that the openssl-src
# crate ships (the same version the default, vendored build uses), with
# everything else configured out: no TLS, no public-key algorithms, no
# legacy ciphers. The default build links the whole vendored libcrypto;
# this one is what the app library links to stay small. Used by
# build-android.sh (per ABI) and to measure the size here.
#
#   scripts/build-min-openssl.sh OPENSSL_TARGET PREFIX
#   e.g. scripts/build-min-openssl.sh linux-x86_64 target/openssl-min/x86_64-unknown-linux-gnu
#        CROSS_COMPILE_PREFIX=aarch64-linux-gnu- scripts/build-min-openssl.sh linux-aarch64 target/openssl-min/aarch64-unknown-linux-gnu
#        scripts/build-min-openssl.sh android-arm64 target/openssl-min/aarch64-linux-android
#
# Then build the library against it:
#   OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1 OPENSSL_DIR=$PREFIX cargo build --release -p altyn-consent-bindings
set -euo pipefail
cd "$(dirname "$0")/.."
os_target="$1"
prefix="$(mkdir -p "$2" && cd "$2" && pwd)"

[ -f "$prefix/lib/libcrypto.a" ] && { echo "$prefix (already built)"; exit 0; }

version=$(awk -F'"' '/^name = "openssl-src"/{getline; print $2}' Cargo.lock)
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/openssl-src-"$version"/openssl 2>/dev/null | head -n 1)
[ -d "$src" ] || { cargo fetch --locked >/dev/null; src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/openssl-src-"$version"/openssl | head -n 1); }

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -R "$src/." "$build/"
cd "$build"
# `no-bulk` turns off the many algorithms SQLCipher never calls (aria, bf,
# camellia, cast, chacha, des, dh, dsa, ec, idea, md4, rc2, rc4, seed, sm3,
# sm4, ...); the rest removes TLS, post-quantum and other key types, and
# error strings and source file names (error codes stay).
cross=()
[ -n "${CROSS_COMPILE_PREFIX:-}" ] && cross=(--cross-compile-prefix="$CROSS_COMPILE_PREFIX")
./Configure "$os_target" "${cross[@]}" --prefix="$prefix" --libdir=lib \
  no-shared no-module no-dso no-tests no-apps no-docs no-ui-console no-legacy no-engine \
  no-bulk no-ssl no-tls no-dtls no-quic no-http no-sock no-ocsp no-ct no-ts no-cms no-cmp \
  no-ec no-ecx no-sm2 no-ml-kem no-ml-dsa no-slh-dsa no-lms no-argon2 no-scrypt \
  no-whirlpool no-gost no-deprecated no-autoload-config no-async no-err no-filenames \
  -fPIC -Os >/dev/null
make -j"$(nproc 2>/dev/null || echo 2)" build_libs >/dev/null 2>&1
make install_dev >/dev/null 2>&1
echo "$prefix"
