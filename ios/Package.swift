// swift-tools-version:5.9
// The Swift shell of Altyn Consent. `scripts/build-ios.sh` (on a Mac with
// Xcode) builds AltynConsentFFI.xcframework from the Rust library and copies
// the generated Swift bindings into Sources/AltynConsent/Generated; neither is
// committed.
import PackageDescription

let package = Package(
    name: "AltynConsent",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "AltynConsent", targets: ["AltynConsent"]),
    ],
    targets: [
        // The Rust library (static, per slice) with its C header and module map.
        .binaryTarget(name: "AltynConsentFFI", path: "AltynConsentFFI.xcframework"),
        // Generated bindings (module AltynConsent, as uniffi.toml names it) + the shell.
        .target(
            name: "AltynConsent",
            dependencies: ["AltynConsentFFI"],
            path: "Sources/AltynConsent",
            // The static library's system dependencies: SQLCipher's crypto
            // (CommonCrypto in Security) and CoreFoundation.
            linkerSettings: [.linkedFramework("Security"), .linkedFramework("CoreFoundation")]
        ),
        .testTarget(
            name: "AltynConsentTests",
            dependencies: ["AltynConsent"],
            path: "Tests/AltynConsentTests"
        ),
    ]
)
