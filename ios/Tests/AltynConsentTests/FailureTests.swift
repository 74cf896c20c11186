import Foundation
import XCTest
@testable import AltynConsent

/// Bad input gets a clear, typed error and loses nothing: mirror of Kotlin's FailureTest.
final class FailureTests: XCTestCase {
    /// Every file under `dir` by relative path, with its bytes.
    private func contents(_ dir: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let base = dir.resolvingSymlinksInPath().path
        let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            let path = url.resolvingSymlinksInPath().path
            files[String(path.dropFirst(base.count))] = try Data(contentsOf: url)
        }
        return files
    }

    func testWrongKeyIsRefusedAndTheStoreStaysByteForByte() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("store")
        do {
            let first = try await AltynConsentClient.open(directory: dir, app: testApp, keys: MemoryKeys())
            try await first.accept(await first.policy(locale: "ru"), ageConfirmed: true)
        }
        let before = try contents(dir)
        XCTAssertFalse(before.isEmpty)
        do {
            _ = try await AltynConsentClient.open(directory: dir, app: testApp, keys: FixedKeys(Data(repeating: 7, count: 32)))
            XCTFail("a wrong key opened the store")
        } catch let ConsentFailure.keyLost(message) {
            XCTAssertTrue(message.contains("does not open this consent store"), message)
            XCTAssertFalse(message.contains("0707"), "no key material in messages")
        }
        // A keystore that lost the key: also refused, with what to do.
        do {
            _ = try await AltynConsentClient.open(directory: dir, app: testApp, keys: MemoryKeys())
            XCTFail("a store opened without its key")
        } catch let ConsentFailure.keyLost(message) {
            XCTAssertTrue(message.contains("recover"), message)
        }
        XCTAssertEqual(try contents(dir), before)
    }

    func testConsentRulesBecomeTypedFailuresAndRecordNothing() async throws {
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
            XCTAssertTrue(message.contains("camera"), "the message lists the known permissions: \(message)")
        }
        do {
            try await consent.withdraw("camera")
            XCTFail("withdrew a consent never given")
        } catch ConsentFailure.invalidRequest {}
        XCTAssertEqual(consent.state.events, 1)
    }

    func testBadSyncSettingsAndAFailingTokenProviderAreSyncSetupFailures() async throws {
        let root = try temporaryDirectory()
        let consent = try await AltynConsentClient.open(directory: root.appendingPathComponent("store"), app: testApp, keys: MemoryKeys())
        try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
        let plain = SyncSettings(baseUrl: "http://consent.example.kz", serverKeys: [String(repeating: "00", count: 32)], policyKeys: [])
        do {
            _ = try await consent.sync(settings: plain, tokens: StaticTokens("t"))
            XCTFail("plain http accepted")
        } catch let ConsentFailure.syncSetup(message) {
            XCTAssertTrue(message.contains("HTTPS only"), message)
        }
        let badKey = SyncSettings(baseUrl: "https://127.0.0.1:9", serverKeys: ["not-a-key"], policyKeys: [])
        do {
            _ = try await consent.sync(settings: badKey, tokens: StaticTokens("t"))
            XCTFail("a malformed server key accepted")
        } catch ConsentFailure.syncSetup {}

        #if os(macOS) || os(Linux)
            let server = try ReferenceServer(dataDir: root.appendingPathComponent("server"), tokens: ["token-1": "borrower-1"])
            defer { server.stop() }
            do {
                _ = try await consent.sync(settings: try server.settings(), tokens: FailingTokens())
                XCTFail("synced without a token")
            } catch let ConsentFailure.syncSetup(message) {
                XCTAssertTrue(message.contains("no user is signed in"), message)
            }
            // A refused token parks nothing and loses nothing: the next pass delivers.
            let status = try await consent.syncStatus()
            XCTAssertEqual(status.pending, 1)
            XCTAssertEqual(status.parked, 0)
            let report = try await consent.sync(settings: try server.settings(), tokens: StaticTokens("token-1"))
            XCTAssertEqual(report.acknowledged, 1)
        #endif
    }

    func testKeysRoundTripThroughTheForeignKeyProviderUnchanged() async throws {
        let keys = MemoryKeys()
        let dir = try temporaryDirectory().appendingPathComponent("store")
        _ = try await AltynConsentClient.open(directory: dir, app: testApp, keys: keys)
        // The store's key, and the installation marker (its store id), which
        // tells a later start that a store existed.
        let marker = String(decoding: try XCTUnwrap(keys.keys["altyn-consent-installation"]), as: UTF8.self)
        let saved = try XCTUnwrap(keys.keys[marker])
        XCTAssertEqual(saved.count, 32)
        _ = try await AltynConsentClient.open(directory: dir, app: testApp, keys: keys)
        XCTAssertEqual(keys.keys[marker], saved)
    }

    func testAStoreWhoseFilesAreGoneIsMissingAndRecoverKeepsWhatIsLeftAndRecordsTheLoss() async throws {
        let keys = MemoryKeys()
        let dir = try temporaryDirectory().appendingPathComponent("store")
        do {
            let consent = try await AltynConsentClient.open(directory: dir, app: testApp, keys: keys)
            try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
        }
        // As after an iOS reinstall: the files are gone, the Keychain is not.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("consent.db"))
        do {
            _ = try await AltynConsentClient.open(directory: dir, app: testApp, keys: keys)
            XCTFail("a store with its files gone opened")
        } catch let ConsentFailure.storeMissing(message) {
            XCTAssertTrue(message.contains("recover"), message)
        }
        do {
            let recovered = try await AltynConsentClient.recover(directory: dir, app: testApp, keys: keys, settings: nil, tokens: nil)
            let info = try XCTUnwrap(recovered.recovery())
            XCTAssertEqual(info.reason, .storeMissing)
            let quarantine = try XCTUnwrap(info.quarantine)
            XCTAssertTrue(FileManager.default.fileExists(atPath: quarantine + "/consent.keycheck.json"), quarantine)
            let history = try await recovered.history()
            XCTAssertEqual(history.map(\.kind), ["store_recovered"])
        }
        // Recovery is for unreadable stores only.
        do {
            _ = try await AltynConsentClient.recover(directory: dir, app: testApp, keys: keys, settings: nil, tokens: nil)
            XCTFail("recovered a readable store")
        } catch ConsentFailure.invalidRequest {}
    }
}
