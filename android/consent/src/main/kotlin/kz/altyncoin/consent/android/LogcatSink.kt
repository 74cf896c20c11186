package kz.altyncoin.consent.android

import android.util.Log
import kz.altyncoin.consent.InternalException
import kz.altyncoin.consent.LogLevel
import kz.altyncoin.consent.LogSink
import kz.altyncoin.consent.setLogSink

/** Forwards the core's log to logcat under [tag]. The core logs no personal data. */
public class LogcatSink(private val tag: String = DEFAULT_TAG) : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val line = "$target: $message"
        when (level) {
            LogLevel.ERROR -> Log.e(tag, line)
            LogLevel.WARN -> Log.w(tag, line)
            LogLevel.INFO -> Log.i(tag, line)
            LogLevel.DEBUG -> Log.d(tag, line)
            LogLevel.TRACE -> Log.v(tag, line)
        }
    }

    public companion object {
        public const val DEFAULT_TAG: String = "AltynConsent"

        /**
         * Sends the core's log lines at [maxLevel] and above to logcat; call
         * once, in `Application.onCreate`. True when they now go there; false
         * (and a warning in logcat saying why) when they do not: the process
         * already had another log subscriber, or the core refused.
         */
        public fun install(maxLevel: LogLevel = LogLevel.INFO, tag: String = DEFAULT_TAG): Boolean = install(maxLevel, tag, ::setLogSink)

        internal fun install(maxLevel: LogLevel, tag: String, setSink: (LogSink, LogLevel) -> Boolean): Boolean {
            val installed = try {
                setSink(LogcatSink(tag), maxLevel)
            } catch (e: InternalException) {
                // The core failed (a Rust panic): nothing was installed.
                Log.w(tag, "the consent core's log was not connected to logcat: ${e.javaClass.simpleName}")
                return false
            }
            if (installed) {
                Log.i(tag, "the consent core's log goes to logcat (level $maxLevel and above)")
            } else {
                Log.w(tag, "the consent core's log was not connected to logcat: another log subscriber was installed first")
            }
            return installed
        }
    }
}
