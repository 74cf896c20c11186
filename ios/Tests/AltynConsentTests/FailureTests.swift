import Foundation
import XCTest
@testable import AltynConsent

/// Bad input gets a clear, typed error and loses nothing: mirror of Kotlin's FailureTest.
final class FailureTests: XCTestCase {
    func testWrongKeyIsRefusedAndTheStoreIsKept() async throws {
        let dir = try temporaryDirectory()
        let first = try await AltynConsentClient.open(directory: dir, app: testApp, keys: MemoryKeys())
        try await first.accept(await first.policy(locale: "ru"), ageConfirmed: true)
        do {
            _ = try await AltynConsentClient.open(directory: dir, app: testApp, keys: FixedKeys(Data(repeating: 7, count: 32)))
            XCTFail("a wrong key opened the store")
        } catch let ConsentFailure.keyUnavailable(message) {
            XCTAssertTrue(message.contains("does not open this consent store"), message)
        }
    }

    func testConsentRulesBecomeTypedFailures() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        let policy = await consent.policy(locale: "ru")
        do {
            try await consent.accept(policy, ageConfirmed: false)
            XCTFail("accepted without the 18+ confirmation")
        } catch ConsentFailure.ageNotConfirmed {}
        do {
            try await consent.setPermission("camera", granted: true)
            XCTFail("a permission before the policy")
        } catch ConsentFailure.policyNotAccepted {}
        var stale = policy
        stale.reference.version = 0
        do {
            try await consent.accept(stale, ageConfirmed: true)
            XCTFail("a stale version accepted")
        } catch let ConsentFailure.stalePolicy(_, currentVersion) {
            XCTAssertEqual(currentVersion, policy.reference.version)
        }
        try await consent.accept(policy, ageConfirmed: true)
        do {
            try await consent.setPermission("teleport", granted: true)
            XCTFail("an unknown permission accepted")
        } catch let ConsentFailure.invalidRequest(message) {
            XCTAssertTrue(message.contains("camera"), message)
        }
        XCTAssertEqual(consent.state.events, 1)
    }

    func testPlainHttpToAnotherHostIsRefused() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        let settings = SyncSettings(baseUrl: "http://consent.example.kz", serverKeys: [String(repeating: "00", count: 32)],
                                    policyKeys: [], extraCaPem: nil, spkiPins: [], requestTimeoutMs: 1000, maxAttempts: 1)
        do {
            _ = try await consent.sync(settings: settings, tokens: StaticTokens("t"))
            XCTFail("plain http accepted")
        } catch let ConsentFailure.syncSetup(message) {
            XCTAssertTrue(message.contains("HTTPS only"), message)
        }
    }
}
