import Foundation
import XCTest
@testable import AltynConsent

/// The core's log reaches the app's sink without personal data: mirror of
/// Kotlin's LogSinkTest (the unified-log sink itself is Apple-only).
final class LogSinkTests: XCTestCase {
    /// Collects lines from the core's threads.
    ///
    /// `@unchecked Sendable`: `lines` is read and written only with `lock` held.
    final class Lines: LogSink, @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []

        func log(level: LogLevel, target: String, message: String) {
            lock.lock(); defer { lock.unlock() }
            stored.append("\(level) \(target) \(message)")
        }

        var all: [String] {
            lock.lock(); defer { lock.unlock() }
            return stored
        }
    }

    func testTheCoresLogReachesTheAppsSinkWithoutPersonalData() async throws {
        let lines = Lines()
        _ = setLogSink(sink: lines, maxLevel: .info)
        do {
            let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
            try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
            try await consent.linkAccount("borrower-secret-42")
        }
        let all = lines.all
        XCTAssertTrue(
            all.contains { $0.hasPrefix("info") && $0.contains("consent event recorded") && $0.contains("kind=policy_accepted") },
            "\(all)")
        XCTAssertFalse(all.contains { $0.contains("borrower-secret-42") }, "the account id never reaches the log")
    }
}
