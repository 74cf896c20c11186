package kz.altyncoin.consent.shell

import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.SyncSettings
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.security.MessageDigest

/** Bad input gets a clear, typed error and loses nothing. */
class FailureTest {
    @TempDir
    lateinit var tmp: File

    private fun digest(dir: File): Map<String, String> = dir.walk().filter { it.isFile }.associate {
        it.relativeTo(dir).path to MessageDigest.getInstance("SHA-256").digest(it.readBytes()).joinToString("") { b -> "%02x".format(b) }
    }

    @Test
    fun `a wrong key is refused and the store stays byte for byte`() = runBlocking {
        val dir = File(tmp, "store")
        AltynConsent.open(dir, testApp, MemoryKeys()).use { it.accept(it.policy("ru"), ageConfirmed = true) }
        val before = digest(dir)
        val e = assertThrows<ConsentFailure.KeyLost> {
            runBlocking { AltynConsent.open(dir, testApp, FixedKeys(ByteArray(32) { 7 })) }
        }
        assertTrue(e.message!!.contains("does not open this consent store"), e.message)
        assertFalse(e.message!!.contains("0707"), "no key material in messages")
        // A keystore that lost the key: also refused, with what to do.
        val lost = assertThrows<ConsentFailure.KeyLost> { runBlocking { AltynConsent.open(dir, testApp, MemoryKeys()) } }
        assertTrue(lost.message!!.contains("recover"), lost.message)
        assertEquals(before, digest(dir))
    }

    @Test
    fun `consent rules become typed failures and record nothing`() = runBlocking {
        AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys()).use { consent ->
            val policy = consent.policy("ru")
            assertThrows<ConsentFailure.AgeNotConfirmed> { runBlocking { consent.accept(policy, ageConfirmed = false) } }
            assertThrows<ConsentFailure.PolicyNotAccepted> { runBlocking { consent.setPermission("camera", true) } }
            val stale = assertThrows<ConsentFailure.StalePolicy> {
                runBlocking { consent.accept(policy.copy(reference = policy.reference.copy(version = 0)), true) }
            }
            assertEquals(policy.reference.version, stale.currentVersion)
            consent.accept(policy, ageConfirmed = true)
            val unknown = assertThrows<ConsentFailure.InvalidRequest> { runBlocking { consent.setPermission("teleport", true) } }
            assertTrue(unknown.message!!.contains("camera"), "the message lists the known permissions: ${unknown.message}")
            assertThrows<ConsentFailure.InvalidRequest> { runBlocking { consent.withdraw("camera") } }
            assertEquals(1L, consent.state.value.events)
        }
    }

    @Test
    fun `bad sync settings and a failing token provider are sync setup failures`() = runBlocking {
        AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys()).use { consent ->
            consent.accept(consent.policy("ru"), ageConfirmed = true)
            val plain = SyncSettings("http://consent.example.kz", listOf("00".repeat(32)), emptyList())
            val insecure = assertThrows<ConsentFailure.SyncSetup> { runBlocking { consent.sync(plain, StaticTokens("t")) } }
            assertTrue(insecure.message!!.contains("HTTPS only"), insecure.message)
            val badKey = SyncSettings("https://127.0.0.1:9", listOf("not-a-key"), emptyList())
            assertThrows<ConsentFailure.SyncSetup> { runBlocking { consent.sync(badKey, StaticTokens("t")) } }

            ReferenceServer(File(tmp, "server"), mapOf("token-1" to "borrower-1")).use { server ->
                val e = assertThrows<ConsentFailure.SyncSetup> { runBlocking { consent.sync(server.settings(), FailingTokens()) } }
                assertTrue(e.message!!.contains("no user is signed in"), e.message)
                // A token that cannot be had now (after a suspension) is a network failure: try later.
                val later = assertThrows<ConsentFailure.Network> { runBlocking { consent.sync(server.settings(), UnavailableTokens()) } }
                assertTrue(later.message!!.contains("the login service did not answer"), later.message)
                // A refused token parks nothing and loses nothing: the next pass delivers.
                assertEquals(1L, consent.syncStatus().pending)
                val report = consent.sync(server.settings(), StaticTokens("token-1"))
                assertEquals(1L, report.acknowledged)
            }
        }
    }

    @Test
    fun `keys round-trip through the foreign key provider unchanged`() = runBlocking {
        val keys = MemoryKeys()
        AltynConsent.open(File(tmp, "store"), testApp, keys).close()
        // The store's key, and the installation marker (its store id), which
        // tells a later start that a store existed.
        val marker = keys.keys.getValue("altyn-consent-installation").decodeToString()
        val saved = keys.keys.getValue(marker)
        assertEquals(32, saved.size)
        AltynConsent.open(File(tmp, "store"), testApp, keys).close()
        assertArrayEquals(saved, keys.keys.getValue(marker))
    }

    @Test
    fun `a store whose files are gone is missing, and recover keeps what is left and records the loss`() = runBlocking {
        val keys = MemoryKeys()
        val dir = File(tmp, "store")
        AltynConsent.open(dir, testApp, keys).use { it.accept(it.policy("ru"), ageConfirmed = true) }
        // As after an iOS reinstall: the files are gone, the keystore is not.
        File(dir, "consent.db").delete()
        val missing = assertThrows<ConsentFailure.StoreMissing> { runBlocking { AltynConsent.open(dir, testApp, keys) } }
        assertTrue(missing.message!!.contains("recover"), missing.message)
        AltynConsent.recover(dir, testApp, keys, settings = null, tokens = null).use { consent ->
            val info = consent.recovery()!!
            assertEquals(kz.altyncoin.consent.core.ErrorKind.STORE_MISSING, info.reason)
            assertTrue(File(info.quarantine!!, "consent.keycheck.json").exists())
            assertEquals(listOf("store_recovered"), consent.history().map { it.kind })
        }
        // Recovery is for unreadable stores only.
        assertThrows<ConsentFailure.InvalidRequest> {
            runBlocking { AltynConsent.recover(dir, testApp, keys, settings = null, tokens = null) }
        }
        Unit
    }
}
