//! The server's TLS identity: a given certificate, or a development CA and a
//! server certificate for localhost made with rcgen and kept in the data
//! folder, so the client can be pointed at `dev-ca.pem`.

use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{ServerConfig, ServerError};

pub struct Identity {
    pub rustls: RustlsConfig,
    pub ca_pem: Option<String>,
    pub cert_der: Vec<u8>,
}

fn read(path: &Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(|source| ServerError::Io {
        what: format!("{}", path.display()),
        source,
    })
}

/// Makes a dev CA and a certificate for localhost, 127.0.0.1 and ::1.
fn make_dev_certificates(dir: &Path) -> Result<(), ServerError> {
    let tls = |e: rcgen::Error| ServerError::Tls(e.to_string());
    let ca_key = KeyPair::generate().map_err(tls)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Altyn Consent development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).map_err(tls)?;

    let key = KeyPair::generate().map_err(tls)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(tls)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(tls)?;

    let io = |what: &str| {
        let what = what.to_string();
        move |source| ServerError::Io {
            what: what.clone(),
            source,
        }
    };
    std::fs::write(dir.join("dev-ca.pem"), ca.pem()).map_err(io("dev-ca.pem"))?;
    std::fs::write(dir.join("server-cert.pem"), cert.pem()).map_err(io("server-cert.pem"))?;
    altyn_consent_core::store::write_private_file(
        &dir.join("server-key.pem"),
        key.serialize_pem().as_bytes(),
    )
    .map_err(io("server-key.pem"))?;
    Ok(())
}

pub fn identity(config: &ServerConfig) -> Result<Identity, ServerError> {
    let (cert_path, key_path, ca_pem) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), None),
        _ => {
            let dir = &config.data_dir;
            if !dir.join("server-cert.pem").exists() || !dir.join("dev-ca.pem").exists() {
                make_dev_certificates(dir)?;
            }
            (
                dir.join("server-cert.pem"),
                dir.join("server-key.pem"),
                Some(read(&dir.join("dev-ca.pem"))?),
            )
        }
    };
    let cert_pem = read(&cert_path)?;
    let key_pem = read(&key_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert_path.display())))?;
    let key: PrivateKeyDer<'static> =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
            ServerError::Tls(format!(
                "{} holds no usable private key: {e}",
                key_path.display()
            ))
        })?;
    let cert_der = certs
        .first()
        .ok_or_else(|| ServerError::Tls("the certificate file is empty".into()))?
        .to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        rustls: RustlsConfig::from_config(Arc::new(server)),
        ca_pem,
        cert_der,
    })
}
