#!/usr/bin/env bash
# Builds AltynConsentFFI.xcframework (device, simulator and macOS slices of
# the static library, with the generated C header and module map) into ios/,
# and copies the generated Swift bindings into the package's sources.
#
#   scripts/build-ios.sh
#   (cd ios && ALTYN_SERVER_BIN=$PWD/../target/release/altyn-consent-server swift test)
#
# Needs: macOS with Xcode (xcodebuild, lipo), rustup. NOT RUN on our CI
# machines (no Swift toolchain there); written for a developer's Mac.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(uname -s)" = Darwin ] || { echo "build-ios: needs macOS with Xcode" >&2; exit 1; }
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"

device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
macs=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "$device" "${simulators[@]}" "${macs[@]}"

for target in "$device" "${simulators[@]}" "${macs[@]}"; do
  cargo build --release -p altyn-consent-bindings --target "$target"
done

# Bindings (Swift + C header + module map) from a host build, library mode.
PROFILE=release scripts/gen-bindings.sh >/dev/null
generated=target/bindings/swift

work=target/xcframework
rm -rf "$work" ios/AltynConsentFFI.xcframework
mkdir -p "$work/headers" "$work/ios-simulator" "$work/macos"
cp "$generated/AltynConsentFFI.h" "$generated/AltynConsentCoreFFI.h" "$work/headers/"
# Inside a framework's Headers the module map must be called module.modulemap.
cp "$generated/AltynConsentFFI.modulemap" "$work/headers/module.modulemap"

lipo -create \
  "target/aarch64-apple-ios-sim/release/libaltyn_consent.a" \
  "target/x86_64-apple-ios/release/libaltyn_consent.a" \
  -output "$work/ios-simulator/libaltyn_consent.a"
lipo -create \
  "target/aarch64-apple-darwin/release/libaltyn_consent.a" \
  "target/x86_64-apple-darwin/release/libaltyn_consent.a" \
  -output "$work/macos/libaltyn_consent.a"

xcodebuild -create-xcframework \
  -library "target/$device/release/libaltyn_consent.a" -headers "$work/headers" \
  -library "$work/ios-simulator/libaltyn_consent.a" -headers "$work/headers" \
  -library "$work/macos/libaltyn_consent.a" -headers "$work/headers" \
  -output ios/AltynConsentFFI.xcframework

mkdir -p ios/Sources/AltynConsent/Generated
# The bindings' file and the core's records' file, one Swift module.
for swift_file in AltynConsent.swift AltynConsentCore.swift; do
  cp "$generated/$swift_file" "ios/Sources/AltynConsent/Generated/$swift_file"
  # uniffi 0.32.2's code for async foreign traits (HttpClient) needs upstream's
  # Swift 6 fix (mozilla/uniffi-rs#2929); a no-op once uniffi ships it.
  python3 ios/tools/backport_uniffi_sendable.py "ios/Sources/AltynConsent/Generated/$swift_file"
done
echo "ios/AltynConsentFFI.xcframework and ios/Sources/AltynConsent/Generated/{AltynConsent,AltynConsentCore}.swift are ready"

# A release: RELEASE_URL is where AltynConsentFFI.xcframework.zip will be
# published. The zip's SHA-256 (what SwiftPM checks) and the URL go into
# Package.swift, so that apps can depend on the package by URL.
if [ -n "${RELEASE_URL:-}" ]; then
  (cd ios && rm -f AltynConsentFFI.xcframework.zip && ditto -c -k --keepParent AltynConsentFFI.xcframework AltynConsentFFI.xcframework.zip)
  checksum=$(cd ios && swift package compute-checksum AltynConsentFFI.xcframework.zip)
  python3 - "$RELEASE_URL" "$checksum" <<'PY'
import re, sys
url, checksum = sys.argv[1], sys.argv[2]
path = "ios/Package.swift"
text = open(path).read()
line = f'let releasedXCFramework: (url: String, checksum: String)? = (url: "{url}", checksum: "{checksum}")  // release: set by scripts/build-ios.sh'
new, n = re.subn(r"^let releasedXCFramework: .*$", line, text, flags=re.M)
assert n == 1, "Package.swift has no releasedXCFramework line"
open(path, "w").write(new)
PY
  echo "ios/AltynConsentFFI.xcframework.zip: publish it at $RELEASE_URL (checksum $checksum, written to ios/Package.swift)"
fi
