package kz.altyncoin.consent.shell

import kz.altyncoin.consent.core.AndroidRuntime
import kz.altyncoin.consent.core.OsStatus

/**
 * How Android's answers become the core's [OsStatus]: plain Kotlin, so it is
 * tested on the JVM; [kz.altyncoin.consent.android.AndroidPermissionBridge]
 * feeds it from `checkSelfPermission`, the result of a permission request,
 * `shouldShowRequestPermissionRationale` and its own record of what was asked.
 * Which permission exists at which API level, which one is a partial grant
 * and which entry has a settings switch are the core catalog's data
 * (`PermissionInfo.androidRuntime`, `androidSettingsSwitch`), the table the
 * iOS shell reads too; this holds only Android's way of answering.
 *
 * Two kinds of answer, never mixed up:
 *
 * - A passive read ([passive]: `onResume`, no dialog involved) is sure of
 *   what it sees: granted, granted in part, no such hardware, notifications
 *   switched off. "In part" includes precise location while only approximate
 *   location is granted (through its own entry), whether or not precise was
 *   ever asked for: that is the OS's state, the same iOS reports, and the
 *   catalog says such a grant lets the app use nothing. Of a permission that is not granted it knows only that: it
 *   reports "not determined" while this installation never asked, "denied"
 *   when it was granted before (revoked in the settings, or reset because the
 *   app was unused), and otherwise keeps what the last request's answer said.
 *   It never concludes "blocked" from a missing rationale (no activity at
 *   hand, a dismissed dialog and a reset permission all look like that).
 * - The answer to a real request ([afterRequest]) can say "blocked": the user
 *   refused and Android stopped offering a rationale that it offered before
 *   the request ("don't ask again"), or the entry was blocked already and
 *   Android answered without showing a dialog.
 *
 * Both return null when the status recorded in the core is still true, so
 * that reading never invents a change.
 */
internal object AndroidOsStatus {
    /**
     * The runtime permissions of a catalog entry ([runtime], from
     * `PermissionInfo.androidRuntime`: the core's table of which permission
     * exists at which API level) that are requested on [sdkInt], the deciding
     * one first. Empty when the OS has no runtime permission for it
     * (notifications before Android 13: only the settings switch).
     */
    fun onLevel(runtime: List<AndroidRuntime>, sdkInt: Int): List<AndroidRuntime> =
        runtime.filter { r -> sdkInt >= (r.minSdk ?: 1) && sdkInt <= (r.maxSdk ?: Int.MAX_VALUE) }

    /**
     * What to pass to `requestPermissions` for an entry: [onLevel]'s names.
     * On Android 12+ the catalog lists ACCESS_COARSE_LOCATION with precise
     * location (a request for ACCESS_FINE_LOCATION alone is refused there
     * without a dialog).
     */
    fun requestPermissions(runtime: List<AndroidRuntime>, sdkInt: Int): List<String> = onLevel(runtime, sdkInt).map { it.permission }

    /** What Android says about one catalog entry now. */
    data class Reading(
        /** [onLevel] of the entry on this device; the first decides, a `partial` one granted alone is LIMITED. */
        val permissions: List<AndroidRuntime>,
        /** Whether a manifest permission is granted. */
        val granted: (String) -> Boolean,
        /** Whether the device has the hardware at all (any of `PermissionInfo.androidFeatures`). */
        val featurePresent: Boolean = true,
        /** `NotificationManager.areNotificationsEnabled()`, for an entry with `androidSettingsSwitch`; else null. */
        val notificationsEnabled: Boolean? = null,
    )

    /** What the OS states for sure, or null when the entry is simply not granted. */
    private fun definite(r: Reading): OsStatus? {
        if (!r.featurePresent) return OsStatus.UNAVAILABLE
        // No runtime permission on this API level: notifications before
        // Android 13, which only the settings switch turns on or off.
        val primary = r.permissions.firstOrNull()?.permission ?: return when (r.notificationsEnabled) {
            true -> OsStatus.GRANTED
            false -> OsStatus.BLOCKED
            null -> OsStatus.UNAVAILABLE
        }
        return when {
            // Permission granted, but notifications switched off in the settings.
            r.notificationsEnabled == false && r.granted(primary) -> OsStatus.BLOCKED

            r.granted(primary) -> OsStatus.GRANTED

            // A partial grant: Android 14's "selected photos", or Android
            // 12's "approximate" when precise location was asked for. What it
            // lets the app do is the catalog's `limitedUsable`, in the core.
            r.permissions.any { it.partial && r.granted(it.permission) } -> OsStatus.LIMITED

            else -> null
        }
    }

    /**
     * A passive read: the status to report for [r], or null when the
     * [recorded] one is still true. [askedBefore]: whether this installation
     * ever requested the entry's first permission.
     */
    fun passive(r: Reading, recorded: OsStatus, askedBefore: Boolean): OsStatus? {
        val now = definite(r) ?: notGranted(recorded, askedBefore)
        return now.takeIf { it != recorded }
    }

    private fun notGranted(recorded: OsStatus, askedBefore: Boolean): OsStatus = when {
        !askedBefore -> OsStatus.NOT_DETERMINED

        // Granted before, not now: revoked in the settings or reset as unused.
        recorded == OsStatus.GRANTED || recorded == OsStatus.LIMITED -> OsStatus.DENIED

        // What the last request's answer said still holds.
        else -> recorded
    }

    /**
     * The answer to a request that included the entry's first permission: the
     * status to report, or null when the [recorded] one is still true.
     * [r] reads the permissions as the result gave them; [rationaleBefore] is
     * `shouldShowRequestPermissionRationale` as it was just before the request,
     * [rationaleAfter] as it is now.
     */
    fun afterRequest(
        r: Reading,
        rationaleBefore: (String) -> Boolean,
        rationaleAfter: (String) -> Boolean,
        recorded: OsStatus,
    ): OsStatus? {
        val primary = r.permissions.firstOrNull()?.permission ?: return passive(r, recorded, askedBefore = true)
        val now = definite(r) ?: when {
            // Refused; Android will ask again, with a rationale.
            rationaleAfter(primary) -> OsStatus.DENIED

            // Refused, and the rationale that was there is gone: "don't ask again".
            rationaleBefore(primary) -> OsStatus.BLOCKED

            // Refused without a rationale before or after: blocked already (no
            // dialog was shown), or the dialog was dismissed: nothing decided.
            else -> notGranted(recorded, askedBefore = true)
        }
        return now.takeIf { it != recorded }
    }
}
