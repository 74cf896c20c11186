package kz.altyncoin.consent.shell

import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.OsStatus.BLOCKED
import kz.altyncoin.consent.core.OsStatus.DENIED
import kz.altyncoin.consent.core.OsStatus.GRANTED
import kz.altyncoin.consent.core.OsStatus.LIMITED
import kz.altyncoin.consent.core.OsStatus.NOT_DETERMINED
import kz.altyncoin.consent.core.OsStatus.UNAVAILABLE
import kz.altyncoin.consent.shell.AndroidOsStatus.CAMERA
import kz.altyncoin.consent.shell.AndroidOsStatus.COARSE_LOCATION
import kz.altyncoin.consent.shell.AndroidOsStatus.FINE_LOCATION
import kz.altyncoin.consent.shell.AndroidOsStatus.POST_NOTIFICATIONS
import kz.altyncoin.consent.shell.AndroidOsStatus.READ_EXTERNAL_STORAGE
import kz.altyncoin.consent.shell.AndroidOsStatus.READ_MEDIA_IMAGES
import kz.altyncoin.consent.shell.AndroidOsStatus.READ_MEDIA_VISUAL_USER_SELECTED
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test

/** The Android permission bridge's decisions, without a device. */
class AndroidOsStatusTest {
    private val photos = listOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED, READ_EXTERNAL_STORAGE)
    private val camera = listOf(CAMERA)

    private fun reading(
        id: String,
        catalog: List<String>,
        sdk: Int = 34,
        granted: Set<String> = emptySet(),
        feature: Boolean = true,
        notifications: Boolean? = null,
    ) = AndroidOsStatus.Reading(
        id,
        sdk,
        AndroidOsStatus.requestPermissions(id, catalog, sdk),
        { it in granted },
        feature,
        notifications,
    )

    /** A passive read; the status the core would hold afterwards. */
    private fun passive(r: AndroidOsStatus.Reading, recorded: OsStatus = NOT_DETERMINED, asked: Boolean = false): OsStatus =
        AndroidOsStatus.passive(r, recorded, asked) ?: recorded

    /** A request's answer; the status the core would hold afterwards. */
    private fun answer(r: AndroidOsStatus.Reading, before: Boolean, after: Boolean, recorded: OsStatus = NOT_DETERMINED): OsStatus =
        AndroidOsStatus.afterRequest(r, { before }, { after }, recorded) ?: recorded

    @Test
    fun `runtime permissions follow the API level`() {
        assertEquals(listOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED), AndroidOsStatus.runtimePermissions(photos, 34))
        assertEquals(listOf(READ_MEDIA_IMAGES), AndroidOsStatus.runtimePermissions(photos, 33))
        assertEquals(listOf(READ_EXTERNAL_STORAGE), AndroidOsStatus.runtimePermissions(photos, 29))
        assertEquals(emptyList<String>(), AndroidOsStatus.runtimePermissions(listOf(POST_NOTIFICATIONS), 32))
    }

    @Test
    fun `precise location is requested with approximate from Android 12 on`() {
        val fine = listOf(FINE_LOCATION)
        assertEquals(listOf(FINE_LOCATION), AndroidOsStatus.requestPermissions("location_precise", fine, 30))
        for (sdk in 31..36) {
            assertEquals(listOf(FINE_LOCATION, COARSE_LOCATION), AndroidOsStatus.requestPermissions("location_precise", fine, sdk))
        }
        assertEquals(listOf(COARSE_LOCATION), AndroidOsStatus.requestPermissions("location_approximate", listOf(COARSE_LOCATION), 34))
    }

    @Test
    fun `a passive read never says blocked and never invents a change`() {
        // Never asked: not determined, whatever the rationale (no activity needed).
        assertEquals(NOT_DETERMINED, passive(reading("camera", camera)))
        assertNull(AndroidOsStatus.passive(reading("camera", camera), NOT_DETERMINED, askedBefore = false))
        // Asked and answered: the answer stands while nothing is granted.
        assertNull(AndroidOsStatus.passive(reading("camera", camera), DENIED, askedBefore = true))
        assertNull(AndroidOsStatus.passive(reading("camera", camera), BLOCKED, askedBefore = true))
        // A dismissed dialog (asked, no answer recorded): still not determined.
        assertNull(AndroidOsStatus.passive(reading("camera", camera), NOT_DETERMINED, askedBefore = true))
        // Granted in the settings, then revoked there or reset as unused: denied, not blocked.
        assertEquals(GRANTED, passive(reading("camera", camera, granted = setOf(CAMERA)), BLOCKED, asked = true))
        assertEquals(DENIED, passive(reading("camera", camera), GRANTED, asked = true))
        assertNull(AndroidOsStatus.passive(reading("camera", camera, granted = setOf(CAMERA)), GRANTED, askedBefore = true))
        // No hardware.
        assertEquals(UNAVAILABLE, passive(reading("camera", camera, feature = false)))
        // Marks lost with a backup restore: a new installation was never asked.
        assertEquals(NOT_DETERMINED, passive(reading("camera", camera), BLOCKED, asked = false))
    }

    @Test
    fun `blocked comes only from a request's answer`() {
        val r = reading("camera", camera)
        assertEquals(DENIED, answer(r, before = false, after = true))
        assertEquals(BLOCKED, answer(r, before = true, after = false), "refused again: don't ask again")
        assertEquals(DENIED, answer(r, before = true, after = true), "second dialog dismissed")
        assertEquals(NOT_DETERMINED, answer(r, before = false, after = false), "first dialog dismissed")
        assertEquals(BLOCKED, answer(r, before = false, after = false, recorded = BLOCKED), "no dialog: blocked already")
        assertEquals(GRANTED, answer(reading("camera", camera, granted = setOf(CAMERA)), before = true, after = false))
    }

    @Test
    fun `precise location is granted only with FINE, and approximate-only is what it is`() {
        val fine = listOf(FINE_LOCATION)
        val coarse = listOf(COARSE_LOCATION)
        for (sdk in listOf(31, 34, 35)) {
            val both = setOf(FINE_LOCATION, COARSE_LOCATION)
            assertEquals(GRANTED, answer(reading("location_precise", fine, sdk, both), before = false, after = false))
            // The user chose "approximate": precise denied, approximate granted.
            val approximateOnly = setOf(COARSE_LOCATION)
            assertEquals(DENIED, answer(reading("location_precise", fine, sdk, approximateOnly), before = false, after = false))
            assertEquals(GRANTED, answer(reading("location_approximate", coarse, sdk, approximateOnly), before = false, after = false))
            // Both refused for good.
            assertEquals(BLOCKED, answer(reading("location_precise", fine, sdk), before = true, after = false))
            // Passively: approximate in the settings is not precise.
            assertEquals(DENIED, passive(reading("location_precise", fine, sdk, approximateOnly), GRANTED, asked = true))
            assertEquals(GRANTED, passive(reading("location_approximate", coarse, sdk, approximateOnly)))
        }
    }

    @Test
    fun `photos picked in part are limited`() {
        assertEquals(LIMITED, passive(reading("photos", photos, granted = setOf(READ_MEDIA_VISUAL_USER_SELECTED))))
        assertEquals(GRANTED, passive(reading("photos", photos, granted = setOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED))))
        assertEquals(GRANTED, passive(reading("photos", photos, sdk = 30, granted = setOf(READ_EXTERNAL_STORAGE))))
        assertEquals(
            LIMITED,
            answer(reading("photos", photos, granted = setOf(READ_MEDIA_VISUAL_USER_SELECTED)), before = false, after = false),
        )
    }

    @Test
    fun `notifications before and after Android 13`() {
        val n = listOf(POST_NOTIFICATIONS)
        // Before 13 only the settings switch exists: it is the OS status.
        assertEquals(GRANTED, passive(reading("notifications", n, sdk = 31, notifications = true)))
        assertEquals(BLOCKED, passive(reading("notifications", n, sdk = 31, notifications = false)))
        // From 13 on: a runtime permission.
        assertEquals(NOT_DETERMINED, passive(reading("notifications", n, sdk = 34, notifications = false)))
        assertEquals(DENIED, answer(reading("notifications", n, sdk = 34, notifications = false), before = false, after = true))
        assertEquals(BLOCKED, passive(reading("notifications", n, sdk = 34, granted = setOf(POST_NOTIFICATIONS), notifications = false)))
        assertEquals(GRANTED, passive(reading("notifications", n, sdk = 34, granted = setOf(POST_NOTIFICATIONS), notifications = true)))
    }
}
