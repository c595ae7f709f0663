//! The signature families the edge relay verifies, and only those.
//!
//! jsonwebtoken's bundled RustCrypto provider carries every algorithm it knows (RSA's
//! big-number arithmetic alone is a large share of the wasm), while a deployment
//! verifies one key of one family. This provider verifies HS256 always, and EdDSA,
//! ES256 and RS256 when built with the features of the same names; a key of a family
//! left out is refused when the relay is configured, with the feature to build with.
//! The edge never signs; HS256 signing is here only because it is nearly free (the
//! same HMAC) and the relay's own tests mint with it.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use sha2::Sha256;
use signature::Verifier;

/// `impl JwtVerifier` for a verifier of one algorithm.
macro_rules! names_algorithm {
    ($t:ty, $alg:ident) => {
        impl JwtVerifier for $t {
            fn algorithm(&self) -> Algorithm {
                Algorithm::$alg
            }
        }
    };
}

fn key_bytes(key: &DecodingKey) -> Result<&[u8], Error> {
    match key.kind() {
        DecodingKeyKind::SecretOrDer(b) => Ok(b),
        DecodingKeyKind::RsaModulusExponent { .. } => Err(ErrorKind::InvalidKeyFormat.into()),
    }
}

fn bad_signature<E>(_: E) -> signature::Error {
    signature::Error::new()
}

struct Hs256(Hmac<Sha256>);

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        mac.verify_slice(sig).map_err(bad_signature)
    }
}

names_algorithm!(Hs256, HS256);

#[cfg(feature = "eddsa")]
struct EdDsa(ed25519_dalek::VerifyingKey);

#[cfg(feature = "eddsa")]
impl Verifier<Vec<u8>> for EdDsa {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let sig = ed25519_dalek::Signature::from_slice(sig)?;
        self.0.verify_strict(msg, &sig)
    }
}

#[cfg(feature = "eddsa")]
names_algorithm!(EdDsa, EdDSA);

#[cfg(feature = "es256")]
struct Es256(p256::ecdsa::VerifyingKey);

#[cfg(feature = "es256")]
impl Verifier<Vec<u8>> for Es256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let sig = p256::ecdsa::Signature::from_slice(sig)?;
        self.0.verify(msg, &sig)
    }
}

#[cfg(feature = "es256")]
names_algorithm!(Es256, ES256);

#[cfg(feature = "rs256")]
struct Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>);

#[cfg(feature = "rs256")]
impl Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice())?;
        self.0.verify(msg, &sig)
    }
}

#[cfg(feature = "rs256")]
names_algorithm!(Rs256, RS256);

#[cfg(feature = "rs256")]
fn rsa_key(key: &DecodingKey) -> Result<rsa::RsaPublicKey, Error> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => {
            rsa::RsaPublicKey::from_pkcs1_der(der).map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into())
        }
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from_bytes_be(e))
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into())
        }
    }
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    match alg {
        Algorithm::HS256 => {
            let mac = Hmac::<Sha256>::new_from_slice(key_bytes(key)?).map_err(|_| ErrorKind::InvalidKeyFormat)?;
            Ok(Box::new(Hs256(mac)))
        }
        #[cfg(feature = "eddsa")]
        Algorithm::EdDSA => {
            let raw: [u8; 32] = key_bytes(key)?.try_into().map_err(|_| ErrorKind::InvalidEddsaKey)?;
            let k = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| ErrorKind::InvalidEddsaKey)?;
            Ok(Box::new(EdDsa(k)))
        }
        #[cfg(feature = "es256")]
        Algorithm::ES256 => {
            let k =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes(key)?).map_err(|_| ErrorKind::InvalidEcdsaKey)?;
            Ok(Box::new(Es256(k)))
        }
        #[cfg(feature = "rs256")]
        Algorithm::RS256 => Ok(Box::new(Rs256(rsa::pkcs1v15::VerifyingKey::new(rsa_key(key)?)))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    match alg {
        Algorithm::HS256 => {
            let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|_| ErrorKind::InvalidKeyFormat)?;
            Ok(Box::new(Hs256(mac)))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        compute_digest: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
    },
};

/// Makes this provider the process's (once; later calls change nothing). In a native
/// build that also links jsonwebtoken's own provider (the workspace's tests), this one
/// still wins, so the tests exercise what the edge runs.
pub fn install() {
    let _ = PROVIDER.install_default();
}

/// Whether this build verifies `family` ("EdDSA", "ES256", "RS256"), and if not, the
/// error saying what to build.
pub fn check_family(family: &str) -> Result<(), String> {
    let built = match family {
        "EdDSA" => cfg!(feature = "eddsa"),
        "ES256" => cfg!(feature = "es256"),
        "RS256" => cfg!(feature = "rs256"),
        _ => true,
    };
    if built {
        Ok(())
    } else {
        let feature = family.to_ascii_lowercase();
        Err(format!(
            "this build of the edge relay does not verify {family} tokens: rebuild with IBWS_EDGE_FEATURES={feature} bash relay-wasm/build.sh"
        ))
    }
}
