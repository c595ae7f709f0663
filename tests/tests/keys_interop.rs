//! `ibws token keygen` writes keys every common tool reads: OpenSSL 3 (`openssl pkey`)
//! and Python's `cryptography` load the Ed25519 private key, and a token each of them
//! signs with it verifies against the `.pub` that keygen wrote (as the relay would).

use std::process::Command;

use base64::Engine;
use ibws_shared::auth::{TokenVerifier, VerifyKey};

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[test]
fn ed25519_keys_load_in_openssl_and_python_and_their_tokens_verify() {
    let dir = ibws_tests::repo_root().join("target/keys-interop");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("jwt");
    let ok = Command::new(ibws_tests::process::built_ibws_bin())
        .args(["token", "keygen", "--kind", "ed25519", "--out"])
        .arg(&prefix)
        .status()
        .unwrap()
        .success();
    assert!(ok, "keygen");
    let key = dir.join("jwt.key");
    let pubkey = std::fs::read(dir.join("jwt.pub")).unwrap();
    let verifier =
        ibws_shared::auth::JwtVerifier::new(VerifyKey::from_public_pem(&pubkey).unwrap(), "ibws", "ibws", 30).unwrap();

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = b64url(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = |sub: &str| {
        b64url(
            serde_json::json!({"sub": sub, "tenant": "desk1", "role": "client", "exp": now + 600, "iss": "ibws", "aud": "ibws"})
                .to_string()
                .as_bytes(),
        )
    };

    // OpenSSL: loads the key, signs the JWT's signing input
    let out = Command::new("openssl").args(["pkey", "-in"]).arg(&key).arg("-noout").output().expect("openssl");
    assert!(out.status.success(), "openssl pkey refused the key: {}", String::from_utf8_lossy(&out.stderr));
    let input = format!("{header}.{}", claims("openssl"));
    let input_file = dir.join("input");
    std::fs::write(&input_file, &input).unwrap();
    let sig = Command::new("openssl")
        .args(["pkeyutl", "-sign", "-rawin", "-inkey"])
        .arg(&key)
        .arg("-in")
        .arg(&input_file)
        .output()
        .unwrap();
    assert!(sig.status.success(), "openssl pkeyutl: {}", String::from_utf8_lossy(&sig.stderr));
    let token = format!("{input}.{}", b64url(&sig.stdout));
    assert_eq!(verifier.verify(&token, now).expect("OpenSSL's token verifies").sub, "openssl");

    // Python cryptography: loads the key, signs
    let input = format!("{header}.{}", claims("python"));
    let script = format!(
        "import base64,sys\nfrom cryptography.hazmat.primitives.serialization import load_pem_private_key\n\
         k = load_pem_private_key(open({:?},'rb').read(), password=None)\n\
         s = k.sign({:?}.encode())\nsys.stdout.write(base64.urlsafe_b64encode(s).decode().rstrip('='))\n",
        key.display().to_string(),
        input
    );
    let out = Command::new(ibws_tests::python()).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "python cryptography: {}", String::from_utf8_lossy(&out.stderr));
    let token = format!("{input}.{}", String::from_utf8(out.stdout).unwrap());
    assert_eq!(verifier.verify(&token, now).expect("Python's token verifies").sub, "python");

    // and ibws itself still signs with it
    let out = Command::new(ibws_tests::process::built_ibws_bin())
        .args(["token", "issue", "--key"])
        .arg(&key)
        .args(["--sub", "ibws", "--tenant", "desk1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(verifier.verify(String::from_utf8(out.stdout).unwrap().trim(), now).unwrap().sub, "ibws");
}
