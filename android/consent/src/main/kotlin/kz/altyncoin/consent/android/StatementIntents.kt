package kz.altyncoin.consent.android

import android.content.Intent
import android.net.Uri
import kz.altyncoin.consent.core.StatementInfo

/**
 * The platform's ways to send a written statement (§6.1.5 withdrawal, §10.4
 * objection): the share sheet, and the user's mail app addressed to the
 * Company as the policy names it. Both carry the core's text unchanged; the
 * statement is also synced to the Company, whatever the user does here.
 */
public object StatementIntents {
    /** `ACTION_SEND` with the statement's plain text, wrapped in the system chooser. */
    public fun share(statement: StatementInfo): Intent {
        val send = Intent(Intent.ACTION_SEND).apply {
            type = "text/plain"
            putExtra(Intent.EXTRA_SUBJECT, statement.title)
            putExtra(Intent.EXTRA_TEXT, statement.text)
        }
        return Intent.createChooser(send, statement.title)
    }

    /**
     * `ACTION_SENDTO` with the core's `mailto:` link (recipient, subject and
     * body filled in from the policy's data); only mail apps answer it.
     */
    public fun mail(statement: StatementInfo): Intent = Intent(Intent.ACTION_SENDTO, Uri.parse(statement.mailto))
}
