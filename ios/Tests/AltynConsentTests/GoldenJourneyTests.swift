import Foundation
import XCTest
@testable import AltynConsent

/// Replays bindings/golden/journey.json, as the Rust and Kotlin tests do:
/// the same steps must give the same states and ledger hashes.
final class GoldenJourneyTests: XCTestCase {
    private func name(_ status: OsStatus) -> String {
        switch status {
        case .notDetermined: return "not_determined"
        case .granted: return "granted"
        case .limited: return "limited"
        case .denied: return "denied"
        case .blocked: return "blocked"
        case .unavailable: return "unavailable"
        }
    }

    private func name(_ consent: UserConsent) -> String {
        switch consent {
        case .neverAsked: return "never_asked"
        case .granted: return "granted"
        case .denied: return "denied"
        case .withdrawn: return "withdrawn"
        }
    }

    private func compact(_ state: ConsentState) -> NSDictionary {
        let policy: String
        switch state.policy {
        case .neverAccepted: policy = "never_accepted"
        case let .accepted(version, _, _): policy = "accepted:\(version)"
        case let .reconsentRequired(from, to): policy = "reconsent_required:\(from)->\(to)"
        case let .objected(version, _): policy = "objected:\(version)"
        case .withdrawn: policy = "withdrawn"
        }
        var permissions: [String: String] = [:]
        for p in state.permissions {
            permissions[p.id] = "\(name(p.consent))/\(name(p.osStatus))/\(p.mayUse ? "use" : "no")"
        }
        return [
            "policy": policy, "can_proceed": state.canProceed, "events": NSNumber(value: state.events),
            "head_hash": state.headHash, "subject": state.subject, "permissions": permissions,
        ]
    }

    private func run(_ consent: AltynConsentClient, _ step: [String: Any]) async throws -> ConsentState {
        let op = step["op"] as! String
        switch op {
        case "state":
            return consent.state
        case "accept_policy":
            var shown = await consent.policy(locale: step["locale"] as! String)
            if let hash = step["hash"] as? String { shown.reference.hash = hash }
            return try await consent.accept(shown, ageConfirmed: step["age_confirmed"] as! Bool)
        case "set_permission":
            return try await consent.setPermission(step["permission"] as! String, granted: step["granted"] as! Bool)
        case "report_os_status":
            let statuses: [String: OsStatus] = [
                "not_determined": .notDetermined, "granted": .granted, "limited": .limited,
                "denied": .denied, "blocked": .blocked, "unavailable": .unavailable,
            ]
            return try await consent.reportOsStatus(step["permission"] as! String, statuses[step["status"] as! String]!)
        case "withdraw":
            return try await consent.withdraw(step["permission"] as! String)
        case "withdraw_all":
            return try await consent.withdrawAll()
        case "link_account":
            return try await consent.linkAccount(step["account_id"] as! String)
        default:
            XCTFail("unknown op \(op) in the journey")
            throw CancellationError()
        }
    }

    func testGoldenJourneyReplaysToTheStatesAndHashesRustRecorded() async throws {
        let url = repositoryRoot().appendingPathComponent("bindings/golden/journey.json")
        let journey = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let app = journey["app"] as! [String: String]
        let consent = try await AltynConsentClient.openForReplay(
            directory: try temporaryDirectory(),
            app: AppInfo(platform: app["platform"]!, appVersion: app["app_version"]!, osVersion: app["os_version"]!),
            keys: MemoryKeys(), startAt: journey["start_at"] as! String)
        var events: Int64 = 0
        for (i, step) in (journey["steps"] as! [[String: Any]]).enumerated() {
            do {
                let state = try await run(consent, step)
                let expect = try XCTUnwrap(step["expect"] as? NSDictionary, "step \(i) succeeded but expects an error")
                XCTAssertEqual(compact(state), expect, "step \(i): \(step)")
                events = state.events
            } catch let failure as ConsentFailure {
                XCTAssertEqual(failure.coreName, step["expect_error"] as? String, "step \(i): \(failure)")
                XCTAssertEqual(consent.state.events, events, "step \(i): a refused request recorded something")
            }
        }
        XCTAssertGreaterThan(events, 10)
        // No `await` inside an assertion's autoclosure: Swift 6 refuses it.
        let json = try await consent.export()
        XCTAssertEqual(try verifyExport(json: json, serverKeys: []), events)
    }
}
