//! What can stop `ibws` from starting, each case saying what the user should change.
//!
//! Start-up is where a user meets the program first: a missing key file, a port some
//! other program holds, a TLS key that belongs to another certificate, a relay URL that
//! is not `wss://`. Each is a variant here rather than a string built at the spot, so
//! the message names the file, address or option and the fix, and tests can tell the
//! cases apart.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file an option names cannot be read.
    #[error("cannot read {what} {path} (given by {option}): {source}")]
    ReadFile { what: &'static str, option: &'static str, path: PathBuf, source: io::Error },

    /// The configuration file is not valid TOML, has a key no option has, or a value
    /// of the wrong kind.
    #[error("config {path}, line {line}: {problem}")]
    Config { path: PathBuf, line: usize, problem: String },

    /// Another program (often another ibws) already listens on the address.
    #[error(
        "{addr} is already in use ({what}): stop the program listening there or choose another address with {option}"
    )]
    PortInUse { addr: SocketAddr, what: &'static str, option: &'static str },

    /// The address cannot be bound for another reason (not an address of this machine,
    /// a port below 1024 without the right).
    #[error("cannot listen on {addr} ({what}, {option}): {source}")]
    Bind { addr: SocketAddr, what: &'static str, option: &'static str, source: io::Error },

    /// The private key is not the key of the certificate's public key.
    #[error("the TLS key {key} does not belong to the certificate {cert}: give the key the certificate was issued for (--tls-key)")]
    TlsKeyMismatch { cert: PathBuf, key: PathBuf },

    /// A PEM file holds nothing usable of the kind expected.
    #[error("{path} ({option}): {problem}")]
    Pem { path: PathBuf, option: &'static str, problem: String },

    /// A JWT key cannot be used.
    #[error("JWT key {path} ({option}): {problem}")]
    JwtKey { path: PathBuf, option: &'static str, problem: String },

    /// `--relay` is not a URL the bridge will send account data to.
    #[error("--relay {url:?}: {problem}")]
    RelayUrl { url: String, problem: String },

    /// An option is given without another it needs, or two exclude each other.
    #[error("{option} {problem}")]
    Options { option: &'static str, problem: String },

    /// The configuration would expose account data without TLS or authentication.
    #[error("refusing to serve {addr} {problem}")]
    Unsafe { addr: SocketAddr, problem: &'static str },

    /// Anything else start-up depends on (the simulator of `ibws demo`, a listener's
    /// own address).
    #[error("{0}")]
    Other(String),
}

impl StartError {
    /// The error of binding `addr`: `PortInUse` when another program holds it.
    pub fn bind(addr: SocketAddr, what: &'static str, option: &'static str, source: io::Error) -> StartError {
        if source.kind() == io::ErrorKind::AddrInUse {
            StartError::PortInUse { addr, what, option }
        } else {
            StartError::Bind { addr, what, option, source }
        }
    }

    /// Reads a file an option names.
    pub fn read(path: &std::path::Path, what: &'static str, option: &'static str) -> Result<Vec<u8>, StartError> {
        std::fs::read(path).map_err(|source| StartError::ReadFile { what, option, path: path.to_owned(), source })
    }
}
