package kz.altyncoin.consent.shell

import kz.altyncoin.consent.ConsentException
import kz.altyncoin.consent.core.ErrorKind

/**
 * Why a consent operation failed, and what the app should do. Every message
 * says what went wrong and what to do; none holds personal data, tokens or
 * key material. Nothing is recorded when one is thrown.
 */
public sealed class ConsentFailure(
    message: String,
    /** The core's kind of this failure: `kind.isTransient()` (try again later by itself), `kind.callsForRecovery()`. */
    public val kind: ErrorKind,
    cause: Throwable,
) : Exception(message, cause) {
    /** A read found no store: nothing has been recorded yet. */
    public class NoStoreYet(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.NO_STORE_YET, cause)

    /**
     * The store is gone but a trace shows it existed (e.g. a key left by an
     * earlier installation). Put it back, or call [AltynConsent.recover].
     */
    public class StoreMissing(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.STORE_MISSING, cause)

    /** The store file is damaged or not a consent store; it was left as it is. Call [AltynConsent.recover]. */
    public class StoreDamaged(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.STORE_DAMAGED, cause)

    /** The store's key is gone from the keystore (or is not this store's). The file is kept: call [AltynConsent.recover]. */
    public class KeyLost(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.KEY_LOST, cause)

    /** The keystore is locked or busy: try again later. Nothing is wrong with the store; never recover on this. */
    public class KeyLocked(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.KEY_LOCKED, cause)

    /** The store comes from a newer app version: ask the user to update. */
    public class StoreTooNew(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.STORE_TOO_NEW, cause)

    /** Disk or I/O trouble: try again later. */
    public class StorageFailed(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.STORAGE, cause)

    /** Acceptance without the 18+ confirmation: ask for it. */
    public class AgeNotConfirmed(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.AGE_NOT_CONFIRMED, cause)

    /** Permissions are decided only after the policy is accepted. */
    public class PolicyNotAccepted(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.POLICY_NOT_ACCEPTED, cause)

    /** A bad request from the app: unknown permission or locale, nothing to withdraw, nothing to recover, ... */
    public class InvalidRequest(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.INVALID_REQUEST, cause)

    /** Restore needs an empty store, and this one holds events. */
    public class StoreNotEmpty(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.STORE_NOT_EMPTY, cause)

    /** §5.7: access is blocked pending the Company's review of a compromise report; nothing can be granted. */
    public class AccessBlocked(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.ACCESS_BLOCKED, cause)

    /** The ledger, its receipts or an export does not check out: it was altered. */
    public class VerificationFailed(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.VERIFICATION_FAILED, cause)

    /** Sync settings, the server keys or the access token are wrong. */
    public class SyncSetup(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.SYNC_SETUP, cause)

    /** The server could not be reached: nothing was lost, try again later. */
    public class Network(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.NETWORK, cause)

    /** The server refused, or its answer does not prove itself. */
    public class ServerRejected(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.SERVER_REJECTED, cause)

    /** A bug in the library: please report it. */
    public class Internal(message: String, cause: Throwable) : ConsentFailure(message, ErrorKind.INTERNAL, cause)

    /** The text shown is not the current version: show [currentVersion] and ask again. */
    public class StalePolicy(message: String, public val currentVersion: Int, cause: Throwable) :
        ConsentFailure(message, ErrorKind.STALE_POLICY, cause)
}

/** The generated exception as the app-facing [ConsentFailure]; one class per kind of failure of the core. */
public fun ConsentException.toFailure(): ConsentFailure = when (this) {
    is ConsentException.NoStoreYet -> ConsentFailure.NoStoreYet(reason, this)
    is ConsentException.StoreMissing -> ConsentFailure.StoreMissing(reason, this)
    is ConsentException.StoreDamaged -> ConsentFailure.StoreDamaged(reason, this)
    is ConsentException.KeyLost -> ConsentFailure.KeyLost(reason, this)
    is ConsentException.KeyLocked -> ConsentFailure.KeyLocked(reason, this)
    is ConsentException.StoreTooNew -> ConsentFailure.StoreTooNew(reason, this)
    is ConsentException.Storage -> ConsentFailure.StorageFailed(reason, this)
    is ConsentException.AgeNotConfirmed -> ConsentFailure.AgeNotConfirmed(reason, this)
    is ConsentException.PolicyNotAccepted -> ConsentFailure.PolicyNotAccepted(reason, this)
    is ConsentException.InvalidRequest -> ConsentFailure.InvalidRequest(reason, this)
    is ConsentException.StoreNotEmpty -> ConsentFailure.StoreNotEmpty(reason, this)
    is ConsentException.AccessBlocked -> ConsentFailure.AccessBlocked(reason, this)
    is ConsentException.VerificationFailed -> ConsentFailure.VerificationFailed(reason, this)
    is ConsentException.SyncSetup -> ConsentFailure.SyncSetup(reason, this)
    is ConsentException.Network -> ConsentFailure.Network(reason, this)
    is ConsentException.ServerRejected -> ConsentFailure.ServerRejected(reason, this)
    is ConsentException.Internal -> ConsentFailure.Internal(reason, this)
    is ConsentException.StalePolicy -> ConsentFailure.StalePolicy(reason, currentVersion, this)
}

internal inline fun <T> translated(block: () -> T): T = try {
    block()
} catch (e: ConsentException) {
    throw e.toFailure()
}
