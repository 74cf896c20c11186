package kz.altyncoin.consent.shell

import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.AppInfo
import kz.altyncoin.consent.core.ConsentState
import kz.altyncoin.consent.core.OsStatus
import kz.altyncoin.consent.core.PolicyStatus
import kz.altyncoin.consent.verifyExport
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

/**
 * Replays bindings/golden/journey.json, as the Rust and Swift tests do: the
 * same steps must give the same states and ledger hashes on every platform.
 */
class GoldenJourneyTest {
    @TempDir
    lateinit var tmp: File

    private fun compact(state: ConsentState): JSONObject {
        val policy = when (val p = state.policy) {
            is PolicyStatus.NeverAccepted -> "never_accepted"
            is PolicyStatus.Accepted -> "accepted:${p.version}"
            is PolicyStatus.ReconsentRequired -> "reconsent_required:${p.fromVersion}->${p.toVersion}"
            is PolicyStatus.Objected -> "objected:${p.version}"
            is PolicyStatus.Withdrawn -> "withdrawn"
        }
        val permissions = JSONObject()
        for (p in state.permissions) {
            permissions.put(
                p.id,
                "${p.consent.name.lowercase()}/${p.osStatus.name.lowercase()}/${if (p.mayUse) "use" else "no"}",
            )
        }
        return JSONObject()
            .put("policy", policy)
            .put("can_proceed", state.canProceed)
            .put("events", state.events)
            .put("head_hash", state.headHash)
            .put("subject", state.subject)
            .put("permissions", permissions)
    }

    /** Deep equality with the API both org.json flavours share (Android's has no `similar`). */
    private fun same(a: Any?, b: Any?): Boolean = when {
        a is JSONObject && b is JSONObject ->
            a.length() == b.length() && a.keys().asSequence().all { b.has(it) && same(a.get(it), b.get(it)) }
        a is Number && b is Number -> a.toLong() == b.toLong()
        else -> a == b
    }

    private suspend fun run(consent: AltynConsent, step: JSONObject): ConsentState = when (val op = step.getString("op")) {
        "state" -> consent.state.value
        "accept_policy" -> {
            val shown = consent.policy(step.getString("locale"))
            val text = if (step.has("hash")) {
                shown.copy(reference = shown.reference.copy(hash = step.getString("hash")))
            } else {
                shown
            }
            consent.accept(text, step.getBoolean("age_confirmed"))
        }
        "set_permission" -> consent.setPermission(step.getString("permission"), step.getBoolean("granted"))
        "report_os_status" -> consent.reportOsStatus(
            step.getString("permission"),
            OsStatus.valueOf(step.getString("status").uppercase()),
        )
        "withdraw" -> consent.withdraw(step.getString("permission"))
        "withdraw_all" -> consent.withdrawAll()
        "link_account" -> consent.linkAccount(step.getString("account_id"))
        else -> fail("unknown op $op in the journey")
    }

    @Test
    fun `golden journey replays to the states and hashes Rust recorded`() = runBlocking {
        val path = System.getProperty("altyn.golden") ?: error("altyn.golden is not set")
        val journey = JSONObject(File(path).readText())
        val app = journey.getJSONObject("app")
        val consent = openForReplay(
            File(tmp, "store"),
            AppInfo(app.getString("platform"), app.getString("app_version"), app.getString("os_version")),
            MemoryKeys(),
            journey.getString("start_at"),
        )
        consent.use {
            val steps = journey.getJSONArray("steps")
            var events = 0L
            var checked = 0
            for (i in 0 until steps.length()) {
                val step = steps.getJSONObject(i)
                try {
                    val state = run(consent, step)
                    val expect = step.optJSONObject("expect") ?: fail("step $i: $step succeeded but expects an error")
                    assertTrue(same(expect, compact(state)), "step $i: $step\nexpected $expect\ngot      ${compact(state)}")
                    events = state.events
                } catch (e: ConsentFailure) {
                    val generated = e.cause!!::class.simpleName
                    assertEquals(step.optString("expect_error"), generated, "step $i: $step: ${e.message}")
                    assertEquals(events, consent.state.value.events, "step $i: a refused request recorded something")
                }
                checked++
            }
            assertEquals(steps.length(), checked)
            assertTrue(events > 10)
            assertEquals(events, verifyExport(consent.export(), emptyList()))
        }
    }
}
