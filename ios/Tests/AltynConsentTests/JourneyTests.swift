import Foundation
import XCTest
@testable import AltynConsent

/// The borrower's journey through the Swift shell: mirror of Kotlin's JourneyTest.
final class JourneyTests: XCTestCase {
    func testBorrowerAcceptsDecidesWithdrawsAndTheStreamFollows() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        var updates = consent.stateUpdates().makeAsyncIterator()
        let initial = await updates.next()
        XCTAssertEqual(initial?.policy, .neverAccepted)

        let policy = await consent.policy(locale: "ru")
        XCTAssertEqual(policy.sections.count, 11)
        XCTAssertTrue(policy.sections.flatMap(\.clauseIds).contains("6.1.5"))
        let accepted = try await consent.accept(policy, ageConfirmed: true)
        XCTAssertTrue(accepted.canProceed)
        let streamed = await updates.next()
        XCTAssertEqual(streamed, accepted)

        try await consent.setPermission("camera", granted: true)
        let granted = try await consent.reportOsStatus("camera", .granted)
        XCTAssertTrue(granted.permissions.first { $0.id == "camera" }!.mayUse)
        try await consent.setPermission("location_precise", granted: false)
        let photos = try await consent.reportOsStatus("photos", .limited)
        XCTAssertFalse(photos.permissions.first { $0.id == "photos" }!.mayUse, "no in-app consent yet")
        let withdrawn = try await consent.withdraw("camera")
        XCTAssertEqual(withdrawn.permissions.first { $0.id == "camera" }!.consent, .withdrawn)
        XCTAssertEqual(consent.state, withdrawn)
        let report = try await consent.verify()
        XCTAssertTrue(report.fileIntegrityOk)
        XCTAssertEqual(report.events, 6)
    }

    #if os(macOS)
    func testSyncDeliversEveryEventExactlyOnceWithASignedReceipt() async throws {
        let root = try temporaryDirectory()
        let server = try ReferenceServer(dataDir: root.appendingPathComponent("server"), tokens: ["token-1": "borrower-1"])
        let consent = try await AltynConsentClient.open(directory: root.appendingPathComponent("store"), app: testApp, keys: MemoryKeys())
        try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
        try await consent.setPermission("camera", granted: true)
        try await consent.withdraw("camera")
        let events = consent.state.events

        let report = try await consent.sync(settings: try server.settings(), tokens: StaticTokens("token-1"))
        XCTAssertEqual(report.acknowledged, events)
        XCTAssertEqual(report.pending, 0)
        let receipts = try await consent.receipts()
        XCTAssertEqual(receipts.count, 1)
        XCTAssertEqual(receipts[0].headHash, consent.state.headHash)
        let again = try await consent.sync(settings: try server.settings(), tokens: StaticTokens("token-1"))
        XCTAssertEqual(again.sent, 0)
    }
    #endif
}
