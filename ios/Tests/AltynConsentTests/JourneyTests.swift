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
        XCTAssertEqual(initial?.canProceed, false)

        // The policy as a screen shows it: every numbered clause, in Russian.
        let policy = await consent.policy(locale: "ru")
        XCTAssertEqual(policy.locale, "ru")
        XCTAssertEqual(policy.sections.count, 11)
        let clauses = Set(policy.sections.flatMap(\.clauseIds))
        XCTAssertTrue(clauses.isSuperset(of: ["2.4", "4.2.5", "6.1.3", "6.1.5", "10.4"]))
        XCTAssertTrue(policy.markdown.contains("6.1.5"))
        let locales = await consent.policyLocales()
        XCTAssertTrue(locales.contains("ru"), "\(locales)")

        let accepted = try await consent.accept(policy, ageConfirmed: true)
        guard case .accepted = accepted.policy else { return XCTFail("not accepted: \(accepted.policy)") }
        XCTAssertTrue(accepted.canProceed)
        // The stream follows every change.
        let streamed = await updates.next()
        XCTAssertEqual(streamed, accepted)

        let permissions = await consent.permissions(locale: "ru")
        let camera = try XCTUnwrap(permissions.first { $0.id == "camera" })
        XCTAssertFalse(camera.purposes.isEmpty)
        XCTAssertEqual(camera.iosUsageKeys, ["NSCameraUsageDescription"])

        try await consent.setPermission("camera", granted: true)
        let granted = try await consent.reportOsStatus("camera", .granted)
        XCTAssertTrue(try XCTUnwrap(granted.permissions.first { $0.id == "camera" }).mayUse)
        try await consent.setPermission("location_precise", granted: false)
        let photos = try await consent.reportOsStatus("photos", .limited)
        XCTAssertFalse(try XCTUnwrap(photos.permissions.first { $0.id == "photos" }).mayUse, "no in-app consent yet")
        let withdrawn = try await consent.withdraw("camera")
        let cam = try XCTUnwrap(withdrawn.permissions.first { $0.id == "camera" })
        XCTAssertEqual(cam.consent, .withdrawn)
        XCTAssertFalse(cam.mayUse)
        XCTAssertEqual(consent.state, withdrawn)
        let report = try await consent.verify()
        XCTAssertTrue(report.fileIntegrityOk)
        // Five decisions, the withdrawal and its written statement (§6.1.5).
        XCTAssertEqual(report.events, 7)
        let statements = try await consent.statements()
        XCTAssertEqual(statements.count, 1)
        XCTAssertEqual(statements.first?.kind, .withdrawal)
        XCTAssertTrue(statements.first?.mailto.hasPrefix("mailto:info-procredit@prozaimy.kz?") ?? false)
        XCTAssertNotNil(statements.first?.issuedAtLocal, "the device's offset gives local time")
        XCTAssertNotNil(URL(string: statements.first?.mailto ?? ""), "the mailto link opens as a URL")
    }

    func testACompromiseReportBlocksGrantsWithTheirOwnFailure() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
        let blocked = try await consent.reportCompromise(.unauthorizedAccess, details: "")
        XCTAssertNotNil(blocked.accessBlocked)
        XCTAssertFalse(blocked.canProceed)
        do {
            try await consent.setPermission("camera", granted: true)
            XCTFail("a grant while blocked")
        } catch let failure as ConsentFailure {
            XCTAssertEqual(failure.coreName, "AccessBlocked")
        }
        try await consent.setPermission("camera", granted: false)
    }

    func testAReopenedStoreKeepsEveryDecision() async throws {
        let keys = MemoryKeys()
        let dir = try temporaryDirectory()
        let head: String
        do {
            let consent = try await AltynConsentClient.open(directory: dir, app: testApp, keys: keys)
            try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
            head = try await consent.setPermission("contacts", granted: false).headHash
        }
        let reopened = try await AltynConsentClient.open(directory: dir, app: testApp, keys: keys)
        XCTAssertEqual(reopened.state.headHash, head)
        XCTAssertEqual(reopened.state.permissions.first { $0.id == "contacts" }?.consent, .denied)
    }

    #if os(macOS) || os(Linux)
        func testSyncDeliversEveryEventExactlyOnceWithASignedReceipt() async throws {
            let root = try temporaryDirectory()
            let server = try ReferenceServer(dataDir: root.appendingPathComponent("server"), tokens: ["token-1": "borrower-1"])
            defer { server.stop() }
            let settings = try server.settings()
            let consent = try await AltynConsentClient.open(
                directory: root.appendingPathComponent("store"), app: testApp, keys: MemoryKeys(), serverKeys: settings.serverKeys)
            try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
            try await consent.setPermission("camera", granted: true)
            try await consent.reportOsStatus("camera", .granted)
            try await consent.setPermission("location_precise", granted: false)
            try await consent.setPermission("notifications", granted: true)
            try await consent.reportOsStatus("notifications", .denied)
            try await consent.withdraw("camera")
            let events = consent.state.events
            XCTAssertEqual(events, 8, "seven decisions and the withdrawal's written statement")

            // Every event acknowledged under a verified, signed receipt; the
            // Company's receipt of delivery of the statement is recorded and
            // uploaded in the same pass.
            let report = try await consent.sync(settings: settings, tokens: StaticTokens("token-1"))
            XCTAssertEqual(report.statementsDelivered, 1)
            let total = events + 1
            XCTAssertEqual(consent.state.events, total)
            XCTAssertEqual(report.acknowledged, total)
            XCTAssertEqual(report.pending, 0)
            XCTAssertNil(report.stop)
            let receipts = try await consent.receipts()
            XCTAssertEqual(receipts.count, 2)
            XCTAssertEqual(receipts.last?.headEvents, total)
            XCTAssertEqual(receipts.last?.headHash, consent.state.headHash)
            XCTAssertEqual(receipts.flatMap(\.acknowledgedSeqs), Array(1...total))
            XCTAssertFalse(receipts.contains { $0.signature.isEmpty })
            let statements = try await consent.statements()
            XCTAssertNotNil(statements.first?.deliveredAt)

            // Exactly once: a second pass sends nothing.
            let again = try await consent.sync(settings: settings, tokens: StaticTokens("token-1"))
            XCTAssertEqual(again.sent, 0)
            XCTAssertEqual(again.acknowledged, 0)
            let status = try await consent.syncStatus()
            XCTAssertEqual(status.pending, 0)
            XCTAssertEqual(status.acknowledged, total)

            // Proof on the app's side: the ledger verifies, the export too.
            let verified = try await consent.verify()
            XCTAssertTrue(verified.fileIntegrityOk)
            XCTAssertEqual(verified.events, total)
            XCTAssertEqual(verified.receipts, 2)
            XCTAssertEqual(verified.acknowledged, total)
            // And against the server's own copy of the receipts.
            let online = try await consent.verifyOnline(settings: settings, tokens: StaticTokens("token-1"))
            XCTAssertEqual(online.events, total)
            XCTAssertEqual(online.acknowledged, total)
            let export = try await consent.export()
            XCTAssertEqual(try verifyExport(json: export, serverKeys: settings.serverKeys), total)
            // The export's receipts need the server key to be checked.
            XCTAssertThrowsError(try verifyExport(json: export, serverKeys: [])) { error in
                guard case ConsentError.SyncSetup = error else { return XCTFail("\(error)") }
            }
            let history = try await consent.history()
            XCTAssertEqual(
                history.map(\.kind),
                [
                    "policy_accepted", "permission_decided", "os_status_changed", "permission_decided",
                    "permission_decided", "os_status_changed", "consent_withdrawn", "statement_issued",
                    "statement_delivered",
                ])
            let version = coreVersion()
            XCTAssertTrue(history.allSatisfy { $0.json.contains("\"core_version\":\"\(version)\"") })
        }
    #endif
}
