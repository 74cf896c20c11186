package kz.altyncoin.consent.shell

import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.ChangeKind
import kz.altyncoin.consent.core.PolicyStatus
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

/** §10: a new version arrives through sync; the user sees the changes, then consents again. */
class ReconsentTest {
    @TempDir
    lateinit var tmp: File

    private val amendment = "Тестовая поправка: данные о местоположении хранятся не дольше 30 дней."

    /** Version 2 of the bundled policy, with one sentence added to §4.2.5. */
    private fun version2(): File {
        val path = System.getProperty("altyn.policy") ?: error("altyn.policy is not set")
        val doc = JSONObject(File(path).readText())
        doc.put("version", 2)
        val sections = doc.getJSONArray("sections")
        for (i in 0 until sections.length()) {
            val clauses = sections.getJSONObject(i).optJSONArray("clauses") ?: continue
            for (j in 0 until clauses.length()) {
                val clause = clauses.getJSONObject(j)
                if (clause.getString("id") == "4.2.5") {
                    val block = clause.getJSONArray("blocks").getJSONObject(0)
                    block.put("text", block.getString("text") + " " + amendment)
                }
            }
        }
        return File(tmp, "policy-v2.json").apply { writeText(doc.toString()) }
    }

    @Test
    fun `a new version asks again, shows the changed clause, and the new acceptance syncs`() = runBlocking {
        AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys()).use { consent ->
            consent.accept(consent.policy("ru"), ageConfirmed = true)
            consent.setPermission("camera", granted = true)
            assertEquals(null, consent.policyChanges())

            ReferenceServer(File(tmp, "server"), mapOf("token-1" to "borrower-1"), listOf(version2())).use { server ->
                val first = consent.sync(server.settings(), StaticTokens("token-1"))
                assertEquals(2, first.policyUpdatedTo)
                val asked = consent.state.value
                assertEquals(PolicyStatus.ReconsentRequired(1, 2), asked.policy)
                assertFalse(asked.permissions.single { it.id == "camera" }.mayUse, "nothing is used until the user answers")

                val changes = consent.policyChanges()!!
                assertEquals(1, changes.fromVersion)
                assertEquals(2, changes.toVersion)
                val changed = changes.changes.single()
                assertEquals("4.2.5", changed.id)
                assertEquals(ChangeKind.CHANGED, changed.kind)
                assertTrue(changed.newText!!.contains(amendment))
                assertTrue(changes.text.contains("4.2.5"))

                val v2 = consent.policy("ru")
                assertEquals(2, v2.reference.version)
                consent.noticeShown(v2)
                val accepted = consent.accept(v2, ageConfirmed = true)
                assertEquals(2, (accepted.policy as PolicyStatus.Accepted).version)
                assertTrue(accepted.canProceed)

                val second = consent.sync(server.settings(), StaticTokens("token-1"))
                assertEquals(2L, second.acknowledged, "the notice and the new acceptance")
                assertEquals(0L, consent.syncStatus().pending)
                assertEquals(
                    listOf("policy_accepted", "permission_decided", "policy_notice_shown", "policy_accepted"),
                    consent.history().map { it.kind },
                )
            }
        }
    }
}
