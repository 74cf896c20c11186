package kz.altyncoin.consent.android

import android.app.Application
import android.app.job.JobInfo
import android.app.job.JobParameters
import android.app.job.JobScheduler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.StopReason
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.ConsentFailure
import kz.altyncoin.consent.shell.MemoryKeys
import kz.altyncoin.consent.shell.ReferenceServer
import kz.altyncoin.consent.shell.StaticTokens
import kz.altyncoin.consent.shell.testApp
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
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
import java.util.concurrent.atomic.AtomicInteger

/** The app's Application, as the background glue sees it. */
class BackgroundTestApp :
    Application(),
    ConsentBackgroundSync.Host {
    override suspend fun consentSync(): ConsentBackgroundSync.Setup? = setup

    companion object {
        @Volatile
        var setup: ConsentBackgroundSync.Setup? = null
    }
}

/**
 * The background retry glue on Android's JobScheduler, run by Robolectric:
 * the schedule follows the sync report, the job service runs a real pass
 * against the reference server and finishes the job, and a return to the
 * foreground re-reads the permissions.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], application = BackgroundTestApp::class)
class ConsentBackgroundSyncTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private val context get() = RuntimeEnvironment.getApplication()
    private fun scheduled(): JobInfo? = context.getSystemService(JobScheduler::class.java)!!.getPendingJob(ConsentBackgroundSync.JOB_ID)

    @Test
    fun `a pass that leaves events waiting schedules the next one at the report's retry time`() {
        ReferenceServer(File(tmp.root, "server"), mapOf("token-1" to "borrower-1")).use { server ->
            runBlocking {
                AltynConsent.open(File(tmp.root, "phone"), testApp, MemoryKeys(), server.settings().serverKeys).use { consent ->
                    consent.accept(consent.policy("ru"), ageConfirmed = true)
                    // The server is out of reach (a closed port): the pass stops, nothing is lost.
                    val offline = server.settings().copy(baseUrl = "https://127.0.0.1:9/", maxAttempts = 1)
                    val host = object : ConsentBackgroundSync.Host {
                        override suspend fun consentSync() = ConsentBackgroundSync.Setup(consent, offline, StaticTokens("token-1"))
                    }
                    val report = ConsentBackgroundSync.runPass(context, host)!!
                    assertTrue("$report", report.stop is StopReason.Unreachable)
                    assertEquals(1L, report.pending)
                    val retryIn = report.nextRetryInSecs!!
                    val job = assertNotNullJob(scheduled())
                    assertEquals(retryIn * 1000, job.minLatencyMillis)
                    assertNotNull("the pass waits for a network", job.requiredNetwork)

                    // Back online: the next pass delivers, and nothing is scheduled after it.
                    val online = object : ConsentBackgroundSync.Host {
                        override suspend fun consentSync() =
                            ConsentBackgroundSync.Setup(consent, server.settings(), StaticTokens("token-1"))
                    }
                    val delivered = ConsentBackgroundSync.runPass(context, online)!!
                    assertEquals(1L, delivered.acknowledged)
                    assertNull(scheduled())
                }
            }
        }
    }

    @Test
    fun `the scheduled pass survives a reboot when the app holds RECEIVE_BOOT_COMPLETED`() {
        // Without the permission (an app that removed it), JobScheduler would
        // throw on a persisted job: the job is scheduled, not persisted.
        assertTrue(ConsentBackgroundSync.schedule(context, 60))
        assertFalse("not persisted without the permission", assertNotNullJob(scheduled()).isPersisted)
        shadowOf(context).grantPermissions(android.Manifest.permission.RECEIVE_BOOT_COMPLETED)
        assertTrue(ConsentBackgroundSync.schedule(context, 60))
        val job = assertNotNullJob(scheduled())
        assertTrue("persisted across a reboot", job.isPersisted)
        assertEquals(60_000L, job.minLatencyMillis)
    }

    @Test
    fun `only failures that pass by themselves are retried by JobScheduler`() {
        val cause = RuntimeException("test")
        assertTrue(ConsentBackgroundSync.retries(ConsentFailure.Network("offline", cause)))
        assertTrue(ConsentBackgroundSync.retries(ConsentFailure.KeyLocked("locked", cause)))
        assertFalse(ConsentBackgroundSync.retries(ConsentFailure.SyncSetup("signed out", cause)))
        assertFalse(ConsentBackgroundSync.retries(ConsentFailure.KeyLost("gone", cause)))
    }

    @Test
    fun `no setup from the host means no pass and no schedule`() = runBlocking {
        val host = object : ConsentBackgroundSync.Host {
            override suspend fun consentSync(): ConsentBackgroundSync.Setup? = null
        }
        assertNull(ConsentBackgroundSync.runPass(context, host))
        assertNull(scheduled())
    }

    @Test
    fun `the job service runs a pass with a deadline and finishes the job`() {
        ReferenceServer(File(tmp.root, "server"), mapOf("token-1" to "borrower-1")).use { server ->
            runBlocking {
                AltynConsent.open(File(tmp.root, "phone"), testApp, MemoryKeys(), server.settings().serverKeys).use { consent ->
                    consent.accept(consent.policy("ru"), ageConfirmed = true)
                    consent.setPermission("camera", granted = true)
                    BackgroundTestApp.setup = ConsentBackgroundSync.Setup(consent, server.settings(), StaticTokens("token-1"))
                    try {
                        val service = Robolectric.setupService(ConsentSyncJobService::class.java)
                        assertTrue("the pass runs in the background", service.onStartJob(jobParameters(ConsentBackgroundSync.JOB_ID)))
                        val shadow = shadowOf(service)
                        val deadline = System.currentTimeMillis() + 30_000
                        while (!shadow.isJobFinished && System.currentTimeMillis() < deadline) {
                            shadowOf(android.os.Looper.getMainLooper()).idle()
                            Thread.sleep(20)
                        }
                        assertTrue("the job was finished", shadow.isJobFinished)
                        assertFalse("a delivered pass needs no retry", shadow.isRescheduleNeeded)
                        assertEquals(0L, consent.syncStatus().pending)
                        assertEquals(2L, consent.syncStatus().acknowledged)
                        assertNull("nothing waits, so no next pass", scheduled())
                    } finally {
                        BackgroundTestApp.setup = null
                    }
                }
            }
        }
    }

    @Test
    fun `a return to the foreground re-reads the permissions once`() {
        val rechecks = AtomicInteger()
        val recheck = ForegroundRecheck(CoroutineScope(Dispatchers.Unconfined)) { rechecks.incrementAndGet() }
        context.registerActivityLifecycleCallbacks(recheck)
        val first: ActivityController<android.app.Activity> = Robolectric.buildActivity(android.app.Activity::class.java).setup()
        assertEquals("the app came to the foreground", 1, rechecks.get())
        // A second activity in the same visit is no return to the foreground.
        val second = Robolectric.buildActivity(android.app.Activity::class.java).setup()
        assertEquals(1, rechecks.get())
        first.pause().stop()
        second.pause().stop()
        // Back from the background (the settings app, another app).
        second.start().resume()
        assertEquals(2, rechecks.get())
        context.unregisterActivityLifecycleCallbacks(recheck)
    }

    private fun assertNotNullJob(job: JobInfo?): JobInfo {
        assertNotNull("a pass is scheduled", job)
        return job!!
    }

    /**
     * JobParameters as JobScheduler would hand them (its constructor is
     * hidden): the job id, every other argument empty. The job's callback
     * is Robolectric's ShadowJobService, which records `jobFinished`.
     */
    private fun jobParameters(jobId: Int): JobParameters {
        val constructor = JobParameters::class.java.declaredConstructors.maxByOrNull { it.parameterCount }!!
        constructor.isAccessible = true
        var idGiven = false
        val args = constructor.parameterTypes.map<Class<*>, Any?> { type ->
            when (type) {
                Int::class.javaPrimitiveType -> if (!idGiven) jobId.also { idGiven = true } else 0
                Boolean::class.javaPrimitiveType -> false
                Long::class.javaPrimitiveType -> 0L
                else -> null
            }
        }
        val params = constructor.newInstance(*args.toTypedArray()) as JobParameters
        check(params.jobId == jobId) { "JobParameters were built without the job id (constructor $constructor)" }
        return params
    }
}
