#if canImport(os)
    import Foundation
    import os

    /// Forwards the core's log to the unified log (Console.app). The core logs
    /// no personal data; lines are still marked private outside debug builds.
    ///
    /// `@unchecked Sendable`: its one property, a `Logger`, is immutable and
    /// thread-safe (the unified log takes messages from any thread), but older
    /// SDKs do not mark `Logger` as `Sendable`.
    public final class OSLogSink: LogSink, @unchecked Sendable {
        private let logger: Logger

        public init(subsystem: String = "kz.altyncoin.consent", category: String = "core") {
            logger = Logger(subsystem: subsystem, category: category)
        }

        public func log(level: LogLevel, target: String, message: String) {
            switch level {
            case .error: logger.error("\(target, privacy: .public): \(message, privacy: .private)")
            case .warn: logger.warning("\(target, privacy: .public): \(message, privacy: .private)")
            case .info: logger.info("\(target, privacy: .public): \(message, privacy: .private)")
            case .debug, .trace: logger.debug("\(target, privacy: .public): \(message, privacy: .private)")
            }
        }

        /// Installs the sink; call once, at launch.
        @discardableResult
        public static func install(maxLevel: LogLevel = .info) -> Bool {
            setLogSink(sink: OSLogSink(), maxLevel: maxLevel)
        }
    }
#endif
