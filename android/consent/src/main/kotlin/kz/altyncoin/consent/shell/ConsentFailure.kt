package kz.altyncoin.consent.shell

import kz.altyncoin.consent.ConsentException

/**
 * Why a consent operation failed, and what the app should do. Every message
 * says what went wrong and what to do; none holds personal data, tokens or
 * key material. Nothing is recorded when one is thrown.
 */
sealed class ConsentFailure(message: String, cause: Throwable) : Exception(message, cause) {
    /** No key, a wrong key, or an unreachable keystore. The store file is kept:
     *  restore the keystore, or restore the consents from the server. */
    class KeyUnavailable(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** The store file is damaged; it was left as it is. Restore from the server. */
    class StoreDamaged(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** The store comes from a newer app version: ask the user to update. */
    class StoreTooNew(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** Disk or I/O trouble: try again later. */
    class StorageFailed(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** Acceptance without the 18+ confirmation: ask for it. */
    class AgeNotConfirmed(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** The text shown is not the current version: show [currentVersion] and ask again. */
    class StalePolicy(message: String, val currentVersion: UInt, cause: Throwable) : ConsentFailure(message, cause)

    /** Permissions are decided only after the policy is accepted. */
    class PolicyNotAccepted(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** A bad request from the app: unknown permission or locale, nothing to withdraw, ... */
    class InvalidRequest(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** Sync settings or the access token are wrong. */
    class SyncSetup(message: String, cause: Throwable) : ConsentFailure(message, cause)

    /** Restore from the server failed; nothing was written. */
    class RestoreFailed(message: String, cause: Throwable) : ConsentFailure(message, cause)
}

/** The generated exception as the app-facing [ConsentFailure]. */
fun ConsentException.toFailure(): ConsentFailure = when (this) {
    is ConsentException.KeyUnavailable -> ConsentFailure.KeyUnavailable(reason, this)
    is ConsentException.StoreDamaged -> ConsentFailure.StoreDamaged(reason, this)
    is ConsentException.StoreTooNew -> ConsentFailure.StoreTooNew(reason, this)
    is ConsentException.Storage -> ConsentFailure.StorageFailed(reason, this)
    is ConsentException.AgeNotConfirmed -> ConsentFailure.AgeNotConfirmed(reason, this)
    is ConsentException.StalePolicy -> ConsentFailure.StalePolicy(reason, currentVersion, this)
    is ConsentException.PolicyNotAccepted -> ConsentFailure.PolicyNotAccepted(reason, this)
    is ConsentException.InvalidRequest -> ConsentFailure.InvalidRequest(reason, this)
    is ConsentException.SyncSetup -> ConsentFailure.SyncSetup(reason, this)
    is ConsentException.RestoreFailed -> ConsentFailure.RestoreFailed(reason, this)
}

internal inline fun <T> translated(block: () -> T): T =
    try {
        block()
    } catch (e: ConsentException) {
        throw e.toFailure()
    }
