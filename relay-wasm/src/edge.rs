//! One tenant's edge relay, as a Durable Object runs it, free of I/O.
//!
//! Every decision is the shared relay core's: [`ibws_shared::relay::admit`] for each
//! request the Worker routes, [`BridgeSession`] for the bridge, the [`Hub`] for the
//! clients. What is particular to a Durable Object lives here:
//!
//! - **storage by rows**: the hub journals what changed ([`Hub::take_changes`]); the
//!   host writes those rows (one per event, per order, per account) in one
//!   transaction, waits until they are durable, and only then asks for the bridge's
//!   `ack` ([`EdgeRelay::stored`]). A write costs what changed, however full the ring.
//! - **fan-out serialised once**: [`EdgeRelay::drain`] hands the host each distinct
//!   frame once with, for every socket, the indexes of its frames.
//! - **sleep**: no transport pings and no idle reaping (the platform closes dead
//!   sockets and tells us; seed clients never send anything and must stay), so the
//!   only deadlines are auth deadlines, token expiries and the bridge's; the host sets
//!   one alarm for [`EdgeRelay::deadline`], or none.

use std::collections::HashMap;
use std::sync::Arc;

use ibws_shared::auth::{Claims, JwtVerifier, TokenVerifier, VerifyKey};
use ibws_shared::hub::{
    ConnId, ConnectInfo, Frame, Hub, HubConfig, Now, Output, SessionState, StreamChanges, StreamState,
};
use ibws_shared::protocol::{AccountState, CloseCode, OrderData};
use ibws_shared::relay::publisher::{Decision, Publisher};
use ibws_shared::relay::{admit, refusal_frame, Admission, BridgeSession, ConnRole, OriginPolicy, Refused, Request};
use serde::{Deserialize, Serialize};

/// How the edge relay verifies tokens, which tenant this object serves, and which
/// browser origins may connect.
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
    /// Exact browser origins allowed (`*`: any); none by default.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

fn ibws() -> String {
    "ibws".into()
}

/// The verifier a configuration describes.
pub fn verifier(cfg: &EdgeConfig) -> Result<Arc<dyn TokenVerifier>, String> {
    crate::crypto::install();
    let key = match (&cfg.jwt_secret, &cfg.jwt_public_key) {
        (Some(s), None) => VerifyKey::Hs256(s.trim().as_bytes().to_vec()),
        (None, Some(p)) => VerifyKey::from_public_pem(p.as_bytes())?,
        _ => return Err("configure exactly one of jwt_secret and jwt_public_key".into()),
    };
    crate::crypto::check_family(match key {
        VerifyKey::Hs256(_) => "HS256",
        VerifyKey::Ed25519Pem(_) => "EdDSA",
        VerifyKey::Es256Pem(_) => "ES256",
        VerifyKey::Rs256Pem(_) => "RS256",
    })?;
    Ok(Arc::new(JwtVerifier::new(key, &cfg.issuer, &cfg.audience, 30)?))
}

/// A request's facts as the Worker sees them.
#[derive(Debug, Default, Deserialize)]
pub struct Facts {
    pub path: String,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub upgrade: bool,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub protocols: Option<String>,
}

/// The Worker's answer to a request.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Route {
    Health,
    /// HTTP refusal before any upgrade.
    Http {
        status: u16,
        body: &'static str,
    },
    /// Upgrade, send `frame` (an error frame saying why), close with `code`.
    Refuse {
        code: u16,
        reason: &'static str,
        frame: String,
    },
    /// Hand the socket to `tenant`'s Durable Object, with `grant` (opaque to the Worker:
    /// it is set on the forwarded request as `x-ibws-grant`, replacing any such header
    /// the request came with, and given to [`EdgeRelay::client_open_granted`]).
    Forward {
        tenant: String,
        bridge: bool,
        echo_ibws: bool,
        grant: String,
    },
}

/// What the Worker's admission already established about a client, carried to its
/// tenant's object so nothing is decided (or a token verified) twice: the seed's
/// `client_id`, and the claims of a `bearer.` token verified by [`route`].
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Grant {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub claims: Option<Claims>,
}

/// Decides a request in the Worker, before any Durable Object is involved: the shared
/// admission, then which tenant's object gets it (the verified bearer token's tenant,
/// else the `tenant` parameter, whose object checks the token the client sends).
pub fn route(cfg: &EdgeConfig, verifier: &dyn TokenVerifier, facts: &Facts, now: Now) -> Route {
    let req = Request {
        path: &facts.path,
        query: &facts.query,
        upgrade: facts.upgrade,
        origin: facts.origin.as_deref(),
        protocols: facts.protocols.as_deref(),
    };
    let origins = OriginPolicy::remote(cfg.allowed_origins.clone());
    let refuse = |code: CloseCode, why: &str| Route::Refuse {
        code: code.code(),
        reason: code.reason(),
        frame: refusal_frame(code, why, now.unix_us, 0),
    };
    match admit(&req, &origins, Some(verifier), now.unix_us.max(0) as u64 / 1_000_000) {
        Admission::Health => Route::Health,
        Admission::Refused(Refused::Http { status, body }) => Route::Http { status, body },
        Admission::Refused(Refused::Close { code, reason: why }) => refuse(code, why),
        Admission::Accept { role, claims, echo_ibws, tenant, client_id } => {
            match claims.as_ref().map(|c| c.tenant.clone()).or(tenant) {
                Some(tenant) => {
                    let grant = serde_json::to_string(&Grant { client_id, claims }).expect("a grant serialises");
                    Route::Forward { tenant, bridge: role == ConnRole::Bridge, echo_ibws, grant }
                }
                None => refuse(CloseCode::AuthRequired, "say which tenant: a bearer token or the tenant parameter"),
            }
        }
    }
}

/// Frames for the host to send, each distinct frame once.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Batch {
    /// Every distinct frame of this batch.
    pub frames: Vec<Frame>,
    /// Per socket: its id, then the indexes into `frames` to send it, in order.
    pub sends: Vec<Vec<u64>>,
    /// Sockets to close after their frames: id, code, reason.
    pub closes: Vec<(u64, u16, String)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty() && self.closes.is_empty()
    }
}

/// The answer to a bridge's frame: frames to send it now (`welcome`), and whether to
/// close it.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct BridgeReply {
    pub send: Vec<String>,
    pub close: Option<(u16, String)>,
}

/// One batch of rows to store, as the host writes them (see [`StreamChanges`]):
/// orders and accounts already as JSON text.
#[derive(Debug, Serialize, PartialEq)]
pub struct Rows {
    pub epoch: String,
    pub seq: u64,
    pub source_connected: bool,
    pub clear_events: bool,
    pub clear_tables: bool,
    pub keep_from: u64,
    pub events: Vec<(u64, Frame)>,
    /// (key, row or `None` to delete)
    pub orders: Vec<(i64, Option<String>)>,
    /// (account, row)
    pub accounts: Vec<(String, String)>,
}

impl From<StreamChanges> for Rows {
    fn from(c: StreamChanges) -> Rows {
        fn text<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_default()
        }
        Rows {
            epoch: c.epoch,
            seq: c.seq,
            source_connected: c.source_connected,
            clear_events: c.clear_events,
            clear_tables: c.clear_tables,
            keep_from: c.keep_from,
            events: c.events,
            orders: c.orders.into_iter().map(|(k, o)| (k, o.as_ref().map(text))).collect(),
            accounts: c.accounts.iter().map(|a| (a.account.clone(), text(a))).collect(),
        }
    }
}

/// What a bridge socket keeps across the object's sleep.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct BridgeState {
    pub tenant: String,
    pub exp: u64,
}

/// How long publishes gather before their rows are written together (fewer commits;
/// the ack waits for durability either way).
pub const STORE_BATCH_MS: u64 = 5;

/// How every socket is closed when the object's storage fails: memory and disk
/// disagree, so clients resume and the bridge resends what was never acknowledged,
/// against the relay rebuilt from what is stored.
pub const STORAGE_FAILED: (CloseCode, &str) = (CloseCode::ServerRestarting, "storage write failed");

pub struct EdgeRelay {
    hub: Hub,
    verifier: Arc<dyn TokenVerifier>,
    tenant: String,
    bridges: HashMap<ConnId, BridgeSession>,
    /// Which bridge socket publishes the stream (one at a time).
    publisher: Publisher,
    /// Frames for bridge sockets at the next drain (a welcome after a takeover, a ping).
    bridge_sends: Vec<(ConnId, String)>,
    /// Bridge sockets to close at the next drain (a token that expired while asleep,
    /// a refused or replaced bridge).
    bridge_closes: Vec<(ConnId, u16, String)>,
    /// A stream being read back from storage.
    restoring: Option<StreamState>,
}

impl EdgeRelay {
    pub fn new(cfg: EdgeConfig) -> Result<EdgeRelay, String> {
        let verifier = verifier(&cfg)?;
        let hub_cfg = HubConfig {
            require_auth: true,
            tenant: Some(cfg.tenant.clone()),
            idle_timeout_ms: u64::MAX,
            transport_pings: false,
            ..HubConfig::default()
        };
        let mut hub = Hub::new(hub_cfg, Some(verifier.clone()), format!("edge-{}", cfg.tenant));
        hub.enable_journal();
        Ok(EdgeRelay {
            hub,
            verifier,
            tenant: cfg.tenant,
            bridges: HashMap::new(),
            publisher: Publisher::default(),
            bridge_sends: Vec::new(),
            bridge_closes: Vec::new(),
            restoring: None,
        })
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    // ----- clients -----

    /// A client socket was accepted with the [`Grant`] the Worker's [`route`] gave it
    /// (the JSON text of `x-ibws-grant`). A grant that does not parse admits nothing:
    /// the client must then `auth` like one that offered no token.
    pub fn client_open_granted(&mut self, id: ConnId, grant: &str, now: Now) {
        let g: Grant = serde_json::from_str(grant).unwrap_or_default();
        self.client_open(id, g.client_id.filter(|c| c.len() <= 128), g.claims, now);
    }

    /// A client socket was accepted; `claims` were verified by the admission (a
    /// `bearer.` token), else the client must send `auth` first.
    pub fn client_open(&mut self, id: ConnId, client_id: Option<String>, claims: Option<Claims>, now: Now) {
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

    pub fn client_count(&self) -> usize {
        self.hub.client_count()
    }

    // ----- the bridge -----

    /// A bridge socket was accepted: it must say `hello` by the auth deadline.
    pub fn bridge_open(&mut self, id: ConnId, now: Now) {
        let cfg = self.hub.config();
        let s = BridgeSession::new(Some(self.tenant.clone()), cfg.auth_deadline_ms, cfg.max_orders, now);
        self.bridges.insert(id, s);
    }

    /// A text frame from bridge socket `id`. Every frame is a sign of life; frames of
    /// a bridge that does not own the stream (it waits for the owner's liveness check)
    /// are applied to nothing.
    pub fn bridge_text(&mut self, id: ConnId, text: &str, now: Now) -> BridgeReply {
        let Some(s) = self.bridges.get_mut(&id) else {
            return BridgeReply { send: vec![], close: Some((CloseCode::AuthRequired.code(), "unknown".into())) };
        };
        let result = if s.identity().is_none() {
            s.on_hello(text, self.verifier.as_ref(), now).map(|_| true)
        } else if self.publisher.owner() == Some(id) {
            s.on_text(text, &mut self.hub, now).map(|_| false)
        } else {
            Ok(false)
        };
        match result {
            Ok(hello) => {
                let decisions =
                    if hello { self.publisher.on_hello(id, now.mono_ms) } else { self.publisher.on_sign_of_life(id) };
                self.carry_out(decisions, now);
                // what is for this socket goes back at once, in order
                let mut send = Vec::new();
                self.bridge_sends.retain(|(to, f)| {
                    if *to == id {
                        send.push(f.clone());
                    }
                    *to != id
                });
                let close = self.bridge_closes.iter().position(|(to, ..)| *to == id).map(|i| {
                    let (_, code, reason) = self.bridge_closes.remove(i);
                    (code, reason)
                });
                BridgeReply { send, close }
            }
            Err(r) => {
                self.bridge_closed_at(id, now);
                let frame = refusal_frame(r.code, r.reason, now.unix_us, 0);
                BridgeReply { send: vec![frame], close: Some((r.code.code(), r.code.reason().into())) }
            }
        }
    }

    /// Carries out the publisher's decisions: frames and closes for the next drain.
    fn carry_out(&mut self, decisions: Vec<Decision>, now: Now) {
        for d in decisions {
            match d {
                Decision::Own(id) => {
                    if let Some(s) = self.bridges.get(&id) {
                        self.bridge_sends.push((id, s.welcome(&self.hub)));
                    }
                }
                Decision::Ping(id) => self.bridge_sends.push((id, r#"{"type":"ping"}"#.to_owned())),
                Decision::Refuse(id) => {
                    let code = CloseCode::ConnectionLimit;
                    let why = "this tenant already has a live bridge";
                    self.bridge_sends.push((id, refusal_frame(code, why, now.unix_us, 0)));
                    self.bridge_closes.push((id, code.code(), code.reason().into()));
                    if let Some(mut s) = self.bridges.remove(&id) {
                        s.on_closed(&mut self.hub, false);
                    }
                }
                Decision::Replace(id) => {
                    self.bridge_closes.push((id, 1001, "replaced by a newer bridge".into()));
                    if let Some(mut s) = self.bridges.remove(&id) {
                        s.on_closed(&mut self.hub, false);
                    }
                }
            }
        }
    }

    /// A binary frame from bridge socket `id`: refused.
    pub fn bridge_binary(&mut self, id: ConnId) -> BridgeReply {
        let r = self.bridges.get_mut(&id).map(|s| s.on_binary());
        self.bridge_closed(id);
        let r = r.map_or(CloseCode::UnsupportedData.code(), |r| r.code.code());
        BridgeReply { send: vec![], close: Some((r, "the bridge protocol is text".into())) }
    }

    /// Bridge socket `id` is gone.
    pub fn bridge_closed(&mut self, id: ConnId) {
        self.bridge_closed_at(id, Now { mono_ms: 0, unix_us: 0 });
    }

    fn bridge_closed_at(&mut self, id: ConnId, now: Now) {
        if let Some(mut s) = self.bridges.remove(&id) {
            let owned = self.publisher.owner() == Some(id);
            s.on_closed(&mut self.hub, owned);
        }
        // (only `Own` can follow a close: no refusal needs the time)
        let decisions = self.publisher.on_closed(id);
        self.carry_out(decisions, now);
    }

    /// What bridge socket `id` must keep while the object sleeps.
    pub fn bridge_state(&self, id: ConnId) -> Option<BridgeState> {
        let (tenant, exp) = self.bridges.get(&id)?.identity()?;
        Some(BridgeState { tenant: tenant.to_owned(), exp })
    }

    /// Re-creates a bridge session after the object woke up.
    pub fn restore_bridge(&mut self, id: ConnId, st: Option<BridgeState>, now: Now) {
        let max_orders = self.hub.config().max_orders;
        let s = match st {
            Some(st) if st.tenant == self.tenant => {
                self.bridges.insert(id, BridgeSession::resumed(st.tenant, st.exp, max_orders, now));
                let decisions = self.publisher.restore(id, now.mono_ms);
                self.carry_out(decisions, now);
                return;
            }
            Some(_) => {
                self.bridge_closes.push((id, CloseCode::Forbidden.code(), "token is for another tenant".into()));
                return;
            }
            // it had not said hello yet: it has the rest of a deadline from now
            None => BridgeSession::new(Some(self.tenant.clone()), self.hub.config().auth_deadline_ms, max_orders, now),
        };
        self.bridges.insert(id, s);
    }

    // ----- storage -----

    /// The rows that changed since the last call, for the host to store; `None`:
    /// nothing changed.
    pub fn take_rows(&mut self) -> Option<Rows> {
        self.hub.take_changes().map(Rows::from)
    }

    /// The host has made the stream durable up to `(epoch, seq)` (the position of the
    /// changes it stored): the `ack` for each bridge, as `(socket, frame)`.
    pub fn stored(&mut self, epoch: &str, seq: u64) -> Vec<(ConnId, String)> {
        let now = Now { mono_ms: 0, unix_us: 0 }; // the edge acks at once: no interval, no clock needed
        self.bridges.iter_mut().filter_map(|(id, s)| s.stored(epoch, seq, now).map(|a| (*id, a))).collect()
    }

    /// Starts reading a stored stream back (after the object was evicted).
    pub fn restore_begin(&mut self, epoch: String, seq: u64, source_connected: bool) {
        self.restoring = Some(StreamState { epoch, seq, source_connected, ..StreamState::default() });
    }

    pub fn restore_event(&mut self, json: String) {
        if let Some(r) = &mut self.restoring {
            r.events.push(json);
        }
    }

    pub fn restore_order(&mut self, json: &str) {
        if let (Some(r), Ok(o)) = (&mut self.restoring, serde_json::from_str::<OrderData>(json)) {
            r.orders.push(o);
        }
    }

    pub fn restore_account(&mut self, json: &str) {
        if let (Some(r), Ok(a)) = (&mut self.restoring, serde_json::from_str::<AccountState>(json)) {
            r.accounts.push(a);
        }
    }

    /// The stream is read back: the hub continues from it.
    pub fn restore_end(&mut self) {
        if let Some(st) = self.restoring.take() {
            self.hub.restore_stream(st);
        }
    }

    pub fn session_state(&self, id: ConnId) -> Option<SessionState> {
        self.hub.session_state(id)
    }

    pub fn restore_session(&mut self, id: ConnId, st: SessionState, now: Now) {
        self.hub.restore_session(id, st, now);
    }

    // ----- time -----

    /// When [`EdgeRelay::sweep`] must run next (the clock's ms), or `None`: then the
    /// object may sleep with no alarm.
    pub fn deadline(&self, now: Now) -> Option<u64> {
        let bridges = self.bridges.values().filter_map(|b| b.poll_timeout());
        self.hub.poll_timeout(now).into_iter().chain(bridges).chain(self.publisher.poll_timeout()).min()
    }

    /// True (once) when an input since the last call made some deadline earlier than
    /// [`EdgeRelay::deadline`] last said (a client connected or was given a token): the
    /// host asks for the deadline again then, and only then (it scans every client).
    pub fn take_deadline_moved(&mut self) -> bool {
        self.hub.take_deadline_moved()
    }

    /// Runs what is due: auth deadlines, token expiries (clients' and the bridge's).
    pub fn sweep(&mut self, now: Now) {
        self.hub.handle_timeout(now);
        let mut ended = Vec::new();
        for (id, s) in self.bridges.iter_mut() {
            if let Some(r) = s.handle_timeout(now) {
                ended.push((*id, r.code.code(), r.reason.to_owned()));
            }
        }
        for (id, code, reason) in ended {
            self.bridge_closed(id);
            self.bridge_closes.push((id, code, reason));
        }
        let decisions = self.publisher.handle_timeout(now.mono_ms);
        self.carry_out(decisions, now);
    }

    /// Everything the host must send and close now, each distinct frame once.
    pub fn drain(&mut self) -> Batch {
        let mut batch = Batch::default();
        let mut index: HashMap<*const u8, u64> = HashMap::new();
        let mut frames: Vec<Frame> = Vec::new();
        let mut place = |batch: &mut Batch, f: Frame| -> u64 {
            *index.entry(f.as_ptr()).or_insert_with(|| {
                batch.frames.push(f);
                batch.frames.len() as u64 - 1
            })
        };
        while let Some(o) = self.hub.poll_output() {
            match o {
                Output::Wake(id) => {
                    frames.clear();
                    self.hub.take_frames(id, &mut frames);
                    if frames.is_empty() {
                        continue;
                    }
                    let mut row = Vec::with_capacity(frames.len() + 1);
                    row.push(id);
                    for f in frames.drain(..) {
                        row.push(place(&mut batch, f));
                    }
                    batch.sends.push(row);
                }
                Output::Ping(_) => {}
                Output::Close { id, code, frames } => {
                    if !frames.is_empty() {
                        let mut row = vec![id];
                        for f in frames {
                            row.push(place(&mut batch, f));
                        }
                        batch.sends.push(row);
                    }
                    batch.closes.push((id, code.code(), code.reason().to_owned()));
                }
            }
        }
        for (id, f) in std::mem::take(&mut self.bridge_sends) {
            let i = place(&mut batch, f.into());
            batch.sends.push(vec![id, i]);
        }
        batch.closes.append(&mut self.bridge_closes);
        batch
    }
}
