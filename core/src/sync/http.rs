//! One HTTP request at a time, behind a trait: the sync engine decides,
//! an [`HttpTransport`] performs. The default is `ReqwestTransport`:
//! reqwest over rustls with the ring provider, the bundled web PKI roots
//! plus an optional development CA, optional SPKI pinning, and `http://`
//! only to loopback. An app may hand in its own HTTP stack instead (OkHttp,
//! URLSession: TLS, pins and proxies then follow the platform), as Mozilla's
//! viaduct does; the bindings export the trait for that.

use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{SyncConfig, SyncError};

/// GET or POST: all the API needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: no body.
    Get,
    /// `POST`: a JSON body.
    Post,
}

/// One request, built by the core (see `sync::api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// The whole URL, query included.
    pub url: String,
    /// Header names in lower case. The token travels here
    /// (`authorization`): never log a request.
    pub headers: Vec<(String, String)>,
    /// The body's bytes (JSON for a POST); empty for a GET.
    pub body: Vec<u8>,
}

/// The server's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code, e.g. 200, 304, 413, 503.
    pub status: u16,
    /// The headers as received, names in any case ([`HttpResponse::header`]
    /// looks them up case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The whole body. A body cut off is an [`HttpFailure::Network`], not
    /// a response.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// An answer as a server could give it, for the decision tests of
    /// `api` and `engine`.
    #[cfg(test)]
    pub(crate) fn canned(
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Self, HttpFailure> {
        Ok(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        })
    }

    /// A header's value, by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request that got no complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// No connection, a timeout, a reset, a body cut off: it may work later.
    Network(String),
    /// TLS refused the server (certificate, pin): nothing was sent, and
    /// retrying cannot help.
    Insecure(String),
}

/// Performs one request. Implementations must not retry on their own (the
/// engine decides) and must not log the request (it carries the token).
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns the complete answer, whatever its
    /// status; [`HttpFailure`] only when there is no complete answer.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure>;
}

/// The default transport: reqwest over rustls.
pub(crate) struct ReqwestTransport {
    http: reqwest::Client,
}

impl ReqwestTransport {
    /// A client for `config`: its URL checked, the web PKI roots plus the
    /// extra CA, the SPKI pins, the request timeout.
    pub(crate) fn new(config: &SyncConfig) -> Result<Self, SyncError> {
        check_url(&config.base_url)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &config.extra_ca_pem {
            let mut found = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
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
        Ok(ReqwestTransport { http })
    }
}

#[async_trait::async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let url = Url::parse(&request.url)
            .map_err(|e| HttpFailure::Network(format!("bad request URL: {e}")))?;
        let mut builder = match request.method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url).body(request.body),
        };
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.send().await.map_err(classify_send_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        // A connection that breaks in the middle of the body is a network
        // failure: the answer is incomplete.
        let body = response
            .bytes()
            .await
            .map_err(|e| {
                HttpFailure::Network(format!("the response was cut off ({})", describe(&e)))
            })?
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// `https://`, or `http://` to a loopback address (development only).
pub(crate) fn check_url(base: &str) -> Result<Url, SyncError> {
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

fn classify_send_error(e: reqwest::Error) -> HttpFailure {
    // A TLS failure is not a network hiccup: retrying cannot fix a wrong
    // certificate or a pin mismatch, and nothing was sent.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(tls) = find_tls_error(err) {
            return HttpFailure::Insecure(format!("TLS refused the server: {tls}"));
        }
        source = err.source();
    }
    HttpFailure::Network(describe(&e))
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
        let der = CertificateDer::pem_slice_iter(OPENSSL_CERT.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(spki_pin(&der).unwrap(), OPENSSL_PIN);
        assert!(spki_pin(b"not a certificate").is_err());
    }
}
