package kz.altyncoin.consent.shell

import kz.altyncoin.consent.OsStatus

/**
 * How Android's answers become the core's [OsStatus]: plain Kotlin, so it is
 * tested on the JVM; [kz.altyncoin.consent.android.AndroidPermissionBridge]
 * feeds it from `checkSelfPermission`, `shouldShowRequestPermissionRationale`
 * and its own record of which permissions were requested before.
 */
object AndroidOsStatus {
    const val CAMERA = "android.permission.CAMERA"
    const val FINE_LOCATION = "android.permission.ACCESS_FINE_LOCATION"
    const val COARSE_LOCATION = "android.permission.ACCESS_COARSE_LOCATION"
    const val POST_NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS"
    const val READ_MEDIA_IMAGES = "android.permission.READ_MEDIA_IMAGES"
    const val READ_MEDIA_VISUAL_USER_SELECTED = "android.permission.READ_MEDIA_VISUAL_USER_SELECTED"
    const val READ_EXTERNAL_STORAGE = "android.permission.READ_EXTERNAL_STORAGE"

    /** API level that introduced each runtime permission, and the last that used it. */
    private val introducedIn = mapOf(
        POST_NOTIFICATIONS to 33,
        READ_MEDIA_IMAGES to 33,
        READ_MEDIA_VISUAL_USER_SELECTED to 34,
    )
    private val retiredAfter = mapOf(READ_EXTERNAL_STORAGE to 32)

    /**
     * The manifest permissions of a catalog entry ([catalogPermissions], from
     * `PermissionInfo.androidPermissions`) that exist as runtime permissions
     * on [sdkInt]: what to pass to `requestPermissions`. Empty when the OS
     * has no runtime permission for it (notifications before Android 13).
     */
    fun runtimePermissions(catalogPermissions: List<String>, sdkInt: Int): List<String> =
        catalogPermissions.filter { p ->
            sdkInt >= (introducedIn[p] ?: 1) && sdkInt <= (retiredAfter[p] ?: Int.MAX_VALUE)
        }

    /** What Android says about one permission, as the bridge read it. */
    data class Observation(
        /** `PermissionInfo.id` of the catalog. */
        val permissionId: String,
        val sdkInt: Int,
        /** Runtime permissions of this entry on this API level, see [runtimePermissions]. */
        val runtimePermissions: List<String>,
        /** Whether each manifest permission is granted (any the entry may need). */
        val granted: (String) -> Boolean,
        /** `shouldShowRequestPermissionRationale` for any of [runtimePermissions]. */
        val showRationale: Boolean,
        /** Whether the app asked for it before (Android does not say). */
        val requestedBefore: Boolean,
        /** Whether the device has the hardware at all (camera, GPS). */
        val featurePresent: Boolean = true,
        /** `NotificationManager.areNotificationsEnabled()`, for notifications. */
        val notificationsEnabled: Boolean? = null,
    )

    fun map(o: Observation): OsStatus {
        if (!o.featurePresent) return OsStatus.UNAVAILABLE
        // No runtime permission on this API level: notifications before
        // Android 13, which only the settings switch on or off.
        if (o.runtimePermissions.isEmpty()) {
            return when (o.notificationsEnabled) {
                true -> OsStatus.GRANTED
                false -> OsStatus.BLOCKED
                null -> OsStatus.UNAVAILABLE
            }
        }
        // Permission granted, but notifications switched off in the settings.
        if (o.notificationsEnabled == false && o.granted(o.runtimePermissions.first())) {
            return OsStatus.BLOCKED
        }
        when (o.permissionId) {
            // Android 14: the user picked some photos only.
            "photos" -> if (o.sdkInt >= 34 && !o.granted(READ_MEDIA_IMAGES) && o.granted(READ_MEDIA_VISUAL_USER_SELECTED)) {
                return OsStatus.LIMITED
            }
            // Android 12+: the user chose "approximate" in the precise-location dialog.
            "location_precise" -> if (!o.granted(FINE_LOCATION) && o.granted(COARSE_LOCATION)) {
                return OsStatus.LIMITED
            }
        }
        val primary = o.runtimePermissions.first()
        return when {
            o.granted(primary) -> OsStatus.GRANTED
            !o.requestedBefore -> OsStatus.NOT_DETERMINED
            // Refused once: Android will ask again and shows a rationale first.
            o.showRationale -> OsStatus.DENIED
            // Refused twice, or "don't ask again": only the settings can change it.
            else -> OsStatus.BLOCKED
        }
    }
}
