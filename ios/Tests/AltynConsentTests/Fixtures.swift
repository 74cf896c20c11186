import Foundation
import XCTest
@testable import AltynConsent

let testApp = AppInfo(platform: "ios", appVersion: "1.0.0-xctest", osVersion: "xctest")

/// A keystore in memory (tests do not touch the real Keychain).
final class MemoryKeys: KeyProvider, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var keys: [String: Data] = [:]

    func loadKey(storeId: String) throws -> Data? {
        lock.lock(); defer { lock.unlock() }
        return keys[storeId]
    }

    func saveKey(storeId: String, key: Data) throws {
        lock.lock(); defer { lock.unlock() }
        keys[storeId] = key
    }
}

final class FixedKeys: KeyProvider, @unchecked Sendable {
    private let key: Data
    init(_ key: Data) { self.key = key }
    func loadKey(storeId: String) throws -> Data? { key }
    func saveKey(storeId: String, key: Data) throws {}
}

final class StaticTokens: TokenProvider, @unchecked Sendable {
    private let value: String
    init(_ value: String) { self.value = value }
    func token() throws -> String { value }
    func refresh() throws -> String { value }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("altyn-consent-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The repository root, from this file's path (tests run from a checkout).
func repositoryRoot() -> URL {
    URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

#if os(macOS)
/// The reference backend, started as a child process (macOS only: the iOS
/// simulator cannot spawn processes). Set ALTYN_SERVER_BIN to the built
/// `altyn-consent-server`, or the sync tests are skipped.
final class ReferenceServer {
    let process = Process()
    let dataDir: URL
    let baseUrl: String

    init(dataDir: URL, tokens: [String: String]) throws {
        guard let bin = ProcessInfo.processInfo.environment["ALTYN_SERVER_BIN"] else {
            throw XCTSkip("ALTYN_SERVER_BIN is not set: build altyn-consent-server and point to it")
        }
        self.dataDir = dataDir
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["--listen", "127.0.0.1:0", "--server-data-dir", dataDir.path,
                             "--tokens", tokens.map { "\($0.key)=\($0.value)" }.joined(separator: ",")]
        process.standardOutput = out
        try process.run()
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data([10]) {
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: "listening on ") else {
            throw XCTSkip("the server did not start: \(text)")
        }
        baseUrl = String(text[range.upperBound...]).trimmingCharacters(in: .whitespaces)
    }

    func settings() throws -> SyncSettings {
        func read(_ name: String) throws -> String {
            try String(contentsOf: dataDir.appendingPathComponent(name), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return SyncSettings(baseUrl: baseUrl, serverKeys: [try read("receipt-key.pub")],
                            policyKeys: [try read("policy-key.pub")], extraCaPem: try read("dev-ca.pem"),
                            spkiPins: [], requestTimeoutMs: 10_000, maxAttempts: 3)
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }
}
#endif
