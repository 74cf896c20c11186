package kz.altyncoin.consent.android

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import kz.altyncoin.consent.KeyProvider
import kz.altyncoin.consent.PlatformException
import java.io.File
import java.io.IOException
import java.nio.BufferUnderflowException
import java.nio.ByteBuffer
import java.security.GeneralSecurityException
import java.security.KeyStore
import java.security.ProviderException
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The store's 256-bit database key, wrapped (AES-GCM) by a non-exportable
 * key that lives in Android Keystore: in StrongBox where the device has one
 * (API 28+), else in the TEE where there is one. Only the wrapped key is on
 * disk, in `noBackupFilesDir`, so a backup never carries it: a restored app
 * has no key and restores its consents from the server instead.
 *
 * The wrapped file is `[format][iv length][iv][ciphertext + tag]`. Format 2
 * binds the wrapped key to its store: the store id is GCM associated data,
 * so one store's file copied over another's does not unwrap. Format 1 (no
 * associated data, written by earlier versions) is still read.
 *
 * A key that is gone for good (the wrapping key invalidated or deleted, a
 * wrapped key that no longer decrypts or a damaged file) loads as null,
 * which the core reports as a lost key (recover); a locked device throws
 * `PlatformException.Locked` (try again). Saving replaces an existing entry.
 * Errors name what failed and never carry key bytes. The wrapping key is
 * created once per process even when several threads save at once.
 */
public class AndroidKeystoreKeyProvider(context: Context, private val alias: String = DEFAULT_ALIAS) : KeyProvider {
    private val app = context.applicationContext
    private val dir = File(app.noBackupFilesDir, "altyn-consent-keys")

    override fun loadKey(storeId: String): ByteArray? {
        val file = fileFor(storeId)
        if (!file.exists()) return null
        return try {
            unwrap(storeId, file)
        } catch (e: UserNotAuthenticatedException) {
            // Transient: the device is locked. The core reports KeyLocked.
            throw locked(e)
        } catch (e: GeneralSecurityException) {
            throw failed("the consent store key could not be unwrapped", e)
        } catch (e: ProviderException) {
            throw failed("Android Keystore failed to unwrap the key", e)
        } catch (e: IOException) {
            throw failed("the wrapped key file could not be read", e)
        }
    }

    /** The store key in [file], or null when it is gone for good (KeyLost: recover, never "try again"). */
    private fun unwrap(storeId: String, file: File): ByteArray? {
        // The Keystore key that wraps the store key is gone (device
        // credentials reset, app data moved to another device).
        val wrapper = existingWrapper() ?: return null
        return try {
            val bytes = ByteBuffer.wrap(file.readBytes())
            val format = bytes.get()
            if (format != FORMAT_PLAIN && format != FORMAT_BOUND) {
                throw PlatformException.Failed("the wrapped key file has an unknown format ($format): written by a newer version?")
            }
            val iv = ByteArray(bytes.get().toInt()).also { bytes.get(it) }
            val sealed = ByteArray(bytes.remaining()).also { bytes.get(it) }
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, wrapper, GCMParameterSpec(TAG_BITS, iv))
            if (format == FORMAT_BOUND) cipher.updateAAD(associatedData(storeId))
            cipher.doFinal(sealed)
        } catch (_: KeyPermanentlyInvalidatedException) {
            null // the wrapping key can never be used again
        } catch (_: AEADBadTagException) {
            null // the wrapped key does not decrypt with the wrapping key, or is another store's
        } catch (_: BufferUnderflowException) {
            null // a truncated file: the wrapped key is damaged for good
        } catch (_: NegativeArraySizeException) {
            null // a damaged length byte
        }
    }

    override fun saveKey(storeId: String, key: ByteArray) {
        val file = fileFor(storeId)
        try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.ENCRYPT_MODE, wrapperForWriting())
            cipher.updateAAD(associatedData(storeId))
            val iv = cipher.iv
            val sealed = cipher.doFinal(key)
            val out = ByteBuffer.allocate(2 + iv.size + sealed.size)
                .put(FORMAT_BOUND).put(iv.size.toByte()).put(iv).put(sealed).array()
            dir.mkdirs()
            // Written whole or not at all: a torn file would lose the store.
            // A temporary file of its own, so that two saves cannot mix.
            val tmp = File.createTempFile("$storeId.", ".tmp", dir)
            try {
                tmp.outputStream().use {
                    it.write(out)
                    it.fd.sync()
                }
                if (!tmp.renameTo(file)) throw IOException("rename failed")
            } finally {
                tmp.delete()
            }
        } catch (e: UserNotAuthenticatedException) {
            throw locked(e)
        } catch (e: GeneralSecurityException) {
            throw failed("Android Keystore could not wrap the key", e)
        } catch (e: ProviderException) {
            throw failed("Android Keystore failed to wrap the key", e)
        } catch (e: IOException) {
            throw failed("the wrapped key could not be written", e)
        }
    }

    private fun fileFor(storeId: String): File {
        require(storeId.isNotEmpty() && storeId.all { it.isLetterOrDigit() || it == '-' }) { "unexpected store id" }
        return File(dir, "$storeId.key")
    }

    private fun existingWrapper(): SecretKey? {
        val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        return (keyStore.getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.secretKey
    }

    /** The wrapping key, created if there is none: once, whichever thread asks first. */
    private fun wrapperForWriting(): SecretKey = synchronized(creation) { existingWrapper() ?: newWrapper() }

    private fun newWrapper(): SecretKey {
        if (Build.VERSION.SDK_INT >= STRONGBOX_SDK &&
            app.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)
        ) {
            strongBoxWrapper()?.let { return it }
        }
        return generate(strongBox = false)
    }

    /** API 28+ only. Null when the device's StrongBox refuses this key. */
    private fun strongBoxWrapper(): SecretKey? = try {
        generate(strongBox = true)
    } catch (_: StrongBoxUnavailableException) {
        null
    }

    private fun generate(strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(KEY_BITS)
        if (strongBox) spec.setIsStrongBoxBacked(true)
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(spec.build())
        return generator.generateKey()
    }

    /** The reason crosses into the core (no key bytes, only what failed); the cause stays on this side. */
    private fun locked(e: UserNotAuthenticatedException): PlatformException.Locked = PlatformException.Locked(
        "the Android Keystore needs the device to be unlocked; try again after unlock (${e.javaClass.simpleName})",
    ).apply { initCause(e) }

    private fun failed(what: String, e: Exception): PlatformException.Failed =
        PlatformException.Failed("$what: ${e.javaClass.simpleName}").apply { initCause(e) }

    public companion object {
        /** The Keystore alias of the wrapping key. */
        public const val DEFAULT_ALIAS: String = "altyn-consent-store-key-wrapper"

        private const val ANDROID_KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val TAG_BITS = 128
        private const val KEY_BITS = 256
        private const val STRONGBOX_SDK = 28

        /** Format 1: no associated data (earlier versions); read only. */
        private const val FORMAT_PLAIN: Byte = 1

        /** Format 2: the store id is GCM associated data. */
        private const val FORMAT_BOUND: Byte = 2

        /** One Keystore per app: one lock per process, whatever the instance. */
        private val creation = Any()

        private fun associatedData(storeId: String): ByteArray = "altyn-consent/store-key/$storeId".toByteArray(Charsets.UTF_8)
    }
}
