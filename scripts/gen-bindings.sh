#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings from the built library, in UniFFI's
# library mode, into target/bindings/{kotlin,swift} (generated code is not
# committed). Prints the path of the library the bindings were made from.
#
#   scripts/gen-bindings.sh            # debug build of the host library
#   PROFILE=release scripts/gen-bindings.sh
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${PROFILE:-debug}"
out="${BINDINGS_DIR:-target/bindings}"
# `replay`: the golden journey's constructor, for this repository's Kotlin
# and Swift tests; app builds (build-android.sh, build-ios.sh) leave it out.
cargo_flags=(-p altyn-consent-bindings --features replay)
[ "$profile" = release ] && cargo_flags+=(--release)

cargo build --quiet "${cargo_flags[@]}"
cargo build --quiet -p uniffi-bindgen

case "$(uname -s)" in
  Darwin) lib="target/$profile/libaltyn_consent.dylib" ;;
  *) lib="target/$profile/libaltyn_consent.so" ;;
esac
[ -f "$lib" ] || { echo "gen-bindings: $lib was not built" >&2; exit 1; }

rm -rf "$out/kotlin" "$out/swift"
for language in kotlin swift; do
  target/debug/uniffi-bindgen generate --no-format --config uniffi.toml \
    --language "$language" --out-dir "$out/$language" "$lib" >/dev/null
done

# Two UniFFI crates make the one library: `bindings/` and the core (its
# records). Swift compiles both generated files into one module and sees
# both headers through one C module: one module map names them both.
rm -f "$out/swift/"*.modulemap
cat >"$out/swift/AltynConsentFFI.modulemap" <<'MAP'
module AltynConsentFFI {
    header "AltynConsentFFI.h"
    header "AltynConsentCoreFFI.h"
    export *
}
MAP

# The generated code must be there, under the names uniffi.toml gives.
for f in "$out/kotlin/kz/altyncoin/consent/altyn_consent.kt" \
         "$out/kotlin/kz/altyncoin/consent/core/altyn_consent_core.kt" \
         "$out/swift/AltynConsent.swift" "$out/swift/AltynConsentFFI.h" \
         "$out/swift/AltynConsentCore.swift" "$out/swift/AltynConsentCoreFFI.h" \
         "$out/swift/AltynConsentFFI.modulemap"; do
  [ -s "$f" ] || { echo "gen-bindings: $f is missing" >&2; exit 1; }
done
echo "$lib"
