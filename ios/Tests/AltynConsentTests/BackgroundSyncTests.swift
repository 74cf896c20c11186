import Foundation
import XCTest

@testable import AltynConsent

/// The background glue's portable part on Linux: a bounded pass against the
/// reference server, the next run from the report, and the foreground
/// re-check. (The BGTaskScheduler registration itself is iOS-only.)
final class BackgroundSyncTests: XCTestCase {
    func testAPassThatLeavesEventsWaitingAsksForTheNextRunAtTheReportsTime() async throws {
        #if os(macOS) || os(Linux)
            let root = try temporaryDirectory()
            let server = try ReferenceServer(dataDir: root.appendingPathComponent("server"), tokens: ["token-1": "borrower-1"])
            defer { server.stop() }
            let settings = try server.settings()
            let consent = try await AltynConsentClient.open(
                directory: root.appendingPathComponent("store"), app: testApp, keys: MemoryKeys(), serverKeys: settings.serverKeys)
            try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)

            // Out of reach (a closed port): the pass stops, nothing is lost.
            var offline = settings
            offline.baseUrl = "https://127.0.0.1:9/"
            offline.maxAttempts = 1
            let stopped = try await ConsentBackgroundSync.runPass(consent, settings: offline, tokens: StaticTokens("token-1"))
            XCTAssertEqual(stopped.pending, 1)
            guard case .unreachable = stopped.stop else { return XCTFail("\(stopped)") }
            let now = Date()
            let next = try XCTUnwrap(ConsentBackgroundSync.nextRun(after: stopped, now: now))
            XCTAssertEqual(next.timeIntervalSince(now), TimeInterval(try XCTUnwrap(stopped.nextRetryInSecs)), accuracy: 0.001)

            // Back online: delivered, and no next run.
            let delivered = try await ConsentBackgroundSync.runPass(consent, settings: settings, tokens: StaticTokens("token-1"))
            XCTAssertEqual(delivered.acknowledged, 1)
            XCTAssertNil(ConsentBackgroundSync.nextRun(after: delivered))
        #endif
    }

    func testAPassFitsItsBudgetAndOnlyPassingFailuresAreRetried() {
        var settings = SyncSettings(baseUrl: "https://127.0.0.1:9/", serverKeys: [], policyKeys: [])
        settings.requestTimeoutMs = 20_000
        let bounded = settings.withinBudget(budgetMs: 25_000)
        // A request started at the deadline ends by the budget.
        XCTAssertLessThanOrEqual(try XCTUnwrap(bounded.deadlineMs) + bounded.requestTimeoutMs, 25_000)
        XCTAssertEqual(bounded.requestTimeoutMs, 8_333)

        XCTAssertTrue(ConsentBackgroundSync.retries(ConsentFailure.network("offline")))
        XCTAssertTrue(ConsentBackgroundSync.retries(ConsentFailure.keyLocked("locked")))
        XCTAssertFalse(ConsentBackgroundSync.retries(ConsentFailure.syncSetup("signed out")))
        XCTAssertFalse(ConsentBackgroundSync.retries(ConsentFailure.keyLost("gone")))
    }

    func testAReturnToTheForegroundRunsTheRecheckOncePerReturn() async throws {
        let center = NotificationCenter()
        let name = Notification.Name("test.foreground")
        let calls = Counter()
        let recheck = ForegroundRecheck(center: center, name: name) { await calls.add() }
        center.post(name: name, object: nil)
        center.post(name: name, object: nil)
        var seen = 0
        for _ in 0..<200 {
            seen = await calls.value
            if seen >= 2 { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTAssertEqual(seen, 2)
        withExtendedLifetime(recheck) {}
    }
}

private actor Counter {
    private(set) var value = 0
    func add() { value += 1 }
}
