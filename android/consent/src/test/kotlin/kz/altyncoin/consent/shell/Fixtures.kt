package kz.altyncoin.consent.shell

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext
import kz.altyncoin.consent.AppInfo
import kz.altyncoin.consent.ConsentCore
import kz.altyncoin.consent.KeyProvider
import kz.altyncoin.consent.OpenConfig
import kz.altyncoin.consent.TokenException
import kz.altyncoin.consent.TokenProvider
import kz.altyncoin.consent.core.SyncSettings
import java.io.File
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

val testApp = AppInfo(platform = "android", appVersion = "1.0.0-jvm-test", osVersion = "jvm")

/**
 * The golden journey's client: the core's replay clock and counted ids, so a
 * journey gives the same hashes on every platform. Test code only: the
 * library itself has no such entry point.
 */
suspend fun openForReplay(dataDir: File, app: AppInfo, keys: KeyProvider, startAt: String): AltynConsent = withContext(Dispatchers.IO) {
    AltynConsent.wrap(translated { ConsentCore.openForReplay(OpenConfig(dataDir.path, app), keys, startAt) }, Dispatchers.IO)
}

/** A keystore in memory, as the JVM has no Android Keystore. */
class MemoryKeys : KeyProvider {
    val keys = ConcurrentHashMap<String, ByteArray>()
    override fun loadKey(storeId: String): ByteArray? = keys[storeId]?.copyOf()
    override fun saveKey(storeId: String, key: ByteArray) {
        keys[storeId] = key.copyOf()
    }
}

/** A keystore that hands out a fixed (wrong) key. */
class FixedKeys(private val key: ByteArray) : KeyProvider {
    override fun loadKey(storeId: String): ByteArray = key.copyOf()
    override fun saveKey(storeId: String, key: ByteArray) = Unit
}

class StaticTokens(private val token: String) : TokenProvider {
    val refreshes = AtomicInteger()
    override suspend fun token(): String = token
    override suspend fun refresh(): String = token.also { refreshes.incrementAndGet() }
}

/** Nobody is signed in: the provider says so with the typed error. */
class FailingTokens : TokenProvider {
    override suspend fun token(): String = throw TokenException.SignedOut()
    override suspend fun refresh(): String = throw TokenException.SignedOut()
}

/** A token that cannot be had now, after a real suspension (a refresh call). */
class UnavailableTokens : TokenProvider {
    override suspend fun token(): String {
        delay(10)
        throw TokenException.Unavailable("the login service did not answer")
    }
    override suspend fun refresh(): String = token()
}

/**
 * The reference backend (`altyn-consent-server`, built by cargo) on a free
 * loopback port, with its own data folder: dev CA, receipt and policy keys.
 */
class ReferenceServer(private val dataDir: File, tokens: Map<String, String>, publish: List<File> = emptyList()) : AutoCloseable {
    private val process: Process
    val baseUrl: String

    init {
        val bin = System.getProperty("altyn.server.bin") ?: error("altyn.server.bin is not set")
        check(File(bin).canExecute()) { "$bin is not built: run cargo build -p altyn-consent-server" }
        val command = listOf(
            bin,
            "--listen",
            "127.0.0.1:0",
            "--server-data-dir",
            dataDir.path,
            "--tokens",
            tokens.entries.joinToString(",") { "${it.key}=${it.value}" },
        ) + publish.flatMap { listOf("--publish", it.path) }
        process = ProcessBuilder(command)
            .redirectError(File(dataDir.parentFile, "server.log"))
            .start()
        val stdout = process.inputStream.bufferedReader()
        val first = stdout.readLine() ?: error("the server exited: ${File(dataDir.parentFile, "server.log").readText()}")
        baseUrl = first.substringAfter("listening on ").trim()
        check(baseUrl.startsWith("https://127.0.0.1:")) { "unexpected first line: $first" }
        Thread { stdout.useLines { it.forEach { } } }.apply { isDaemon = true }.start()
    }

    fun settings(): SyncSettings = SyncSettings(
        baseUrl = baseUrl,
        serverKeys = listOf(read("receipt-key.pub")),
        policyKeys = listOf(read("policy-key.pub")),
        extraCaPem = read("dev-ca.pem"),
        spkiPins = emptyList(),
        requestTimeoutMs = 10_000L,
        maxAttempts = 3,
    )

    private fun read(name: String) = File(dataDir, name).readText().trim()

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}
