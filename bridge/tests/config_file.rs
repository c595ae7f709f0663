//! Every option of `ibws bridge` and `ibws relay` through the TOML file, the precedence
//! of flags over environment over file, and the file's errors with their line.
//!
//! The "every option" tests build their file from a table of one non-default value per
//! key and first check that the table names exactly the command's keys: an option
//! added later without a line here fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, FromArgMatches};
use ibws_bridge::config::{self, BridgeOptions, RelayOptions, Source};
use ibws_bridge::start_error::StartError;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ibws-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Parses `args` as a command with the options `T`, without reading the environment
/// (each test sets what it needs explicitly, so tests in parallel do not interfere).
fn load<T>(args: &[&str]) -> Result<config::Layered<T>, StartError>
where
    T: Args + FromArgMatches + serde::Serialize + serde::de::DeserializeOwned,
{
    let cmd = T::augment_args(clap::Command::new("ibws")).ignore_errors(false);
    let matches = cmd.try_get_matches_from(std::iter::once("ibws").chain(args.iter().copied())).unwrap();
    config::load::<T>(&matches)
}

/// Key files every TLS/JWT option can point at.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    secret: PathBuf,
    token: PathBuf,
}

fn files(d: &Path) -> Files {
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    let f = Files {
        cert: d.join("cert.pem"),
        key: d.join("key.pem"),
        ca: d.join("ca.pem"),
        secret: d.join("jwt.secret"),
        token: d.join("relay.token"),
    };
    std::fs::write(&f.cert, cert).unwrap();
    std::fs::write(&f.key, key).unwrap();
    std::fs::write(&f.ca, ca).unwrap();
    std::fs::write(&f.secret, "0123456789abcdef0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::write(&f.token, "header.payload.signature\n").unwrap();
    f
}

/// Writes `lines` (key, TOML value) as a file and checks they are the command's keys.
fn every_option_file<T: Args>(d: &Path, lines: &[(&str, String)]) -> PathBuf {
    let mut ours: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
    let mut theirs = config::layers::keys::<T>();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "the test's file must set every option, and only options");
    let text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    let p = d.join("every.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

#[test]
fn every_bridge_option_comes_through_the_file() {
    let d = dir("bridge");
    let f = files(&d);
    let lines = [
        ("tws", "\"127.0.0.1:4002\"".into()),
        ("client_id", "17".into()),
        ("tws_max_version", "178".into()),
        ("reconcile_days", "5".into()),
        ("accounts", "[\"DU111\", \"DU222\"]".into()),
        ("watch", "[\"aapl\", \"msft\"]".into()),
        ("listen", "\"127.0.0.1:18123\"".into()),
        ("mcp_order_ref_prefix", "\"agent\"".into()),
        ("mcp_client_ids", "[7, 8]".into()),
        ("market_max_per_sec", "9".into()),
        ("allowed_origins", "[\"https://app.example.com\"]".into()),
        ("allowed_hosts", "[\"trader.lan\"]".into()),
        ("insecure_bind", "true".into()),
        ("send_timeout_secs", "33".into()),
        ("replay_events", "1234".into()),
        ("replay_mb", "7".into()),
        ("remote_listen", "\"127.0.0.1:18124\"".into()),
        ("tls_cert", path(&f.cert)),
        ("tls_key", path(&f.key)),
        ("jwt_secret_file", path(&f.secret)),
        ("jwt_public_key", "\"/nonexistent/ignored-when-secret-is-unset.pem\"".into()),
        ("issuer", "\"our-issuer\"".into()),
        ("audience", "\"our-audience\"".into()),
        ("tenant", "\"desk-1\"".into()),
        ("remote_allowed_origins", "[\"https://remote.example.com\"]".into()),
        ("relay", "\"wss://relay.example.com:8443/bridge/ws\"".into()),
        ("relay_token_file", path(&f.token)),
        ("ca", path(&f.ca)),
    ];
    let file = every_option_file::<BridgeOptions>(&d, &lines);
    let l = load::<BridgeOptions>(&["--config", file.to_str().unwrap()]).unwrap();
    for (k, _) in &lines {
        assert_eq!(l.sources[*k], Source::File, "{k} came from the file");
    }
    let o = &l.options;
    assert_eq!(o.tws, "127.0.0.1:4002");
    assert_eq!(o.client_id, 17);
    assert_eq!(o.accounts, ["DU111", "DU222"]);
    assert_eq!(o.mcp_client_ids, [7, 8]);
    assert_eq!(o.jwt.issuer, "our-issuer");
    assert_eq!(o.tls.tls_cert.as_deref(), Some(f.cert.as_path()));

    // both keys at once are refused when the remote endpoint reads them
    let err = o.resolve().err().expect("a secret and a public key exclude each other");
    assert!(matches!(err, StartError::Options { .. }), "{err}");
    let mut o = o.clone();
    o.jwt.jwt_public_key = None;
    let c = o.resolve().unwrap();
    assert_eq!(c.tws, "127.0.0.1:4002");
    assert_eq!(c.client_id, 17);
    assert_eq!((c.tws_max_version, c.reconcile_days), (178, 5));
    assert_eq!(c.accounts, ["DU111", "DU222"]);
    assert_eq!(c.watch, ["AAPL", "MSFT"]);
    assert_eq!(c.listen.to_string(), "127.0.0.1:18123");
    assert_eq!(c.agents.order_ref_prefix, "agent");
    assert_eq!(c.agents.client_ids, [7, 8]);
    assert_eq!(c.market_max_per_sec, 9);
    assert_eq!(c.allowed_origins, ["https://app.example.com"]);
    assert_eq!(c.allowed_hosts, ["trader.lan"]);
    assert!(c.insecure_bind);
    assert_eq!(c.send_timeout.as_secs(), 33);
    assert_eq!(c.hub.replay_capacity, 1234);
    assert_eq!(c.hub.replay_max_bytes, 7 << 20);
    let r = c.remote.expect("remote endpoint");
    assert_eq!(r.listen.to_string(), "127.0.0.1:18124");
    assert_eq!(r.tenant, "desk-1");
    assert!(r.tls.is_some(), "TLS from the file's cert and key");
    assert_eq!(r.allowed_origins, ["https://remote.example.com"]);
    // the verifier holds the file's secret, issuer and audience
    let claims = ibws_shared::auth::Claims {
        sub: "s".into(),
        role: ibws_shared::auth::Role::Client,
        tenant: "desk-1".into(),
        scope: vec![],
        accounts: vec![],
        exp: 4_000_000_000,
        nbf: None,
        iat: None,
        iss: "our-issuer".into(),
        aud: "our-audience".into(),
    };
    let token = ibws_shared::auth::mint(&claims, &ibws_bridge::keys::signer(&f.secret).unwrap()).unwrap();
    assert!(r.verifier.verify(&token, 1_000).is_ok());
    let u = c.uplink.expect("uplink");
    assert_eq!(u.url, "wss://relay.example.com:8443/bridge/ws");
    assert_eq!(u.token, "header.payload.signature");
}

#[test]
fn every_relay_option_comes_through_the_file() {
    let d = dir("relay");
    let f = files(&d);
    let lines = [
        ("listen", "\"127.0.0.1:18443\"".into()),
        ("tls_cert", path(&f.cert)),
        ("tls_key", path(&f.key)),
        ("jwt_secret_file", path(&f.secret)),
        ("jwt_public_key", "\"/nonexistent/key.pem\"".into()),
        ("issuer", "\"our-issuer\"".into()),
        ("audience", "\"our-audience\"".into()),
        ("allowed_origins", "[\"https://app.example.com\"]".into()),
        ("max_connections", "501".into()),
        ("max_per_ip", "502".into()),
        ("max_per_subject", "503".into()),
        ("max_clients_per_tenant", "504".into()),
        ("handshake_burst", "505".into()),
        ("handshakes_per_sec", "506".into()),
        ("max_pending_per_ip", "507".into()),
        ("send_timeout_secs", "508".into()),
        ("replay_events", "509".into()),
        ("replay_mb", "5".into()),
        ("max_memory_mb", "510".into()),
        ("insecure", "true".into()),
        ("metrics_listen", "\"off\"".into()),
    ];
    let file = every_option_file::<RelayOptions>(&d, &lines);
    let l = load::<RelayOptions>(&["--config", file.to_str().unwrap()]).unwrap();
    for (k, _) in &lines {
        assert_eq!(l.sources[*k], Source::File, "{k} came from the file");
    }
    let mut o = l.options.clone();
    assert_eq!(o.jwt.jwt_public_key.as_deref(), Some(Path::new("/nonexistent/key.pem")));
    o.jwt.jwt_public_key = None;
    let c = o.resolve().unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:18443");
    assert!(c.tls.is_some());
    assert_eq!(c.allowed_origins, ["https://app.example.com"]);
    assert_eq!(c.limits.max_connections, 501);
    assert_eq!(c.limits.max_per_ip, 502);
    assert_eq!(c.hub.max_clients_per_subject, 503);
    assert_eq!(c.hub.max_clients, 504);
    assert_eq!(c.limits.handshake_burst, 505);
    assert_eq!(c.limits.handshakes_per_sec, 506);
    assert_eq!(c.limits.max_pending_per_ip, 507);
    assert_eq!(c.send_timeout.as_secs(), 508);
    assert_eq!(c.hub.replay_capacity, 509);
    assert_eq!(c.hub.replay_max_bytes, 5 << 20);
    assert_eq!(c.max_memory_bytes, 510 << 20);
    assert!(c.insecure);
    assert_eq!(c.metrics_listen, None);
    assert!(c.hub.require_auth);
}

#[test]
fn with_no_file_and_no_flags_the_options_are_the_library_defaults() {
    let c = load::<BridgeOptions>(&[]).unwrap().options.resolve().unwrap();
    let d = ibws_bridge::app::BridgeConfig::default();
    assert_eq!(c.tws, d.tws);
    assert_eq!(c.client_id, d.client_id);
    assert_eq!(c.listen, d.listen);
    assert_eq!(c.agents.order_ref_prefix, d.agents.order_ref_prefix);
    assert_eq!(c.market_max_per_sec, d.market_max_per_sec);
    assert_eq!(c.send_timeout, d.send_timeout);
    assert_eq!(c.hub.replay_capacity, d.hub.replay_capacity);
    assert_eq!(c.hub.replay_max_bytes, d.hub.replay_max_bytes);
    assert!(c.remote.is_none() && c.uplink.is_none());
}

#[test]
fn a_flag_wins_over_the_file() {
    let d = dir("flag");
    let p = d.join("c.toml");
    std::fs::write(&p, "client_id = 5\nwatch = [\"AAPL\"]\n").unwrap();
    let l = load::<BridgeOptions>(&["--config", p.to_str().unwrap(), "--client-id", "6"]).unwrap();
    assert_eq!(l.options.client_id, 6);
    assert_eq!(l.sources["client_id"], Source::Flag);
    assert_eq!(l.options.watch, ["AAPL"]);
    assert_eq!(l.sources["watch"], Source::File);
    assert_eq!(l.sources["tws"], Source::Default);
}

fn config_error(text: &str) -> (usize, String) {
    let d = dir(&format!("err{}", text.len()));
    let p = d.join("c.toml");
    std::fs::write(&p, text).unwrap();
    match load::<BridgeOptions>(&["--config", p.to_str().unwrap()]) {
        Err(StartError::Config { path, line, problem }) => {
            assert_eq!(path, p);
            (line, problem)
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn a_file_key_no_option_has_is_refused_with_its_line() {
    let (line, problem) = config_error("client_id = 3\n\n# the relay\nrelay_url = \"wss://x\"\n");
    assert_eq!(line, 4);
    assert!(problem.contains("unknown key `relay_url`"), "{problem}");
    let (line, problem) = config_error("watch = []\nclient-id = 3\n");
    assert_eq!(line, 2);
    assert!(problem.contains("did you mean `client_id`"), "{problem}");
    // keys that are not settings are not file keys either
    let (_, problem) = config_error("print_config = true\n");
    assert!(problem.contains("unknown key `print_config`"), "{problem}");
}

#[test]
fn a_value_of_the_wrong_kind_is_refused_with_its_line() {
    let (line, problem) = config_error("tws = \"127.0.0.1:7497\"\nclient_id = \"seven\"\n");
    assert_eq!(line, 2);
    assert!(problem.contains("`client_id`"), "{problem}");
    let (line, problem) = config_error("\n\nlisten = \"not an address\"\n");
    assert_eq!(line, 3);
    assert!(problem.contains("`listen`"), "{problem}");
    let (line, _) = config_error("a = 1\nb = [\n");
    assert!(line >= 2, "a TOML syntax error names its line");
}

/// The binary: environment between flags and file, `--print-config` shows sources and
/// hides credentials in URLs.
#[test]
fn print_config_shows_each_source_and_redacts_url_credentials() {
    let d = dir("print");
    let p = d.join("c.toml");
    std::fs::write(
        &p,
        "client_id = 5\nmarket_max_per_sec = 2\nwatch = [\"AAPL\"]\nrelay = \"wss://relay.example.com/bridge/ws?token=s3cr3t.t0k3n\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ibws"))
        .args(["bridge", "--config", p.to_str().unwrap(), "--print-config", "--market-max-per-sec", "3"])
        .env("IBWS_CLIENT_ID", "9")
        .env("IBWS_TWS", "127.0.0.1:4001")
        .env_remove("IBWS_WATCH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line =
        |k: &str| text.lines().find(|l| l.starts_with(&format!("{k} "))).unwrap_or_else(|| panic!("{k} in {text}"));
    assert!(line("client_id").starts_with("client_id = 9") && line("client_id").ends_with("# environment"), "{text}");
    assert!(line("tws").contains("4001") && line("tws").ends_with("# environment"));
    assert!(
        line("market_max_per_sec").starts_with("market_max_per_sec = 3")
            && line("market_max_per_sec").ends_with("# command line")
    );
    assert!(line("watch").contains("AAPL") && line("watch").ends_with("# config file"));
    assert!(line("listen").ends_with("# default"));
    assert!(!text.contains("s3cr3t"), "a token in a URL is never printed: {text}");
    assert!(line("relay").contains("token=REDACTED"));
    assert!(text.contains("# tenant = (not set)"));
    // what it prints is a file the command accepts
    let again = d.join("printed.toml");
    let printable: String = text.lines().filter(|l| !l.starts_with("relay ")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&again, printable).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ibws"))
        .args(["bridge", "--config", again.to_str().unwrap(), "--print-config"])
        .env_remove("IBWS_CLIENT_ID")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("client_id = 9"));

    // the relay has the same
    let out = Command::new(env!("CARGO_BIN_EXE_ibws")).args(["relay", "--print-config"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_clients_per_tenant = 10000"));
}
