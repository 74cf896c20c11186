package kz.altyncoin.consent.shell

import kz.altyncoin.consent.core.OsStatus

/**
 * How Android's answers become the core's [OsStatus]: plain Kotlin, so it is
 * tested on the JVM; [kz.altyncoin.consent.android.AndroidPermissionBridge]
 * feeds it from `checkSelfPermission`, the result of a permission request,
 * `shouldShowRequestPermissionRationale` and its own record of what was asked.
 *
 * Two kinds of answer, never mixed up:
 *
 * - A passive read ([passive]: `onResume`, no dialog involved) is sure of
 *   what it sees: granted, granted in part, no such hardware, notifications
 *   switched off. Of a permission that is not granted it knows only that: it
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
    const val CAMERA: String = "android.permission.CAMERA"
    const val FINE_LOCATION: String = "android.permission.ACCESS_FINE_LOCATION"
    const val COARSE_LOCATION: String = "android.permission.ACCESS_COARSE_LOCATION"
    const val POST_NOTIFICATIONS: String = "android.permission.POST_NOTIFICATIONS"
    const val READ_MEDIA_IMAGES: String = "android.permission.READ_MEDIA_IMAGES"
    const val READ_MEDIA_VISUAL_USER_SELECTED: String = "android.permission.READ_MEDIA_VISUAL_USER_SELECTED"
    const val READ_EXTERNAL_STORAGE: String = "android.permission.READ_EXTERNAL_STORAGE"

    const val LOCATION_PRECISE: String = "location_precise"
    const val PHOTOS: String = "photos"

    /** Android 12 (S): precise location is asked for together with approximate. */
    const val LOCATION_SPLIT_SDK: Int = 31

    /** Android 12L: the last with READ_EXTERNAL_STORAGE for photos. */
    private const val SDK_12L: Int = 32

    /** Android 13: notifications and photos became runtime permissions of their own. */
    private const val SDK_13: Int = 33

    /** Android 14: the user may pick some photos only. */
    private const val SELECTED_PHOTOS_SDK: Int = 34

    /** API level that introduced each runtime permission, and the last that used it. */
    private val introducedIn = mapOf(
        POST_NOTIFICATIONS to SDK_13,
        READ_MEDIA_IMAGES to SDK_13,
        READ_MEDIA_VISUAL_USER_SELECTED to SELECTED_PHOTOS_SDK,
    )
    private val retiredAfter = mapOf(READ_EXTERNAL_STORAGE to SDK_12L)

    /**
     * The manifest permissions of a catalog entry ([catalogPermissions], from
     * `PermissionInfo.androidPermissions`) that exist as runtime permissions
     * on [sdkInt]. Empty when the OS has no runtime permission for it
     * (notifications before Android 13).
     */
    fun runtimePermissions(catalogPermissions: List<String>, sdkInt: Int): List<String> = catalogPermissions.filter { p ->
        sdkInt >= (introducedIn[p] ?: 1) && sdkInt <= (retiredAfter[p] ?: Int.MAX_VALUE)
    }

    /**
     * What to pass to `requestPermissions` for the entry [permissionId]: its
     * runtime permissions, the first of which decides. On Android 12+ precise
     * location is requested with ACCESS_COARSE_LOCATION: a request for
     * ACCESS_FINE_LOCATION alone is refused there without a dialog.
     */
    fun requestPermissions(permissionId: String, catalogPermissions: List<String>, sdkInt: Int): List<String> {
        val runtime = runtimePermissions(catalogPermissions, sdkInt)
        val addCoarse = permissionId == LOCATION_PRECISE && sdkInt >= LOCATION_SPLIT_SDK &&
            FINE_LOCATION in runtime && COARSE_LOCATION !in runtime
        return if (addCoarse) runtime + COARSE_LOCATION else runtime
    }

    /** What Android says about one catalog entry now. */
    data class Reading(
        /** `PermissionInfo.id` of the catalog. */
        val permissionId: String,
        val sdkInt: Int,
        /** [requestPermissions] of this entry on this API level; the first decides. */
        val permissions: List<String>,
        /** Whether a manifest permission is granted (any the entry may need). */
        val granted: (String) -> Boolean,
        /** Whether the device has the hardware at all (camera, GPS). */
        val featurePresent: Boolean = true,
        /** `NotificationManager.areNotificationsEnabled()`, for notifications. */
        val notificationsEnabled: Boolean? = null,
    )

    /** What the OS states for sure, or null when the entry is simply not granted. */
    private fun definite(r: Reading): OsStatus? {
        if (!r.featurePresent) return OsStatus.UNAVAILABLE
        // No runtime permission on this API level: notifications before
        // Android 13, which only the settings switch turns on or off.
        val primary = r.permissions.firstOrNull() ?: return when (r.notificationsEnabled) {
            true -> OsStatus.GRANTED
            false -> OsStatus.BLOCKED
            null -> OsStatus.UNAVAILABLE
        }
        return when {
            // Permission granted, but notifications switched off in the settings.
            r.notificationsEnabled == false && r.granted(primary) -> OsStatus.BLOCKED

            r.granted(primary) -> OsStatus.GRANTED

            // Android 14: the user picked some photos only.
            r.permissionId == PHOTOS && r.sdkInt >= SELECTED_PHOTOS_SDK &&
                r.granted(READ_MEDIA_VISUAL_USER_SELECTED) -> OsStatus.LIMITED

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
        val primary = r.permissions.firstOrNull() ?: return passive(r, recorded, askedBefore = true)
        val now = definite(r) ?: when {
            // Android 12+: the user chose "approximate". Precise location is
            // refused (the app may ask again); approximate is granted, which
            // its own entry reports.
            r.permissionId == LOCATION_PRECISE && r.granted(COARSE_LOCATION) -> OsStatus.DENIED

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
