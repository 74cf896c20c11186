//! The device functions the app may use (§2.4, §6.1.3), what each is for
//! (purposes are clause ids of §4.2), and the two layers that decide whether
//! the app may use one: the user's consent and the OS grant.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::policy::{select_locale, PolicyDocument};

/// The catalog format this build reads (and 1 and 2 before it).
pub const CATALOG_FORMAT: u32 = 3;
/// The iOS APIs the iOS shell reads a status from; a catalog's `ios.api`
/// starts with one of them (format 3).
pub const IOS_APIS: [&str; 5] = [
    "AVCaptureDevice",
    "CLLocationManager",
    "CNContactStore",
    "PHPhotoLibrary",
    "UNUserNotificationCenter",
];
/// The highest Android API level the catalog's per-level rules are checked
/// for ([`AndroidRuntime`]); levels above it follow the same rules.
pub const ANDROID_SDK_CHECKED_UP_TO: i32 = 40;
/// Largest catalog accepted, in bytes (the bundled one is about 6 KB).
pub const MAX_CATALOG_BYTES: usize = 256 * 1024;
/// The bundled catalog.
pub const BUNDLED_CATALOG: &str = include_str!("../permissions/catalog.json");

/// Text in several languages, keyed by language tag; `ru` is always present.
pub type LocalizedText = BTreeMap<String, String>;

/// The list of device functions the app may ask for, with what each is
/// for (§2.4, §6.1.3). Bundled with the app ([`PermissionCatalog::bundled`])
/// and replaceable by a newer version; its purposes and data categories
/// must exist in the policy ([`PermissionCatalog::validate_against`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionCatalog {
    /// Format of this catalog: [`CATALOG_FORMAT`], 2 (before the platform
    /// facts: per-level Android permissions, what a partial grant means) or
    /// 1 (before app-store rules); older formats are still read, as stores
    /// keep such catalogs. A newer one is refused with "update the app".
    pub format: u32,
    /// A higher version replaces a lower one.
    pub version: u32,
    /// The policy whose clauses the purposes refer to.
    pub policy_id: String,
    /// The device functions, in the order screens list them; ids unique.
    pub permissions: Vec<Permission>,
}

/// One device function of the catalog: what the user is asked, why, and
/// what the platforms call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// Stable id, e.g. `camera`, `location_precise`.
    pub id: String,
    /// The function's name for the user ("Камера").
    pub title: LocalizedText,
    /// Why the app asks, in the user's words.
    pub rationale: LocalizedText,
    /// The purposes (clause ids of §4.2) a consent to this permission is for.
    pub purposes: Vec<String>,
    /// Categories of personal data (§2.3) collected through it.
    pub data_categories: Vec<String>,
    /// Clauses that give the user the choice (§2.4, §6.1.3).
    pub clauses: Vec<String>,
    /// Whether the service still works when the user refuses.
    pub service_works_without: bool,
    /// What refusing changes, shown beside the choice (§2.4: "may be limited").
    pub refusal_effect: LocalizedText,
    /// What Android calls it.
    pub android: AndroidNames,
    /// What iOS calls it.
    pub ios: IosNames,
    /// What app stores allow (format 2; absent in format 1, where nothing
    /// is known and nothing is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_policy: Option<StorePolicy>,
    /// What a partial grant by the OS ([`OsStatus::Limited`]) means for
    /// this function (format 3). Absent (older formats, or no partial grant
    /// exists): a partial grant is not enough to use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited: Option<LimitedGrant>,
}

/// What [`OsStatus::Limited`] means for one device function: iOS "selected
/// photos" still lets the app use the photos the user picked; Android's
/// "approximate" or iOS's "Precise Location" off is not precise location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitedGrant {
    /// Whether the app may use the function on a partial grant
    /// ([`may_use`]).
    pub usable: bool,
    /// What the partial grant is on each platform, for developers (English).
    pub means: String,
}

/// What app stores' published policies allow an app of our kind (a
/// personal-loan app) to request. The shells refuse to request what a
/// store forbids unless the app overrides that deliberately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorePolicy {
    /// Whether Google Play's Financial Services policy lets a personal-loan
    /// app request it (it forbids contacts, photos and media, and precise
    /// location, among others).
    pub google_play_personal_loans: bool,
    /// The rule in words, for developers (English): what the store says.
    pub note: String,
}

impl Permission {
    /// Whether Google Play lets a personal-loan app request it; true when
    /// the catalog does not say (format 1).
    pub fn google_play_allows_for_lending(&self) -> bool {
        self.store_policy
            .as_ref()
            .is_none_or(|s| s.google_play_personal_loans)
    }

    /// Whether a partial grant ([`OsStatus::Limited`]) lets the app use it;
    /// false when the catalog does not say.
    pub fn limited_is_usable(&self) -> bool {
        self.limited.as_ref().is_some_and(|l| l.usable)
    }
}

/// A permission's names on Android.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidNames {
    /// Manifest permissions (`android.permission.CAMERA`): what the app
    /// declares.
    pub permissions: Vec<String>,
    /// The runtime permissions requested for it, in order, each on the API
    /// levels where it exists (format 3). On one level, the first that
    /// exists decides; a `partial` one granted alone is a partial grant.
    /// Absent (older formats): each manifest permission, on every level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime: Vec<AndroidRuntime>,
    /// Whether the system settings' switch for the app's notifications
    /// decides too (`NotificationManager.areNotificationsEnabled`): the
    /// only switch where no runtime permission exists, and a block on top
    /// of a granted one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settings_switch: bool,
    /// Hardware features (`android.hardware.camera.any`), any of which
    /// makes the function available; empty: always available.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// One Android runtime permission of a catalog entry, and the API levels
/// where it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct AndroidRuntime {
    /// `android.permission.READ_MEDIA_IMAGES`.
    pub permission: String,
    /// The first API level where it exists (and is requested); none: since
    /// the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sdk: Option<i32>,
    /// The last API level where it is requested; none: still.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sdk: Option<i32>,
    /// Granted without the deciding one, it is a partial grant
    /// ([`OsStatus::Limited`]): "selected photos" on Android 14, or
    /// approximate location when precise was asked for on Android 12.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

impl AndroidRuntime {
    /// Whether it is requested on API level `sdk`.
    pub fn exists_on(&self, sdk: i32) -> bool {
        self.min_sdk.is_none_or(|m| sdk >= m) && self.max_sdk.is_none_or(|m| sdk <= m)
    }
}

impl AndroidNames {
    /// The runtime permissions of the entry, as the catalog lists them or,
    /// in formats before 3, each manifest permission on every level.
    pub fn runtime_table(&self) -> Vec<AndroidRuntime> {
        if self.runtime.is_empty() {
            self.permissions
                .iter()
                .map(|p| AndroidRuntime {
                    permission: p.clone(),
                    min_sdk: None,
                    max_sdk: None,
                    partial: false,
                })
                .collect()
        } else {
            self.runtime.clone()
        }
    }

    /// What to request on API level `sdk`, the deciding one first; empty
    /// when no runtime permission exists there (notifications before
    /// Android 13: only the settings switch).
    pub fn runtime_on(&self, sdk: i32) -> Vec<AndroidRuntime> {
        self.runtime_table()
            .into_iter()
            .filter(|r| r.exists_on(sdk))
            .collect()
    }
}

/// A permission's names on iOS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IosNames {
    /// Info.plist usage-description keys (`NSCameraUsageDescription`).
    pub usage_keys: Vec<String>,
    /// The framework API that asks for the grant.
    pub api: String,
    /// Whether it needs full accuracy (CoreLocation's
    /// `accuracyAuthorization`): with "Precise Location" off, the grant is
    /// partial ([`OsStatus::Limited`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_accuracy: bool,
}

/// The user's decision in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum UserConsent {
    /// The user has not answered the in-app question yet.
    NeverAsked,
    /// The user allowed it for the catalog's purposes (§2.4).
    Granted,
    /// The user refused it; the refusal is respected, not asked again.
    Denied,
    /// The user allowed it, then withdrew the consent (§6.1.5).
    Withdrawn,
}

/// What the operating system says, as reported by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum OsStatus {
    /// The OS has not asked the user yet.
    NotDetermined,
    /// Granted in full.
    Granted,
    /// Granted in part: iOS limited photo access, reduced location accuracy.
    Limited,
    /// Refused, and the OS may ask again.
    Denied,
    /// Refused for good ("don't ask again", or restricted by policy): only the
    /// system settings can change it.
    Blocked,
    /// The device has no such function.
    Unavailable,
}

/// §2.4: the app uses a device function only when the user allowed it in the
/// app AND the OS grants it. Either alone is not enough. A partial grant
/// counts only where the catalog says it is usable
/// ([`Permission::limited_is_usable`]): selected photos are, approximate
/// location is not precise location.
pub fn may_use(consent: UserConsent, os: OsStatus, limited_usable: bool) -> bool {
    consent == UserConsent::Granted
        && (os == OsStatus::Granted || (os == OsStatus::Limited && limited_usable))
}

/// Why a catalog, a permission id or an OS status name was refused. Every
/// variant is a bad request or bad data (kind `invalid_request`); nothing
/// was recorded or replaced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    /// The catalog is larger than [`MAX_CATALOG_BYTES`]: refuse it.
    #[error("permission catalog is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The catalog's size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The bytes are not a catalog's JSON (syntax, a missing or unknown
    /// field): fix the catalog's source.
    #[error("permission catalog is not valid JSON for format {CATALOG_FORMAT}: {reason}")]
    Malformed {
        /// The JSON parser's message, with line and column.
        reason: String,
    },
    /// The JSON reads but breaks a rule (format, version 0, no or repeated
    /// permissions, a missing Russian text, a clause or data category the
    /// policy lacks): fix the catalog.
    #[error("permission catalog is invalid: {reason}")]
    Invalid {
        /// Which rule, and where.
        reason: String,
    },
    /// An update offered a version that is not newer than the current one;
    /// the current catalog stays.
    #[error("permission catalog version {offered} does not replace version {current}: only a newer version can")]
    NotNewer {
        /// The version offered.
        offered: u32,
        /// The version in use.
        current: u32,
    },
    /// The caller named a permission the catalog does not have: use one of
    /// `known`.
    #[error("unknown permission {name:?}; known permissions are: {known}")]
    UnknownPermission {
        /// The id as given.
        name: String,
        /// The catalog's ids, comma-separated.
        known: String,
    },
    /// An OS status name did not parse ([`OsStatus`]'s `FromStr`): use one
    /// of `known`.
    #[error("unknown OS status {given:?}; use one of: {known}")]
    UnknownOsStatus {
        /// The name as given.
        given: String,
        /// The accepted names, comma-separated (`not_determined`, ...).
        known: String,
    },
}

impl PermissionCatalog {
    /// Parses and validates a catalog of [`CATALOG_FORMAT`]. Fails with
    /// [`CatalogError::TooLarge`] above [`MAX_CATALOG_BYTES`],
    /// [`CatalogError::Malformed`] for JSON that is not a catalog and
    /// [`CatalogError::Invalid`] for one that breaks a rule (repeated ids,
    /// a permission without a purpose or a Russian text).
    pub fn parse(bytes: &[u8]) -> Result<Self, CatalogError> {
        if bytes.len() > MAX_CATALOG_BYTES {
            return Err(CatalogError::TooLarge {
                size: bytes.len(),
                limit: MAX_CATALOG_BYTES,
            });
        }
        let catalog: PermissionCatalog =
            serde_json::from_slice(bytes).map_err(|e| CatalogError::Malformed {
                reason: e.to_string(),
            })?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// The catalog shipped with this library ([`BUNDLED_CATALOG`]), for
    /// the bundled policy.
    pub fn bundled() -> Self {
        Self::parse(BUNDLED_CATALOG.as_bytes())
            .expect("the bundled catalog is valid; a test checks it")
    }

    fn validate(&self) -> Result<(), CatalogError> {
        let invalid = |reason: String| Err(CatalogError::Invalid { reason });
        if !(1..=CATALOG_FORMAT).contains(&self.format) {
            return invalid(format!(
                "format {} is not supported (expected 1 to {CATALOG_FORMAT}): update the app",
                self.format
            ));
        }
        if self.format >= 2 {
            if let Some(p) = self.permissions.iter().find(|p| p.store_policy.is_none()) {
                return invalid(format!(
                    "permission {} has no store_policy, which format 2 requires",
                    p.id
                ));
            }
        }
        if self.version == 0 {
            return invalid("version must be 1 or higher".into());
        }
        if self.permissions.is_empty() {
            return invalid("it lists no permissions".into());
        }
        let mut ids = HashSet::new();
        for p in &self.permissions {
            if p.id.is_empty()
                || !p
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return invalid(format!(
                    "permission id {:?} must be lower-case letters, digits and '_'",
                    p.id
                ));
            }
            if !ids.insert(p.id.as_str()) {
                return invalid(format!("permission {} appears more than once", p.id));
            }
            for (what, text) in [
                ("title", &p.title),
                ("rationale", &p.rationale),
                ("refusal_effect", &p.refusal_effect),
            ] {
                if text.get("ru").is_none_or(|t| t.trim().is_empty()) {
                    return invalid(format!("permission {} has no Russian {what}", p.id));
                }
            }
            if p.purposes.is_empty() {
                return invalid(format!("permission {} names no purpose", p.id));
            }
            if let Err(reason) = p.check_platform_facts(self.format) {
                return invalid(format!("permission {}: {reason}", p.id));
            }
        }
        Ok(())
    }

    /// Every clause and data category the catalog refers to exists in `policy`.
    pub fn validate_against(&self, policy: &PolicyDocument) -> Result<(), CatalogError> {
        if self.policy_id != policy.id {
            return Err(CatalogError::Invalid {
                reason: format!(
                    "the catalog is for policy {:?}, not {:?}",
                    self.policy_id, policy.id
                ),
            });
        }
        let categories: HashSet<String> =
            policy.data_categories().into_iter().map(|c| c.id).collect();
        for p in &self.permissions {
            for clause in p.purposes.iter().chain(&p.clauses) {
                if !policy.has_clause(clause) {
                    return Err(CatalogError::Invalid {
                        reason: format!("permission {} refers to clause {clause}, which policy version {} lacks", p.id, policy.version),
                    });
                }
            }
            for category in &p.data_categories {
                if !categories.contains(category) {
                    return Err(CatalogError::Invalid {
                        reason: format!("permission {} refers to data category {category:?}, which the policy does not list", p.id),
                    });
                }
            }
        }
        Ok(())
    }

    /// A newer catalog replaces this one; the same or an older one is
    /// refused, and so is one of an older format (it would drop facts the
    /// current one states, such as the platform table).
    pub fn check_replaces(&self, current: &PermissionCatalog) -> Result<(), CatalogError> {
        if self.format < current.format {
            return Err(CatalogError::Invalid {
                reason: format!(
                    "format {} is older than the catalog in use (format {}): publish the catalog in format {}",
                    self.format, current.format, current.format
                ),
            });
        }
        if self.version <= current.version {
            return Err(CatalogError::NotNewer {
                offered: self.version,
                current: current.version,
            });
        }
        Ok(())
    }

    /// The permission with catalog id `id`, or
    /// [`CatalogError::UnknownPermission`] listing the known ids.
    pub fn get(&self, id: &str) -> Result<&Permission, CatalogError> {
        self.permissions.iter().find(|p| p.id == id).ok_or_else(|| {
            CatalogError::UnknownPermission {
                name: id.to_string(),
                known: self.ids().join(", "),
            }
        })
    }

    /// Every permission id, in catalog order.
    pub fn ids(&self) -> Vec<&str> {
        self.permissions.iter().map(|p| p.id.as_str()).collect()
    }
}

impl Permission {
    /// The platform facts' rules: a runtime permission is one the app
    /// declares, its levels are in order, and on every level where any
    /// exists the deciding one is not a partial one. Format 3 lists the
    /// runtime permissions of every entry that has manifest permissions.
    fn check_platform_facts(&self, format: u32) -> Result<(), String> {
        let android = &self.android;
        if format >= 3 && android.runtime.is_empty() && !android.permissions.is_empty() {
            return Err("format 3 requires android.runtime".into());
        }
        for r in &android.runtime {
            if !android.permissions.contains(&r.permission) {
                return Err(format!(
                    "runtime permission {} is not among android.permissions (the manifest's)",
                    r.permission
                ));
            }
            if let (Some(min), Some(max)) = (r.min_sdk, r.max_sdk) {
                if min > max {
                    return Err(format!(
                        "runtime permission {} has min_sdk {min} above max_sdk {max}",
                        r.permission
                    ));
                }
            }
        }
        for sdk in 1..=ANDROID_SDK_CHECKED_UP_TO {
            if let Some(first) = android.runtime_on(sdk).first() {
                if first.partial {
                    return Err(format!(
                        "on API level {sdk} the deciding runtime permission {} is a partial one",
                        first.permission
                    ));
                }
            }
        }
        if self
            .limited
            .as_ref()
            .is_some_and(|l| l.means.trim().is_empty())
        {
            return Err("limited.means is empty".into());
        }
        // The iOS shell asks the framework the first word names.
        let api = self.ios.api.split_whitespace().next().unwrap_or("");
        if format >= 3 && !IOS_APIS.contains(&api) {
            return Err(format!(
                "ios.api {:?} does not start with a framework the iOS shell reads ({})",
                self.ios.api,
                IOS_APIS.join(", ")
            ));
        }
        Ok(())
    }

    /// The title in `locale`, falling back as [`localized`] does.
    pub fn title_in(&self, locale: &str) -> &str {
        localized(&self.title, locale)
    }
    /// The rationale in `locale`, falling back as [`localized`] does.
    pub fn rationale_in(&self, locale: &str) -> &str {
        localized(&self.rationale, locale)
    }
    /// What refusing changes, in `locale`, falling back as [`localized`]
    /// does.
    pub fn refusal_effect_in(&self, locale: &str) -> &str {
        localized(&self.refusal_effect, locale)
    }
}

/// The text for `locale`, falling back like the policy does (to `ru`).
pub fn localized<'a>(text: &'a LocalizedText, locale: &str) -> &'a str {
    let available: Vec<&str> = text.keys().map(String::as_str).collect();
    select_locale(&available, locale)
        .and_then(|l| text.get(l))
        .map(String::as_str)
        .unwrap_or("")
}

const OS_STATUSES: [(OsStatus, &str); 6] = [
    (OsStatus::NotDetermined, "not_determined"),
    (OsStatus::Granted, "granted"),
    (OsStatus::Limited, "limited"),
    (OsStatus::Denied, "denied"),
    (OsStatus::Blocked, "blocked"),
    (OsStatus::Unavailable, "unavailable"),
];

impl OsStatus {
    /// The snake_case name (`not_determined`, `granted`, ...), as in JSON
    /// and as `FromStr` reads it.
    pub fn as_str(self) -> &'static str {
        OS_STATUSES
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .expect("every status is listed")
    }
}

impl fmt::Display for OsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OsStatus {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        OS_STATUSES
            .iter()
            .find(|(_, name)| *name == wanted)
            .map(|(s, _)| *s)
            .ok_or_else(|| CatalogError::UnknownOsStatus {
                given: s.to_string(),
                known: OS_STATUSES
                    .iter()
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl UserConsent {
    /// The snake_case name (`never_asked`, `granted`, `denied`,
    /// `withdrawn`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            UserConsent::NeverAsked => "never_asked",
            UserConsent::Granted => "granted",
            UserConsent::Denied => "denied",
            UserConsent::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for UserConsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_plays_lending_rules_are_in_the_catalog() {
        let catalog = PermissionCatalog::bundled();
        assert_eq!(catalog.format, CATALOG_FORMAT);
        let forbidden: Vec<&str> = catalog
            .permissions
            .iter()
            .filter(|p| !p.google_play_allows_for_lending())
            .map(|p| p.id.as_str())
            .collect();
        // Financial Services policy: no contacts, photos/media or precise
        // location for personal-loan apps.
        assert_eq!(forbidden, ["location_precise", "contacts", "photos"]);
        for p in &catalog.permissions {
            let rule = p.store_policy.as_ref().expect("format 2 says it");
            assert!(!rule.note.trim().is_empty(), "{}", p.id);
        }
    }

    fn requested_on(catalog: &PermissionCatalog, id: &str, sdk: i32) -> Vec<(String, bool)> {
        catalog
            .get(id)
            .unwrap()
            .android
            .runtime_on(sdk)
            .into_iter()
            .map(|r| {
                (
                    r.permission
                        .trim_start_matches("android.permission.")
                        .to_string(),
                    r.partial,
                )
            })
            .collect()
    }

    #[test]
    fn the_platform_facts_are_one_table_both_shells_read() {
        let catalog = PermissionCatalog::bundled();
        let own = |names: &[(&str, bool)]| -> Vec<(String, bool)> {
            names.iter().map(|(n, p)| (n.to_string(), *p)).collect()
        };
        // Photos: READ_EXTERNAL_STORAGE up to Android 12L, READ_MEDIA_IMAGES
        // from 13, "selected photos" (partial) from 14.
        for sdk in [29, 32] {
            assert_eq!(
                requested_on(&catalog, "photos", sdk),
                own(&[("READ_EXTERNAL_STORAGE", false)])
            );
        }
        assert_eq!(
            requested_on(&catalog, "photos", 33),
            own(&[("READ_MEDIA_IMAGES", false)])
        );
        for sdk in [34, 35, 36] {
            assert_eq!(
                requested_on(&catalog, "photos", sdk),
                own(&[
                    ("READ_MEDIA_IMAGES", false),
                    ("READ_MEDIA_VISUAL_USER_SELECTED", true)
                ])
            );
        }
        // Precise location: FINE alone before Android 12, FINE with COARSE
        // (a partial grant when alone) from 12 on, as Android requires.
        assert_eq!(
            requested_on(&catalog, "location_precise", 30),
            own(&[("ACCESS_FINE_LOCATION", false)])
        );
        for sdk in 31..=ANDROID_SDK_CHECKED_UP_TO {
            assert_eq!(
                requested_on(&catalog, "location_precise", sdk),
                own(&[
                    ("ACCESS_FINE_LOCATION", false),
                    ("ACCESS_COARSE_LOCATION", true)
                ])
            );
        }
        // Notifications: only the settings switch before Android 13.
        let notifications = catalog.get("notifications").unwrap();
        assert!(notifications.android.settings_switch);
        assert!(requested_on(&catalog, "notifications", 32).is_empty());
        assert_eq!(
            requested_on(&catalog, "notifications", 33),
            own(&[("POST_NOTIFICATIONS", false)])
        );
        assert_eq!(
            catalog
                .permissions
                .iter()
                .filter(|p| p.android.settings_switch)
                .count(),
            1,
            "only notifications have a settings switch"
        );
        // Every manifest permission is requested on some level, and every
        // runtime one is declared.
        for p in &catalog.permissions {
            for m in &p.android.permissions {
                assert!(
                    p.android.runtime.iter().any(|r| &r.permission == m),
                    "{}: {m}",
                    p.id
                );
            }
        }
        // iOS: only precise location needs full accuracy.
        let full: Vec<&str> = catalog
            .permissions
            .iter()
            .filter(|p| p.ios.full_accuracy)
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(full, ["location_precise"]);
        // What a partial grant means: usable for photos, contacts and
        // notifications; not for precise location; camera and approximate
        // location have none (so it would not count).
        let usable: Vec<(&str, bool)> = catalog
            .permissions
            .iter()
            .map(|p| (p.id.as_str(), p.limited_is_usable()))
            .collect();
        assert_eq!(
            usable,
            [
                ("camera", false),
                ("location_precise", false),
                ("location_approximate", false),
                ("contacts", true),
                ("notifications", true),
                ("photos", true),
            ]
        );
        assert!(catalog.get("location_precise").unwrap().limited.is_some());
    }

    #[test]
    fn a_format_3_catalog_must_state_its_platform_facts_and_keep_their_rules() {
        let bundled: serde_json::Value = serde_json::from_str(BUNDLED_CATALOG).unwrap();
        let refused = |change: &dyn Fn(&mut serde_json::Value)| -> String {
            let mut c = bundled.clone();
            change(&mut c);
            PermissionCatalog::parse(c.to_string().as_bytes())
                .unwrap_err()
                .to_string()
        };
        let err = refused(&|c| {
            c["permissions"][0]["android"]
                .as_object_mut()
                .unwrap()
                .remove("runtime");
        });
        assert!(
            err.contains("camera: format 3 requires android.runtime"),
            "{err}"
        );
        let err = refused(&|c| {
            c["permissions"][5]["android"]["runtime"][1]["min_sdk"] = 20.into();
        });
        assert!(err.contains("the deciding runtime permission android.permission.READ_MEDIA_VISUAL_USER_SELECTED is a partial one"), "{err}");
        let err = refused(&|c| {
            c["permissions"][0]["android"]["runtime"][0]["permission"] =
                "android.permission.RECORD_AUDIO".into();
        });
        assert!(err.contains("not among android.permissions"), "{err}");
        let err = refused(&|c| {
            c["permissions"][5]["android"]["runtime"][0]["max_sdk"] = 30.into();
        });
        assert!(err.contains("min_sdk 33 above max_sdk 30"), "{err}");
        let err = refused(&|c| {
            c["permissions"][0]["ios"]["api"] = "AVFoundation".into();
        });
        assert!(
            err.contains("does not start with a framework the iOS shell reads"),
            "{err}"
        );
        // A format-2 catalog (no platform facts) still reads: each manifest
        // permission on every level, and a partial grant does not count.
        let mut old = bundled.clone();
        old["format"] = 2.into();
        for p in old["permissions"].as_array_mut().unwrap() {
            let p = p.as_object_mut().unwrap();
            p.remove("limited");
            let android = p["android"].as_object_mut().unwrap();
            android.remove("runtime");
            android.remove("settings_switch");
        }
        let read = PermissionCatalog::parse(old.to_string().as_bytes()).unwrap();
        assert_eq!(
            requested_on(&read, "location_precise", 34),
            [
                ("ACCESS_FINE_LOCATION".to_string(), false),
                ("ACCESS_COARSE_LOCATION".to_string(), false)
            ]
        );
        assert!(read.permissions.iter().all(|p| !p.limited_is_usable()));
        // It never replaces a format-3 catalog, whatever its version: it
        // would drop the platform facts.
        let mut newer_version = old;
        newer_version["version"] = 99.into();
        let newer_version = PermissionCatalog::parse(newer_version.to_string().as_bytes()).unwrap();
        let err = newer_version
            .check_replaces(&PermissionCatalog::bundled())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("older than the catalog in use (format 3)"),
            "{err}"
        );
    }

    #[test]
    fn a_format_1_catalog_still_reads_and_a_format_2_one_must_state_the_store_rules() {
        let mut old: serde_json::Value = serde_json::from_str(BUNDLED_CATALOG).unwrap();
        old["format"] = 1.into();
        for p in old["permissions"].as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("store_policy");
        }
        let read = PermissionCatalog::parse(old.to_string().as_bytes()).unwrap();
        assert!(read
            .permissions
            .iter()
            .all(|p| p.google_play_allows_for_lending()));

        let mut silent = old.clone();
        silent["format"] = 2.into();
        let err = PermissionCatalog::parse(silent.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no store_policy"), "{err}");

        let mut newer = old;
        newer["format"] = (CATALOG_FORMAT + 1).into();
        let err = PermissionCatalog::parse(newer.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("update the app"), "{err}");
    }

    #[test]
    fn bundled_catalog_refers_only_to_clauses_of_the_bundled_policy() {
        let catalog = PermissionCatalog::bundled();
        catalog
            .validate_against(&PolicyDocument::bundled())
            .unwrap();
        for id in [
            "camera",
            "location_precise",
            "location_approximate",
            "contacts",
            "notifications",
            "photos",
        ] {
            catalog.get(id).unwrap();
        }
        let location = catalog.get("location_precise").unwrap();
        assert_eq!(
            location.purposes,
            vec!["4.2.5"],
            "§4.2.5: fraud prevention by location"
        );
        assert_eq!(
            catalog.get("notifications").unwrap().purposes,
            vec!["4.2.4"]
        );
        assert!(catalog
            .get("camera")
            .unwrap()
            .data_categories
            .contains(&"selfie_photo".to_string()));
        assert!(catalog
            .get("contacts")
            .unwrap()
            .android
            .permissions
            .contains(&"android.permission.READ_CONTACTS".into()));
        assert_eq!(
            catalog.get("photos").unwrap().ios.usage_keys,
            vec!["NSPhotoLibraryUsageDescription"]
        );
    }

    #[test]
    fn may_use_needs_both_layers() {
        use OsStatus as O;
        use UserConsent as U;
        for consent in [U::NeverAsked, U::Granted, U::Denied, U::Withdrawn] {
            for os in [
                O::NotDetermined,
                O::Granted,
                O::Limited,
                O::Denied,
                O::Blocked,
                O::Unavailable,
            ] {
                for usable in [false, true] {
                    let expected =
                        consent == U::Granted && (os == O::Granted || (os == O::Limited && usable));
                    assert_eq!(
                        may_use(consent, os, usable),
                        expected,
                        "{consent} / {os} / limited usable: {usable}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_permission_lists_the_known_ones() {
        let err = PermissionCatalog::bundled().get("microphone").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"microphone\"") && msg.contains("camera, location_precise"),
            "{msg}"
        );
    }

    #[test]
    fn os_status_names_parse_both_spellings() {
        assert_eq!(
            "not-determined".parse::<OsStatus>().unwrap(),
            OsStatus::NotDetermined
        );
        assert_eq!("Blocked".parse::<OsStatus>().unwrap(), OsStatus::Blocked);
        let err = "maybe".parse::<OsStatus>().unwrap_err().to_string();
        assert!(err.contains("not_determined, granted, limited"), "{err}");
    }

    #[test]
    fn only_a_newer_catalog_replaces_the_current_one() {
        let current = PermissionCatalog::bundled();
        let mut newer = current.clone();
        newer.version += 1;
        newer.check_replaces(&current).unwrap();
        assert_eq!(
            current.check_replaces(&newer),
            Err(CatalogError::NotNewer {
                offered: current.version,
                current: current.version + 1
            })
        );
        assert!(current.check_replaces(&current).is_err());
    }

    #[test]
    fn catalog_that_points_at_a_missing_clause_is_refused() {
        let mut catalog = PermissionCatalog::bundled();
        catalog.permissions[0].purposes.push("4.2.99".into());
        let err = catalog
            .validate_against(&PolicyDocument::bundled())
            .unwrap_err();
        assert!(err.to_string().contains("4.2.99"));
    }

    #[test]
    fn malformed_catalogs_are_refused() {
        assert!(matches!(
            PermissionCatalog::parse(b"[]"),
            Err(CatalogError::Malformed { .. })
        ));
        let mut catalog = PermissionCatalog::bundled();
        catalog.permissions.push(catalog.permissions[0].clone());
        let err = PermissionCatalog::parse(&serde_json::to_vec(&catalog).unwrap()).unwrap_err();
        assert!(err.to_string().contains("more than once"));
    }

    #[test]
    fn texts_fall_back_to_russian() {
        let camera = PermissionCatalog::bundled().get("camera").unwrap().clone();
        assert_eq!(camera.title_in("kk"), "Камера");
        assert_eq!(camera.title_in("en-GB"), "Camera");
    }
}
