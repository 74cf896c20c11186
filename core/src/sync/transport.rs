//! HTTPS to the backend: reqwest over rustls with the ring provider, the
//! bundled web PKI roots plus an optional development CA, optional SPKI
//! pinning, and `http://` only to loopback. Every response is classified
//! into one [`Outcome`], and each outcome has exactly one consequence for the
//! queued events (see `ConsentClient::sync`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use reqwest::{StatusCode, Url};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::wire::{ApiError, EventsPage, Receipt, SignedPolicy};
use super::{SyncConfig, SyncError};

/// Supplies the access token. The shell implements it (the app's login).
pub trait TokenProvider: Send + Sync {
    /// The current token.
    fn token(&self) -> Result<String, String>;
    /// A fresh token, after the server answered 401 to the current one.
    fn refresh(&self) -> Result<String, String>;
}

/// A fixed token, for development and tests.
pub struct StaticToken(pub String);

impl TokenProvider for StaticToken {
    fn token(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
    fn refresh(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

/// The result of one request, as the sync engine acts on it.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    /// 304: the copy we have is current.
    NotModified,
    /// 5xx, 408, 429, a timeout, a reset, a truncated or unreadable body:
    /// try again later (after `retry_after` if the server said so).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// 401: the token was refused.
    Unauthorized,
    /// 413: the batch is too large for the server.
    TooLarge,
    /// Any other 4xx: this request can never succeed as it is.
    Rejected {
        status: u16,
        error: ApiError,
    },
    /// TLS failed (wrong certificate, pin mismatch): nothing was sent.
    Insecure(String),
}

pub struct Transport {
    http: reqwest::Client,
    base: Url,
    tokens: Arc<dyn TokenProvider>,
}

/// `https://`, or `http://` to a loopback address (development only).
pub fn check_url(base: &str) -> Result<Url, SyncError> {
    let url = Url::parse(base)
        .map_err(|e| SyncError::Config(format!("server URL {base:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(SyncError::Config(format!(
            "refusing plain http to {}: consent data travels over HTTPS only (§9.3); http is allowed to loopback for development",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(SyncError::Config(format!("unsupported URL scheme {other:?}: use https"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo, base64: the pin format
/// (`openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`).
pub fn spki_pin(cert_der: &[u8]) -> Result<String, String> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(BASE64.encode(Sha256::digest(cert.subject_public_key_info().as_ref())))
}

/// Full web PKI validation first, then the pin on the server's own key.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<String>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        let pin = spki_pin(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.pins.contains(&pin) {
            Ok(verified)
        } else {
            tracing::warn!("server key does not match any pinned key");
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl Transport {
    pub fn new(config: &SyncConfig) -> Result<Self, SyncError> {
        let base = check_url(&config.base_url)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &config.extra_ca_pem {
            let mut found = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert =
                    cert.map_err(|e| SyncError::Config(format!("extra CA is not PEM: {e}")))?;
                roots.add(cert).map_err(|e| {
                    SyncError::Config(format!("extra CA is not a CA certificate: {e}"))
                })?;
                found += 1;
            }
            if found == 0 {
                return Err(SyncError::Config(
                    "the extra CA file holds no certificate".into(),
                ));
            }
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| SyncError::Config(format!("TLS roots: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if config.spki_pins.is_empty() {
            webpki
        } else {
            Arc::new(PinningVerifier {
                inner: webpki,
                pins: config.spki_pins.clone(),
            })
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SyncError::Config(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .user_agent(concat!("altyn-consent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Config(format!("HTTP client: {e}")))?;
        Ok(Transport {
            http,
            base,
            tokens: config.token_provider.clone(),
        })
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("API paths are relative URLs")
    }

    pub fn token(&self, fresh: bool) -> Result<String, SyncError> {
        let token = if fresh {
            self.tokens.refresh()
        } else {
            self.tokens.token()
        };
        token.map_err(SyncError::Token)
    }

    /// Sends a batch (the JSON of an [`UploadBatch`]).
    pub async fn upload(&self, token: &str, body: Vec<u8>) -> Outcome<Receipt> {
        let request = self
            .http
            .post(self.url("v1/events"))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send_json(request).await
    }

    pub async fn fetch_policy(
        &self,
        token: &str,
        policy_id: &str,
        locale: &str,
        etag: Option<&str>,
    ) -> Outcome<(SignedPolicy, Option<String>)> {
        let mut request = self
            .http
            .get(self.url(&format!("v1/policies/{policy_id}")))
            .query(&[("locale", locale)])
            .bearer_auth(token);
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        match request.send().await {
            Ok(response) if response.status() == StatusCode::NOT_MODIFIED => Outcome::NotModified,
            Ok(response) => {
                let etag = response
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match Self::read_json::<SignedPolicy>(response).await {
                    Outcome::Done(policy) => Outcome::Done((policy, etag)),
                    other => other.map_never(),
                }
            }
            Err(e) => classify_send_error(e),
        }
    }

    pub async fn fetch_events(&self, token: &str) -> Outcome<EventsPage> {
        self.send_json(self.http.get(self.url("v1/events")).bearer_auth(token))
            .await
    }

    async fn send_json<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Outcome<T> {
        match request.send().await {
            Ok(response) => Self::read_json(response).await,
            Err(e) => classify_send_error(e),
        }
    }

    async fn read_json<T: DeserializeOwned>(response: reqwest::Response) -> Outcome<T> {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            // The connection broke in the middle of the body.
            Err(e) => {
                return Outcome::Retry {
                    reason: format!("the response was cut off ({})", describe(&e)),
                    retry_after: None,
                }
            }
        };
        match status.as_u16() {
            200..=299 => match serde_json::from_slice(&bytes) {
                Ok(value) => Outcome::Done(value),
                Err(e) => Outcome::Retry {
                    reason: format!("the server's answer is not what the API promises: {e}"),
                    retry_after: None,
                },
            },
            304 => Outcome::NotModified,
            401 => Outcome::Unauthorized,
            413 => Outcome::TooLarge,
            408 | 429 | 500..=599 => Outcome::Retry {
                reason: format!("the server answered {status}"),
                retry_after,
            },
            code => {
                let error =
                    serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| ApiError {
                        error: "bad_request".into(),
                        message: format!("the server answered {status}"),
                        event_id: None,
                        seq: None,
                    });
                Outcome::Rejected {
                    status: code,
                    error,
                }
            }
        }
    }
}

impl<T> Outcome<T> {
    /// Re-types an outcome that carries no value.
    fn map_never<U>(self) -> Outcome<U> {
        match self {
            Outcome::Done(_) => unreachable!("only called on outcomes without a value"),
            Outcome::NotModified => Outcome::NotModified,
            Outcome::Retry {
                reason,
                retry_after,
            } => Outcome::Retry {
                reason,
                retry_after,
            },
            Outcome::Unauthorized => Outcome::Unauthorized,
            Outcome::TooLarge => Outcome::TooLarge,
            Outcome::Rejected { status, error } => Outcome::Rejected { status, error },
            Outcome::Insecure(why) => Outcome::Insecure(why),
        }
    }
}

fn classify_send_error<T>(e: reqwest::Error) -> Outcome<T> {
    // A TLS failure is not a network hiccup: retrying cannot fix a wrong
    // certificate or a pin mismatch, and nothing was sent.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(tls) = find_tls_error(err) {
            return Outcome::Insecure(format!("TLS refused the server: {tls}"));
        }
        source = err.source();
    }
    Outcome::Retry {
        reason: describe(&e),
        retry_after: None,
    }
}

/// The rustls error inside `err`, looking through nested `io::Error`s (whose
/// `source()` skips the error they wrap).
fn find_tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    find_tls_error(inner)
}

/// A short description without URLs or tokens.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body was cut off"
    } else if e.is_request() {
        "the connection failed"
    } else {
        "network error"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        detail = err.to_string();
        source = err.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("https://consent.altyncoin.kz/").is_ok());
        assert!(check_url("http://127.0.0.1:8443/").is_ok());
        assert!(check_url("http://localhost:8443/").is_ok());
        assert!(check_url("http://[::1]:8443/").is_ok());
        let err = check_url("http://consent.altyncoin.kz/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("HTTPS only"), "{err}");
        assert!(check_url("http://10.0.0.1/").is_err());
        assert!(check_url("ftp://x/").is_err());
        assert!(check_url("not a url").is_err());
    }

    /// A certificate made with the openssl CLI; its pin computed with the
    /// command in `spki_pin`'s doc: the two must agree.
    const OPENSSL_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBfDCCASGgAwIBAgIURFF5C5E0A4OAI0W5vqvJw8QdZK8wCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAwwIcGluLXRlc3QwHhcNMjYxMTI0MDkyMzMwWhcNMzYxMTIxMDky\nMzMwWjATMREwDwYDVQQDDAhwaW4tdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABHY3Vu+SMnqpPx4iabdevX3UgYtYf3NWoTfStbY0FSb/NqDV5my3/uifAc/r\nQk2PuJJuCHFHK9HnuY7Q8DjVpnqjUzBRMB0GA1UdDgQWBBSItFSHBcYFhReT6Xf/\nggFgjzCGFTAfBgNVHSMEGDAWgBSItFSHBcYFhReT6Xf/ggFgjzCGFTAPBgNVHRMB\nAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQD8LArTfEQ3+WOuhSoV2HXkAYoQ\ndcagqatQkOOJC7OcnQIhAM4IRTVfvlIqGwUW8CpBmS+05bwOvtvg0/75Ujt3PrEF\n-----END CERTIFICATE-----";
    const OPENSSL_PIN: &str = "tBmVm9vJ+OOJDYOI7Y2jvXbvZ/o6/hHaqKNUM7pX/4c=";

    #[test]
    fn spki_pin_matches_openssl() {
        let der = rustls_pemfile::certs(&mut OPENSSL_CERT.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(spki_pin(&der).unwrap(), OPENSSL_PIN);
        assert!(spki_pin(b"not a certificate").is_err());
    }
}
