package kz.altyncoin.consent.shell

import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.LogLevel
import kz.altyncoin.consent.LogSink
import kz.altyncoin.consent.setLogSink
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList

class LogSinkTest {
    @TempDir
    lateinit var tmp: File

    @Test
    fun `the core's log reaches the app's sink without personal data`() = runBlocking {
        val lines = CopyOnWriteArrayList<String>()
        setLogSink(
            object : LogSink {
                override fun log(level: LogLevel, target: String, message: String) {
                    lines += "$level $target $message"
                }
            },
            LogLevel.INFO,
        )
        AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys()).use { consent ->
            consent.accept(consent.policy("ru"), ageConfirmed = true)
            consent.linkAccount("borrower-secret-42")
        }
        assertTrue(
            lines.any {
                it.startsWith("INFO") && it.contains("consent event recorded") && it.contains("kind=policy_accepted")
            },
            lines.toString(),
        )
        assertTrue(lines.none { it.contains("borrower-secret-42") }, "the account id never reaches the log")
    }
}
