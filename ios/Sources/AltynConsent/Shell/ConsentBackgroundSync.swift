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

    /// One pass that ends within `budgetMs` (the core's
    /// `SyncSettings.withinBudget`: deadline and request timeout cut to fit).
    /// Never drops an event; the report says what waits.
    public static func runPass(
        _ consent: AltynConsentClient, settings: SyncSettings, tokens: TokenProvider, budgetMs: Int64 = refreshBudgetMs
    ) async throws -> SyncReport {
        try await consent.sync(settings: settings.withinBudget(budgetMs: budgetMs), tokens: tokens)
    }

    /// Whether a pass that failed with `error` should be tried again later
    /// without the app: only what passes by itself (the network, a locked
    /// keystore, the disk). A signed-out user or a lost store waits for the
    /// app, whose next foreground sync schedules again. The core decides
    /// (`ErrorKind.isTransient`), for both shells.
    public static func retries(_ error: Error) -> Bool {
        (error as? ConsentFailure)?.kind.isTransient() ?? false
    }

    /// How long to wait before retrying a pass that failed and `retries`.
    public static let retryAfterFailure: TimeInterval = 15 * 60

    /// When the next pass should run after `report`: its `nextRetryInSecs`
    /// from `now` (the core sets it only while events wait); nil otherwise.
    public static func nextRun(after report: SyncReport, now: Date = Date()) -> Date? {
        guard let seconds = report.nextRetryInSecs else { return nil }
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
        /// `application(_:didFinishLaunchingWithOptions:)` returns. The app's
        /// Info.plist lists `taskIdentifier` under
        /// `BGTaskSchedulerPermittedIdentifiers` and has `fetch` in
        /// `UIBackgroundModes` (without it, scheduling fails with
        /// `notPermitted`). `setup` gives the open client, settings and token
        /// provider, or nil when no pass is possible now (nobody signed in).
        ///
        /// The pass fits the refresh window (`runPass`). On expiry the BGTask
        /// is completed as failed; the Rust future goes on until it ends by
        /// its deadline (UniFFI's Swift code does not hand it a task's
        /// cancellation), and whatever happens, the task is completed once
        /// and exactly-once holds: the server keeps each event once, by id.
        @discardableResult
        public static func register(setup: @escaping @Sendable () async -> Setup?) -> Bool {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: taskIdentifier, using: nil) { task in
                let once = CompleteOnce(task)
                task.expirationHandler = { once.complete(success: false) }
                Task {
                    guard let setup = await setup() else {
                        once.complete(success: true)
                        return
                    }
                    do {
                        let report = try await runPass(setup.consent, settings: setup.settings, tokens: setup.tokens)
                        scheduleLogged(after: report)
                        once.complete(success: report.stop == nil)
                    } catch {
                        if retries(error) { submitLogged(at: Date().addingTimeInterval(retryAfterFailure)) }
                        once.complete(success: false)
                    }
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
            try submit(at: at)
        }

        private static func submit(at date: Date) throws {
            let request = BGAppRefreshTaskRequest(identifier: taskIdentifier)
            request.earliestBeginDate = date
            try BGTaskScheduler.shared.submit(request)
        }

        private static func scheduleLogged(after report: SyncReport) {
            do { try schedule(after: report) } catch { logSchedulingFailure(error) }
        }

        private static func submitLogged(at date: Date) {
            do { try submit(at: date) } catch { logSchedulingFailure(error) }
        }

        private static func logSchedulingFailure(_ error: Error) {
            // The error's kind only (notPermitted: Info.plist lacks the identifier or `fetch`).
            NSLog("AltynConsent: the next background sync could not be scheduled: %@", String(describing: type(of: error)))
        }
    }

    /// Completes a BGTask exactly once, from the pass or from the expiry.
    ///
    /// `@unchecked Sendable`: `BGTask` is not marked Sendable, but
    /// `setTaskCompleted` may be called from any thread; the flag that makes
    /// it happen once is guarded by `lock`.
    private final class CompleteOnce: @unchecked Sendable {
        private let task: BGTask
        private let lock = NSLock()
        private var done = false

        init(_ task: BGTask) { self.task = task }

        func complete(success: Bool) {
            lock.lock()
            let first = !done
            done = true
            lock.unlock()
            if first { task.setTaskCompleted(success: success) }
        }
    }
#endif
