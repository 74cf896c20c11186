package kz.altyncoin.consent.android

import android.Manifest
import android.app.Activity
import android.app.Application
import android.app.job.JobInfo
import android.app.job.JobParameters
import android.app.job.JobScheduler
import android.app.job.JobService
import android.content.ComponentName
import android.content.Context
import android.content.pm.PackageManager
import android.os.Bundle
import android.util.Log
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kz.altyncoin.consent.TokenProvider
import kz.altyncoin.consent.core.SyncReport
import kz.altyncoin.consent.core.SyncSettings
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.ConsentFailure
import java.util.concurrent.ConcurrentHashMap

/**
 * Background retry on Android's own `JobScheduler` (no androidx): after a
 * pass that left events waiting, [scheduleAfter] asks for the next pass at
 * the report's `nextRetryInSecs`, on any network; [ConsentSyncJobService]
 * runs it and schedules the one after. The core decides everything else
 * (what to send, what an answer means): this is only the alarm clock.
 *
 * The app's `Application` implements [Host], which hands the job the open
 * client, the sync settings and the token provider (or null when sync is
 * not possible now, e.g. nobody is signed in). The library's manifest
 * declares the service with `BIND_JOB_SERVICE`.
 *
 * ```
 * class App : Application(), ConsentBackgroundSync.Host {
 *     override suspend fun consentSync() = ConsentBackgroundSync.Setup(consent, settings, tokens)
 * }
 * // after a foreground sync:
 * ConsentBackgroundSync.scheduleAfter(context, report)
 * ```
 */
public object ConsentBackgroundSync {
    /** The JobScheduler id of the consent sync job ("ALTY"); keep it free in the app. */
    public const val JOB_ID: Int = 0x414C5459

    /**
     * How much of the job's time a pass may use. JobScheduler stops a job
     * after 10 minutes (less for some jobs on Android 14+); the pass ends
     * cleanly before, and what waits goes to the next pass.
     */
    public const val PASS_BUDGET_MS: Long = 8 * 60 * 1000L

    /** First wait before JobScheduler retries a pass that failed (doubles each time). */
    private const val RETRY_BACKOFF_MS: Long = 30_000
    private const val MILLIS_PER_SECOND: Long = 1000

    /** What a background pass needs. */
    public class Setup(public val consent: AltynConsent, public val settings: SyncSettings, public val tokens: TokenProvider)

    /** Implemented by the app's `Application`. */
    public interface Host {
        /** The client, settings and token provider for a pass; null: no pass now. */
        public suspend fun consentSync(): Setup?
    }

    /**
     * Schedules the next pass after [report]'s `nextRetryInSecs`, if events
     * still wait (replacing a pass already scheduled); cancels the job when
     * nothing waits. Returns whether a pass is scheduled.
     */
    public fun scheduleAfter(context: Context, report: SyncReport): Boolean {
        // The core sets the retry time only while events wait.
        val delay = report.nextRetryInSecs
        if (delay == null) {
            scheduler(context).cancel(JOB_ID)
            return false
        }
        return schedule(context, delay)
    }

    /**
     * Schedules a pass in [delaySeconds] (at least 1), on any network. The
     * job survives a reboot (events waiting on the phone still go out) when
     * the app holds `RECEIVE_BOOT_COMPLETED`, which the library's manifest
     * declares (granted at install, no dialog); an app that removes it from
     * its merged manifest gets a job that a reboot drops, and its next
     * foreground sync schedules again.
     */
    public fun schedule(context: Context, delaySeconds: Long): Boolean {
        val persisted = context.checkSelfPermission(Manifest.permission.RECEIVE_BOOT_COMPLETED) ==
            PackageManager.PERMISSION_GRANTED
        val job = JobInfo.Builder(JOB_ID, ComponentName(context, ConsentSyncJobService::class.java))
            .setRequiredNetworkType(JobInfo.NETWORK_TYPE_ANY)
            .setMinimumLatency(delaySeconds.coerceAtLeast(1) * MILLIS_PER_SECOND)
            .setBackoffCriteria(RETRY_BACKOFF_MS, JobInfo.BACKOFF_POLICY_EXPONENTIAL)
            // Without the permission, JobScheduler throws on a persisted job.
            .setPersisted(persisted)
            .build()
        return scheduler(context).schedule(job) == JobScheduler.RESULT_SUCCESS
    }

    /**
     * One background pass that ends within [budgetMs] (the core's
     * `SyncSettings.withinBudget`: the deadline and request timeout cut to
     * fit; nothing lost), then the next pass scheduled from its report. Null
     * when the host has no setup now.
     */
    public suspend fun runPass(context: Context, host: Host, budgetMs: Long = PASS_BUDGET_MS): SyncReport? =
        pass(host, budgetMs)?.also { scheduleAfter(context, it) }

    /** The pass alone, without scheduling the next one (the job service schedules after `jobFinished`). */
    internal suspend fun pass(host: Host, budgetMs: Long = PASS_BUDGET_MS): SyncReport? {
        val setup = host.consentSync() ?: return null
        return setup.consent.sync(setup.settings.withinBudget(budgetMs), setup.tokens)
    }

    /**
     * Whether JobScheduler should retry a pass that failed with [failure]:
     * only what passes by itself (the network, a locked keystore, the disk).
     * A signed-out user, a lost store or a refused configuration waits for
     * the app, whose next foreground sync schedules again. The core decides
     * (`ErrorKind.isTransient`), for both shells.
     */
    internal fun retries(failure: ConsentFailure): Boolean = failure.kind.isTransient()

    private fun scheduler(context: Context): JobScheduler =
        checkNotNull(context.getSystemService(JobScheduler::class.java)) { "this device has no JobScheduler" }
}

/**
 * Runs a background pass when JobScheduler starts the job, finishes the job,
 * then schedules the next pass from the report (scheduling the job's own id
 * while it runs would stop it). [onStopJob] (the system's stop, or the job's
 * time is up) cancels the pass, which drops the core's future: what was
 * acknowledged is kept, the rest waits, and the job is rescheduled. A pass
 * that failed is retried with JobScheduler's backoff only when the failure
 * passes by itself ([ConsentBackgroundSync.retries]); nothing that fails
 * reaches the thread's crash handler.
 */
public class ConsentSyncJobService : JobService() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val passes = ConcurrentHashMap<Int, Job>()

    override fun onStartJob(params: JobParameters): Boolean {
        val host = application as? ConsentBackgroundSync.Host ?: run {
            Log.w(TAG, "the Application does not implement ConsentBackgroundSync.Host: no background sync")
            return false
        }
        passes[params.jobId] = scope.launch {
            var report: SyncReport? = null
            val retry = try {
                report = ConsentBackgroundSync.pass(host)
                false
            } catch (e: ConsentFailure) {
                // The kind only: the message may name the server.
                val retry = ConsentBackgroundSync.retries(e)
                Log.w(TAG, "background sync pass failed (${e.javaClass.simpleName}); retried: $retry")
                retry
            } catch (e: kotlinx.coroutines.CancellationException) {
                throw e
            } catch (@Suppress("TooGenericExceptionCaught") e: RuntimeException) {
                // A bug or a misuse (a closed client): logged, never a crash
                // of the app from a background job.
                Log.e(TAG, "background sync pass failed unexpectedly (${e.javaClass.simpleName})")
                false
            }
            passes.remove(params.jobId)
            jobFinished(params, retry)
            report?.let { ConsentBackgroundSync.scheduleAfter(this@ConsentSyncJobService, it) }
        }
        return true
    }

    override fun onStopJob(params: JobParameters): Boolean {
        passes.remove(params.jobId)?.cancel()
        return true
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private companion object {
        const val TAG = "AltynConsent"
    }
}

/**
 * Re-reads what Android says about every permission when the app returns to
 * the foreground (the user may have changed a permission in the settings, or
 * Android reset unused ones), and records only real changes: reading never
 * invents one (see [AndroidPermissionBridge.reportAll]). Install once, in
 * `Application.onCreate`.
 */
public class ForegroundRecheck internal constructor(private val scope: CoroutineScope, private val recheck: suspend () -> Unit) :
    Application.ActivityLifecycleCallbacks {
    private var started = 0

    /** Returns to the foreground (the first started activity after none). */
    override fun onActivityStarted(activity: Activity) {
        started += 1
        if (started == 1) {
            scope.launch {
                try {
                    recheck()
                } catch (e: ConsentFailure) {
                    Log.w("AltynConsent", "re-reading permissions on return to the foreground failed (${e.javaClass.simpleName})")
                }
            }
        }
    }

    override fun onActivityStopped(activity: Activity) {
        started = (started - 1).coerceAtLeast(0)
    }

    override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?): Unit = Unit
    override fun onActivityResumed(activity: Activity): Unit = Unit
    override fun onActivityPaused(activity: Activity): Unit = Unit
    override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle): Unit = Unit
    override fun onActivityDestroyed(activity: Activity): Unit = Unit

    public companion object {
        /** Registers a re-check of [bridge] on every return to the foreground. */
        public fun install(
            application: Application,
            bridge: AndroidPermissionBridge,
            scope: CoroutineScope,
            locale: String = "ru",
        ): ForegroundRecheck = ForegroundRecheck(scope) { bridge.reportAll(locale) }.also {
            application.registerActivityLifecycleCallbacks(it)
        }
    }
}
