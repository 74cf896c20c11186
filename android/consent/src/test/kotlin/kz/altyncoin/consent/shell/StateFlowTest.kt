package kz.altyncoin.consent.shell

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.ConsentCore
import kz.altyncoin.consent.NoHandle
import kz.altyncoin.consent.OpenConfig
import kz.altyncoin.consent.StateObserver
import kz.altyncoin.consent.core.ConsentState
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

/** The facade's StateFlow starts from a state read after its observer is registered. */
class StateFlowTest {
    @TempDir
    lateinit var tmp: File

    /** The real core, with a change made by "another thread" right after the observer is added. */
    private class ChangeAfterObserver(private val real: ConsentCore, private val change: (ConsentCore) -> Unit) : ConsentCore(NoHandle) {
        override fun addObserver(observer: StateObserver): Long = real.addObserver(observer).also { change(real) }
        override fun removeObserver(handle: Long): Boolean = real.removeObserver(handle)
        override fun state(): ConsentState = real.state()
        override fun setPermission(permission: String, granted: Boolean): ConsentState = real.setPermission(permission, granted)
        override fun close() = real.close()
    }

    @Test
    fun `a change between registering the observer and reading the state is not lost`() = runBlocking {
        val keys = MemoryKeys()
        val dir = File(tmp, "store")
        AltynConsent.open(dir, testApp, keys).use { it.accept(it.policy("ru"), ageConfirmed = true) }
        val real = ConsentCore.open(OpenConfig(dir.path, testApp), keys)
        val core = ChangeAfterObserver(real) { it.setPermission("camera", true) }
        AltynConsent.wrap(core, Dispatchers.IO).use { consent ->
            assertEquals(2L, consent.state.value.events)
            assertEquals(real.state(), consent.state.value)
            // And later changes still arrive.
            consent.setPermission("contacts", granted = false)
            assertEquals(3L, consent.state.value.events)
        }
    }

    @Test
    fun `an older state told after a newer one never replaces it`() = runBlocking {
        AltynConsent.open(File(tmp, "store"), testApp, MemoryKeys()).use { consent ->
            val first = consent.state.value
            val accepted = consent.accept(consent.policy("ru"), ageConfirmed = true)
            assertTrue(accepted.revision > first.revision, "a change raises the revision")
            assertEquals(accepted, consent.state.value)
            // Two changes told out of order (two threads): the older is dropped.
            val relay = StateRelay()
            val flow = relay.start { accepted }
            relay.onStateChanged(first)
            assertEquals(accepted, flow.value)
            val newer = accepted.copy(revision = accepted.revision + 1)
            relay.onStateChanged(newer)
            assertEquals(newer, flow.value)
        }
    }
}
