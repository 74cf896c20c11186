package kz.altyncoin.consent.shell

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import kz.altyncoin.consent.AppInfo
import kz.altyncoin.consent.ConsentCore
import kz.altyncoin.consent.ConsentException
import kz.altyncoin.consent.HttpClient
import kz.altyncoin.consent.KeyProvider
import kz.altyncoin.consent.OpenConfig
import kz.altyncoin.consent.StateObserver
import kz.altyncoin.consent.TokenProvider
import kz.altyncoin.consent.core.Concern
import kz.altyncoin.consent.core.ConsentState
import kz.altyncoin.consent.core.HistoryEntry
import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.PermissionInfo
import kz.altyncoin.consent.core.PolicyDiff
import kz.altyncoin.consent.core.PolicyText
import kz.altyncoin.consent.core.ReceiptInfo
import kz.altyncoin.consent.core.RecoveryReport
import kz.altyncoin.consent.core.StatementInfo
import kz.altyncoin.consent.core.SyncReport
import kz.altyncoin.consent.core.SyncSettings
import kz.altyncoin.consent.core.SyncStatus
import kz.altyncoin.consent.core.VerifyReport
import java.io.File

/**
 * The app's entry point to the consent core: one instance per store, shared
 * by the whole app (hold it in your Application or DI graph).
 *
 * Every rule lives in the Rust core; this class only moves calls off the
 * caller's thread, publishes the state as a [StateFlow] and turns the core's
 * errors into [ConsentFailure]. Every function runs its work on [io] (blocking
 * disk work, one small encrypted transaction per decision, and the network
 * passes [sync] and [restoreFromServer], whose Rust future is polled on the
 * thread that awaits it): any of them may be called from the main thread.
 */
public class AltynConsent internal constructor(private val core: ConsentCore, private val io: CoroutineDispatcher) : AutoCloseable {
    private val relay = StateRelay()

    // The observer first, then the state: a change made in between reaches
    // the flow through the observer, or is already in the state read.
    private val observerHandle: Long = core.addObserver(relay)
    private val mutableState: MutableStateFlow<ConsentState> = try {
        relay.start { core.state() }
    } catch (e: ConsentException) {
        core.removeObserver(observerHandle)
        throw e
    }

    /** The consent state; updates after every change, whoever made it. */
    public val state: StateFlow<ConsentState> = mutableState.asStateFlow()

    public companion object {
        /**
         * Opens the encrypted store in [dataDir] (use
         * `context.noBackupFilesDir`: the key does not survive a backup
         * restore, so the store must not be restored either). Only a true
         * first start creates one. [serverKeys] are the sync server's receipt
         * keys built into the app, which [verify] checks receipts against.
         *
         * @throws ConsentFailure.StoreMissing, ConsentFailure.StoreDamaged,
         *   ConsentFailure.KeyLost: the store cannot be read; nothing was
         *   changed; call [recover].
         * @throws ConsentFailure.KeyLocked: try again later.
         */
        public suspend fun open(
            dataDir: File,
            app: AppInfo,
            keys: KeyProvider,
            serverKeys: List<String> = emptyList(),
            io: CoroutineDispatcher = Dispatchers.IO,
        ): AltynConsent = withContext(io) {
            wrap(translated { ConsentCore.open(OpenConfig(dataDir.path, app, serverKeys), keys) }.withLocalTime(), io)
        }

        /**
         * Recovers a store that [open] reported as missing, damaged or
         * keyless: with [settings], the server's copy is fetched and checked
         * first (a network failure changes nothing); the old files are moved
         * into `quarantine/` (kept); the loss is recorded as its own event.
         * [AltynConsent.recovery] tells what happened.
         */
        public suspend fun recover(
            dataDir: File,
            app: AppInfo,
            keys: KeyProvider,
            settings: SyncSettings?,
            tokens: TokenProvider?,
            serverKeys: List<String> = settings?.serverKeys ?: emptyList(),
            io: CoroutineDispatcher = Dispatchers.IO,
        ): AltynConsent = withContext(io) {
            wrap(translated { ConsentCore.recover(OpenConfig(dataDir.path, app, serverKeys), keys, settings, tokens) }.withLocalTime(), io)
        }

        /** Statements give the device's local time too (§6.1.5: "when"). */
        private fun ConsentCore.withLocalTime(): ConsentCore = apply {
            val offsetMillis = java.util.TimeZone.getDefault().getOffset(System.currentTimeMillis())
            setUtcOffset(java.util.concurrent.TimeUnit.MILLISECONDS.toSeconds(offsetMillis.toLong()).toInt())
        }

        /** The facade over an open [core]; the core is closed if that fails. */
        internal fun wrap(core: ConsentCore, io: CoroutineDispatcher): AltynConsent = try {
            translated { AltynConsent(core, io) }
        } catch (e: ConsentFailure) {
            core.close()
            throw e
        }
    }

    /** What [recover] did, if this client was made by it. */
    public fun recovery(): RecoveryReport? = core.recovery()

    /** The current policy in the best language for [locale] (Russian is authoritative). */
    public suspend fun policy(locale: String): PolicyText = call { core.policy(locale) }

    public suspend fun policyLocales(): List<String> = call { core.policyLocales() }

    /** The device permissions the app may ask for, with the purposes (§4.2). */
    public suspend fun permissions(locale: String): List<PermissionInfo> = call { core.permissions(locale) }

    /** Records acceptance of [shown], the exact text the user saw, with the 18+ attestation. */
    public suspend fun accept(shown: PolicyText, ageConfirmed: Boolean): ConsentState = call {
        core.acceptPolicy(shown.reference.version, shown.reference.hash, shown.locale, ageConfirmed)
    }

    /** §10.4: the user objects to [shown]. */
    public suspend fun objectTo(shown: PolicyText): ConsentState = call {
        core.objectToPolicy(shown.reference.version, shown.reference.hash, shown.locale)
    }

    /** §10.2: the notice of the new version [shown] was displayed. */
    public suspend fun noticeShown(shown: PolicyText): ConsentState = call {
        core.recordNoticeShown(shown.reference.version, shown.reference.hash, shown.locale)
    }

    /** The user's in-app decision on one permission ([PermissionInfo.id]). */
    public suspend fun setPermission(permission: String, granted: Boolean): ConsentState = call { core.setPermission(permission, granted) }

    /** What Android says about a permission; only a change is recorded. */
    public suspend fun reportOsStatus(permission: String, status: OsStatus): ConsentState = call { core.reportOsStatus(permission, status) }

    /** §6.1.5: withdraws the consent to one permission. */
    public suspend fun withdraw(permission: String): ConsentState = call { core.withdraw(permission) }

    /** §6.1.5: withdraws every consent; the app returns to the policy screen. */
    public suspend fun withdrawAll(): ConsentState = call { core.withdrawAll() }

    /** §6.1.5: withdraws the consent for one purpose (a §4.2 clause id such as `4.2.5`). */
    public suspend fun withdrawPurpose(purpose: String): ConsentState = call { core.withdrawPurpose(purpose) }

    /**
     * §6.1.5, §10.4: the written statements each withdrawal and objection drew
     * up: [StatementInfo.text] / [StatementInfo.markdown] to show or share
     * (see `StatementIntents` in the android package), [StatementInfo.mailto] to send, and the Company's
     * receipt of delivery once sync brought it.
     */
    public suspend fun statements(): List<StatementInfo> = call { core.statements() }

    /**
     * §5.7: reports unauthorised access or a suspected breach. Access is
     * blocked ([ConsentState.accessBlocked]) until the Company's signed
     * unblock arrives by [sync]; new grants fail with [ConsentFailure.AccessBlocked].
     */
    public suspend fun reportCompromise(concern: Concern, details: String): ConsentState = call { core.reportCompromise(concern, details) }

    /** The ledger as ISO/IEC TS 27560 consent records (JSON). */
    public suspend fun exportIso27560(): String = call { core.exportIso27560() }

    /** Links the installation to the signed-in account. */
    public suspend fun linkAccount(accountId: String): ConsentState = call { core.linkAccount(accountId) }

    public suspend fun history(): List<HistoryEntry> = call { core.history() }

    /** A self-contained, verifiable export of every decision (JSON). */
    public suspend fun export(): String = call { core.export() }

    public suspend fun verify(): VerifyReport = call { core.verify() }

    /** The clause-by-clause changes when re-consent is due. */
    public suspend fun policyChanges(): PolicyDiff? = call { core.policyChanges() }

    public suspend fun syncStatus(): SyncStatus = call { core.syncStatus() }

    public suspend fun receipts(): List<ReceiptInfo> = call { core.receipts() }

    /**
     * One sync pass. Never drops an event: what could not be sent waits for
     * the next pass; schedule it after [SyncReport.nextRetryInSecs]
     * (`ConsentBackgroundSync.scheduleAfter`, on JobScheduler).
     */
    public suspend fun sync(settings: SyncSettings, tokens: TokenProvider): SyncReport =
        withContext(io) { translated { core.sync(settings, tokens) } }

    /**
     * [sync] through the app's own HTTP stack ([http]: OkHttp, Cronet, with
     * the app's interceptors and certificate pinning); the core still
     * decides what to send and what an answer means.
     */
    public suspend fun syncWithClient(settings: SyncSettings, tokens: TokenProvider, http: HttpClient): SyncReport =
        withContext(io) { translated { core.syncWithClient(settings, tokens, http) } }

    /**
     * [verify], then the ledger against the server's own copy: every receipt
     * the server holds for this installation must match the ledger (catches
     * receipts deleted from the store). Writes nothing.
     */
    public suspend fun verifyOnline(settings: SyncSettings, tokens: TokenProvider): VerifyReport =
        withContext(io) { translated { core.verifyOnline(settings, tokens) } }

    /** Fills an empty store from the server (new device), verified first. */
    public suspend fun restoreFromServer(settings: SyncSettings, tokens: TokenProvider): ConsentState =
        withContext(io) { translated { core.restoreFromServer(settings, tokens) } }

    override fun close() {
        core.removeObserver(observerHandle)
        core.close()
    }

    private suspend fun <T> call(block: () -> T): T = withContext(io) { translated(block) }
}

/**
 * Forwards the core's notifications to the flow, once the flow exists. A
 * notification that comes before [start] holds a change that the state read
 * in [start] already contains; one that comes during [start] waits for it.
 * The core tells observers on the thread that made each change, so two
 * changes made at once can arrive out of order: a state whose revision is
 * not newer than the flow's is dropped, so the flow never ends on a stale one.
 */
internal class StateRelay : StateObserver {
    private val lock = Any()
    private var flow: MutableStateFlow<ConsentState>? = null

    override fun onStateChanged(state: ConsentState) {
        synchronized(lock) {
            val current = flow ?: return
            if (state.revision > current.value.revision) current.value = state
        }
    }

    fun start(read: () -> ConsentState): MutableStateFlow<ConsentState> = synchronized(lock) { MutableStateFlow(read()).also { flow = it } }
}
