//! TLS through rustls (ring provider): server configs from PEM files, client configs
//! trusting the public web PKI or one private CA.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::start_error::StartError;

/// ring's suites with AES-128-GCM first. A connection that lasts all day seals a record
/// per event, and AES-128 does it in 10 rounds where AES-256 takes 14. ibws's own
/// clients (the uplink, the tests) ask for it first, as browsers do; the server follows
/// the client's order, so a phone without AES instructions that asks for ChaCha20 first
/// gets it.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites.sort_by_key(|s| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        _ => 1,
    });
    Arc::new(p)
}

/// Why PEM material cannot make a TLS config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate PEM: {0}")]
    Cert(String),
    #[error("private key PEM: {0}")]
    Key(String),
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("{0}")]
    Other(String),
}

/// A server config from a PEM certificate chain and a PEM private key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Cert("no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
            e => TlsError::Other(format!("certificate and key: {e}")),
        })?;
    Ok(Arc::new(cfg))
}

/// A server config from the files of `--tls-cert` and `--tls-key`.
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, StartError> {
    let c = StartError::read(cert, "the TLS certificate", "--tls-cert")?;
    let k = StartError::read(key, "the TLS key", "--tls-key")?;
    server_config(&c, &k).map_err(|e| match e {
        TlsError::KeyMismatch => StartError::TlsKeyMismatch { cert: cert.to_owned(), key: key.to_owned() },
        TlsError::Cert(problem) => StartError::Pem { path: cert.to_owned(), option: "--tls-cert", problem },
        TlsError::Key(problem) => StartError::Pem { path: key.to_owned(), option: "--tls-key", problem },
        TlsError::Other(problem) => StartError::Pem { path: cert.to_owned(), option: "--tls-cert", problem },
    })
}

/// A client config trusting `ca_pem` only, or the public web PKI when `None`.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for c in CertificateDer::pem_slice_iter(pem) {
                roots.add(c.map_err(|e| TlsError::Cert(e.to_string()))?).map_err(|e| TlsError::Cert(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(TlsError::Cert("no certificate in the file".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Other(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A throwaway CA and a server certificate for `names`, as PEM (CA cert, server cert,
/// server key). For tests and for trying remote access locally; production should use
/// a real certificate.
pub fn self_signed(names: &[&str]) -> Result<(String, String, String), String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "ibws test CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| e.to_string())?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}
