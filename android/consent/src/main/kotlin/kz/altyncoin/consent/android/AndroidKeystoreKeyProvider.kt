package kz.altyncoin.consent.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import kz.altyncoin.consent.KeyProvider
import kz.altyncoin.consent.PlatformException
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The store's 256-bit database key, wrapped (AES-GCM) by a non-exportable
 * key that lives in Android Keystore (hardware-backed where the device has
 * it). Only the wrapped key is on disk, in `noBackupFilesDir`, so a backup
 * never carries it: a restored app has no key and restores its consents from
 * the server instead.
 *
 * A key that is gone for good (the wrapping key invalidated or deleted, a
 * wrapped key that no longer decrypts) loads as null, which the core reports
 * as a lost key (recover); a locked device throws `PlatformException.Locked`
 * (try again). Saving replaces an existing entry. Errors name what failed
 * and never carry key bytes. Not run on a device here (see android/README.md).
 */
class AndroidKeystoreKeyProvider(
    context: Context,
    private val alias: String = "altyn-consent-store-key-wrapper",
) : KeyProvider {
    private val dir = File(context.noBackupFilesDir, "altyn-consent-keys")

    override fun loadKey(storeId: String): ByteArray? {
        val file = fileFor(storeId)
        if (!file.exists()) return null
        // The Keystore key that wraps the store key is gone (device
        // credentials reset, app data moved to another device): the store key
        // is lost for good. Null tells the core exactly that (KeyLost: recover),
        // never "try again".
        val wrapper = existingWrapper() ?: return null
        return try {
            val bytes = ByteBuffer.wrap(file.readBytes())
            if (bytes.get() != FORMAT) throw PlatformException.Failed("the wrapped key file has an unknown format")
            val iv = ByteArray(bytes.get().toInt()).also { bytes.get(it) }
            val sealed = ByteArray(bytes.remaining()).also { bytes.get(it) }
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, wrapper, GCMParameterSpec(TAG_BITS, iv))
            cipher.doFinal(sealed)
        } catch (e: UserNotAuthenticatedException) {
            // Transient: the device is locked. The core reports KeyLocked.
            throw PlatformException.Locked("the Android Keystore needs the device to be unlocked; try again after unlock")
        } catch (e: KeyPermanentlyInvalidatedException) {
            return null // the wrapping key can never be used again: the store key is lost
        } catch (e: AEADBadTagException) {
            return null // the wrapped key does not decrypt with the wrapping key: lost
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Failed("the consent store key could not be unwrapped: ${e.javaClass.simpleName}")
        } catch (e: IOException) {
            throw PlatformException.Failed("the wrapped key file could not be read: ${e.javaClass.simpleName}")
        }
    }

    override fun saveKey(storeId: String, key: ByteArray) {
        try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.ENCRYPT_MODE, existingWrapper() ?: newWrapper())
            val iv = cipher.iv
            val sealed = cipher.doFinal(key)
            val out = ByteBuffer.allocate(2 + iv.size + sealed.size)
                .put(FORMAT).put(iv.size.toByte()).put(iv).put(sealed).array()
            dir.mkdirs()
            // Written whole or not at all: a torn file would lose the store.
            val tmp = File(dir, "$storeId.tmp")
            tmp.outputStream().use { it.write(out); it.fd.sync() }
            if (!tmp.renameTo(fileFor(storeId))) throw IOException("rename failed")
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Failed("Android Keystore could not wrap the key: ${e.javaClass.simpleName}")
        } catch (e: IOException) {
            throw PlatformException.Failed("the wrapped key could not be written: ${e.javaClass.simpleName}")
        }
    }

    private fun fileFor(storeId: String): File {
        require(storeId.all { it.isLetterOrDigit() || it == '-' }) { "unexpected store id" }
        return File(dir, "$storeId.key")
    }

    private fun existingWrapper(): SecretKey? {
        val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        return (keyStore.getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.secretKey
    }

    private fun newWrapper(): SecretKey {
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val TAG_BITS = 128
        const val FORMAT: Byte = 1
    }
}
