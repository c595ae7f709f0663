//! JWT verification and minting.
//!
//! Follows RFC 8725: the verifier, not the token, decides the algorithm (one per key,
//! from a fixed allowlist), `alg: none` can never pass (jsonwebtoken has no such
//! algorithm, so any letter case fails header parsing), and `exp`, `iss` and `aud` are
//! required. Time comes from the caller so the hub stays sans-IO and tests are exact.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::protocol::MessageType;

/// Largest clock skew tolerated on `exp` and `nbf`, in seconds.
pub const MAX_LEEWAY_SECS: u64 = 30;

/// Who a connection is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads a tenant's stream.
    #[default]
    Client,
    /// Publishes a tenant's stream.
    Bridge,
}

/// The claims ibws reads from a token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub role: Role,
    /// Which bridge's stream the token is for. Required: a token that names no
    /// tenant is refused everywhere (it never silently means some default stream).
    pub tenant: String,
    /// Message types the holder may subscribe to; empty or `"*"` means all.
    #[serde(default)]
    pub scope: Vec<String>,
    /// IB accounts the holder may see; empty or `"*"` means all.
    #[serde(default)]
    pub accounts: Vec<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    pub iss: String,
    pub aud: String,
}

impl Claims {
    /// Claims for `sub` in `role` on `tenant` until `exp` (unix seconds), with every
    /// type and account allowed and ibws's default issuer and audience (`ibws`).
    pub fn new(sub: &str, role: Role, tenant: &str, exp: u64) -> Claims {
        Claims {
            sub: sub.into(),
            role,
            tenant: tenant.into(),
            scope: vec![],
            accounts: vec![],
            exp,
            nbf: None,
            iat: None,
            iss: "ibws".into(),
            aud: "ibws".into(),
        }
    }

    /// May the holder receive events of this type?
    pub fn allows_type(&self, t: MessageType) -> bool {
        self.scope.is_empty() || self.scope.iter().any(|s| s == "*" || s == t.as_str())
    }

    /// May the holder see every account (no account restriction)?
    pub fn allows_all_accounts(&self) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == "*")
    }

    /// May the holder see this account's orders and values?
    pub fn allows_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == "*" || a == account)
    }
}

/// Why a token was refused. Deliberately coarse: details go to debug logs, never the
/// token itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Malformed, wrong algorithm, bad signature, wrong issuer or audience, missing claim.
    Invalid,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
}

impl AuthError {
    /// The close code a refused connection gets: expired tokens are told so (the
    /// client refreshes), everything else is an invalid token.
    pub fn close_code(self) -> crate::protocol::CloseCode {
        match self {
            AuthError::Expired => crate::protocol::CloseCode::TokenExpired,
            _ => crate::protocol::CloseCode::InvalidToken,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthError::Invalid => "invalid token",
            AuthError::Expired => "token expired",
            AuthError::NotYetValid => "token not yet valid",
        })
    }
}

/// Anything that can turn a token into claims at a given time.
pub trait TokenVerifier: Send + Sync {
    fn verify(&self, token: &str, now_unix_secs: u64) -> Result<Claims, AuthError>;
}

/// Key material for one algorithm.
pub enum VerifyKey {
    /// A shared secret for HS256.
    Hs256(Vec<u8>),
    /// A PEM public key for EdDSA (Ed25519).
    Ed25519Pem(Vec<u8>),
    /// A PEM public key for ES256.
    Es256Pem(Vec<u8>),
    /// A PEM public key for RS256.
    Rs256Pem(Vec<u8>),
}

impl VerifyKey {
    /// A PEM public key, its algorithm taken from the key's own type (Ed25519 ->
    /// EdDSA, EC -> ES256, RSA -> RS256), never from a token.
    pub fn from_public_pem(pem: &[u8]) -> Result<VerifyKey, String> {
        if DecodingKey::from_ed_pem(pem).is_ok() {
            Ok(VerifyKey::Ed25519Pem(pem.to_vec()))
        } else if DecodingKey::from_ec_pem(pem).is_ok() {
            Ok(VerifyKey::Es256Pem(pem.to_vec()))
        } else if DecodingKey::from_rsa_pem(pem).is_ok() {
            Ok(VerifyKey::Rs256Pem(pem.to_vec()))
        } else {
            Err("not a PEM public key of a supported type (Ed25519, P-256, RSA)".into())
        }
    }
}

/// A JWT verifier bound to one key and so to one algorithm.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    leeway: u64,
}

impl JwtVerifier {
    /// Builds a verifier. `leeway_secs` is clamped to [`MAX_LEEWAY_SECS`].
    pub fn new(key: VerifyKey, issuer: &str, audience: &str, leeway_secs: u64) -> Result<Self, String> {
        let (alg, key) = match key {
            VerifyKey::Hs256(s) => {
                if s.len() < 32 {
                    return Err("HS256 secret must be at least 32 bytes".into());
                }
                (Algorithm::HS256, DecodingKey::from_secret(&s))
            }
            VerifyKey::Ed25519Pem(p) => {
                (Algorithm::EdDSA, DecodingKey::from_ed_pem(&p).map_err(|e| format!("Ed25519 public key: {e}"))?)
            }
            VerifyKey::Es256Pem(p) => {
                (Algorithm::ES256, DecodingKey::from_ec_pem(&p).map_err(|e| format!("ES256 public key: {e}"))?)
            }
            VerifyKey::Rs256Pem(p) => {
                (Algorithm::RS256, DecodingKey::from_rsa_pem(&p).map_err(|e| format!("RS256 public key: {e}"))?)
            }
        };
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        // Time checks are done below against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Ok(JwtVerifier { key, validation, leeway: leeway_secs.min(MAX_LEEWAY_SECS) })
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        if token.len() > 8192 {
            return Err(AuthError::Invalid);
        }
        if has_critical_extensions(token) {
            // RFC 7515 4.1.11: a `crit` header lists extensions the recipient must
            // understand; ibws understands none, so it must refuse the token.
            return Err(AuthError::Invalid);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|_| AuthError::Invalid)?;
        let c = data.claims;
        if c.tenant.is_empty() {
            return Err(AuthError::Invalid);
        }
        if c.iat.is_some_and(|iat| iat > now.saturating_add(self.leeway)) {
            // issued in the future: a clock or a minting bug, or a forged lifetime
            return Err(AuthError::NotYetValid);
        }
        if now > c.exp.saturating_add(self.leeway) {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = c.nbf {
            if nbf > now.saturating_add(self.leeway) {
                return Err(AuthError::NotYetValid);
            }
        }
        Ok(c)
    }
}

/// Does the token's protected header carry `crit`? (Unreadable headers fail later.)
fn has_critical_extensions(token: &str) -> bool {
    use base64::Engine;
    let Some(head) = token.split('.').next() else { return false };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head.trim_end_matches('=')) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        .map(|h| h.contains_key("crit"))
        .unwrap_or(false)
}

/// Key material for minting.
pub enum SignKey {
    Hs256(Vec<u8>),
    Ed25519Pem(Vec<u8>),
    Es256Pem(Vec<u8>),
    Rs256Pem(Vec<u8>),
}

impl SignKey {
    /// A PEM private key, its algorithm taken from the key's own type.
    pub fn from_private_pem(pem: &[u8]) -> Result<SignKey, String> {
        if EncodingKey::from_ed_pem(pem).is_ok() {
            Ok(SignKey::Ed25519Pem(pem.to_vec()))
        } else if EncodingKey::from_ec_pem(pem).is_ok() {
            Ok(SignKey::Es256Pem(pem.to_vec()))
        } else if EncodingKey::from_rsa_pem(pem).is_ok() {
            Ok(SignKey::Rs256Pem(pem.to_vec()))
        } else {
            Err("not a PEM private key of a supported type (Ed25519, P-256, RSA)".into())
        }
    }
}

/// Signs `claims` (used by `ibws token issue` and by the tests).
pub fn mint(claims: &Claims, key: &SignKey) -> Result<String, String> {
    let (alg, key) = match key {
        SignKey::Hs256(s) => (Algorithm::HS256, EncodingKey::from_secret(s)),
        SignKey::Ed25519Pem(p) => (Algorithm::EdDSA, EncodingKey::from_ed_pem(p).map_err(|e| e.to_string())?),
        SignKey::Es256Pem(p) => (Algorithm::ES256, EncodingKey::from_ec_pem(p).map_err(|e| e.to_string())?),
        SignKey::Rs256Pem(p) => (Algorithm::RS256, EncodingKey::from_rsa_pem(p).map_err(|e| e.to_string())?),
    };
    jsonwebtoken::encode(&Header::new(alg), claims, &key).map_err(|e| e.to_string())
}

/// For this crate's unit tests: claims with the usual issuer and audience, and a
/// verifier that needs no keys.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{AuthError, Claims, Role, TokenVerifier};

    pub fn claims(role: Role, tenant: &str, exp: u64) -> Claims {
        Claims::new("s", role, tenant, exp)
    }

    /// Accepts exactly the token "good" (a client of `desk1` until `exp`); "old" is
    /// expired; anything else is invalid.
    pub struct OneToken {
        pub exp: u64,
    }

    impl TokenVerifier for OneToken {
        fn verify(&self, token: &str, _now: u64) -> Result<Claims, AuthError> {
            match token {
                "good" => Ok(claims(Role::Client, "desk1", self.exp)),
                "old" => Err(AuthError::Expired),
                _ => Err(AuthError::Invalid),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            role: Role::Client,
            tenant: "desk1".into(),
            scope: vec!["order_update".into()],
            accounts: vec!["DU1".into()],
            exp,
            nbf: None,
            iat: None,
            iss: "ibws".into(),
            aud: "ibws-clients".into(),
        }
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(VerifyKey::Hs256(SECRET.to_vec()), "ibws", "ibws-clients", 30).unwrap()
    }

    fn b64(s: &str) -> String {
        // URL-safe base64 without padding, enough for hand-made test tokens.
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn accepts_valid_and_rejects_tampering() {
        let v = verifier();
        let t = mint(&claims(1000), &SignKey::Hs256(SECRET.to_vec())).unwrap();
        assert_eq!(v.verify(&t, 900).unwrap().sub, "alice");
        assert_eq!(v.verify(&t, 1029).map(|c| c.sub), Ok("alice".into()), "within leeway");
        assert_eq!(v.verify(&t, 1031), Err(AuthError::Expired));
        let mut bad = t.clone();
        bad.pop();
        bad.push('A');
        assert_eq!(v.verify(&bad, 900), Err(AuthError::Invalid));
        let other = mint(&claims(1000), &SignKey::Hs256(b"x".repeat(32))).unwrap();
        assert_eq!(v.verify(&other, 900), Err(AuthError::Invalid));
    }

    #[test]
    fn rejects_alg_none_in_any_case() {
        let v = verifier();
        let body = b64(&serde_json::to_string(&claims(1000)).unwrap());
        for alg in ["none", "None", "NONE", "nOnE"] {
            let t = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)), body);
            assert_eq!(v.verify(&t, 900), Err(AuthError::Invalid), "{alg}");
        }
    }

    #[test]
    fn requires_iss_aud_exp() {
        let v = verifier();
        let key = SignKey::Hs256(SECRET.to_vec());
        let mut c = claims(1000);
        c.iss = "other".into();
        assert_eq!(v.verify(&mint(&c, &key).unwrap(), 900), Err(AuthError::Invalid));
        let mut c = claims(1000);
        c.aud = "other".into();
        assert_eq!(v.verify(&mint(&c, &key).unwrap(), 900), Err(AuthError::Invalid));
        let mut c = claims(1000);
        c.nbf = Some(2000);
        assert_eq!(v.verify(&mint(&c, &key).unwrap(), 900), Err(AuthError::NotYetValid));
        let no_exp = serde_json::json!({"sub":"a","iss":"ibws","aud":"ibws-clients"});
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &no_exp, &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(v.verify(&t, 900), Err(AuthError::Invalid));
    }

    #[test]
    fn refuses_crit_headers_future_iat_and_missing_tenant() {
        let v = verifier();
        let key = EncodingKey::from_secret(SECRET);
        let mut h = Header::new(Algorithm::HS256);
        let good = jsonwebtoken::encode(&h, &claims(1000), &key).unwrap();
        assert!(v.verify(&good, 900).is_ok());
        // the same token with `crit` in its header
        let body = good.split('.').nth(1).unwrap();
        let crit = b64(r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#);
        let signing_input = format!("{crit}.{body}");
        let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).unwrap();
        assert_eq!(v.verify(&format!("{signing_input}.{sig}"), 900), Err(AuthError::Invalid), "crit");
        // iat ten years ahead; a few seconds ahead is skew and passes
        let mut c = claims(u64::MAX / 2);
        c.iat = Some(900 + 10 * 365 * 86_400);
        assert_eq!(v.verify(&jsonwebtoken::encode(&h, &c, &key).unwrap(), 900), Err(AuthError::NotYetValid));
        c.iat = Some(920);
        assert!(v.verify(&jsonwebtoken::encode(&h, &c, &key).unwrap(), 900).is_ok());
        // no tenant claim, or an empty one
        h.typ = Some("JWT".into());
        let no_tenant = serde_json::json!({"sub":"a","iss":"ibws","aud":"ibws-clients","exp":1000});
        assert_eq!(v.verify(&jsonwebtoken::encode(&h, &no_tenant, &key).unwrap(), 900), Err(AuthError::Invalid));
        let mut c = claims(1000);
        c.tenant = String::new();
        assert_eq!(v.verify(&jsonwebtoken::encode(&h, &c, &key).unwrap(), 900), Err(AuthError::Invalid));
    }

    #[test]
    fn scopes() {
        let c = claims(1);
        assert!(c.allows_type(MessageType::OrderUpdate));
        assert!(!c.allows_type(MessageType::MarketData));
        assert!(c.allows_account("DU1"));
        assert!(!c.allows_account("DU2"));
    }
}
