package kz.altyncoin.consent.android

import android.os.Looper
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.TokenProvider
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.MemoryKeys
import kz.altyncoin.consent.shell.ReferenceServer
import kz.altyncoin.consent.shell.testApp
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList

/**
 * The facade called from the main looper, as an Activity would: sync and
 * restore do their work (the Rust future is polled, and calls the token
 * provider, on the thread that awaits it) off the main thread.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35])
class AltynConsentOnMainThreadTest {
    @get:Rule
    val tmp = TemporaryFolder()

    /** Records on which threads the core asked for the token. */
    private class RecordingTokens(private val token: String) : TokenProvider {
        val onMain = CopyOnWriteArrayList<Boolean>()
        override suspend fun token(): String = token.also { onMain += Looper.getMainLooper().isCurrentThread }
        override suspend fun refresh(): String = token()
    }

    @Test
    fun `sync and restore called on the main looper run off it`() {
        assertTrue("the test runs on the main looper", Looper.getMainLooper().isCurrentThread)
        ReferenceServer(File(tmp.root, "server"), mapOf("token-1" to "borrower-1")).use { server ->
            runBlocking {
                val keys = server.settings().serverKeys
                AltynConsent.open(File(tmp.root, "phone"), testApp, MemoryKeys(), keys).use { consent ->
                    consent.accept(consent.policy("ru"), ageConfirmed = true)
                    consent.setPermission("camera", granted = true)
                    val tokens = RecordingTokens("token-1")
                    val report = consent.sync(server.settings(), tokens)
                    assertTrue(Looper.getMainLooper().isCurrentThread)
                    assertEquals(2L, report.acknowledged)
                    assertFalse(tokens.onMain.isEmpty())
                    assertEquals("sync asked for the token on the main thread", listOf(false), tokens.onMain.distinct())

                    AltynConsent.open(File(tmp.root, "new-phone"), testApp, MemoryKeys(), keys).use { fresh ->
                        val restoreTokens = RecordingTokens("token-1")
                        val restored = fresh.restoreFromServer(server.settings(), restoreTokens)
                        assertEquals(consent.state.value.headHash, restored.headHash)
                        assertEquals(restored, fresh.state.value)
                        assertFalse(restoreTokens.onMain.isEmpty())
                        assertEquals("restore asked for the token on the main thread", listOf(false), restoreTokens.onMain.distinct())
                    }
                }
            }
        }
    }
}
