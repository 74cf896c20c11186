import Foundation

/// Background retry and the foreground re-check, around the core's sync
/// pass. The core decides everything (what to send, what an answer means,
/// when to try again); this is only the alarm clock. Portable: the
/// `BGTaskScheduler` glue below is iOS-only.
public enum ConsentBackgroundSync {
    /// The `BGTaskScheduler` identifier of the consent sync task: list it in
    /// Info.plist under `BGTaskSchedulerPermittedIdentifiers`.
    public static let taskIdentifier = "kz.altyncoin.consent.sync"

    /// How long a background pass may take: iOS gives an app-refresh task
    /// about 30 seconds; the pass ends cleanly before that, and what waits
    /// goes to the next pass.
    public static let refreshBudgetMs: Int64 = 25_000

    /// One pass with a deadline `budgetMs` from now (or the settings' own, if
    /// shorter): never drops an event; the report says what waits.
    public static func runPass(
        _ consent: AltynConsentClient, settings: SyncSettings, tokens: TokenProvider, budgetMs: Int64 = refreshBudgetMs
    ) async throws -> SyncReport {
        var bounded = settings
        bounded.deadlineMs = min(settings.deadlineMs ?? budgetMs, budgetMs)
        return try await consent.sync(settings: bounded, tokens: tokens)
    }

    /// When the next pass should run after `report`: its `nextRetryInSecs`
    /// from `now` while events wait; nil when nothing waits.
    public static func nextRun(after report: SyncReport, now: Date = Date()) -> Date? {
        guard report.pending > 0, let seconds = report.nextRetryInSecs else { return nil }
        return now.addingTimeInterval(TimeInterval(max(seconds, 1)))
    }
}

/// Re-reads what the OS says about every permission when the app returns to
/// the foreground (the user may have changed Settings), through `recheck`
/// (`PermissionBridge.reportAll` on iOS), which records only real changes.
/// Observes `UIApplication.willEnterForegroundNotification` on iOS; tests
/// and other platforms name their own notification.
///
/// `@unchecked Sendable`: its one mutable property, the observer token, is
/// written in `init` and read in `deinit` only.
public final class ForegroundRecheck: @unchecked Sendable {
    private let center: NotificationCenter
    private var token: NSObjectProtocol?

    /// Starts observing `name` on `center`; `recheck` runs once per return.
    public init(
        center: NotificationCenter = .default, name: Notification.Name = ForegroundRecheck.foregroundNotification,
        recheck: @escaping @Sendable () async -> Void
    ) {
        self.center = center
        token = center.addObserver(forName: name, object: nil, queue: nil) { _ in
            Task { await recheck() }
        }
    }

    deinit {
        if let token { center.removeObserver(token) }
    }

    /// `UIApplication.willEnterForegroundNotification`, by its name (the
    /// constant is main-actor isolated; its value is this string).
    public static let foregroundNotification = Notification.Name("UIApplicationWillEnterForegroundNotification")
}

#if canImport(BackgroundTasks) && os(iOS)
    import BackgroundTasks

    extension ConsentBackgroundSync {
        /// What a background pass needs from the app.
        public struct Setup: Sendable {
            public let consent: AltynConsentClient
            public let settings: SyncSettings
            public let tokens: TokenProvider

            public init(consent: AltynConsentClient, settings: SyncSettings, tokens: TokenProvider) {
                self.consent = consent
                self.settings = settings
                self.tokens = tokens
            }
        }

        /// Registers the task's handler; call it before
        /// `application(_:didFinishLaunchingWithOptions:)` returns. `setup`
        /// gives the open client, settings and token provider, or nil when
        /// no pass is possible now (nobody signed in). On expiry the pass's
        /// task is cancelled and the BGTask completed as failed; the pass's
        /// own deadline normally ends it first. Exactly-once holds whatever
        /// happens: the server keeps each event once, by its id.
        @discardableResult
        public static func register(setup: @escaping @Sendable () async -> Setup?) -> Bool {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: taskIdentifier, using: nil) { task in
                let pass = Task {
                    guard let setup = await setup() else {
                        task.setTaskCompleted(success: true)
                        return
                    }
                    do {
                        let report = try await runPass(setup.consent, settings: setup.settings, tokens: setup.tokens)
                        try? schedule(after: report)
                        task.setTaskCompleted(success: report.stop == nil)
                    } catch {
                        task.setTaskCompleted(success: false)
                    }
                }
                task.expirationHandler = {
                    pass.cancel()
                    task.setTaskCompleted(success: false)
                }
            }
        }

        /// Asks for the next pass at `nextRun(after:)`, or cancels the pending
        /// request when nothing waits.
        public static func schedule(after report: SyncReport) throws {
            guard let at = nextRun(after: report) else {
                BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: taskIdentifier)
                return
            }
            let request = BGAppRefreshTaskRequest(identifier: taskIdentifier)
            request.earliestBeginDate = at
            try BGTaskScheduler.shared.submit(request)
        }
    }
#endif
