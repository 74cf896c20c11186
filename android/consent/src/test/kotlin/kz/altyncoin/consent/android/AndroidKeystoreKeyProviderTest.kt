package kz.altyncoin.consent.android

import android.app.Application
import android.content.pm.PackageManager
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.UserNotAuthenticatedException
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.PlatformException
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.ConsentFailure
import kz.altyncoin.consent.shell.testApp
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.io.File
import java.nio.ByteBuffer
import java.security.MessageDigest
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import javax.crypto.Cipher

/** The Keystore key provider against a fake "AndroidKeyStore" provider, and through the core. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35])
class AndroidKeystoreKeyProviderTest {
    private lateinit var app: Application
    private lateinit var keys: AndroidKeystoreKeyProvider
    private val alias = AndroidKeystoreKeyProvider.DEFAULT_ALIAS

    @Before
    fun setUp() {
        FakeAndroidKeyStore.install()
        app = RuntimeEnvironment.getApplication()
        keys = AndroidKeystoreKeyProvider(app)
    }

    @After
    fun tearDown() {
        FakeAndroidKeyStore.uninstall()
    }

    private fun key(seed: Int) = ByteArray(32) { (it * 7 + seed).toByte() }

    private fun file(storeId: String) = File(app.noBackupFilesDir, "altyn-consent-keys/$storeId.key")

    private fun digest(dir: File): Map<String, String> = dir.walk().filter { it.isFile }.associate {
        it.relativeTo(dir).path to MessageDigest.getInstance("SHA-256").digest(it.readBytes()).joinToString("") { b -> "%02x".format(b) }
    }

    @Test
    fun `a key round-trips, bound to its store`() {
        keys.saveKey("store-a", key(1))
        assertArrayEquals(key(1), keys.loadKey("store-a"))
        assertEquals(2.toByte(), file("store-a").readBytes()[0]) // format 2: the store id is associated data
        assertTrue("no key bytes on disk", !file("store-a").readBytes().toList().windowed(32).contains(key(1).toList()))
        // Saving replaces; a second store reuses the wrapping key.
        keys.saveKey("store-a", key(2))
        keys.saveKey("store-b", key(3))
        assertArrayEquals(key(2), keys.loadKey("store-a"))
        assertEquals(1, FakeAndroidKeyStore.generated.get())
        // One store's wrapped key copied over another's does not unwrap.
        file("store-a").copyTo(file("store-b"), overwrite = true)
        assertNull(keys.loadKey("store-b"))
        assertNull(keys.loadKey("never-saved"))
        assertEquals(listOf("store-a.key", "store-b.key"), file("store-a").parentFile!!.list()!!.sorted())
    }

    @Test
    fun `keys written without associated data still load`() {
        keys.saveKey("current", key(4)) // creates the wrapping key
        val (cipher, raw) = FakeAndroidKeyStore.rawCipher(alias)
        cipher.init(Cipher.ENCRYPT_MODE, raw)
        val sealed = cipher.doFinal(key(5))
        val old = ByteBuffer.allocate(2 + cipher.iv.size + sealed.size)
            .put(1).put(cipher.iv.size.toByte()).put(cipher.iv).put(sealed).array()
        file("older").writeBytes(old)
        assertArrayEquals(key(5), keys.loadKey("older"))
        // An unknown format is a failure, not a lost key: a newer version wrote it.
        file("newer").writeBytes(byteArrayOf(9) + old.copyOfRange(1, old.size))
        val e = assertThrows(PlatformException.Failed::class.java) { keys.loadKey("newer") }
        assertTrue(e.reason, e.reason.contains("unknown format"))
        // A truncated file is a key lost for good.
        file("older").writeBytes(old.copyOfRange(0, 5))
        assertNull(keys.loadKey("older"))
    }

    @Test
    fun `a locked keystore is Locked, and the core says KeyLocked and changes nothing`() = runBlocking {
        val dir = File(app.noBackupFilesDir, "consent")
        AltynConsent.open(dir, testApp, keys).use { it.accept(it.policy("ru"), ageConfirmed = true) }
        val before = digest(app.noBackupFilesDir)
        FakeAndroidKeyStore.cipherInitFailure = { UserNotAuthenticatedException() }
        val storeIds = file("x").parentFile!!.list()!!.map { it.removeSuffix(".key") }
        for (id in storeIds) {
            val e = assertThrows(PlatformException.Locked::class.java) { keys.loadKey(id) }
            assertTrue(e.reason, e.reason.contains("unlock"))
        }
        val failure = runCatching { AltynConsent.open(dir, testApp, keys) }.exceptionOrNull()
        assertTrue("$failure", failure is ConsentFailure.KeyLocked)
        assertEquals(before, digest(app.noBackupFilesDir))
        // Unlocked: the same store opens, with its event.
        FakeAndroidKeyStore.cipherInitFailure = null
        AltynConsent.open(dir, testApp, keys).use { assertEquals(1L, it.state.value.events) }
    }

    @Test
    fun `a key gone for good loads as null, and the core says KeyLost and changes nothing`() = runBlocking {
        val dir = File(app.noBackupFilesDir, "consent")
        AltynConsent.open(dir, testApp, keys).use { it.accept(it.policy("ru"), ageConfirmed = true) }
        val before = digest(app.noBackupFilesDir)
        val storeIds = file("x").parentFile!!.list()!!.map { it.removeSuffix(".key") }

        // The wrapping key can never be used again (e.g. the screen lock was removed).
        FakeAndroidKeyStore.cipherInitFailure = { KeyPermanentlyInvalidatedException() }
        for (id in storeIds) assertNull(keys.loadKey(id))
        val invalidated = runCatching { AltynConsent.open(dir, testApp, keys) }.exceptionOrNull()
        assertTrue("$invalidated", invalidated is ConsentFailure.KeyLost)
        assertEquals(before, digest(app.noBackupFilesDir))

        // The wrapping key is gone from the Keystore.
        FakeAndroidKeyStore.cipherInitFailure = null
        FakeAndroidKeyStore.keys.remove(alias)
        for (id in storeIds) assertNull(keys.loadKey(id))
        val deleted = runCatching { AltynConsent.open(dir, testApp, keys) }.exceptionOrNull()
        assertTrue("$deleted", deleted is ConsentFailure.KeyLost)
        assertEquals(before, digest(app.noBackupFilesDir))
    }

    @Test
    fun `threads saving at once create one wrapping key and lose no store key`() {
        FakeAndroidKeyStore.generateDelayMs = 100
        val threads = 4
        val pool = Executors.newFixedThreadPool(threads)
        val start = CountDownLatch(1)
        try {
            // Two provider instances, as two parts of an app might make.
            val providers = listOf(keys, AndroidKeystoreKeyProvider(app))
            val saves = (0 until threads).map { i ->
                pool.submit {
                    start.await()
                    providers[i % 2].saveKey("store-$i", key(10 + i))
                }
            }
            start.countDown()
            saves.forEach { it.get(30, TimeUnit.SECONDS) }
        } finally {
            pool.shutdownNow()
        }
        assertEquals(1, FakeAndroidKeyStore.generated.get())
        for (i in 0 until threads) assertArrayEquals(key(10 + i), keys.loadKey("store-$i"))
    }

    @Test
    fun `StrongBox where the device has it, the TEE where it refuses`() {
        val pm = shadowOf(app.packageManager)
        // No StrongBox on the device: not asked for.
        pm.setSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE, false)
        keys.saveKey("plain", key(20))
        assertEquals(listOf(false), FakeAndroidKeyStore.strongBoxRequests)

        // StrongBox present: the key is made there.
        FakeAndroidKeyStore.uninstall()
        FakeAndroidKeyStore.install()
        pm.setSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE, true)
        keys.saveKey("strong", key(21))
        assertEquals(listOf(true), FakeAndroidKeyStore.strongBoxRequests)
        assertArrayEquals(key(21), keys.loadKey("strong"))

        // Present but refusing (StrongBoxUnavailableException): made in the TEE instead.
        FakeAndroidKeyStore.uninstall()
        FakeAndroidKeyStore.install()
        FakeAndroidKeyStore.strongBoxAvailable = false
        keys.saveKey("fallback", key(22))
        assertEquals(listOf(true, false), FakeAndroidKeyStore.strongBoxRequests)
        assertEquals(1, FakeAndroidKeyStore.generated.get())
        assertArrayEquals(key(22), keys.loadKey("fallback"))
    }
}
