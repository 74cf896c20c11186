import Foundation
import XCTest

@testable import AltynConsent

/// The state stream: revisions only grow, and `close()` ends the streams.
final class StateStreamTests: XCTestCase {
    func testAnOlderStateToldAfterANewerOneNeverReplacesIt() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        let first = consent.state
        let accepted = try await consent.accept(await consent.policy(locale: "ru"), ageConfirmed: true)
        XCTAssertGreaterThan(accepted.revision, first.revision, "a change raises the revision")
        XCTAssertEqual(consent.state, accepted)

        // Two changes told out of order (two threads): the older is dropped.
        let broadcast = StateBroadcast()
        broadcast.offer(accepted)
        broadcast.offer(first)
        XCTAssertEqual(broadcast.current, accepted)
        var newer = accepted
        newer.revision += 1
        broadcast.offer(newer)
        XCTAssertEqual(broadcast.current, newer)
    }

    func testCloseFinishesEveryStream() async throws {
        let consent = try await AltynConsentClient.open(directory: try temporaryDirectory(), app: testApp, keys: MemoryKeys())
        var updates = consent.stateUpdates().makeAsyncIterator()
        let now = await updates.next()
        XCTAssertEqual(now, consent.state)
        consent.close()
        let after = await updates.next()
        XCTAssertNil(after, "the stream ended")
        // A stream opened after close() ends at once.
        var late = consent.stateUpdates().makeAsyncIterator()
        let none = await late.next()
        XCTAssertNil(none)
    }
}
