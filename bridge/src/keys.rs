//! JWT key files: generating them (`ibws token keygen`), loading verifiers and signers.
//!
//! Asymmetric keys are PEM (PKCS#8 private, SPKI public); the algorithm follows the
//! key type (Ed25519 -> EdDSA, P-256 -> ES256, RSA -> RS256), one per key. An HS256
//! secret file holds at least 32 random bytes (keygen writes 32 as 64 hex digits).

use std::path::Path;
use std::sync::Arc;

use ibws_shared::auth::{JwtVerifier, SignKey, TokenVerifier, VerifyKey};

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
            write_private(&k, kp.serialize_pem().as_bytes())?;
            std::fs::write(&p, kp.public_key_pem()).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            Ok(vec![k, p])
        }
    }
}

/// What kind of PEM key this is, by its label and algorithm OID.
fn pem_kind(pem: &[u8]) -> Result<&'static str, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "key file is not PEM text".to_owned())?;
    if text.contains("RSA") {
        return Ok("rsa");
    }
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim())
        .map_err(|_| "key file is not valid PEM".to_owned())?;
    let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
    if has(&[0x06, 0x03, 0x2b, 0x65, 0x70]) {
        Ok("ed25519")
    } else if has(&[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]) {
        Ok("ec")
    } else if has(&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]) {
        Ok("rsa")
    } else {
        Err("unsupported key type (use Ed25519, P-256 or RSA)".into())
    }
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
) -> Result<Arc<dyn TokenVerifier>, String> {
    let key = match (secret_file, public_key) {
        (Some(s), None) => VerifyKey::Hs256(secret_bytes(&read(s)?)),
        (None, Some(p)) => {
            let pem = read(p)?;
            match pem_kind(&pem)? {
                "ed25519" => VerifyKey::Ed25519Pem(pem),
                "ec" => VerifyKey::Es256Pem(pem),
                _ => VerifyKey::Rs256Pem(pem),
            }
        }
        (Some(_), Some(_)) => return Err("give either --jwt-secret-file or --jwt-public-key, not both".into()),
        (None, None) => return Err("a JWT key is required: --jwt-secret-file or --jwt-public-key".into()),
    };
    Ok(Arc::new(JwtVerifier::new(key, issuer, audience, 30)?))
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
    Ok(match pem_kind(&raw)? {
        "ed25519" => SignKey::Ed25519Pem(raw),
        "ec" => SignKey::Es256Pem(raw),
        _ => SignKey::Rs256Pem(raw),
    })
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
