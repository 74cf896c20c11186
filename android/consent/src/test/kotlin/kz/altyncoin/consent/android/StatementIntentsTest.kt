package kz.altyncoin.consent.android

import android.content.Intent
import kotlinx.coroutines.runBlocking
import kz.altyncoin.consent.core.Concern
import kz.altyncoin.consent.core.StatementKind
import kz.altyncoin.consent.shell.AltynConsent
import kz.altyncoin.consent.shell.ConsentFailure
import kz.altyncoin.consent.shell.MemoryKeys
import kz.altyncoin.consent.shell.testApp
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import java.io.File

/**
 * The statements of §6.1.5 and §10.4 through the facade and Android's
 * intents, and the §5.7 block, on Robolectric against the real core.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35])
public class StatementIntentsTest {
    @get:Rule
    public val tmp: TemporaryFolder = TemporaryFolder()

    @Test
    public fun aWithdrawalStatementIsSharedAndMailedToTheAddressThePolicyNames(): Unit = runBlocking {
        AltynConsent.open(File(tmp.root, "store"), testApp, MemoryKeys()).use { consent ->
            consent.accept(consent.policy("ru"), ageConfirmed = true)
            consent.setPermission("camera", true)
            consent.withdraw("camera")
            val statement = consent.statements().single()
            assertEquals(StatementKind.WITHDRAWAL, statement.kind)
            assertNotNull("the device's offset gives local time", statement.issuedAtLocal)

            val mail = StatementIntents.mail(statement)
            assertEquals(Intent.ACTION_SENDTO, mail.action)
            assertEquals("mailto", mail.data!!.scheme)
            assertTrue(mail.data.toString(), mail.data.toString().startsWith("mailto:info-procredit@prozaimy.kz?"))

            val chooser = StatementIntents.share(statement)
            assertEquals(Intent.ACTION_CHOOSER, chooser.action)
            @Suppress("DEPRECATION")
            val send = chooser.getParcelableExtra<Intent>(Intent.EXTRA_INTENT)!!
            assertEquals(Intent.ACTION_SEND, send.action)
            assertEquals(statement.text, send.getStringExtra(Intent.EXTRA_TEXT))
            assertTrue(statement.text.contains("6.1.5"))
        }
    }

    @Test
    public fun aCompromiseReportBlocksGrantsWithTheirOwnFailure(): Unit = runBlocking {
        AltynConsent.open(File(tmp.root, "store"), testApp, MemoryKeys()).use { consent ->
            consent.accept(consent.policy("ru"), ageConfirmed = true)
            val state = consent.reportCompromise(Concern.UNAUTHORIZED_ACCESS, "")
            assertNotNull(state.accessBlocked)
            assertEquals(false, state.canProceed)
            val failure = runCatching { consent.setPermission("camera", true) }.exceptionOrNull()
            assertTrue("$failure", failure is ConsentFailure.AccessBlocked)
            consent.setPermission("camera", false)
        }
    }
}
