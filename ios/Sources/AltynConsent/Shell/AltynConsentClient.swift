import Foundation

/// The app's entry point to the consent core: one instance per store,
/// shared by the whole app. Mirror of the Kotlin `AltynConsent` facade.
///
/// Every rule lives in the Rust core; this class only moves calls off the
/// caller's thread, publishes the state as an `AsyncStream` and turns the
/// core's errors into `ConsentFailure`.
///
/// Sendable because every stored property is immutable and Sendable: the
/// core is thread-safe (a UniFFI object, `Sendable`), and `StateBroadcast`
/// guards its state with a lock.
public final class AltynConsentClient: Sendable {
    private let core: ConsentCore
    private let states: StateBroadcast
    private let observerHandle: Int64

    /// The facade over an open core (the tests' replay constructor uses it).
    init(core: ConsentCore) throws {
        // The observer first, then the state: a change made in between
        // reaches the broadcast either way, and the higher revision wins.
        let states = StateBroadcast()
        let handle = core.addObserver(observer: states)
        do {
            states.offer(try core.state())
        } catch {
            _ = core.removeObserver(handle: handle)
            throw error
        }
        self.core = core
        self.states = states
        self.observerHandle = handle
    }

    deinit {
        close()
    }

    /// Stops the state updates: every `stateUpdates()` stream finishes.
    /// Other calls still work. Called on deinit.
    public func close() {
        _ = core.removeObserver(handle: observerHandle)
        states.finish()
    }

    /// Opens the encrypted store in `directory` (use a folder in
    /// Application Support, excluded from backups: the Keychain item that
    /// holds the key is this-device-only). Only a true first start creates a
    /// store; `.storeMissing` (e.g. after a reinstall: the Keychain outlives
    /// the app's files), `.storeDamaged` and `.keyLost` call for `recover`,
    /// `.keyLocked` for a later retry. `serverKeys` are the sync server's
    /// receipt keys, which `verify` checks receipts against.
    public static func open(directory: URL, app: AppInfo, keys: KeyProvider, serverKeys: [String] = []) async throws -> AltynConsentClient {
        let client = try await offMain {
            try AltynConsentClient(
                core: ConsentCore.open(
                    config: OpenConfig(dataDir: directory.path, app: app, serverKeys: serverKeys), keyProvider: keys
                ).withLocalTime())
        }
        excludeFromBackup(directory)
        return client
    }

    /// Recovers a store that `open` reported as missing, damaged or keyless:
    /// with `settings`, the server's copy is fetched and checked first (a
    /// network failure changes nothing); the old files are moved into
    /// `quarantine/` (kept); the loss is recorded as its own event.
    /// `serverKeys` (default: the settings' keys) are the receipt keys the
    /// recovered client's `verify` checks against, as for `open`.
    public static func recover(
        directory: URL, app: AppInfo, keys: KeyProvider, settings: SyncSettings?, tokens: TokenProvider?,
        serverKeys: [String]? = nil
    ) async throws -> AltynConsentClient {
        let config = OpenConfig(dataDir: directory.path, app: app, serverKeys: serverKeys ?? settings?.serverKeys ?? [])
        do {
            let core = try await ConsentCore.recover(config: config, keyProvider: keys, settings: settings, tokens: tokens)
            let client = try AltynConsentClient(core: core.withLocalTime())
            excludeFromBackup(directory)
            return client
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }

    /// The latest consent state.
    public var state: ConsentState { states.current }

    /// What `recover` found and did, on the client it returned; nil otherwise.
    public func recovery() -> RecoveryReport? { core.recovery() }

    /// The state now, then after every change, whoever made it.
    public func stateUpdates() -> AsyncStream<ConsentState> { states.stream() }

    public func policy(locale: String) async -> PolicyText {
        await offMainNonThrowing { self.core.policy(locale: locale) }
    }

    /// The locales the policy text exists in.
    public func policyLocales() async -> [String] {
        await offMainNonThrowing { self.core.policyLocales() }
    }

    public func permissions(locale: String) async -> [PermissionInfo] {
        await offMainNonThrowing { self.core.permissions(locale: locale) }
    }

    /// Records acceptance of `shown`, the exact text the user saw, with the 18+ attestation.
    @discardableResult
    public func accept(_ shown: PolicyText, ageConfirmed: Bool) async throws -> ConsentState {
        try await offMain {
            try self.core.acceptPolicy(
                version: shown.reference.version, hash: shown.reference.hash,
                locale: shown.locale, ageConfirmed: ageConfirmed)
        }
    }

    /// §10.4: the user objects to `shown`.
    @discardableResult
    public func object(to shown: PolicyText) async throws -> ConsentState {
        try await offMain {
            try self.core.objectToPolicy(version: shown.reference.version, hash: shown.reference.hash, locale: shown.locale)
        }
    }

    /// §10.2: the notice of the new version `shown` was displayed.
    @discardableResult
    public func noticeShown(_ shown: PolicyText) async throws -> ConsentState {
        try await offMain {
            try self.core.recordNoticeShown(version: shown.reference.version, hash: shown.reference.hash, locale: shown.locale)
        }
    }

    @discardableResult
    public func setPermission(_ permission: String, granted: Bool) async throws -> ConsentState {
        try await offMain { try self.core.setPermission(permission: permission, granted: granted) }
    }

    /// What iOS says about a permission; only a change is recorded.
    @discardableResult
    public func reportOsStatus(_ permission: String, _ status: OsStatus) async throws -> ConsentState {
        try await offMain { try self.core.reportOsStatus(permission: permission, status: status) }
    }

    /// §6.1.5: withdraws the consent to one permission.
    @discardableResult
    public func withdraw(_ permission: String) async throws -> ConsentState {
        try await offMain { try self.core.withdraw(permission: permission) }
    }

    /// §6.1.5: withdraws every consent; the app returns to the policy screen.
    @discardableResult
    public func withdrawAll() async throws -> ConsentState {
        try await offMain { try self.core.withdrawAll() }
    }

    /// §6.1.5: withdraws the consent for one purpose (a §4.2 clause id such as `4.2.5`).
    @discardableResult
    public func withdrawPurpose(_ purpose: String) async throws -> ConsentState {
        try await offMain { try self.core.withdrawPurpose(purpose: purpose) }
    }

    /// §6.1.5, §10.4: the written statements each withdrawal and objection
    /// drew up: `text`/`markdown` to show or share (a `UIActivityViewController`
    /// with `text`), `mailto` to open with `UIApplication.open`, and the
    /// Company's receipt of delivery once sync brought it.
    public func statements() async throws -> [StatementInfo] { try await offMain { try self.core.statements() } }

    /// §5.7: reports unauthorised access or a suspected breach. Access is
    /// blocked (`state.accessBlocked`) until the Company's signed unblock
    /// arrives by `sync`; new grants throw `ConsentFailure.accessBlocked`.
    @discardableResult
    public func reportCompromise(_ concern: Concern, details: String) async throws -> ConsentState {
        try await offMain { try self.core.reportCompromise(concern: concern, details: details) }
    }

    /// The ledger as ISO/IEC TS 27560 consent records (JSON).
    public func exportIso27560() async throws -> String { try await offMain { try self.core.exportIso27560() } }

    @discardableResult
    public func linkAccount(_ accountId: String) async throws -> ConsentState {
        try await offMain { try self.core.linkAccount(accountId: accountId) }
    }

    public func history() async throws -> [HistoryEntry] { try await offMain { try self.core.history() } }
    public func export() async throws -> String { try await offMain { try self.core.export() } }
    public func verify() async throws -> VerifyReport { try await offMain { try self.core.verify() } }
    public func policyChanges() async throws -> PolicyDiff? { try await offMain { try self.core.policyChanges() } }
    public func syncStatus() async throws -> SyncStatus { try await offMain { try self.core.syncStatus() } }
    public func receipts() async throws -> [ReceiptInfo] { try await offMain { try self.core.receipts() } }

    /// One sync pass; schedule the next (BGTaskScheduler) after `nextRetryInSecs`.
    public func sync(settings: SyncSettings, tokens: TokenProvider) async throws -> SyncReport {
        do {
            return try await core.sync(settings: settings, tokens: tokens)
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }

    /// `sync` through the app's own HTTP stack (`URLSession` with the app's
    /// configuration and pinning); the core still decides what to send and
    /// what an answer means.
    public func syncWithClient(settings: SyncSettings, tokens: TokenProvider, http: HttpClient) async throws -> SyncReport {
        do {
            return try await core.syncWithClient(settings: settings, tokens: tokens, http: http)
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }

    /// `verify`, then the ledger against the server's own copy: every
    /// receipt the server holds for this installation must match the ledger
    /// (catches receipts deleted from the store). Writes nothing.
    public func verifyOnline(settings: SyncSettings, tokens: TokenProvider) async throws -> VerifyReport {
        do {
            return try await core.verifyOnline(settings: settings, tokens: tokens)
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }

    /// Fills an empty store from the server (new device), verified first.
    public func restoreFromServer(settings: SyncSettings, tokens: TokenProvider) async throws -> ConsentState {
        do {
            return try await core.restoreFromServer(settings: settings, tokens: tokens)
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }
}

/// Runs blocking core work (one small disk transaction) off the caller's
/// thread, translating the core's errors.
/// Keeps the store's folder out of iCloud and device backups: its key is a
/// this-device-only Keychain item, so a store restored onto a new iPhone
/// could never be opened (the new device starts clean, or `recover`s from
/// the server). Set after a successful open, on the folder that now exists;
/// a failure to set it is logged by the system and does not fail the open.
private func excludeFromBackup(_ directory: URL) {
    #if canImport(Darwin)
        var url = directory
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try? url.setResourceValues(values)
    #endif
}

private func offMain<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) {
        do {
            return try work()
        } catch let error as ConsentError {
            throw ConsentFailure(error)
        }
    }.value
}

private func offMainNonThrowing<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await Task.detached(priority: .userInitiated) { work() }.value
}

/// Keeps the latest state and hands it to every open stream, in revision
/// order: the core tells observers on the thread that made each change, so
/// two changes made at once can arrive out of order; an older revision than
/// the one delivered is dropped, and yields happen under the lock, so no
/// stream ever ends on a stale state.
///
/// `@unchecked Sendable`: the core calls `onStateChanged` from its own
/// threads while streams open and close on others; every read and write of
/// `latest`, `finished` and `continuations` happens with `lock` held
/// (`yield` and `finish` do not block, so calling them under it is safe).
final class StateBroadcast: StateObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var latest: ConsentState?
    private var finished = false
    private var continuations: [UUID: AsyncStream<ConsentState>.Continuation] = [:]

    /// The latest state (set by the first `offer`, before the client is used).
    var current: ConsentState {
        lock.lock()
        defer { lock.unlock() }
        return latest!
    }

    func onStateChanged(state: ConsentState) { offer(state) }

    /// Takes `state` if it is newer than the one delivered; tells every stream.
    func offer(_ state: ConsentState) {
        lock.lock()
        defer { lock.unlock() }
        if let latest, latest.revision >= state.revision { return }
        latest = state
        for continuation in continuations.values { continuation.yield(state) }
    }

    /// Ends every stream, and any opened later.
    func finish() {
        lock.lock()
        finished = true
        let targets = Array(continuations.values)
        continuations = [:]
        lock.unlock()
        // Outside the lock: finishing runs each stream's onTermination.
        for continuation in targets { continuation.finish() }
    }

    func stream() -> AsyncStream<ConsentState> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let id = UUID()
            // Set before the lock: it may run at once, and it takes the lock.
            continuation.onTermination = { [weak self] _ in self?.remove(id) }
            lock.lock()
            if finished {
                lock.unlock()
                continuation.finish()
                return
            }
            continuations[id] = continuation
            if let now = latest { continuation.yield(now) }
            lock.unlock()
        }
    }

    private func remove(_ id: UUID) {
        lock.lock()
        continuations[id] = nil
        lock.unlock()
    }
}

extension ConsentCore {
    /// Statements give the device's local time too (§6.1.5: "when").
    fileprivate func withLocalTime() -> ConsentCore {
        setUtcOffset(seconds: Int32(TimeZone.current.secondsFromGMT()))
        return self
    }
}
