package kz.altyncoin.consent.shell

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kz.altyncoin.consent.HttpClient
import kz.altyncoin.consent.HttpException
import kz.altyncoin.consent.HttpHeader
import kz.altyncoin.consent.HttpRequest
import kz.altyncoin.consent.HttpResponse
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.io.IOException
import java.net.URI
import java.net.http.HttpRequest.BodyPublishers
import java.net.http.HttpResponse.BodyHandlers
import java.security.KeyStore
import java.security.cert.CertificateFactory
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory

/**
 * An app's own HTTP stack through the facade: the JDK's `java.net.http`
 * (as an app would hand in OkHttp) trusting the reference server's dev CA.
 * The core still decides what is sent and what an answer proves.
 */
class AppHttpTest {
    @TempDir
    lateinit var tmp: File

    /** The JDK's HTTP client as the app's stack; counts what it sends. */
    private class JdkHttp(caPem: String) : HttpClient {
        val sent = AtomicInteger()
        private val client: java.net.http.HttpClient

        init {
            val ca = CertificateFactory.getInstance("X.509").generateCertificate(caPem.byteInputStream())
            val trusted = KeyStore.getInstance(KeyStore.getDefaultType()).apply {
                load(null)
                setCertificateEntry("dev-ca", ca)
            }
            val trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply { init(trusted) }
            val tls = SSLContext.getInstance("TLS").apply { init(null, trust.trustManagers, null) }
            client = java.net.http.HttpClient.newBuilder().sslContext(tls).build()
        }

        override suspend fun send(request: HttpRequest): HttpResponse {
            sent.incrementAndGet()
            val body = if (request.body.isEmpty()) BodyPublishers.noBody() else BodyPublishers.ofByteArray(request.body)
            val builder = java.net.http.HttpRequest.newBuilder(URI(request.url)).method(request.method, body)
            // The JDK sets these itself and refuses them from callers.
            for (header in request.headers.filter { it.name !in JDK_OWN_HEADERS }) builder.header(header.name, header.value)
            val response = try {
                withContext(Dispatchers.IO) { client.send(builder.build(), BodyHandlers.ofByteArray()) }
            } catch (e: IOException) {
                throw HttpException.Network("the request failed: ${e.javaClass.simpleName}").apply { initCause(e) }
            }
            val headers = response.headers().map().flatMap { (name, values) -> values.map { HttpHeader(name.lowercase(), it) } }
            return HttpResponse(response.statusCode(), headers, response.body())
        }
    }

    private companion object {
        val JDK_OWN_HEADERS = setOf("content-length", "host", "connection")
    }

    @Test
    fun `sync through the app's own HTTP stack, then verify against the server's copy`() = runBlocking {
        ReferenceServer(File(tmp, "server"), mapOf("token-1" to "borrower-1")).use { server ->
            val settings = server.settings()
            val http = JdkHttp(checkNotNull(settings.extraCaPem))
            AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys(), settings.serverKeys).use { consent ->
                consent.accept(consent.policy("ru"), ageConfirmed = true)
                consent.setPermission("camera", granted = true)
                val report = consent.syncWithClient(settings, StaticTokens("token-1"), http)
                assertEquals(2L, report.acknowledged)
                assertEquals(0L, report.pending)
                assertTrue(http.sent.get() >= 1, "the app's stack carried the upload")

                val online = consent.verifyOnline(settings, StaticTokens("token-1"))
                assertEquals(2L, online.events)
                assertEquals(2L, online.acknowledged)
                assertTrue(online.fileIntegrityOk)
            }
        }
    }
}
