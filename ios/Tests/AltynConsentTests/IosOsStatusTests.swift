import XCTest
@testable import AltynConsent

/// The iOS permission bridge's decisions, without a device.
final class IosOsStatusTests: XCTestCase {
    func testAnswersMapToTheCoresStatus() {
        XCTAssertEqual(IosOsStatus.map(permissionId: "camera", .notDetermined), .notDetermined)
        XCTAssertEqual(IosOsStatus.map(permissionId: "camera", .authorized), .granted)
        XCTAssertEqual(IosOsStatus.map(permissionId: "camera", .denied), .blocked, "iOS asks once; Settings alone can change it")
        XCTAssertEqual(IosOsStatus.map(permissionId: "camera", .restricted), .blocked)
        XCTAssertEqual(IosOsStatus.map(permissionId: "camera", .authorized, hardwarePresent: false), .unavailable)
    }

    func testPartialAccessIsLimited() {
        XCTAssertEqual(IosOsStatus.map(permissionId: "photos", .limited), .limited)
        XCTAssertEqual(IosOsStatus.map(permissionId: "contacts", .limited), .limited)
        XCTAssertEqual(IosOsStatus.map(permissionId: "notifications", .provisional), .limited)
        XCTAssertEqual(IosOsStatus.map(permissionId: "location_precise", .authorized, fullAccuracy: false), .limited)
        XCTAssertEqual(IosOsStatus.map(permissionId: "location_approximate", .authorized, fullAccuracy: false), .granted)
    }
}
