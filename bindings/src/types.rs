//! The records only the bindings have: what the app hands in to open a
//! store (the rest of the core's configuration has no meaning in an app),
//! and the requests and responses of the app's own HTTP stack. Every record
//! the app receives is the core's own type (feature `ffi`).

use altyn_consent_core as core;

/// The app and device, as the shell reports them (no personal data).
#[derive(Debug, Clone, uniffi::Record)]
pub struct AppInfo {
    /// `android`, `ios` or `desktop`.
    pub platform: String,
    pub app_version: String,
    pub os_version: String,
}

/// Where the store lives and what app writes to it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OpenConfig {
    /// App-private folder of the store (Android `noBackupFilesDir`, iOS
    /// Application Support).
    pub data_dir: String,
    pub app: AppInfo,
    /// The sync server's receipt keys (64 hex digits each), built into the
    /// app: `verify` checks every kept receipt against them.
    #[uniffi(default = [])]
    pub server_keys: Vec<String>,
}

impl From<AppInfo> for core::AppContext {
    fn from(a: AppInfo) -> Self {
        core::AppContext::new(&a.platform, &a.app_version, &a.os_version)
    }
}

/// One request of the sync protocol, for the app's own HTTP stack.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    pub url: String,
    /// Lower-case names; `authorization` carries the token: never log it.
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// The server's answer, whatever its status (an `Int`: Kotlin and Swift
/// hold HTTP statuses as such; one outside 100–599 counts as no answer).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    pub status: i32,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}
