package kz.altyncoin.consent.shell

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.PolicyStatus
import kz.altyncoin.consent.core.UserConsent
import kz.altyncoin.consent.coreVersion
import kz.altyncoin.consent.verifyExport
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File

/** The borrower's journey through the Kotlin shell, synced to the real backend over TLS. */
class JourneyTest {
    @TempDir
    lateinit var tmp: File

    @Test
    fun `borrower accepts, decides permissions, withdraws and syncs exactly once`() = runBlocking {
        ReferenceServer(File(tmp, "server"), mapOf("token-1" to "borrower-1")).use { server ->
            AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys(), server.settings().serverKeys).use { consent ->
                assertEquals(PolicyStatus.NeverAccepted, consent.state.value.policy)
                assertFalse(consent.state.value.canProceed)

                // The policy as a screen shows it: every numbered clause, in Russian.
                val policy = consent.policy("ru")
                assertEquals("ru", policy.locale)
                assertEquals(11, policy.sections.size)
                assertTrue(policy.sections.flatMap { it.clauseIds }.containsAll(listOf("2.4", "4.2.5", "6.1.3", "6.1.5", "10.4")))
                assertTrue(policy.markdown.contains("6.1.5"))

                val accepted = consent.accept(policy, ageConfirmed = true)
                assertTrue(accepted.policy is PolicyStatus.Accepted)
                assertTrue(accepted.canProceed)
                // The StateFlow follows every change.
                assertEquals(accepted, consent.state.first { it.events == 1L })

                val camera = consent.permissions("ru").single { it.id == "camera" }
                assertTrue(camera.purposes.isNotEmpty())
                assertEquals(listOf("android.permission.CAMERA"), camera.androidPermissions)

                consent.setPermission("camera", granted = true)
                val granted = consent.reportOsStatus("camera", OsStatus.GRANTED)
                assertTrue(granted.permissions.single { it.id == "camera" }.mayUse)
                consent.setPermission("location_precise", granted = false)
                consent.setPermission("notifications", granted = true)
                consent.reportOsStatus("notifications", OsStatus.DENIED)

                val withdrawn = consent.withdraw("camera")
                val cam = withdrawn.permissions.single { it.id == "camera" }
                assertEquals(UserConsent.WITHDRAWN, cam.consent)
                assertFalse(cam.mayUse)
                assertEquals(withdrawn, consent.state.value)

                // Sync: every event acknowledged under a verified, signed receipt.
                val events = consent.state.value.events
                assertEquals(8L, events, "seven decisions and the withdrawal's written statement")
                val report = consent.sync(server.settings(), StaticTokens("token-1"))
                // The Company's receipt of delivery of the statement is
                // recorded and uploaded in the same pass: one event more.
                assertEquals(1L, report.statementsDelivered)
                val total = events + 1
                assertEquals(total, consent.state.value.events)
                assertEquals(total, report.acknowledged)
                assertEquals(0L, report.pending)
                assertEquals(null, report.stop)
                val receipts = consent.receipts()
                assertEquals(2, receipts.size)
                assertEquals(total, receipts.last().headEvents)
                assertEquals(consent.state.value.headHash, receipts.last().headHash)
                assertEquals((1L..total).toList(), receipts.flatMap { it.acknowledgedSeqs })
                assertTrue(receipts.all { it.signature.isNotBlank() })
                val statement = consent.statements().single()
                assertTrue(statement.deliveredAt != null)

                // Exactly once: a second pass sends nothing.
                val again = consent.sync(server.settings(), StaticTokens("token-1"))
                assertEquals(0L, again.sent)
                assertEquals(0L, again.acknowledged)
                val status = consent.syncStatus()
                assertEquals(0L, status.pending)
                assertEquals(total, status.acknowledged)

                // Proof on the app's side: the ledger verifies, the export too.
                val verified = consent.verify()
                assertTrue(verified.fileIntegrityOk)
                assertEquals(total, verified.events)
                assertEquals(2L, verified.receipts)
                assertEquals(total, verified.acknowledged)
                assertEquals(total, verifyExport(consent.export(), server.settings().serverKeys))
                // The export's receipts need the server key to be checked.
                assertThrows<kz.altyncoin.consent.ConsentException.SyncSetup> { verifyExport(consent.export(), emptyList()) }
                assertEquals(
                    listOf(
                        "policy_accepted",
                        "permission_decided",
                        "os_status_changed",
                        "permission_decided",
                        "permission_decided",
                        "os_status_changed",
                        "consent_withdrawn",
                        "statement_issued",
                        "statement_delivered",
                    ),
                    consent.history().map { it.kind },
                )
                assertTrue(consent.history().all { it.json.contains("\"core_version\":\"${coreVersion()}\"") })
            }
        }
    }

    @Test
    fun `a reopened store keeps every decision`() = runBlocking {
        val keys = MemoryKeys()
        val dir = File(tmp, "store")
        val head = AltynConsent.open(dir, testApp, keys).use { consent ->
            consent.accept(consent.policy("ru"), ageConfirmed = true)
            consent.setPermission("contacts", granted = false).headHash
        }
        AltynConsent.open(dir, testApp, keys).use { consent ->
            assertEquals(head, consent.state.value.headHash)
            assertEquals(UserConsent.DENIED, consent.state.value.permissions.single { it.id == "contacts" }.consent)
        }
    }
}
