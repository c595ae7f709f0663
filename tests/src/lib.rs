//! Helpers for the cross-piece tests in `tests/tests/` and benches in `tests/benches/`:
//! third-party runtimes (a Python virtualenv with the seed's client library and
//! ib_async, Node), the seed-style clients in `tests/clients/`, and a WebSocket test
//! client.

pub mod agent_bench;
pub mod bench;
pub mod chaos;
pub mod epoll_clients;
pub mod fuzz_targets;
pub mod latency;
pub mod process;
pub mod soak;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The checkout's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A client script kept in `tests/clients/`.
pub fn client_script(name: &str) -> PathBuf {
    repo_root().join("tests/clients").join(name)
}

/// A Python with `websockets` and `ib_async` installed: `IBWS_TEST_PYTHON`, or a
/// virtualenv at `tests/.venv` made (once) from `tests/requirements.txt`.
pub fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        if let Ok(p) = std::env::var("IBWS_TEST_PYTHON") {
            return PathBuf::from(p);
        }
        let venv = repo_root().join("tests/.venv");
        let py = venv.join("bin/python");
        if !py.exists() {
            let ok =
                Command::new("python3").arg("-m").arg("venv").arg(&venv).status().map(|s| s.success()).unwrap_or(false);
            assert!(ok, "python3 -m venv failed");
        }
        let ok = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(repo_root().join("tests/requirements.txt"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "pip install -r tests/requirements.txt failed");
        py
    })
    .clone()
}

/// What [`Client::next_frame`] saw.
#[derive(Debug)]
pub enum Next {
    Frame(Value),
    /// Nothing arrived within the timeout; the socket may still be open.
    Silent,
    /// The socket closed (with the close code, if the server sent one) or failed.
    Closed(Option<u16>),
}

/// A WebSocket client speaking JSON.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next JSON frame, or `None` on close / timeout.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(timeout, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"))
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// The next JSON frame, telling silence apart from a closed socket. Unlike
    /// [`Client::recv`] followed by [`Client::close_code`], it never reads a frame only
    /// to throw it away.
    pub async fn next_frame(&mut self, timeout: Duration) -> Next {
        loop {
            match tokio::time::timeout(timeout, self.ws.next()).await {
                Err(_) => return Next::Silent,
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Next::Frame(serde_json::from_str(t.as_str()).expect("server sends JSON"))
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(Message::Close(f)))) => return Next::Closed(f.map(|f| f.code.into())),
                Ok(Some(Ok(Message::Binary(_)))) => panic!("server sent a binary frame"),
                Ok(Some(Err(_)) | None) => return Next::Closed(None),
            }
        }
    }

    /// Frames until one satisfies `pred` (returned), or the timeout.
    pub async fn recv_until(&mut self, timeout: Duration, mut pred: impl FnMut(&Value) -> bool) -> Option<Value> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            let v = self.recv(left).await?;
            if pred(&v) {
                return Some(v);
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn close_code(&mut self, timeout: Duration) -> Option<u16> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => return Some(f.code.into()),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }
}

/// Test key material: an Ed25519 key pair (PEM), or an HS256 secret.
#[derive(Clone)]
pub struct TestKeys {
    pub private_pem: String,
    pub public_pem: String,
    secret: Option<Vec<u8>>,
}

impl TestKeys {
    pub fn ed25519() -> TestKeys {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("keygen");
        TestKeys { private_pem: kp.serialize_pem(), public_pem: kp.public_key_pem(), secret: None }
    }

    pub fn hs256(secret: &str) -> TestKeys {
        TestKeys { private_pem: String::new(), public_pem: String::new(), secret: Some(secret.as_bytes().to_vec()) }
    }

    fn sign_key(&self) -> ibws_shared::auth::SignKey {
        match &self.secret {
            Some(s) => ibws_shared::auth::SignKey::Hs256(s.clone()),
            None => ibws_shared::auth::SignKey::Ed25519Pem(self.private_pem.clone().into_bytes()),
        }
    }

    pub fn verifier(&self) -> std::sync::Arc<dyn ibws_shared::auth::TokenVerifier> {
        let key = match &self.secret {
            Some(s) => ibws_shared::auth::VerifyKey::Hs256(s.clone()),
            None => ibws_shared::auth::VerifyKey::Ed25519Pem(self.public_pem.clone().into_bytes()),
        };
        std::sync::Arc::new(ibws_shared::auth::JwtVerifier::new(key, "ibws", "ibws", 30).expect("verifier"))
    }

    /// A valid token for `role` and `tenant`, with optional scope.
    pub fn token(&self, sub: &str, role: ibws_shared::auth::Role, tenant: &str, scope: &[&str]) -> String {
        self.token_with(|c| {
            c.sub = sub.into();
            c.role = role;
            c.tenant = tenant.into();
            c.scope = scope.iter().map(|s| s.to_string()).collect();
        })
    }

    /// A token from default claims changed by `f`.
    pub fn token_with(&self, f: impl FnOnce(&mut ibws_shared::auth::Claims)) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut c = ibws_shared::auth::Claims {
            sub: "tester".into(),
            role: ibws_shared::auth::Role::Client,
            tenant: "desk1".into(),
            scope: vec![],
            accounts: vec![],
            exp: now + 3600,
            nbf: None,
            iat: Some(now),
            iss: "ibws".into(),
            aud: "ibws".into(),
        };
        f(&mut c);
        ibws_shared::auth::mint(&c, &self.sign_key()).expect("mint")
    }
}

impl Client {
    /// Connects over TLS trusting `ca_pem`, with extra request headers.
    pub async fn connect_tls(url: &str, ca_pem: &str, headers: &[(&str, &str)]) -> Result<Client, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (k, v) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| e.to_string())?;
            req.headers_mut().insert(name, v.parse().map_err(|_| "bad header value".to_owned())?);
        }
        let tls = ibws_bridge::tls::client_config(Some(ca_pem.as_bytes())).map_err(|e| e.to_string())?;
        let connector = Some(tokio_tungstenite::Connector::Rustls(tls));
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, None, true, connector)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Client { ws })
    }
}

impl Client {
    /// Sends a JSON frame; false when the socket is gone.
    pub async fn try_send(&mut self, v: Value) -> bool {
        self.ws.send(Message::Text(v.to_string().into())).await.is_ok()
    }
}

/// `tests/browser` with its npm packages installed (`npm ci`, once).
pub fn browser_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = repo_root().join("tests/browser");
        if !dir.join("node_modules/playwright-core").exists() {
            let ok = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "npm ci in tests/browser failed");
        }
        dir
    })
    .clone()
}

/// The edge relay's worker directory with its wasm package built (`pkg/`) and its npm
/// packages (workerd) installed. `tests/run` builds the package; this builds it too
/// when missing, with the pinned wasm-bindgen CLI.
pub fn edge_worker_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let dir = root.join("relay-wasm/worker");
        if !dir.join("pkg/ibws_relay_wasm_bg.wasm").exists() {
            let ok = Command::new("bash")
                .arg(root.join("relay-wasm/build.sh"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "relay-wasm/build.sh failed (needs the wasm32 target and wasm-bindgen CLI; see tests/run)");
        }
        if !dir.join("node_modules/.bin/workerd").exists() {
            let ok = Command::new("npm")
                .args(["install", "--no-save", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "npm ci in relay-wasm/worker failed");
        }
        dir
    })
    .clone()
}

/// A running `workerd` serving the edge relay; killed on drop.
pub struct Workerd {
    pub port: u16,
    child: std::process::Child,
}

impl Workerd {
    /// Starts workerd on `port` with Durable Object storage in `storage`.
    pub fn start(port: u16, storage: &Path, secret: &str, allowed_origins: &str) -> Workerd {
        Workerd::start_logged(port, storage, secret, allowed_origins, None)
    }

    /// Writes a workerd configuration for the edge relay beside `worker.js` (its
    /// modules are embedded relative to it); returns its path.
    pub fn config(port: u16, storage: &Path, secret: &str, allowed_origins: &str) -> PathBuf {
        let dir = edge_worker_dir();
        let template = std::fs::read_to_string(dir.join("config.capnp.in")).expect("config template");
        let config = template
            .replace("@PORT@", &port.to_string())
            .replace("@STORAGE@", &storage.display().to_string())
            .replace("@JWT_SECRET@", secret)
            .replace(
                "(name = \"ALLOWED_ORIGINS\", text = \"*\")",
                &format!("(name = \"ALLOWED_ORIGINS\", text = \"{allowed_origins}\")"),
            );
        let path = dir.join(format!("config.test-{port}.capnp"));
        std::fs::write(&path, config).expect("write config");
        path
    }

    /// The workerd binary npm installed.
    pub fn bin() -> PathBuf {
        edge_worker_dir().join("node_modules/.bin/workerd")
    }

    /// Like [`Workerd::start`], appending workerd's stderr to `log` instead of ours.
    pub fn start_logged(port: u16, storage: &Path, secret: &str, allowed_origins: &str, log: Option<&Path>) -> Workerd {
        let dir = edge_worker_dir();
        let path = Workerd::config(port, storage, secret, allowed_origins);
        let child = Command::new(dir.join("node_modules/.bin/workerd"))
            .arg("serve")
            .arg(&path)
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(match log {
                Some(p) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map(std::process::Stdio::from)
                    .expect("open workerd log"),
                None => std::process::Stdio::inherit(),
            })
            .spawn()
            .expect("workerd starts");
        // wait until it answers
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Workerd { port, child }
    }

    /// Kills the process (every Durable Object dies with it; storage stays on disk).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Workerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(edge_worker_dir().join(format!("config.test-{}.capnp", self.port)));
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Client {
    /// The WebSocket itself, for a test that drives it directly.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }

    /// Wraps an already connected stream.
    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client { ws }
    }
}

/// An uplink config for a bridge in a test: `wss://localhost:<port>/bridge/ws` with a
/// bridge token for `tenant`, trusting `ca_pem`, quick reconnects.
pub fn test_uplink(relay_port: u16, keys: &TestKeys, tenant: &str, ca_pem: &str) -> ibws_bridge::uplink::UplinkConfig {
    ibws_bridge::uplink::UplinkConfig {
        url: format!("wss://localhost:{relay_port}/bridge/ws"),
        token: keys.token("bridge-1", ibws_shared::auth::Role::Bridge, tenant, &[]),
        tls: ibws_bridge::tls::client_config(Some(ca_pem.as_bytes())).expect("client TLS config"),
        buffer_cap: 100_000,
        backoff: ibws_shared::backoff::Backoff { base_ms: 100, cap_ms: 1_000 },
    }
}

/// A native relay on a loopback port for a test: TLS with a throwaway CA (returned,
/// PEM), `keys` for tokens, auth required, default limits, a metrics listener.
pub async fn test_relay(keys: &TestKeys) -> (ibws_bridge::relay::Relay, String) {
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).expect("certificate");
    let relay = ibws_bridge::relay::Relay::start(ibws_bridge::relay::RelayConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        tls: Some(ibws_bridge::tls::server_config(cert.as_bytes(), key.as_bytes()).expect("server TLS config")),
        verifier: keys.verifier(),
        allowed_origins: vec![],
        limits: ibws_bridge::server::LimitConfig::default(),
        hub: ibws_shared::hub::HubConfig { require_auth: true, ..ibws_shared::hub::HubConfig::default() },
        insecure: false,
        metrics_listen: Some("127.0.0.1:0".parse().expect("address")),
        send_timeout: ibws_bridge::server::SEND_TIMEOUT,
        max_memory_bytes: ibws_bridge::relay::DEFAULT_MAX_MEMORY_BYTES,
    })
    .await
    .expect("relay starts");
    (relay, ca)
}
