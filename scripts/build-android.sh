#!/usr/bin/env bash
# Builds the shared library for the four Android ABIs with cargo-ndk, in the
# jniLibs layout the Gradle module reads, and generates the Kotlin bindings.
#
#   ANDROID_NDK_HOME=~/Android/Sdk/ndk/27.2.12479018 scripts/build-android.sh
#   (cd android && ./gradlew :consent:assembleRelease)
#
# Needs: the Android NDK (r26 or newer), rustup. Installs cargo-ndk and the
# Rust targets if missing. NOT RUN on our CI machines (no NDK there); written
# for a developer's Android setup.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (r26 or newer)}"
min_sdk="${ANDROID_MIN_SDK:-24}"
out="android/consent/build/rustJniLibs/android"

command -v cargo-ndk >/dev/null || cargo install cargo-ndk --locked
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android

# Android 15 devices may use 16 KB pages: align the library's segments so
# it loads on them (Play requires it for apps targeting Android 15+). The
# NDK links with lld: fold identical code, and pack relocations (RELR from
# API 28, Android's own packing before).
packing=android
[ "$min_sdk" -ge 28 ] && packing=relr
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,--icf=all -C link-arg=-Wl,--pack-dyn-relocs=$packing"

# SQLCipher's crypto: a minimal static OpenSSL per ABI (AES, HMAC, PBKDF2,
# RAND; no TLS, no public-key algorithms), instead of the whole vendored
# one. openssl-sys reads the per-target <TARGET>_OPENSSL_DIR.
case "$(uname -s)" in Darwin) host_tag=darwin-x86_64 ;; *) host_tag=linux-x86_64 ;; esac
export ANDROID_NDK_ROOT="$ANDROID_NDK_HOME"
export PATH="$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/$host_tag/bin:$PATH"
export OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1
for pair in aarch64-linux-android:android-arm64 armv7-linux-androideabi:android-arm \
            x86_64-linux-android:android-x86_64 i686-linux-android:android-x86; do
  rust_target=${pair%%:*}
  prefix="$PWD/target/openssl-min/$rust_target"
  CFLAGS="-D__ANDROID_API__=$min_sdk" scripts/build-min-openssl.sh "${pair##*:}" "$prefix" >/dev/null
  var="$(echo "$rust_target" | tr 'a-z-' 'A-Z_')_OPENSSL_DIR"
  export "$var=$prefix"
done

cargo ndk \
  -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 \
  --platform "$min_sdk" \
  -o "$out" \
  build --release -p altyn-consent-bindings

# Kotlin bindings from a host build of the same sources (library mode).
PROFILE=release scripts/gen-bindings.sh >/dev/null

for abi in arm64-v8a armeabi-v7a x86_64 x86; do
  lib="$out/$abi/libaltyn_consent.so"
  [ -s "$lib" ] || { echo "build-android: $lib was not built" >&2; exit 1; }
  printf '%-12s %8d bytes\n' "$abi" "$(wc -c <"$lib")"
done
echo "jniLibs: $out; Kotlin bindings: target/bindings/kotlin"
