package kz.altyncoin.consent.android

import android.app.Activity
import android.app.Application
import android.app.NotificationManager
import android.content.Context
import android.content.pm.PackageManager
import android.content.pm.PackageManager.PERMISSION_DENIED
import android.content.pm.PackageManager.PERMISSION_GRANTED
import android.os.Build
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.PermissionInfo
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.MemoryKeys
import kz.altyncoin.consent.shell.testApp
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ActivityController
import org.robolectric.annotation.Config
import java.io.File

/**
 * The permission bridge on each API level where Android's behaviour differs
 * (29-30: location without the split; 31+: precise and approximate asked
 * together; 33+: notifications as a runtime permission), against the real
 * core through JNA. The system dialog is played by Robolectric's shadows:
 * what is granted, and whether Android offers a rationale.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [29, 30, 31, 32, 33, 34, 35, 36])
class AndroidPermissionBridgeTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private lateinit var app: Application
    private lateinit var controller: ActivityController<Activity>
    private lateinit var activity: Activity
    private lateinit var consent: AltynConsent
    private lateinit var bridge: AndroidPermissionBridge
    private val sdk get() = Build.VERSION.SDK_INT

    @Before
    fun setUp(): Unit = runBlocking {
        app = RuntimeEnvironment.getApplication()
        val pm = shadowOf(app.packageManager)
        for (feature in listOf(
            PackageManager.FEATURE_CAMERA_ANY,
            PackageManager.FEATURE_LOCATION,
            PackageManager.FEATURE_LOCATION_GPS,
            PackageManager.FEATURE_LOCATION_NETWORK,
        )) {
            pm.setSystemFeature(feature, true)
        }
        consent = AltynConsent.open(File(tmp.root, "store"), testApp, MemoryKeys())
        consent.accept(consent.policy("ru"), ageConfirmed = true)
        controller = Robolectric.buildActivity(Activity::class.java).setup()
        activity = controller.get()
        // These tests cover Android's answers for every catalog entry, the
        // ones Google Play forbids personal-loan apps included: the override.
        bridge = AndroidPermissionBridge(activity, consent, allowStoreRestricted = true)
    }

    @After
    fun tearDown() {
        controller.pause().stop().destroy()
        consent.close()
    }

    private fun info(id: String): PermissionInfo = runBlocking { consent.permissions("ru").single { it.id == id } }

    private fun os(id: String): OsStatus = consent.state.value.permissions.single { it.id == id }.osStatus

    private fun rationale(permission: String, shown: Boolean) =
        shadowOf(app.packageManager).setShouldShowRequestPermissionRationale(permission, shown)

    private fun osEvents(): Int = runBlocking { consent.history().count { it.kind == "os_status_changed" } }

    /** Shows the system dialog for [id]; returns what was asked. */
    private fun ask(id: String): Array<String> {
        assertTrue(bridge.request(activity, info(id), REQUEST))
        val asked = shadowOf(activity).lastRequestedPermission
        assertEquals(REQUEST, asked.requestCode)
        return asked.requestedPermissions
    }

    /** The user's answer comes back: [granted] granted, the rest refused. */
    private fun answer(asked: Array<String>, vararg granted: String): Map<String, OsStatus> = runBlocking {
        shadowOf(app).grantPermissions(*granted)
        shadowOf(app).denyPermissions(*asked.filter { it !in granted }.toTypedArray())
        val results = IntArray(asked.size) { if (asked[it] in granted) PERMISSION_GRANTED else PERMISSION_DENIED }
        bridge.onRequestPermissionsResult(activity, asked, results)
    }

    @Test
    fun `precise location asks for approximate too from Android 12, and approximate-only is recorded as it is`() = runBlocking {
        consent.setPermission(LOCATION_PRECISE, granted = true)
        val asked = ask(LOCATION_PRECISE)
        if (sdk >= 31) {
            assertArrayEquals(arrayOf(FINE, COARSE), asked)
            // "Approximate" in the dialog; no rationale offered afterwards, the
            // case the old bridge turned into BLOCKED.
            rationale(FINE, false)
            val reported = answer(asked, COARSE)
            // A partial grant of precise location, which the catalog says is
            // not usable as precise location.
            assertEquals(mapOf(LOCATION_PRECISE to OsStatus.LIMITED, LOCATION_APPROXIMATE to OsStatus.GRANTED), reported)
            assertEquals(OsStatus.LIMITED, os(LOCATION_PRECISE))
            assertFalse(consent.state.value.permissions.single { it.id == LOCATION_PRECISE }.mayUse)
            assertEquals(OsStatus.GRANTED, os(LOCATION_APPROXIMATE))
            // Asked again, the user upgrades to precise.
            val again = ask(LOCATION_PRECISE)
            assertEquals(mapOf(LOCATION_PRECISE to OsStatus.GRANTED), answer(again, FINE, COARSE))
        } else {
            assertArrayEquals(arrayOf(FINE), asked)
            assertEquals(mapOf(LOCATION_PRECISE to OsStatus.GRANTED), answer(asked, FINE))
        }
        assertEquals(OsStatus.GRANTED, os(LOCATION_PRECISE))
        assertTrue(consent.state.value.permissions.single { it.id == LOCATION_PRECISE }.mayUse)
        // Reading afterwards changes nothing.
        val events = osEvents()
        if (sdk < 31) shadowOf(app).grantPermissions(COARSE) // FINE implies COARSE before Android 12
        bridge.reportAll()
        assertEquals(mapOf<String, OsStatus>(), bridge.reportAll())
        assertEquals(OsStatus.GRANTED, os(LOCATION_PRECISE))
        assertTrue(osEvents() >= events)
    }

    @Test
    fun `blocked only from a refusal that ends the rationale, never from reading`() = runBlocking {
        consent.setPermission(CAMERA_ID, granted = true)
        // Never asked: reading says not determined and records nothing new.
        assertEquals(mapOf<String, OsStatus>(), bridge.reportAll().filterKeys { it == CAMERA_ID })
        assertEquals(OsStatus.NOT_DETERMINED, os(CAMERA_ID))

        // First dialog dismissed: nothing decided.
        rationale(CAMERA, false)
        assertEquals(mapOf<String, OsStatus>(), answer(ask(CAMERA_ID)))
        assertEquals(OsStatus.NOT_DETERMINED, os(CAMERA_ID))

        // Refused once: Android will ask again, with a rationale.
        val first = ask(CAMERA_ID)
        rationale(CAMERA, true)
        assertEquals(mapOf(CAMERA_ID to OsStatus.DENIED), answer(first))
        assertEquals(mapOf<String, OsStatus>(), bridge.reportAll())

        // Refused again: the rationale is gone, "don't ask again".
        val second = ask(CAMERA_ID)
        rationale(CAMERA, false)
        assertEquals(mapOf(CAMERA_ID to OsStatus.BLOCKED), answer(second))
        val events = osEvents()
        // Reading, with or without an activity, many times: no flapping.
        repeat(3) { assertEquals(mapOf<String, OsStatus>(), bridge.reportAll()) }
        assertEquals(events, osEvents())
        assertEquals(OsStatus.BLOCKED, os(CAMERA_ID))

        // Blocked: Android answers without a dialog; still blocked, nothing recorded.
        assertEquals(mapOf<String, OsStatus>(), answer(ask(CAMERA_ID)))

        // Allowed in the settings, then reset as unused: denied, not blocked.
        shadowOf(app).grantPermissions(CAMERA)
        assertEquals(mapOf(CAMERA_ID to OsStatus.GRANTED), bridge.reportAll())
        shadowOf(app).denyPermissions(CAMERA)
        assertEquals(mapOf(CAMERA_ID to OsStatus.DENIED), bridge.reportAll())
        assertEquals(mapOf<String, OsStatus>(), bridge.reportAll())
        assertEquals(
            listOf("denied", "blocked", "granted", "denied"),
            consent.history().filter { it.kind == "os_status_changed" && it.json.contains("\"camera\"") }
                .map { it.json.substringAfter("\"status\":\"").substringBefore('"') },
        )
    }

    @Test
    fun `what Google Play forbids a lending app is not requested unless the app overrides it`() {
        val store = AndroidPermissionBridge(activity, consent)
        for (id in listOf("contacts", "photos", LOCATION_PRECISE)) {
            val entry = info(id)
            assertFalse(entry.googlePlayAllowsForLending)
            assertFalse(store.mayRequest(entry))
            assertFalse("$id requested", store.request(activity, entry, REQUEST))
        }
        assertNull("nothing was requested", shadowOf(activity).lastRequestedPermission)
        // Allowed ones are requested as before, and the override asks for the rest.
        assertTrue(store.request(activity, info(CAMERA_ID), REQUEST))
        assertTrue(bridge.mayRequest(info("contacts")))
    }

    @Test
    fun `notifications are a runtime permission from Android 13, the settings switch before`() = runBlocking {
        consent.setPermission(NOTIFICATIONS_ID, granted = true)
        val notifications = shadowOf(app.getSystemService(NotificationManager::class.java))
        notifications.setNotificationsEnabled(true)
        if (sdk >= 33) {
            assertArrayEquals(arrayOf(POST_NOTIFICATIONS), bridge.manifestPermissions(info(NOTIFICATIONS_ID)))
            assertEquals(OsStatus.NOT_DETERMINED, os(NOTIFICATIONS_ID))
            val asked = ask(NOTIFICATIONS_ID)
            assertEquals(mapOf(NOTIFICATIONS_ID to OsStatus.GRANTED), answer(asked, POST_NOTIFICATIONS))
        } else {
            // Nothing to ask: the switch in the settings is the OS status.
            assertEquals(0, bridge.manifestPermissions(info(NOTIFICATIONS_ID)).size)
            assertFalse(bridge.request(activity, info(NOTIFICATIONS_ID), REQUEST))
            assertEquals(OsStatus.GRANTED, bridge.reportAll()[NOTIFICATIONS_ID])
        }
        assertTrue(consent.state.value.permissions.single { it.id == NOTIFICATIONS_ID }.mayUse)
        notifications.setNotificationsEnabled(false)
        assertEquals(OsStatus.BLOCKED, bridge.reportAll()[NOTIFICATIONS_ID])
        assertEquals(mapOf<String, OsStatus>(), bridge.reportAll())
    }

    @Test
    fun `what was asked lives in noBackupFilesDir, and restored preferences mean nothing`() = runBlocking {
        // What an earlier version kept in SharedPreferences, as a restored
        // backup brings it back: "asked before" for the camera.
        app.getSharedPreferences("altyn-consent-permission-requests", Context.MODE_PRIVATE)
            .edit().putBoolean(CAMERA_ID, true).commit()
        rationale(CAMERA, false)
        consent.reportOsStatus(CAMERA_ID, OsStatus.BLOCKED) // e.g. restored from the server
        assertEquals(mapOf(CAMERA_ID to OsStatus.NOT_DETERMINED), bridge.reportAll().filterKeys { it == CAMERA_ID })

        ask(CAMERA_ID)
        val marks = File(app.noBackupFilesDir, "altyn-consent-permission-requests.properties")
        assertTrue(marks.isFile)
        assertTrue(marks.readText().contains("asked.$CAMERA=true"))
        // A new bridge (the app restarted) reads the same marks.
        rationale(CAMERA, true)
        val again = AndroidPermissionBridge(activity, consent, allowStoreRestricted = true)
        val reported = again.onRequestPermissionsResult(activity, arrayOf(CAMERA), intArrayOf(PERMISSION_DENIED))
        assertEquals(mapOf(CAMERA_ID to OsStatus.DENIED), reported)
    }

    private companion object {
        const val REQUEST = 7
        const val CAMERA_ID = "camera"
        const val NOTIFICATIONS_ID = "notifications"
        const val LOCATION_PRECISE = "location_precise"
        const val LOCATION_APPROXIMATE = "location_approximate"
        const val CAMERA = "android.permission.CAMERA"
        const val FINE = "android.permission.ACCESS_FINE_LOCATION"
        const val COARSE = "android.permission.ACCESS_COARSE_LOCATION"
        const val POST_NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS"
    }
}
