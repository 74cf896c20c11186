// swift-tools-version:6.0
// The Swift shell of Altyn Consent.
//
// Apple platforms: `scripts/build-ios.sh` (on a Mac with Xcode) builds
// AltynConsentFFI.xcframework from the Rust library and copies the generated
// Swift bindings into Sources/AltynConsent/Generated; neither is committed.
//
// Linux (CI, `scripts/swift-test.sh`): the same sources are compiled against
// the host-built shared library `target/debug/libaltyn_consent.so`, through a
// system-library target whose module map names the generated C header; the
// script copies the header into Linux/AltynConsentFFI and the Swift bindings
// into Sources/AltynConsent/Generated (none of it committed). Set
// ALTYN_CONSENT_LIB_DIR to link another build (default: ../target/debug).
import PackageDescription

#if os(Linux)
    let libDir = Context.environment["ALTYN_CONSENT_LIB_DIR"] ?? (Context.packageDirectory + "/../target/debug")
    let ffiTarget: Target = .systemLibrary(name: "AltynConsentFFI", path: "Linux/AltynConsentFFI")
    let platformLinkerSettings: [LinkerSetting] = [
        .linkedLibrary("altyn_consent"),
        // The library is found at link time and at run time in the Rust build
        // folder (an app would install it beside the binary instead). Allowed
        // because this package is a root package here, never a dependency.
        .unsafeFlags(["-L", libDir, "-Xlinker", "-rpath", "-Xlinker", libDir]),
    ]
#else
    // The Rust library (static, per slice) with its C headers and module map.
    // A release (`RELEASE_URL=... scripts/build-ios.sh`) zips the xcframework,
    // computes its SHA-256 and writes both below, so that apps can depend on the
    // package by URL; until then it is the local build.
    let releasedXCFramework: (url: String, checksum: String)? = nil  // release: set by scripts/build-ios.sh
    let ffiTarget: Target =
        if let released = releasedXCFramework {
            .binaryTarget(name: "AltynConsentFFI", url: released.url, checksum: released.checksum)
        } else {
            .binaryTarget(name: "AltynConsentFFI", path: "AltynConsentFFI.xcframework")
        }
    // The static library's system dependencies: SQLCipher's crypto (CommonCrypto
    // in Security) and CoreFoundation.
    let platformLinkerSettings: [LinkerSetting] = [.linkedFramework("Security"), .linkedFramework("CoreFoundation")]
#endif

let package = Package(
    name: "AltynConsent",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "AltynConsent", targets: ["AltynConsent"])
    ],
    targets: [
        ffiTarget,
        // Generated bindings (module AltynConsent, as uniffi.toml names it) + the shell.
        .target(
            name: "AltynConsent",
            dependencies: ["AltynConsentFFI"],
            path: "Sources/AltynConsent",
            // The library's privacy manifest (what it keeps and sends, the
            // required-reason APIs SQLite uses), merged into the app's report.
            resources: [.copy("PrivacyInfo.xcprivacy")],
            linkerSettings: platformLinkerSettings
        ),
        .testTarget(
            name: "AltynConsentTests",
            dependencies: ["AltynConsent"],
            path: "Tests/AltynConsentTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
