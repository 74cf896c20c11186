package kz.altyncoin.consent.android

import android.app.Activity
import android.app.NotificationManager
import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import kz.altyncoin.consent.OsStatus
import kz.altyncoin.consent.PermissionInfo
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.AndroidOsStatus

/**
 * Turns what Android says about each catalog permission into the core's
 * [OsStatus] and reports it. Usage, in an Activity:
 *
 * ```
 * val bridge = AndroidPermissionBridge(this, consent)
 * // before launching the system dialog:
 * bridge.markRequested(info); requestPermissions(bridge.manifestPermissions(info), code)
 * // in onResume and after the dialog returns:
 * lifecycleScope.launch { bridge.reportAll(this@MyActivity) }
 * ```
 *
 * The in-app decision (`consent.setPermission`) always comes first (§2.4):
 * ask the system only for permissions whose state says `mayUse` would follow.
 */
class AndroidPermissionBridge(
    context: Context,
    private val consent: AltynConsent,
) {
    private val app = context.applicationContext
    private val requested = app.getSharedPreferences("altyn-consent-permission-requests", Context.MODE_PRIVATE)

    /** What to pass to `requestPermissions` for this entry on this device. */
    fun manifestPermissions(info: PermissionInfo): Array<String> =
        AndroidOsStatus.runtimePermissions(info.androidPermissions, Build.VERSION.SDK_INT).toTypedArray()

    /** Call just before showing the system dialog: Android does not tell
     *  "never asked" from "don't ask again", so the bridge remembers. */
    fun markRequested(info: PermissionInfo) {
        requested.edit().putBoolean(info.id, true).apply()
    }

    /** The OS status of one entry, read now. [activity] gives the rationale flag. */
    fun osStatus(info: PermissionInfo, activity: Activity?): OsStatus {
        val runtime = AndroidOsStatus.runtimePermissions(info.androidPermissions, Build.VERSION.SDK_INT)
        val observation = AndroidOsStatus.Observation(
            permissionId = info.id,
            sdkInt = Build.VERSION.SDK_INT,
            runtimePermissions = runtime,
            granted = { app.checkSelfPermission(it) == PackageManager.PERMISSION_GRANTED },
            showRationale = activity != null && runtime.any { activity.shouldShowRequestPermissionRationale(it) },
            requestedBefore = requested.getBoolean(info.id, false),
            featurePresent = featurePresent(info.id),
            notificationsEnabled = if (info.id == "notifications") {
                app.getSystemService(NotificationManager::class.java)?.areNotificationsEnabled()
            } else {
                null
            },
        )
        return AndroidOsStatus.map(observation)
    }

    /** Reports every catalog permission's OS status; the core records changes only. */
    suspend fun reportAll(activity: Activity?, locale: String = "ru") {
        for (info in consent.permissions(locale)) {
            consent.reportOsStatus(info.id, osStatus(info, activity))
        }
    }

    private fun featurePresent(id: String): Boolean {
        val pm = app.packageManager
        return when (id) {
            "camera" -> pm.hasSystemFeature(PackageManager.FEATURE_CAMERA_ANY)
            "location_precise" -> pm.hasSystemFeature(PackageManager.FEATURE_LOCATION_GPS) ||
                pm.hasSystemFeature(PackageManager.FEATURE_LOCATION_NETWORK)
            "location_approximate" -> pm.hasSystemFeature(PackageManager.FEATURE_LOCATION)
            else -> true
        }
    }
}
