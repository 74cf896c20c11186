package kz.altyncoin.consent.android

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.StrongBoxUnavailableException
import java.io.InputStream
import java.io.OutputStream
import java.security.AlgorithmParameters
import java.security.InvalidAlgorithmParameterException
import java.security.InvalidKeyException
import java.security.Key
import java.security.KeyStore
import java.security.KeyStoreSpi
import java.security.Provider
import java.security.SecureRandom
import java.security.Security
import java.security.cert.Certificate
import java.security.spec.AlgorithmParameterSpec
import java.util.Collections
import java.util.Date
import java.util.Enumeration
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.Cipher
import javax.crypto.CipherSpi
import javax.crypto.KeyGeneratorSpi
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec

/**
 * A stand-in for Android Keystore, which Robolectric does not have: a JCA
 * provider named "AndroidKeyStore" with the parts the key provider uses
 * (KeyStore, an AES KeyGenerator taking a KeyGenParameterSpec, AES/GCM),
 * holding non-exportable keys in memory. It can play a device without
 * StrongBox, a locked device and an invalidated key.
 */
object FakeAndroidKeyStore {
    const val NAME = "AndroidKeyStore"

    val keys = ConcurrentHashMap<String, FakeKeystoreKey>()

    /** Keys generated, and whether each attempt asked for StrongBox. */
    val generated = AtomicInteger()
    val strongBoxRequests: MutableList<Boolean> = CopyOnWriteArrayList()

    @Volatile var strongBoxAvailable = true

    /** How long generating a key takes (to widen races). */
    @Volatile var generateDelayMs = 0L

    /** Thrown by Cipher.init with a Keystore key, as a locked or invalidated key does. */
    @Volatile var cipherInitFailure: (() -> Exception)? = null

    fun install() {
        Security.removeProvider(NAME)
        reset()
        Security.insertProviderAt(FakeProvider(), 1)
    }

    fun uninstall() {
        Security.removeProvider(NAME)
        reset()
    }

    private fun reset() {
        keys.clear()
        generated.set(0)
        strongBoxRequests.clear()
        strongBoxAvailable = true
        generateDelayMs = 0
        cipherInitFailure = null
    }

    /** A Cipher on the raw key material, for tests that write files as older versions did. */
    fun rawCipher(alias: String): Pair<Cipher, SecretKeySpec> =
        Cipher.getInstance("AES/GCM/NoPadding", "SunJCE") to SecretKeySpec(keys.getValue(alias).material, "AES")
}

/** A Keystore key: usable only through this provider, never exported. */
class FakeKeystoreKey(val alias: String, internal val material: ByteArray) : SecretKey {
    override fun getAlgorithm(): String = "AES"
    override fun getFormat(): String? = null
    override fun getEncoded(): ByteArray? = null
}

private class FakeProvider : Provider(FakeAndroidKeyStore.NAME, "1.0", "in-memory stand-in for Android Keystore (tests)") {
    init {
        putService(FakeService(this, "KeyStore", FakeAndroidKeyStore.NAME, emptyMap()) { FakeKeyStoreSpi() })
        putService(FakeService(this, "KeyGenerator", "AES", emptyMap()) { FakeKeyGeneratorSpi() })
        putService(
            FakeService(this, "Cipher", "AES/GCM/NoPadding", mapOf("SupportedKeyClasses" to FakeKeystoreKey::class.java.name)) {
                FakeCipherSpi()
            },
        )
    }
}

private class FakeService(
    provider: Provider,
    type: String,
    algorithm: String,
    attributes: Map<String, String>,
    private val make: () -> Any,
) : Provider.Service(provider, type, algorithm, FakeProvider::class.java.name, null, attributes) {
    override fun newInstance(constructorParameter: Any?): Any = make()
}

private class FakeKeyStoreSpi : KeyStoreSpi() {
    private val keys get() = FakeAndroidKeyStore.keys

    override fun engineGetKey(alias: String, password: CharArray?): Key? = keys[alias]

    // Android's AndroidKeyStoreSpi hands out secret keys without a password.
    override fun engineGetEntry(alias: String, protParam: KeyStore.ProtectionParameter?): KeyStore.Entry? =
        keys[alias]?.let { KeyStore.SecretKeyEntry(it) }

    override fun engineGetCertificateChain(alias: String): Array<Certificate>? = null
    override fun engineGetCertificate(alias: String): Certificate? = null
    override fun engineGetCreationDate(alias: String): Date? = if (keys.containsKey(alias)) Date() else null
    override fun engineSetKeyEntry(alias: String, key: Key, password: CharArray?, chain: Array<out Certificate>?) =
        throw UnsupportedOperationException("keys are generated inside the Keystore")
    override fun engineSetKeyEntry(alias: String, key: ByteArray, chain: Array<out Certificate>?) =
        throw UnsupportedOperationException("keys are generated inside the Keystore")
    override fun engineSetCertificateEntry(alias: String, cert: Certificate) = throw UnsupportedOperationException()
    override fun engineDeleteEntry(alias: String) {
        keys.remove(alias)
    }
    override fun engineAliases(): Enumeration<String> = Collections.enumeration(keys.keys.toList())
    override fun engineContainsAlias(alias: String): Boolean = keys.containsKey(alias)
    override fun engineSize(): Int = keys.size
    override fun engineIsKeyEntry(alias: String): Boolean = keys.containsKey(alias)
    override fun engineIsCertificateEntry(alias: String): Boolean = false
    override fun engineGetCertificateAlias(cert: Certificate): String? = null
    override fun engineStore(stream: OutputStream?, password: CharArray?) = throw UnsupportedOperationException()
    override fun engineLoad(stream: InputStream?, password: CharArray?) = Unit
}

private class FakeKeyGeneratorSpi : KeyGeneratorSpi() {
    private var spec: KeyGenParameterSpec? = null

    override fun engineInit(random: SecureRandom?) = throw InvalidAlgorithmParameterException("a KeyGenParameterSpec is required")
    override fun engineInit(keysize: Int, random: SecureRandom?) =
        throw InvalidAlgorithmParameterException("a KeyGenParameterSpec is required")
    override fun engineInit(params: AlgorithmParameterSpec?, random: SecureRandom?) {
        spec = params as? KeyGenParameterSpec ?: throw InvalidAlgorithmParameterException("a KeyGenParameterSpec is required")
    }

    override fun engineGenerateKey(): SecretKey {
        val s = checkNotNull(spec) { "not initialised" }
        FakeAndroidKeyStore.strongBoxRequests += s.isStrongBoxBacked
        if (s.isStrongBoxBacked && !FakeAndroidKeyStore.strongBoxAvailable) throw StrongBoxUnavailableException()
        check(s.blockModes.toList() == listOf("GCM")) { "unexpected block modes ${s.blockModes.toList()}" }
        check(s.encryptionPaddings.toList() == listOf("NoPadding"))
        if (FakeAndroidKeyStore.generateDelayMs > 0) Thread.sleep(FakeAndroidKeyStore.generateDelayMs)
        val key = FakeKeystoreKey(s.keystoreAlias, ByteArray(s.keySize / 8).also { SecureRandom().nextBytes(it) })
        FakeAndroidKeyStore.keys[s.keystoreAlias] = key // replaces, as Android Keystore does
        FakeAndroidKeyStore.generated.incrementAndGet()
        return key
    }
}

private class FakeCipherSpi : CipherSpi() {
    private var delegate: Cipher? = null
    private val cipher get() = checkNotNull(delegate) { "not initialised" }

    override fun engineSetMode(mode: String) = require(mode.equals("GCM", ignoreCase = true)) { mode }
    override fun engineSetPadding(padding: String) = require(padding.equals("NoPadding", ignoreCase = true)) { padding }
    override fun engineGetBlockSize(): Int = 16
    override fun engineGetOutputSize(inputLen: Int): Int = cipher.getOutputSize(inputLen)
    override fun engineGetIV(): ByteArray? = delegate?.iv
    override fun engineGetParameters(): AlgorithmParameters? = delegate?.parameters

    override fun engineInit(opmode: Int, key: Key, random: SecureRandom?) = init(opmode, key, null)
    override fun engineInit(opmode: Int, key: Key, params: AlgorithmParameterSpec?, random: SecureRandom?) = init(opmode, key, params)
    override fun engineInit(opmode: Int, key: Key, params: AlgorithmParameters?, random: SecureRandom?) =
        init(opmode, key, params?.getParameterSpec(GCMParameterSpec::class.java))

    private fun init(opmode: Int, key: Key, params: AlgorithmParameterSpec?) {
        val k = key as? FakeKeystoreKey ?: throw InvalidKeyException("not an Android Keystore key")
        FakeAndroidKeyStore.cipherInitFailure?.let { throw it() }
        val c = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE")
        val raw = SecretKeySpec(k.material, "AES")
        // Like Android Keystore: encryption picks its own random IV.
        if (params == null) c.init(opmode, raw) else c.init(opmode, raw, params)
        delegate = c
    }

    override fun engineUpdateAAD(src: ByteArray, offset: Int, len: Int) = cipher.updateAAD(src, offset, len)
    override fun engineUpdate(input: ByteArray, inputOffset: Int, inputLen: Int): ByteArray? = cipher.update(input, inputOffset, inputLen)
    override fun engineUpdate(input: ByteArray, inputOffset: Int, inputLen: Int, output: ByteArray, outputOffset: Int): Int =
        cipher.update(input, inputOffset, inputLen, output, outputOffset)
    override fun engineDoFinal(input: ByteArray?, inputOffset: Int, inputLen: Int): ByteArray =
        cipher.doFinal(input ?: ByteArray(0), inputOffset, inputLen)
    override fun engineDoFinal(input: ByteArray?, inputOffset: Int, inputLen: Int, output: ByteArray, outputOffset: Int): Int =
        cipher.doFinal(input ?: ByteArray(0), inputOffset, inputLen, output, outputOffset)
}
