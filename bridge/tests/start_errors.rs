//! Start-up errors are typed and tell the user what to change: a port in use, a TLS key
//! of another certificate, a missing key file, a relay URL that is not `wss://`.

use std::process::Command;

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::config::{JwtOptions, TlsOptions};
use ibws_bridge::start_error::StartError;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ibws-start-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_port_in_use_names_the_address_and_the_option() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let err = Bridge::start(BridgeConfig { listen: addr, ..BridgeConfig::default() }).await.err().expect("in use");
    match &err {
        StartError::PortInUse { addr: a, option, .. } => {
            assert_eq!(*a, addr);
            assert_eq!(*option, "--listen");
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&addr.to_string()) && text.contains("already in use") && text.contains("--listen"), "{text}");

    // and the binary says the same, once, and exits non-zero
    let out = Command::new(env!("CARGO_BIN_EXE_ibws"))
        .args(["bridge", "--listen", &addr.to_string(), "--tws", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("already in use").count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn a_tls_key_of_another_certificate_is_named_as_such() {
    let d = dir("tls");
    let (_, cert_a, _) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    let (_, _, key_b) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    let (cert, key) = (d.join("a-cert.pem"), d.join("b-key.pem"));
    std::fs::write(&cert, cert_a).unwrap();
    std::fs::write(&key, key_b).unwrap();
    let opts = TlsOptions { tls_cert: Some(cert.clone()), tls_key: Some(key.clone()) };
    match opts.server_config() {
        Err(StartError::TlsKeyMismatch { cert: c, key: k }) => assert_eq!((&c, &k), (&cert, &key)),
        other => panic!("expected TlsKeyMismatch, got {:?}", other.map(|_| ())),
    }
    // a certificate file holding a key instead is a PEM problem of --tls-cert
    let opts = TlsOptions { tls_cert: Some(key.clone()), tls_key: Some(key.clone()) };
    match opts.server_config() {
        Err(StartError::Pem { option, .. }) => assert_eq!(option, "--tls-cert"),
        other => panic!("expected a --tls-cert PEM error, got {:?}", other.map(|_| ())),
    }
    let opts = TlsOptions { tls_cert: Some(cert), tls_key: None };
    assert!(matches!(opts.server_config(), Err(StartError::Options { option: "--tls-cert", .. })));
}

#[test]
fn a_missing_key_file_names_the_file_and_its_option() {
    let missing = dir("jwt").join("no-such.secret");
    let jwt = JwtOptions {
        jwt_secret_file: Some(missing.clone()),
        jwt_public_key: None,
        issuer: "ibws".into(),
        audience: "ibws".into(),
    };
    match jwt.verifier() {
        Err(StartError::ReadFile { path, option, source, .. }) => {
            assert_eq!(path, missing);
            assert_eq!(option, "--jwt-secret-file");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected ReadFile, got {:?}", other.map(|_| ())),
    }
    let not_a_key = dir("jwtpem").join("k.pem");
    std::fs::write(&not_a_key, "hello").unwrap();
    let jwt = JwtOptions { jwt_secret_file: None, jwt_public_key: Some(not_a_key), ..jwt };
    assert!(matches!(jwt.verifier(), Err(StartError::JwtKey { option: "--jwt-public-key", .. })));
}

#[test]
fn a_relay_url_that_is_not_wss_is_refused_with_the_reason() {
    for (url, says) in [
        ("ws://relay.example.com:8443/bridge/ws", "must be wss://"),
        ("https://relay.example.com/bridge/ws", "not https://"),
        ("relay.example.com:8443", "wss://"),
        ("wss://me:pw@relay.example.com/bridge/ws", "user info"),
    ] {
        match ibws_bridge::uplink::check_relay_url(url) {
            Err(e @ StartError::RelayUrl { .. }) => assert!(e.to_string().contains(says), "{url}: {e}"),
            other => panic!("{url}: expected RelayUrl, got {other:?}"),
        }
    }
    assert!(ibws_bridge::uplink::check_relay_url("ws://127.0.0.1:8443/bridge/ws").is_ok());
    assert!(ibws_bridge::uplink::check_relay_url("wss://relay.example.com/bridge/ws").is_ok());
}
