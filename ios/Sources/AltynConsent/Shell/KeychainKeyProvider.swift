#if canImport(Security)
    import Foundation
    import Security

    /// Keeps the store's 256-bit database key in the Keychain, readable after
    /// the first unlock and on this device only (never in a backup, never
    /// migrated): a restored or new device restores its consents from the
    /// server instead. Errors name the Keychain status, never key bytes.
    public final class KeychainKeyProvider: KeyProvider {
        private let service: String
        private let accessGroup: String?

        public init(service: String = "kz.altyncoin.consent.store-key", accessGroup: String? = nil) {
            self.service = service
            self.accessGroup = accessGroup
        }

        private func query(_ storeId: String) -> [String: Any] {
            var q: [String: Any] = [
                kSecClass as String: kSecClassGenericPassword,
                kSecAttrService as String: service,
                kSecAttrAccount as String: storeId,
            ]
            if let accessGroup { q[kSecAttrAccessGroup as String] = accessGroup }
            return q
        }

        public func loadKey(storeId: String) throws -> Data? {
            var q = query(storeId)
            q[kSecReturnData as String] = true
            q[kSecMatchLimit as String] = kSecMatchLimitOne
            var item: CFTypeRef?
            let status = SecItemCopyMatching(q as CFDictionary, &item)
            switch status {
            case errSecSuccess:
                guard let data = item as? Data else {
                    throw PlatformError.Failed(reason: "the Keychain item of the consent store key holds no data")
                }
                return data
            case errSecItemNotFound:
                return nil
            case errSecInteractionNotAllowed:
                // Transient: the core reports KeyLocked (try again), never a lost key.
                throw PlatformError.Locked(reason: "the Keychain is locked (device not unlocked since restart); try again after unlock")
            default:
                throw PlatformError.Failed(reason: "the Keychain refused to read the consent store key (OSStatus \(status))")
            }
        }

        /// Saves or replaces the item: the core saves the installation marker
        /// again when a recovered store replaces a lost one (the Keychain keeps
        /// the old item across an app reinstall).
        public func saveKey(storeId: String, key: Data) throws {
            var q = query(storeId)
            q[kSecValueData as String] = key
            q[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            var status = SecItemAdd(q as CFDictionary, nil)
            if status == errSecDuplicateItem {
                let update: [String: Any] = [
                    kSecValueData as String: key,
                    kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
                ]
                status = SecItemUpdate(query(storeId) as CFDictionary, update as CFDictionary)
            }
            switch status {
            case errSecSuccess:
                return
            case errSecInteractionNotAllowed:
                throw PlatformError.Locked(reason: "the Keychain is locked (device not unlocked since restart); try again after unlock")
            default:
                throw PlatformError.Failed(reason: "the Keychain refused to save the consent store key (OSStatus \(status))")
            }
        }
    }
#endif
