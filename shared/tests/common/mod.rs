//! What the hub and relay tests share: one HS256 key, claims with the usual issuer
//! and audience, tokens, and the verifier for them.

#![allow(dead_code)] // each test file uses what it needs

use std::sync::Arc;

use ibws_shared::auth::{mint, Claims, JwtVerifier, Role, SignKey, TokenVerifier, VerifyKey};

pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

pub fn claims(sub: &str, role: Role, tenant: &str, exp: u64) -> Claims {
    Claims::new(sub, role, tenant, exp)
}

pub fn token(c: &Claims) -> String {
    mint(c, &SignKey::Hs256(SECRET.to_vec())).unwrap()
}

/// Verifies [`token`]s (no clock leeway).
pub fn verifier() -> Arc<dyn TokenVerifier> {
    Arc::new(JwtVerifier::new(VerifyKey::Hs256(SECRET.to_vec()), "ibws", "ibws", 0).unwrap())
}
