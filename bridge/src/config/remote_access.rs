//! The TLS and JWT options of every listener that serves clients beyond loopback (the
//! relay, and the bridge's remote endpoint), shared so both spell them alike.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use ibws_shared::auth::TokenVerifier;
use serde::{Deserialize, Serialize};

use crate::start_error::StartError;

#[derive(Args, Default, Clone, Debug, Serialize, Deserialize)]
pub struct TlsOptions {
    /// PEM certificate chain (remote listeners)
    #[arg(long, env = "IBWS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate (remote listeners)
    #[arg(long, env = "IBWS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

impl TlsOptions {
    /// The server config, or `None` when neither file is given.
    pub fn server_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, StartError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => crate::tls::server_config_from_files(c, k).map(Some),
            (None, None) => Ok(None),
            (Some(_), None) => {
                Err(StartError::Options { option: "--tls-cert", problem: "needs --tls-key (its private key)".into() })
            }
            (None, Some(_)) => {
                Err(StartError::Options { option: "--tls-key", problem: "needs --tls-cert (its certificate)".into() })
            }
        }
    }
}

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct JwtOptions {
    /// File with the HS256 secret (at least 32 bytes)
    #[arg(long, env = "IBWS_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// PEM public key (Ed25519, P-256 or RSA: the algorithm follows the key)
    #[arg(long, env = "IBWS_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Required `iss` claim
    #[arg(long, env = "IBWS_JWT_ISSUER", default_value = "ibws")]
    pub issuer: String,
    /// Required `aud` claim
    #[arg(long, env = "IBWS_JWT_AUDIENCE", default_value = "ibws")]
    pub audience: String,
}

impl JwtOptions {
    pub fn verifier(&self) -> Result<Arc<dyn TokenVerifier>, StartError> {
        crate::keys::verifier(
            self.jwt_secret_file.as_deref(),
            self.jwt_public_key.as_deref(),
            &self.issuer,
            &self.audience,
        )
    }
}
