package kz.altyncoin.consent.android

import android.util.Log
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.InternalException
import kz.altyncoin.consent.LogLevel
import kz.altyncoin.consent.LogSink
import kz.altyncoin.consent.setLogSink
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.MemoryKeys
import kz.altyncoin.consent.shell.testApp
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowLog
import java.io.File

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35])
class LogcatSinkTest {
    @get:Rule
    val tmp = TemporaryFolder()

    @After
    fun quiet() {
        // The core keeps one global sink: leave none that points into this sandbox.
        setLogSink(
            object : LogSink {
                override fun log(level: LogLevel, target: String, message: String) = Unit
            },
            LogLevel.ERROR,
        )
    }

    private fun lines(tag: String) = ShadowLog.getLogsForTag(tag).map { it.type to it.msg }

    @Test
    fun `install says installed only when it is`() {
        assertFalse(LogcatSink.install(LogLevel.INFO, "refused") { _, _ -> false })
        assertEquals(1, lines("refused").size)
        assertEquals(Log.WARN, lines("refused").single().first)
        assertTrue(lines("refused").single().second.contains("not connected"))

        assertFalse(LogcatSink.install(LogLevel.INFO, "failed") { _, _ -> throw InternalException("the core panicked") })
        assertEquals(Log.WARN, lines("failed").single().first)
        assertTrue(lines("failed").single().second.contains("InternalException"))
        assertTrue(lines("failed").none { it.second.contains("goes to logcat") })
    }

    @Test
    fun `the core's log reaches logcat`() = runBlocking {
        assertTrue(LogcatSink.install(LogLevel.INFO, "consent"))
        assertEquals(Log.INFO to "the consent core's log goes to logcat (level INFO and above)", lines("consent").first())
        AltynConsent.open(File(tmp.root, "store"), testApp, MemoryKeys()).use { it.accept(it.policy("ru"), ageConfirmed = true) }
        assertTrue(lines("consent").toString(), lines("consent").any { it.first == Log.INFO && it.second.contains("kind=policy_accepted") })
    }
}
