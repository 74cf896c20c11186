//! The device functions the app may use (§2.4, §6.1.3), what each is for
//! (purposes are clause ids of §4.2), and the two layers that decide whether
//! the app may use one: the user's consent and the OS grant.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::policy::{select_locale, PolicyDocument};

/// The catalog format this build reads.
pub const CATALOG_FORMAT: u32 = 1;
/// Largest catalog accepted, in bytes (the bundled one is about 6 KB).
pub const MAX_CATALOG_BYTES: usize = 256 * 1024;
/// The bundled catalog.
pub const BUNDLED_CATALOG: &str = include_str!("../permissions/catalog.json");

/// Text in several languages, keyed by language tag; `ru` is always present.
pub type LocalizedText = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionCatalog {
    pub format: u32,
    /// A higher version replaces a lower one.
    pub version: u32,
    /// The policy whose clauses the purposes refer to.
    pub policy_id: String,
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// Stable id, e.g. `camera`, `location_precise`.
    pub id: String,
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
    pub android: AndroidNames,
    pub ios: IosNames,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidNames {
    /// Manifest permissions (`android.permission.CAMERA`).
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IosNames {
    /// Info.plist usage-description keys (`NSCameraUsageDescription`).
    pub usage_keys: Vec<String>,
    /// The framework API that asks for the grant.
    pub api: String,
}

/// The user's decision in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum UserConsent {
    NeverAsked,
    Granted,
    Denied,
    Withdrawn,
}

/// What the operating system says, as reported by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum OsStatus {
    /// The OS has not asked the user yet.
    NotDetermined,
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
/// app AND the OS grants it. Either alone is not enough.
pub fn may_use(consent: UserConsent, os: OsStatus) -> bool {
    consent == UserConsent::Granted && matches!(os, OsStatus::Granted | OsStatus::Limited)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("permission catalog is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("permission catalog is not valid JSON for format {CATALOG_FORMAT}: {reason}")]
    Malformed { reason: String },
    #[error("permission catalog is invalid: {reason}")]
    Invalid { reason: String },
    #[error("permission catalog version {offered} does not replace version {current}: only a newer version can")]
    NotNewer { offered: u32, current: u32 },
    #[error("unknown permission {name:?}; known permissions are: {known}")]
    UnknownPermission { name: String, known: String },
    #[error("unknown OS status {given:?}; use one of: {known}")]
    UnknownOsStatus { given: String, known: String },
}

impl PermissionCatalog {
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

    pub fn bundled() -> Self {
        Self::parse(BUNDLED_CATALOG.as_bytes())
            .expect("the bundled catalog is valid; a test checks it")
    }

    fn validate(&self) -> Result<(), CatalogError> {
        let invalid = |reason: String| Err(CatalogError::Invalid { reason });
        if self.format != CATALOG_FORMAT {
            return invalid(format!(
                "format {} is not supported (expected {CATALOG_FORMAT}): update the app",
                self.format
            ));
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

    /// A newer catalog replaces this one; the same or an older one is refused.
    pub fn check_replaces(&self, current: &PermissionCatalog) -> Result<(), CatalogError> {
        if self.version <= current.version {
            return Err(CatalogError::NotNewer {
                offered: self.version,
                current: current.version,
            });
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<&Permission, CatalogError> {
        self.permissions.iter().find(|p| p.id == id).ok_or_else(|| {
            CatalogError::UnknownPermission {
                name: id.to_string(),
                known: self.ids().join(", "),
            }
        })
    }

    pub fn ids(&self) -> Vec<&str> {
        self.permissions.iter().map(|p| p.id.as_str()).collect()
    }
}

impl Permission {
    pub fn title_in(&self, locale: &str) -> &str {
        localized(&self.title, locale)
    }
    pub fn rationale_in(&self, locale: &str) -> &str {
        localized(&self.rationale, locale)
    }
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
                let expected = consent == U::Granted && (os == O::Granted || os == O::Limited);
                assert_eq!(may_use(consent, os), expected, "{consent} / {os}");
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
                offered: 1,
                current: 2
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
