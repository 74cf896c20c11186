package kz.altyncoin.consent.android

import android.util.Log
import kz.altyncoin.consent.LogLevel
import kz.altyncoin.consent.LogSink
import kz.altyncoin.consent.setLogSink

/** Forwards the core's log to logcat under [tag]. The core logs no personal data. */
class LogcatSink(private val tag: String = "AltynConsent") : LogSink {
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

    companion object {
        /** Installs the sink; call once, in `Application.onCreate`. */
        fun install(maxLevel: LogLevel = LogLevel.INFO): Boolean = setLogSink(LogcatSink(), maxLevel)
    }
}
