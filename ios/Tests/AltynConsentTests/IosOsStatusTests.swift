import XCTest
@testable import AltynConsent

/// The iOS permission bridge's decisions, without a device.
final class IosOsStatusTests: XCTestCase {
    func testAnswersMapToTheCoresStatus() {
        XCTAssertEqual(IosOsStatus.map(.notDetermined, requiresFullAccuracy: false), .notDetermined)
        XCTAssertEqual(IosOsStatus.map(.authorized, requiresFullAccuracy: false), .granted)
        XCTAssertEqual(IosOsStatus.map(.denied, requiresFullAccuracy: false), .blocked, "iOS asks once; Settings alone can change it")
        XCTAssertEqual(IosOsStatus.map(.restricted, requiresFullAccuracy: false), .blocked)
        XCTAssertEqual(IosOsStatus.map(.authorized, requiresFullAccuracy: false, hardwarePresent: false), .unavailable)
    }

    /// The platform facts come from the core's catalog, the table Android reads too.
    func testPartialAccessIsLimitedAsTheCatalogSays() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        let catalog = Dictionary(uniqueKeysWithValues: await consent.permissions(locale: "en").map { ($0.id, $0) })
        let precise = try XCTUnwrap(catalog["location_precise"])
        let approximate = try XCTUnwrap(catalog["location_approximate"])
        XCTAssertTrue(precise.iosFullAccuracy)
        XCTAssertFalse(approximate.iosFullAccuracy)
        // "Precise Location" off: a partial grant of precise location, which
        // the catalog says is not usable; approximate location is granted.
        let reduced = { (info: PermissionInfo) in
            IosOsStatus.map(.authorized, requiresFullAccuracy: info.iosFullAccuracy, fullAccuracy: false)
        }
        XCTAssertEqual(reduced(precise), .limited)
        XCTAssertFalse(precise.limitedUsable)
        XCTAssertEqual(reduced(approximate), .granted)
        // Selected photos, some contacts, quiet notifications: partial, and usable.
        XCTAssertEqual(IosOsStatus.map(.limited, requiresFullAccuracy: false), .limited)
        XCTAssertEqual(IosOsStatus.map(.provisional, requiresFullAccuracy: false), .limited)
        for id in ["photos", "contacts", "notifications"] {
            XCTAssertTrue(try XCTUnwrap(catalog[id]).limitedUsable, id)
        }
        consent.close()
    }
}
