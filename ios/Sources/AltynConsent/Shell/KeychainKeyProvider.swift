import Foundation
import Security

/// Keeps the store's 256-bit database key in the Keychain, readable after
/// the first unlock and on this device only (never in a backup, never
/// migrated): a restored or new device restores its consents from the
/// server instead. Errors name the Keychain status, never key bytes.
public final class KeychainKeyProvider: KeyProvider, @unchecked Sendable {
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
            throw PlatformError.Failed(reason: "the Keychain is locked (device not unlocked since restart); try again after unlock")
        default:
            throw PlatformError.Failed(reason: "the Keychain refused to read the consent store key (OSStatus \(status))")
        }
    }

    public func saveKey(storeId: String, key: Data) throws {
        var q = query(storeId)
        q[kSecValueData as String] = key
        q[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(q as CFDictionary, nil)
        guard status == errSecSuccess else {
            throw PlatformError.Failed(reason: "the Keychain refused to save the consent store key (OSStatus \(status))")
        }
    }
}
