package kz.altyncoin.consent.shell

import kz.altyncoin.consent.OsStatus
import kz.altyncoin.consent.shell.AndroidOsStatus.COARSE_LOCATION
import kz.altyncoin.consent.shell.AndroidOsStatus.FINE_LOCATION
import kz.altyncoin.consent.shell.AndroidOsStatus.POST_NOTIFICATIONS
import kz.altyncoin.consent.shell.AndroidOsStatus.READ_EXTERNAL_STORAGE
import kz.altyncoin.consent.shell.AndroidOsStatus.READ_MEDIA_IMAGES
import kz.altyncoin.consent.shell.AndroidOsStatus.READ_MEDIA_VISUAL_USER_SELECTED
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/** The Android permission bridge's decisions, without a device. */
class AndroidOsStatusTest {
    private val photos = listOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED, READ_EXTERNAL_STORAGE)

    private fun status(
        id: String,
        catalog: List<String>,
        sdk: Int = 34,
        granted: Set<String> = emptySet(),
        rationale: Boolean = false,
        requested: Boolean = false,
        feature: Boolean = true,
        notifications: Boolean? = null,
    ) = AndroidOsStatus.map(
        AndroidOsStatus.Observation(
            id, sdk, AndroidOsStatus.runtimePermissions(catalog, sdk), { it in granted },
            rationale, requested, feature, notifications,
        ),
    )

    @Test
    fun `runtime permissions follow the API level`() {
        assertEquals(listOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED), AndroidOsStatus.runtimePermissions(photos, 34))
        assertEquals(listOf(READ_MEDIA_IMAGES), AndroidOsStatus.runtimePermissions(photos, 33))
        assertEquals(listOf(READ_EXTERNAL_STORAGE), AndroidOsStatus.runtimePermissions(photos, 29))
        assertEquals(emptyList<String>(), AndroidOsStatus.runtimePermissions(listOf(POST_NOTIFICATIONS), 32))
    }

    @Test
    fun `never asked, granted, refused once, refused for good`() {
        val camera = listOf(AndroidOsStatus.CAMERA)
        assertEquals(OsStatus.NOT_DETERMINED, status("camera", camera))
        assertEquals(OsStatus.GRANTED, status("camera", camera, granted = setOf(AndroidOsStatus.CAMERA), requested = true))
        assertEquals(OsStatus.DENIED, status("camera", camera, rationale = true, requested = true))
        assertEquals(OsStatus.BLOCKED, status("camera", camera, rationale = false, requested = true))
        assertEquals(OsStatus.UNAVAILABLE, status("camera", camera, feature = false))
    }

    @Test
    fun `partial grants are limited`() {
        assertEquals(OsStatus.LIMITED, status("photos", photos, granted = setOf(READ_MEDIA_VISUAL_USER_SELECTED), requested = true))
        assertEquals(OsStatus.GRANTED, status("photos", photos, granted = setOf(READ_MEDIA_IMAGES, READ_MEDIA_VISUAL_USER_SELECTED)))
        assertEquals(OsStatus.GRANTED, status("photos", photos, sdk = 30, granted = setOf(READ_EXTERNAL_STORAGE)))
        assertEquals(OsStatus.LIMITED, status("location_precise", listOf(FINE_LOCATION), granted = setOf(COARSE_LOCATION), requested = true))
        assertEquals(OsStatus.GRANTED, status("location_approximate", listOf(COARSE_LOCATION), granted = setOf(COARSE_LOCATION)))
    }

    @Test
    fun `notifications before and after Android 13`() {
        val n = listOf(POST_NOTIFICATIONS)
        assertEquals(OsStatus.GRANTED, status("notifications", n, sdk = 31, notifications = true))
        assertEquals(OsStatus.BLOCKED, status("notifications", n, sdk = 31, notifications = false))
        assertEquals(OsStatus.NOT_DETERMINED, status("notifications", n, sdk = 34, notifications = false))
        assertEquals(OsStatus.DENIED, status("notifications", n, sdk = 34, notifications = false, rationale = true, requested = true))
        assertEquals(OsStatus.BLOCKED, status("notifications", n, sdk = 34, granted = setOf(POST_NOTIFICATIONS), notifications = false))
        assertEquals(OsStatus.GRANTED, status("notifications", n, sdk = 34, granted = setOf(POST_NOTIFICATIONS), notifications = true))
    }
}
