package kz.altyncoin.consent.shell

import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.OsStatus.BLOCKED
import kz.altyncoin.consent.core.OsStatus.DENIED
import kz.altyncoin.consent.core.OsStatus.GRANTED
import kz.altyncoin.consent.core.OsStatus.LIMITED
import kz.altyncoin.consent.core.OsStatus.NOT_DETERMINED
import kz.altyncoin.consent.core.OsStatus.UNAVAILABLE
import kz.altyncoin.consent.core.PermissionInfo
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.file.Files

/**
 * The Android permission bridge's decisions, without a device, over the
 * core catalog's platform table (the one the iOS shell reads too).
 */
class AndroidOsStatusTest {
    private fun reading(
        id: String,
        sdk: Int = 34,
        granted: Set<String> = emptySet(),
        feature: Boolean = true,
        notifications: Boolean? = null,
    ) = AndroidOsStatus.Reading(
        AndroidOsStatus.onLevel(CATALOG.getValue(id).androidRuntime, sdk),
        { it in granted },
        feature,
        notifications,
    )

    private fun requested(id: String, sdk: Int) = AndroidOsStatus.requestPermissions(CATALOG.getValue(id).androidRuntime, sdk)

    /** A passive read; the status the core would hold afterwards. */
    private fun passive(r: AndroidOsStatus.Reading, recorded: OsStatus = NOT_DETERMINED, asked: Boolean = false): OsStatus =
        AndroidOsStatus.passive(r, recorded, asked) ?: recorded

    /** A request's answer; the status the core would hold afterwards. */
    private fun answer(r: AndroidOsStatus.Reading, before: Boolean, after: Boolean, recorded: OsStatus = NOT_DETERMINED): OsStatus =
        AndroidOsStatus.afterRequest(r, { before }, { after }, recorded) ?: recorded

    @Test
    fun `runtime permissions follow the API level, as the core's catalog lists them`() {
        assertEquals(listOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED), requested("photos", 34))
        assertEquals(listOf(READ_MEDIA_IMAGES), requested("photos", 33))
        assertEquals(listOf(READ_EXTERNAL_STORAGE), requested("photos", 29))
        assertEquals(emptyList<String>(), requested("notifications", 32))
        assertEquals(listOf(POST_NOTIFICATIONS), requested("notifications", 33))
        assertTrue(CATALOG.getValue("notifications").androidSettingsSwitch)
        assertEquals(listOf("android.hardware.camera.any"), CATALOG.getValue("camera").androidFeatures)
    }

    @Test
    fun `precise location is requested with approximate from Android 12 on`() {
        assertEquals(listOf(FINE_LOCATION), requested("location_precise", 30))
        for (sdk in 31..36) {
            assertEquals(listOf(FINE_LOCATION, COARSE_LOCATION), requested("location_precise", sdk))
        }
        assertEquals(listOf(COARSE_LOCATION), requested("location_approximate", 34))
        assertEquals(listOf(FINE_LOCATION, COARSE_LOCATION), CATALOG.getValue("location_precise").androidPermissions)
    }

    @Test
    fun `a passive read never says blocked and never invents a change`() {
        // Never asked: not determined, whatever the rationale (no activity needed).
        assertEquals(NOT_DETERMINED, passive(reading("camera")))
        assertNull(AndroidOsStatus.passive(reading("camera"), NOT_DETERMINED, askedBefore = false))
        // Asked and answered: the answer stands while nothing is granted.
        assertNull(AndroidOsStatus.passive(reading("camera"), DENIED, askedBefore = true))
        assertNull(AndroidOsStatus.passive(reading("camera"), BLOCKED, askedBefore = true))
        // A dismissed dialog (asked, no answer recorded): still not determined.
        assertNull(AndroidOsStatus.passive(reading("camera"), NOT_DETERMINED, askedBefore = true))
        // Granted in the settings, then revoked there or reset as unused: denied, not blocked.
        assertEquals(GRANTED, passive(reading("camera", granted = setOf(CAMERA)), BLOCKED, asked = true))
        assertEquals(DENIED, passive(reading("camera"), GRANTED, asked = true))
        assertNull(AndroidOsStatus.passive(reading("camera", granted = setOf(CAMERA)), GRANTED, askedBefore = true))
        // No hardware.
        assertEquals(UNAVAILABLE, passive(reading("camera", feature = false)))
        // Marks lost with a backup restore: a new installation was never asked.
        assertEquals(NOT_DETERMINED, passive(reading("camera"), BLOCKED, asked = false))
    }

    @Test
    fun `blocked comes only from a request's answer`() {
        val r = reading("camera")
        assertEquals(DENIED, answer(r, before = false, after = true))
        assertEquals(BLOCKED, answer(r, before = true, after = false), "refused again: don't ask again")
        assertEquals(DENIED, answer(r, before = true, after = true), "second dialog dismissed")
        assertEquals(NOT_DETERMINED, answer(r, before = false, after = false), "first dialog dismissed")
        assertEquals(BLOCKED, answer(r, before = false, after = false, recorded = BLOCKED), "no dialog: blocked already")
        assertEquals(GRANTED, answer(reading("camera", granted = setOf(CAMERA)), before = true, after = false))
    }

    @Test
    fun `precise location is granted only with FINE, and approximate-only is a partial grant`() {
        for (sdk in listOf(31, 34, 35)) {
            val both = setOf(FINE_LOCATION, COARSE_LOCATION)
            assertEquals(GRANTED, answer(reading("location_precise", sdk, both), before = false, after = false))
            // The user chose "approximate": precise is granted in part, approximate in full.
            val approximateOnly = setOf(COARSE_LOCATION)
            assertEquals(LIMITED, answer(reading("location_precise", sdk, approximateOnly), before = false, after = false))
            assertEquals(GRANTED, answer(reading("location_approximate", sdk, approximateOnly), before = false, after = false))
            // Both refused for good.
            assertEquals(BLOCKED, answer(reading("location_precise", sdk), before = true, after = false))
            // Passively: approximate in the settings is not precise.
            assertEquals(LIMITED, passive(reading("location_precise", sdk, approximateOnly), GRANTED, asked = true))
            // Approximate granted through its own entry, precise never asked:
            // the OS's state is a partial grant of precise location (as on iOS).
            assertEquals(LIMITED, passive(reading("location_precise", sdk, approximateOnly), NOT_DETERMINED, asked = false))
            assertEquals(GRANTED, passive(reading("location_approximate", sdk, approximateOnly)))
        }
        // What a partial grant lets the app do is the catalog's: not precise location.
        assertFalse(CATALOG.getValue("location_precise").limitedUsable)
        assertTrue(CATALOG.getValue("photos").limitedUsable)
    }

    @Test
    fun `photos picked in part are limited`() {
        assertEquals(LIMITED, passive(reading("photos", granted = setOf(READ_MEDIA_VISUAL_USER_SELECTED))))
        assertEquals(GRANTED, passive(reading("photos", granted = setOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED))))
        assertEquals(GRANTED, passive(reading("photos", sdk = 30, granted = setOf(READ_EXTERNAL_STORAGE))))
        assertEquals(
            LIMITED,
            answer(reading("photos", granted = setOf(READ_MEDIA_VISUAL_USER_SELECTED)), before = false, after = false),
        )
    }

    @Test
    fun `notifications before and after Android 13`() {
        // Before 13 only the settings switch exists: it is the OS status.
        assertEquals(GRANTED, passive(reading("notifications", sdk = 31, notifications = true)))
        assertEquals(BLOCKED, passive(reading("notifications", sdk = 31, notifications = false)))
        // From 13 on: a runtime permission.
        assertEquals(NOT_DETERMINED, passive(reading("notifications", sdk = 34, notifications = false)))
        assertEquals(DENIED, answer(reading("notifications", sdk = 34, notifications = false), before = false, after = true))
        assertEquals(BLOCKED, passive(reading("notifications", sdk = 34, granted = setOf(POST_NOTIFICATIONS), notifications = false)))
        assertEquals(GRANTED, passive(reading("notifications", sdk = 34, granted = setOf(POST_NOTIFICATIONS), notifications = true)))
    }

    private companion object {
        const val CAMERA = "android.permission.CAMERA"
        const val FINE_LOCATION = "android.permission.ACCESS_FINE_LOCATION"
        const val COARSE_LOCATION = "android.permission.ACCESS_COARSE_LOCATION"
        const val POST_NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS"
        const val READ_MEDIA_IMAGES = "android.permission.READ_MEDIA_IMAGES"
        const val READ_MEDIA_VISUAL_USER_SELECTED = "android.permission.READ_MEDIA_VISUAL_USER_SELECTED"
        const val READ_EXTERNAL_STORAGE = "android.permission.READ_EXTERNAL_STORAGE"

        /** The core's bundled catalog, as the app reads it. */
        val CATALOG: Map<String, PermissionInfo> by lazy {
            val dir = Files.createTempDirectory("altyn-catalog").toFile()
            try {
                runBlocking { AltynConsent.open(dir, testApp, MemoryKeys()).use { it.permissions("en") } }.associateBy { it.id }
            } finally {
                dir.deleteRecursively()
            }
        }
    }
}
