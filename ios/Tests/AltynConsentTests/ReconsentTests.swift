import Foundation
import XCTest
@testable import AltynConsent

#if os(macOS) || os(Linux)
    /// §10: a new version arrives through sync; the user sees the changes, then
    /// consents again. Mirror of Kotlin's ReconsentTest (needs the reference server).
    final class ReconsentTests: XCTestCase {
        private let amendment = "Тестовая поправка: данные о местоположении хранятся не дольше 30 дней."

        /// Version 2 of the bundled policy, with one sentence added to §4.2.5.
        private func version2(in dir: URL) throws -> URL {
            let bundled = repositoryRoot().appendingPathComponent("core/policy/altyncoin-privacy-ru.json")
            var doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: bundled)) as? [String: Any])
            doc["version"] = 2
            var sections = try XCTUnwrap(doc["sections"] as? [[String: Any]])
            var amended = false
            for i in sections.indices {
                guard var clauses = sections[i]["clauses"] as? [[String: Any]] else { continue }
                for j in clauses.indices where clauses[j]["id"] as? String == "4.2.5" {
                    var blocks = try XCTUnwrap(clauses[j]["blocks"] as? [[String: Any]])
                    blocks[0]["text"] = try XCTUnwrap(blocks[0]["text"] as? String) + " " + amendment
                    clauses[j]["blocks"] = blocks
                    amended = true
                }
                sections[i]["clauses"] = clauses
            }
            XCTAssertTrue(amended, "clause 4.2.5 not found in the bundled policy")
            doc["sections"] = sections
            let url = dir.appendingPathComponent("policy-v2.json")
            try JSONSerialization.data(withJSONObject: doc).write(to: url)
            return url
        }

        func testANewVersionAsksAgainShowsTheChangedClauseAndTheNewAcceptanceSyncs() async throws {
            let root = try temporaryDirectory()
            let consent = try await AltynConsentClient.open(
                directory: root.appendingPathComponent("store"), app: testApp, keys: MemoryKeys())
            try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
            try await consent.setPermission("camera", granted: true)
            let none = try await consent.policyChanges()
            XCTAssertNil(none)

            let server = try ReferenceServer(
                dataDir: root.appendingPathComponent("server"), tokens: ["token-1": "borrower-1"],
                publish: [try version2(in: root)])
            defer { server.stop() }
            let first = try await consent.sync(settings: try server.settings(), tokens: StaticTokens("token-1"))
            XCTAssertEqual(first.policyUpdatedTo, 2)
            let asked = consent.state
            XCTAssertEqual(asked.policy, .reconsentRequired(fromVersion: 1, toVersion: 2))
            XCTAssertEqual(asked.permissions.first { $0.id == "camera" }?.mayUse, false, "nothing is used until the user answers")

            // No `await` inside an assertion's autoclosure (Swift 6 refuses it): the value first.
            let maybeChanges = try await consent.policyChanges()
            let changes = try XCTUnwrap(maybeChanges)
            XCTAssertEqual(changes.fromVersion, 1)
            XCTAssertEqual(changes.toVersion, 2)
            XCTAssertEqual(changes.changes.count, 1)
            let changed = try XCTUnwrap(changes.changes.first)
            XCTAssertEqual(changed.id, "4.2.5")
            XCTAssertEqual(changed.kind, .changed)
            XCTAssertTrue(changed.newText?.contains(amendment) ?? false)
            XCTAssertTrue(changes.text.contains("4.2.5"))

            let v2 = await consent.policy(locale: "ru")
            XCTAssertEqual(v2.reference.version, 2)
            try await consent.noticeShown(v2)
            let accepted = try await consent.accept(v2, ageConfirmed: true)
            guard case let .accepted(version, _, _) = accepted.policy else { return XCTFail("\(accepted.policy)") }
            XCTAssertEqual(version, 2)
            XCTAssertTrue(accepted.canProceed)

            let second = try await consent.sync(settings: try server.settings(), tokens: StaticTokens("token-1"))
            XCTAssertEqual(second.acknowledged, 2, "the notice and the new acceptance")
            let status = try await consent.syncStatus()
            XCTAssertEqual(status.pending, 0)
            let history = try await consent.history()
            XCTAssertEqual(history.map(\.kind), ["policy_accepted", "permission_decided", "policy_notice_shown", "policy_accepted"])
        }
    }

#endif
