package kz.altyncoin.consent.android

import android.app.Activity
import android.app.NotificationManager
import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.util.Log
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.PermissionInfo
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.AndroidOsStatus
import java.io.File
import java.io.IOException
import java.util.Properties

/**
 * Turns what Android says about each catalog permission into the core's
 * [OsStatus] and reports the changes. Usage, in an Activity:
 *
 * ```
 * val bridge = AndroidPermissionBridge(this, consent)
 * // to ask (after the in-app consent, see below):
 * bridge.request(this, info, REQUEST_CODE)
 * override fun onRequestPermissionsResult(code: Int, permissions: Array<String>, results: IntArray) {
 *     super.onRequestPermissionsResult(code, permissions, results)
 *     lifecycleScope.launch { bridge.onRequestPermissionsResult(this@MyActivity, permissions, results) }
 * }
 * // in onResume (settings changed, permissions reset):
 * lifecycleScope.launch { bridge.reportAll() }
 * ```
 *
 * "Blocked" (only the settings can change it) comes only from the answer to
 * a real request: see [AndroidOsStatus]. Reading never reports a status that
 * the core already has. What was requested, and whether Android showed a
 * rationale before, is kept in `noBackupFilesDir`, so a restored backup never
 * makes a new installation believe it asked.
 *
 * Which runtime permission is requested on which API level comes from the
 * core's catalog (`PermissionInfo.androidRuntime`): on Android 12+ a request
 * for precise location includes ACCESS_COARSE_LOCATION, and the app's
 * manifest must declare both (`PermissionInfo.androidPermissions`). An
 * "approximate" answer is recorded as what it is, a partial grant (LIMITED),
 * which the catalog says does not let the app use precise location. The in-app
 * decision (`consent.setPermission`) always comes first (§2.4): ask the
 * system only for permissions whose state says `mayUse` would follow.
 *
 * Google Play's Financial Services policy forbids personal-loan apps to
 * access contacts, photos and media, and precise location; the catalog says
 * which entries it forbids (`PermissionInfo.googlePlayAllowsForLending`).
 * The bridge does not request those ([request] returns false) unless the
 * app sets [allowStoreRestricted] deliberately (e.g. a build for another
 * store). Reading their status still works.
 */
public class AndroidPermissionBridge(
    context: Context,
    private val consent: AltynConsent,
    private val allowStoreRestricted: Boolean = false,
) {
    private val app = context.applicationContext

    // One marks file and one reporting lock per process, shared by every
    // bridge (the Activity's and the Application's foreground re-check): a
    // bridge must never read what another one asked from a stale copy.
    private val marks = RequestMarks.of(File(app.noBackupFilesDir, "altyn-consent-permission-requests.properties"))
    private val reporting = REPORTING

    /** What to pass to `requestPermissions` for this entry on this device (empty: nothing to ask). */
    public fun manifestPermissions(info: PermissionInfo): Array<String> =
        AndroidOsStatus.requestPermissions(info.androidRuntime, Build.VERSION.SDK_INT).toTypedArray()

    /** Whether this bridge may request [info]: not what Google Play forbids a lending app, unless overridden. */
    public fun mayRequest(info: PermissionInfo): Boolean = info.googlePlayAllowsForLending || allowStoreRestricted

    /**
     * Call just before `requestPermissions` (done for you by [request]):
     * remembers that the permissions were asked for and whether Android
     * offered a rationale for each, which tells "don't ask again" from a
     * dismissed dialog afterwards. Returns [manifestPermissions], or nothing
     * when the bridge may not request [info] ([mayRequest]).
     */
    public fun beforeRequest(activity: Activity, info: PermissionInfo): Array<String> {
        if (!mayRequest(info)) {
            Log.w("AltynConsent", "not requesting ${info.id}: Google Play forbids it for personal-loan apps (${info.storeNote})")
            return emptyArray()
        }
        val permissions = manifestPermissions(info)
        if (permissions.isNotEmpty()) {
            marks.recordRequest(permissions.associateWith { activity.shouldShowRequestPermissionRationale(it) })
        }
        return permissions
    }

    /**
     * Shows the system dialog for [info]; the answer comes to the activity's
     * `onRequestPermissionsResult` with [requestCode]: pass it to
     * [onRequestPermissionsResult]. False when there is nothing to ask on this
     * API level (notifications before Android 13: open the settings instead),
     * or when Google Play forbids it for a lending app ([mayRequest]).
     */
    public fun request(activity: Activity, info: PermissionInfo, requestCode: Int): Boolean {
        val permissions = beforeRequest(activity, info)
        if (permissions.isEmpty()) return false
        activity.requestPermissions(permissions, requestCode)
        return true
    }

    /**
     * Records the user's answer to a request: every catalog entry whose first
     * permission was in it. Returns what was reported (entry id to status).
     * An empty result (the request was interrupted) reports nothing.
     */
    public suspend fun onRequestPermissionsResult(
        activity: Activity,
        permissions: Array<out String>,
        grantResults: IntArray,
        locale: String = "ru",
    ): Map<String, OsStatus> {
        if (permissions.isEmpty() || permissions.size != grantResults.size) return emptyMap()
        val answered = permissions.indices.associate { permissions[it] to (grantResults[it] == PackageManager.PERMISSION_GRANTED) }
        val rationaleAfter = answered.keys.associateWith { activity.shouldShowRequestPermissionRationale(it) }
        val rationaleBefore = answered.keys.associateWith { marks.rationaleBefore(it) }
        // The request happened, whoever launched it.
        marks.recordAnswered(answered.keys)
        return reportChanges(locale) { info, recorded ->
            val reading = reading(info) { p -> answered[p] ?: granted(p) }
            val inRequest = reading.permissions.firstOrNull()?.let { it.permission in answered } ?: false
            if (!inRequest) {
                null
            } else {
                AndroidOsStatus.afterRequest(
                    reading,
                    rationaleBefore = { rationaleBefore[it] ?: false },
                    rationaleAfter = { rationaleAfter[it] ?: false },
                    recorded = recorded,
                )
            }
        }
    }

    /**
     * Reads every catalog entry's OS status now (call in `onResume`) and
     * reports what really changed: granted or revoked in the settings, reset
     * as unused, notifications switched, hardware missing. Returns what was
     * reported (entry id to status).
     */
    public suspend fun reportAll(locale: String = "ru"): Map<String, OsStatus> = reportChanges(locale) { info, recorded ->
        val reading = reading(info, ::granted)
        val askedBefore = reading.permissions.firstOrNull()?.let { marks.asked(it.permission) } ?: false
        AndroidOsStatus.passive(reading, recorded, askedBefore)
    }

    /** Reports, one pass at a time, what [decide] finds changed for each catalog entry. */
    private suspend fun reportChanges(locale: String, decide: (PermissionInfo, OsStatus) -> OsStatus?): Map<String, OsStatus> =
        reporting.withLock {
            val recorded = recordedStatuses()
            val changes = consent.permissions(locale).mapNotNull { info ->
                decide(info, recorded[info.id] ?: OsStatus.NOT_DETERMINED)?.let { info.id to it }
            }
            for ((id, status) in changes) consent.reportOsStatus(id, status)
            changes.toMap()
        }

    private fun recordedStatuses(): Map<String, OsStatus> = consent.state.value.permissions.associate { it.id to it.osStatus }

    private fun reading(info: PermissionInfo, granted: (String) -> Boolean): AndroidOsStatus.Reading = AndroidOsStatus.Reading(
        permissions = AndroidOsStatus.onLevel(info.androidRuntime, Build.VERSION.SDK_INT),
        granted = granted,
        featurePresent = info.androidFeatures.isEmpty() || info.androidFeatures.any { app.packageManager.hasSystemFeature(it) },
        notificationsEnabled = if (info.androidSettingsSwitch) {
            app.getSystemService(NotificationManager::class.java)?.areNotificationsEnabled()
        } else {
            null
        },
    )

    private fun granted(permission: String): Boolean = app.checkSelfPermission(permission) == PackageManager.PERMISSION_GRANTED

    private companion object {
        /** One report at a time in the process, whichever bridge makes it. */
        val REPORTING = Mutex()
    }
}

/**
 * Which manifest permissions this installation asked for, and whether
 * Android offered a rationale for each just before the last request. A small
 * properties file in `noBackupFilesDir`, replaced whole on each change.
 */
internal class RequestMarks private constructor(private val file: File) {
    private val lock = Any()
    private var cache: Properties? = null

    companion object {
        private val byFile = java.util.concurrent.ConcurrentHashMap<String, RequestMarks>()

        /** The one instance for [file] in this process (every bridge shares its cache). */
        fun of(file: File): RequestMarks = byFile.getOrPut(file.absolutePath) { RequestMarks(file) }
    }

    fun asked(permission: String): Boolean = synchronized(lock) { props().getProperty("asked.$permission") == "true" }

    fun rationaleBefore(permission: String): Boolean = synchronized(lock) { props().getProperty("rationale.$permission") == "true" }

    fun recordRequest(rationale: Map<String, Boolean>): Unit = synchronized(lock) {
        val p = props()
        for ((permission, shown) in rationale) {
            p.setProperty("asked.$permission", "true")
            p.setProperty("rationale.$permission", shown.toString())
        }
        save(p)
    }

    fun recordAnswered(permissions: Collection<String>): Unit = synchronized(lock) {
        val p = props()
        if (permissions.all { p.getProperty("asked.$it") == "true" }) return
        permissions.forEach { p.setProperty("asked.$it", "true") }
        save(p)
    }

    private fun props(): Properties = cache ?: Properties().also { p ->
        try {
            if (file.exists()) file.inputStream().use { p.load(it) }
        } catch (_: IOException) {
            p.clear() // unreadable: as if nothing was asked (never "blocked")
        }
        cache = p
    }

    private fun save(p: Properties) {
        try {
            file.parentFile?.mkdirs()
            val tmp = File(file.path + ".tmp")
            tmp.outputStream().use {
                p.store(it, null)
                it.fd.sync()
            }
            if (!tmp.renameTo(file)) throw IOException("rename failed")
        } catch (_: IOException) {
            // Kept in memory for this process; the worst case after a restart
            // is a "not determined" where "denied" was known, never "blocked".
        }
    }
}
