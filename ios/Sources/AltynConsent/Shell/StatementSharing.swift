// iOS only: UIKit's share sheet and URL opening. Not compiled on Linux (no
// UIKit there); the statements themselves, their text and the mailto link
// come from the core and are tested on every platform.
#if canImport(UIKit) && os(iOS)
    import UIKit

    /// The platform's ways to send a written statement (§6.1.5 withdrawal,
    /// §10.4 objection): the share sheet, and the user's mail app addressed to
    /// the Company as the policy names it. Both carry the core's text
    /// unchanged; the statement is also synced to the Company, whatever the
    /// user does here.
    @MainActor
    public enum StatementSharing {
        /// A share sheet with the statement's plain text; present it from the
        /// statement's screen (on iPad set its popover anchor).
        public static func shareSheet(for statement: StatementInfo) -> UIActivityViewController {
            let controller = UIActivityViewController(activityItems: [statement.text], applicationActivities: nil)
            controller.setValue(statement.title, forKey: "subject")
            return controller
        }

        /// Opens the core's `mailto:` link (recipient, subject and body from
        /// the policy's data) in the user's mail app. `false` if no app
        /// handles mail: offer the share sheet instead.
        public static func openMail(for statement: StatementInfo) async -> Bool {
            guard let url = URL(string: statement.mailto), UIApplication.shared.canOpenURL(url) else { return false }
            return await UIApplication.shared.open(url)
        }
    }
#endif
