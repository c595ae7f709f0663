//! JWT key files: generating them (`ibws token keygen`), loading verifiers and signers.
//!
//! Asymmetric keys are PEM (PKCS#8 private, SPKI public); the algorithm follows the
//! key type (Ed25519 -> EdDSA, P-256 -> ES256, RSA -> RS256), one per key. An HS256
//! secret file holds at least 32 random bytes (keygen writes 32 as 64 hex digits).

use std::path::Path;
use std::sync::Arc;

use ibws_shared::auth::{JwtVerifier, SignKey, TokenVerifier, VerifyKey};

use crate::start_error::StartError;

/// Key types `keygen` can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKind {
    Ed25519,
    Es256,
    Hs256,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f =
        opts.open(path).map_err(|e| format!("cannot create {}: {e} (refusing to overwrite a key)", path.display()))?;
    f.write_all(data).map_err(|e| e.to_string())
}

/// Writes a new key: `<prefix>.key` + `<prefix>.pub`, or `<prefix>.secret`. Returns the
/// paths written.
pub fn keygen(kind: KeyKind, prefix: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    match kind {
        KeyKind::Hs256 => {
            let bytes: [u8; 32] = rand::random();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let p = with(".secret");
            write_private(&p, format!("{hex}\n").as_bytes())?;
            Ok(vec![p])
        }
        KeyKind::Ed25519 | KeyKind::Es256 => {
            let alg = if kind == KeyKind::Ed25519 { &rcgen::PKCS_ED25519 } else { &rcgen::PKCS_ECDSA_P256_SHA256 };
            let kp = rcgen::KeyPair::generate_for(alg).map_err(|e| e.to_string())?;
            let (k, p) = (with(".key"), with(".pub"));
            let private =
                if kind == KeyKind::Ed25519 { ed25519_pkcs8_v1_pem(&kp.serialize_der())? } else { kp.serialize_pem() };
            write_private(&k, private.as_bytes())?;
            std::fs::write(&p, kp.public_key_pem()).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            Ok(vec![k, p])
        }
    }
}

/// An Ed25519 private key as PKCS#8 v1 (RFC 8410) PEM. The key generator writes the
/// v2 form (with the public key appended), which OpenSSL 3.0's `pkey` and Python's
/// `cryptography` refuse; v1 holds the same 32-byte seed and every common tool reads it.
fn ed25519_pkcs8_v1_pem(der: &[u8]) -> Result<String, String> {
    use base64::Engine;
    // SEQUENCE { INTEGER v, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } ...
    const V1: [u8; 16] =
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    // the same after the outer length, for version 0 (v1) or 1 (v2, public key after)
    let same_body = |h: &[u8], version: u8| h[0] == 0x30 && h[2..4] == V1[2..4] && h[4] == version && h[5..] == V1[5..];
    let seed = match der.get(..16) {
        Some(h) if (same_body(h, 0) || same_body(h, 1)) && der.len() >= 48 => &der[16..48],
        _ => return Err("unexpected Ed25519 key encoding from the key generator".into()),
    };
    let mut v1 = V1.to_vec();
    v1.extend_from_slice(seed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&v1);
    Ok(format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"))
}

fn secret_bytes(raw: &[u8]) -> Vec<u8> {
    let trimmed = String::from_utf8_lossy(raw).trim().to_owned();
    trimmed.into_bytes()
}

/// A verifier from either a secret file (HS256) or a public key file.
pub fn verifier(
    secret_file: Option<&Path>,
    public_key: Option<&Path>,
    issuer: &str,
    audience: &str,
) -> Result<Arc<dyn TokenVerifier>, StartError> {
    let (key, path, option) = match (secret_file, public_key) {
        (Some(s), None) => {
            let secret = secret_bytes(&StartError::read(s, "the JWT secret", "--jwt-secret-file")?);
            (VerifyKey::Hs256(secret), s, "--jwt-secret-file")
        }
        (None, Some(p)) => {
            let pem = StartError::read(p, "the JWT public key", "--jwt-public-key")?;
            let key = VerifyKey::from_public_pem(&pem).map_err(|problem| StartError::JwtKey {
                path: p.to_owned(),
                option: "--jwt-public-key",
                problem: format!("{problem} (a PEM public key: Ed25519, P-256 or RSA)"),
            })?;
            (key, p, "--jwt-public-key")
        }
        (Some(_), Some(_)) => {
            return Err(StartError::Options {
                option: "--jwt-secret-file",
                problem: "and --jwt-public-key exclude each other: give one".into(),
            })
        }
        (None, None) => {
            return Err(StartError::Options {
                option: "--jwt-secret-file or --jwt-public-key",
                problem: "is required: a key to verify client tokens with (ibws token keygen makes one)".into(),
            })
        }
    };
    let v = JwtVerifier::new(key, issuer, audience, 30).map_err(|problem| StartError::JwtKey {
        path: path.to_owned(),
        option,
        problem,
    })?;
    Ok(Arc::new(v))
}

/// A signer from a private key or secret file.
pub fn signer(path: &Path) -> Result<SignKey, String> {
    let raw = read(path)?;
    if !raw.starts_with(b"-----BEGIN") {
        let s = secret_bytes(&raw);
        if s.len() < 32 {
            return Err("HS256 secret must be at least 32 bytes".into());
        }
        return Ok(SignKey::Hs256(s));
    }
    SignKey::from_private_pem(&raw)
}

/// Parses `30s`, `15m`, `1h`, `7d` (or plain seconds).
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86_400),
        _ => (s, 1),
    };
    num.parse::<u64>().map(|n| n * mult).map_err(|_| format!("bad duration {s:?} (use e.g. 30m, 1h, 7d)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibws_shared::auth::{mint, Claims, Role};

    #[test]
    fn generated_keys_sign_and_verify_with_the_algorithm_of_their_type() {
        let dir = std::env::temp_dir().join(format!("ibws-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (kind, name) in [(KeyKind::Ed25519, "ed"), (KeyKind::Es256, "es"), (KeyKind::Hs256, "hs")] {
            let paths = keygen(kind, &dir.join(name)).unwrap();
            let claims = Claims {
                sub: "a".into(),
                role: Role::Client,
                tenant: "t".into(),
                scope: vec![],
                accounts: vec![],
                exp: 4_000_000_000,
                nbf: None,
                iat: None,
                iss: "ibws".into(),
                aud: "ibws".into(),
            };
            let token = mint(&claims, &signer(&paths[0]).unwrap()).unwrap();
            let v = match kind {
                KeyKind::Hs256 => verifier(Some(&paths[0]), None, "ibws", "ibws").unwrap(),
                _ => verifier(None, Some(&paths[1]), "ibws", "ibws").unwrap(),
            };
            assert_eq!(v.verify(&token, 1_000).unwrap().sub, "a", "{name}");
        }
        assert!(keygen(KeyKind::Hs256, &dir.join("hs")).is_err(), "never overwrites a key");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
