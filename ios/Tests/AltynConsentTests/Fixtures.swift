import Foundation
import XCTest
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
@testable import AltynConsent

let testApp = AppInfo(platform: "ios", appVersion: "1.0.0-xctest", osVersion: "xctest")

/// A keystore in memory (tests do not touch the real Keychain).
///
/// `@unchecked Sendable`: the core calls it from its own threads; `keys` is
/// read and written only with `lock` held.
final class MemoryKeys: KeyProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String: Data] = [:]

    /// A copy of what the core saved, by store id.
    var keys: [String: Data] {
        lock.lock(); defer { lock.unlock() }
        return stored
    }

    func loadKey(storeId: String) throws -> Data? {
        lock.lock(); defer { lock.unlock() }
        return stored[storeId]
    }

    func saveKey(storeId: String, key: Data) throws {
        lock.lock(); defer { lock.unlock() }
        stored[storeId] = key
    }
}

/// A keystore that hands out a fixed (wrong) key.
final class FixedKeys: KeyProvider {
    private let key: Data
    init(_ key: Data) { self.key = key }
    func loadKey(storeId: String) throws -> Data? { key }
    func saveKey(storeId: String, key: Data) throws {}
}

final class StaticTokens: TokenProvider {
    private let value: String
    init(_ value: String) { self.value = value }
    func token() async throws -> String { value }
    func refresh() async throws -> String { value }
}

/// Nobody is signed in: the provider says so with the typed error.
final class FailingTokens: TokenProvider {
    func token() async throws -> String { throw TokenError.SignedOut }
    func refresh() async throws -> String { throw TokenError.SignedOut }
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

#if os(macOS) || os(Linux)
    /// The reference backend (`altyn-consent-server`, built by cargo) on a free
    /// loopback port, with its own data folder (dev CA, receipt and policy
    /// keys): mirror of the Kotlin tests' `ReferenceServer`. macOS and Linux
    /// only (the iOS simulator cannot spawn processes). The binary is
    /// `ALTYN_SERVER_BIN`, else `target/debug` or `target/release` of this
    /// checkout; without one the sync tests are skipped.
    final class ReferenceServer {
        private let process = Process()
        let dataDir: URL
        let baseUrl: String

        init(dataDir: URL, tokens: [String: String], publish: [URL] = []) throws {
            let fm = FileManager.default
            let candidates =
                [ProcessInfo.processInfo.environment["ALTYN_SERVER_BIN"]].compactMap { $0 }
                + ["target/debug", "target/release"].map { repositoryRoot().appendingPathComponent("\($0)/altyn-consent-server").path }
            guard let bin = candidates.first(where: { fm.isExecutableFile(atPath: $0) }) else {
                throw XCTSkip("no altyn-consent-server: run cargo build -p altyn-consent-server or set ALTYN_SERVER_BIN")
            }
            self.dataDir = dataDir
            let logs = dataDir.deletingLastPathComponent()
            try fm.createDirectory(at: logs, withIntermediateDirectories: true)
            // Output goes to files, not pipes: nobody has to drain them for the
            // server to go on, and the log is there to read when it fails.
            let stdoutFile = logs.appendingPathComponent("server.out")
            let stderrFile = logs.appendingPathComponent("server.log")
            _ = fm.createFile(atPath: stdoutFile.path, contents: nil)
            _ = fm.createFile(atPath: stderrFile.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: bin)
            process.arguments =
                [
                    "--listen", "127.0.0.1:0", "--server-data-dir", dataDir.path,
                    "--tokens", tokens.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                ]
                + publish.flatMap { ["--publish", $0.path] }
            process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
            process.standardError = try FileHandle(forWritingTo: stderrFile)
            try process.run()

            // The first line says where it listens: "listening on https://127.0.0.1:PORT".
            let deadline = Date().addingTimeInterval(60)
            var found: String?
            while found == nil {
                let text = (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.contains("listening on ") }) {
                    found = String(line[line.range(of: "listening on ")!.upperBound...]).trimmingCharacters(in: .whitespaces)
                } else if !process.isRunning || Date() > deadline {
                    Self.forceStop(process)
                    let log = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
                    throw ServerFailed(message: "the server did not start: \(text) \(log)")
                } else {
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
            baseUrl = found!
            guard baseUrl.hasPrefix("https://127.0.0.1:") else {
                Self.forceStop(process)
                throw ServerFailed(message: "unexpected first line: \(baseUrl)")
            }
        }

        func settings() throws -> SyncSettings {
            func read(_ name: String) throws -> String {
                try String(contentsOf: dataDir.appendingPathComponent(name), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return SyncSettings(
                baseUrl: baseUrl, serverKeys: [try read("receipt-key.pub")],
                policyKeys: [try read("policy-key.pub")], extraCaPem: try read("dev-ca.pem"),
                spkiPins: [], requestTimeoutMs: 10_000, maxAttempts: 3)
        }

        /// Stops the server: SIGTERM, then SIGKILL. On Linux the child inherits
        /// the signal mask of the thread that spawned it (swift-corelibs-foundation
        /// spawns from a worker thread that blocks SIGTERM and SIGINT), so
        /// `terminate()` alone may never be delivered.
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date().addingTimeInterval(0.5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            Self.forceStop(process)
        }

        private static func forceStop(_ process: Process) {
            if process.isRunning { _ = kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        deinit { stop() }
    }

    struct ServerFailed: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
#endif

extension AltynConsentClient {
    /// The golden journey's client: the replay clock and counted ids (the
    /// bindings' `openForReplay`, built with the `replay` feature for these
    /// tests only). Not part of the shipped facade.
    static func openForReplay(directory: URL, app: AppInfo, keys: KeyProvider, startAt: String) async throws -> AltynConsentClient {
        do {
            return try AltynConsentClient(
                core: ConsentCore.openForReplay(
                    config: OpenConfig(dataDir: directory.path, app: app), keyProvider: keys, startAt: startAt))
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }
}
