//! The edge relay's logic for one tenant, as a Durable Object runs it: the shared hub,
//! the bridge ingest protocol, token checks, and the state a hibernating object must
//! store. No I/O and no JavaScript here; `lib.rs` exports it to the host.

use std::sync::Arc;

use ibws_shared::auth::{AuthError, JwtVerifier, Role, TokenVerifier, VerifyKey};
use ibws_shared::hub::{ConnId, ConnectInfo, Hub, HubConfig, Now, Output, SessionState, StampedEvent, StreamState};
use ibws_shared::protocol::{BridgeFrame, CloseCode, RelayFrame, SnapshotAssembler};
use serde::{Deserialize, Serialize};

/// How the edge relay verifies tokens and which tenant this object serves.
#[derive(Clone, Debug, Deserialize)]
pub struct EdgeConfig {
    pub tenant: String,
    /// HS256 secret, or...
    #[serde(default)]
    pub jwt_secret: Option<String>,
    /// ...a PEM public key (Ed25519, P-256 or RSA; the algorithm follows the key).
    #[serde(default)]
    pub jwt_public_key: Option<String>,
    #[serde(default = "ibws")]
    pub issuer: String,
    #[serde(default = "ibws")]
    pub audience: String,
}

fn ibws() -> String {
    "ibws".into()
}

/// Something for the host to do.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Out {
    Send { id: u64, frames: Vec<String> },
    Close { id: u64, code: u16, reason: String, frames: Vec<String> },
}

/// The answer to a bridge frame.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct BridgeReply {
    /// A frame to send back (welcome, ack).
    pub reply: Option<String>,
    /// Close the bridge connection with this code.
    pub close: Option<u16>,
}

pub struct EdgeRelay {
    hub: Hub,
    verifier: Arc<dyn TokenVerifier>,
    tenant: String,
    bridge_authed: bool,
    /// A large snapshot arriving in parts.
    parts: SnapshotAssembler,
}

fn close_for(e: AuthError) -> CloseCode {
    match e {
        AuthError::Expired => CloseCode::TokenExpired,
        _ => CloseCode::InvalidToken,
    }
}

impl EdgeRelay {
    pub fn new(cfg: EdgeConfig) -> Result<EdgeRelay, String> {
        let key = match (&cfg.jwt_secret, &cfg.jwt_public_key) {
            (Some(s), None) => VerifyKey::Hs256(s.trim().as_bytes().to_vec()),
            (None, Some(p)) => VerifyKey::from_public_pem(p.as_bytes())?,
            _ => return Err("configure exactly one of jwt_secret and jwt_public_key".into()),
        };
        let verifier: Arc<dyn TokenVerifier> = Arc::new(JwtVerifier::new(key, &cfg.issuer, &cfg.audience, 30)?);
        let hub_cfg = HubConfig { require_auth: true, tenant: Some(cfg.tenant.clone()), ..HubConfig::default() };
        let hub = Hub::new(hub_cfg, Some(verifier.clone()), format!("edge-{}", cfg.tenant));
        let parts = SnapshotAssembler::new(hub.config().max_orders + 10_000);
        Ok(EdgeRelay { hub, verifier, tenant: cfg.tenant, bridge_authed: false, parts })
    }

    /// Verifies a token and returns its tenant (the Worker routes with it).
    pub fn token_tenant(&self, token: &str, now: Now) -> Option<String> {
        self.verifier.verify(token, (now.unix_us / 1_000_000) as u64).ok().map(|c| c.tenant)
    }

    /// A client socket was accepted; `bearer` is a token offered as a subprotocol.
    pub fn client_open(&mut self, id: ConnId, client_id: Option<String>, bearer: Option<&str>, now: Now) {
        let claims = match bearer {
            Some(t) => match self.verifier.verify(t, (now.unix_us / 1_000_000) as u64) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.hub.connect(id, ConnectInfo { client_id, claims: None }, now);
                    self.hub.close_client(id, close_for(e), now);
                    return;
                }
            },
            None => None,
        };
        self.hub.connect(id, ConnectInfo { client_id, claims }, now);
    }

    pub fn client_text(&mut self, id: ConnId, text: &str, now: Now) {
        self.hub.on_text(id, text, now);
    }

    pub fn client_binary(&mut self, id: ConnId, len: usize, now: Now) {
        self.hub.on_binary(id, len, now);
    }

    pub fn client_closed(&mut self, id: ConnId) {
        self.hub.disconnect(id);
    }

    /// A frame from the bridge connection.
    pub fn bridge_text(&mut self, text: &str, now: Now) -> BridgeReply {
        let frame: BridgeFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(_) => return BridgeReply { reply: None, close: Some(CloseCode::UnsupportedData.code()) },
        };
        let ack = |hub: &Hub| {
            let (e, s) = hub.position();
            serde_json::to_string(&RelayFrame::Ack { epoch: e.to_owned(), seq: s }).ok()
        };
        match frame {
            BridgeFrame::Hello { token, .. } => match self.verifier.verify(&token, (now.unix_us / 1_000_000) as u64) {
                Ok(c) if c.role == Role::Bridge && c.tenant == self.tenant => {
                    self.bridge_authed = true;
                    let (e, s) = self.hub.position();
                    let w = RelayFrame::Welcome { tenant: self.tenant.clone(), epoch: e.to_owned(), seq: s };
                    BridgeReply { reply: serde_json::to_string(&w).ok(), close: None }
                }
                Ok(_) => BridgeReply { reply: None, close: Some(CloseCode::Forbidden.code()) },
                Err(e) => BridgeReply { reply: None, close: Some(close_for(e).code()) },
            },
            _ if !self.bridge_authed => BridgeReply { reply: None, close: Some(CloseCode::AuthRequired.code()) },
            BridgeFrame::Publish { event } => {
                if let Some(ev) = StampedEvent::new(*event) {
                    self.hub.publish(ev, now);
                }
                BridgeReply { reply: ack(&self.hub), close: None }
            }
            BridgeFrame::Snapshot(s) => {
                self.hub.apply_snapshot(&s, now);
                BridgeReply { reply: ack(&self.hub), close: None }
            }
            BridgeFrame::SnapshotPart(p) => match self.parts.push(p) {
                Ok(Some(s)) => {
                    self.hub.apply_snapshot(&s, now);
                    BridgeReply { reply: ack(&self.hub), close: None }
                }
                Ok(None) => BridgeReply::default(),
                Err(_) => BridgeReply { reply: None, close: Some(CloseCode::MessageTooBig.code()) },
            },
            BridgeFrame::Source { connected } => {
                self.hub.set_source_connected(connected);
                BridgeReply::default()
            }
        }
    }

    /// The bridge connection is gone.
    pub fn bridge_closed(&mut self) {
        self.bridge_authed = false;
        self.parts.reset();
        self.hub.set_source_connected(false);
    }

    /// Restores the bridge's authentication after the object woke up.
    pub fn set_bridge_authed(&mut self, yes: bool) {
        self.bridge_authed = yes;
    }

    pub fn tick(&mut self, now: Now) {
        self.hub.tick(now);
    }

    pub fn client_count(&self) -> usize {
        self.hub.client_count()
    }

    /// What the host must do now. Transport pings are not possible under hibernation;
    /// clients keep the connection alive with their own `ping` (answered here).
    pub fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(o) = self.hub.poll_output() {
            match o {
                Output::Wake(id) => {
                    let mut frames = Vec::new();
                    self.hub.take_frames(id, &mut frames);
                    out.push(Out::Send { id, frames: frames.iter().map(|f| f.to_string()).collect() });
                }
                Output::Ping(_) => {}
                Output::Close { id, code, frames } => out.push(Out::Close {
                    id,
                    code: code.code(),
                    reason: code.reason().to_owned(),
                    frames: frames.iter().map(|f| f.to_string()).collect(),
                }),
            }
        }
        out
    }

    pub fn stream_state(&self) -> StreamState {
        self.hub.stream_state()
    }

    pub fn restore_stream(&mut self, st: StreamState) {
        self.hub.restore_stream(st);
    }

    pub fn session_state(&self, id: ConnId) -> Option<SessionState> {
        self.hub.session_state(id)
    }

    pub fn restore_session(&mut self, id: ConnId, st: SessionState, now: Now) {
        self.hub.restore_session(id, st, now);
    }
}
