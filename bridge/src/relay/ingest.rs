//! A bridge's connection to the relay (`/bridge/ws`): the tokio driver of
//! [`BridgeSession`] (hello, welcome, snapshots, publishing, acks, token expiry, all
//! decided in `ibws_shared::relay`, the same code the edge relay runs).
//!
//! One bridge owns a tenant's stream at a time, as `ibws_shared::relay::publisher`
//! decides (the edge relay runs the same [`Publisher`]): a newcomer takes over only
//! from an owner that fails a liveness check. This driver carries out its decisions:
//! it asks the owner for a sign of life (a WebSocket ping and the protocol's `ping`;
//! any frame that comes back counts), refuses a newcomer with 4503, closes a replaced
//! owner with 1001, logs both addresses and counts each takeover and refusal.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ibws_shared::auth::TokenVerifier;
use ibws_shared::protocol::CloseCode;
use ibws_shared::relay::bridge_session::Applied;
use ibws_shared::relay::bridge_session::MEMORY_ACK_INTERVAL_MS;
use ibws_shared::relay::publisher::{Conn, Decision, Publisher};
use ibws_shared::relay::{BridgeSession, Refusal};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{info, warn};

use crate::clock;
use crate::server::{bridge_refusal, BoxedIo, Status, TenantMap};

/// One tenant's publisher and the connections that said `hello` for it.
#[derive(Default)]
struct TenantBridges {
    publisher: Publisher,
    conns: HashMap<Conn, (IpAddr, mpsc::UnboundedSender<Decision>)>,
}

type Shared = Arc<Mutex<TenantBridges>>;

fn lock(t: &Shared) -> std::sync::MutexGuard<'_, TenantBridges> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every tenant's [`Publisher`], and a way to each bridge connection's task. Each
/// tenant has its own lock (a bridge's frames touch only its tenant's); the map's lock
/// is taken only when a connection says `hello` or ends.
#[derive(Default)]
pub struct Owners {
    tenants: Mutex<HashMap<String, Shared>>,
    next: AtomicU64,
}

impl Owners {
    /// A connection said `hello` for `tenant`: its number, its tenant's state, and
    /// where its decisions come.
    fn hello(&self, tenant: &str, ip: IpAddr, status: &Status) -> (Conn, Shared, mpsc::UnboundedReceiver<Decision>) {
        let conn = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = {
            let mut g = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
            let t = g.entry(tenant.to_owned()).or_default().clone();
            lock(&t).conns.insert(conn, (ip, tx));
            t
        };
        decide(&shared, tenant, status, |p| p.on_hello(conn, clock::now().mono_ms));
        (conn, shared, rx)
    }

    /// The connection ended; a tenant with no connection left is forgotten.
    fn closed(&self, tenant: &str, shared: &Shared, conn: Conn, status: &Status) {
        let mut g = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        lock(shared).conns.remove(&conn);
        decide(shared, tenant, status, |p| p.on_closed(conn));
        let t = lock(shared);
        if t.conns.is_empty() && t.publisher.owner().is_none() {
            drop(t);
            g.remove(tenant);
        }
    }
}

/// Runs `f` on the tenant's publisher and hands each decision to the connection it is
/// for (logging and counting takeovers and refusals).
fn decide(shared: &Shared, tenant: &str, status: &Status, f: impl FnOnce(&mut Publisher) -> Vec<Decision>) {
    let mut t = lock(shared);
    let decisions = f(&mut t.publisher);
    let ip_of = |t: &TenantBridges, c: Option<Conn>| {
        c.and_then(|c| t.conns.get(&c)).map(|c| c.0.to_string()).unwrap_or_default()
    };
    for d in decisions {
        let conn = match d {
            Decision::Own(c) | Decision::Ping(c) => c,
            Decision::Refuse(c) => {
                status.bridges_refused.fetch_add(1, Ordering::Relaxed);
                let (current, newcomer) = (ip_of(&t, t.publisher.owner()), ip_of(&t, Some(c)));
                warn!(%tenant, %current, %newcomer, "second bridge refused: the tenant's bridge is alive");
                c
            }
            Decision::Replace(c) => {
                status.bridge_takeovers.fetch_add(1, Ordering::Relaxed);
                let (previous, newcomer) = (ip_of(&t, Some(c)), ip_of(&t, t.publisher.owner()));
                warn!(%tenant, %previous, %newcomer, "bridge takeover: the previous bridge failed its liveness check");
                c
            }
        };
        if let Some((_, tx)) = t.conns.get(&conn) {
            let _ = tx.send(d);
        }
    }
}

fn text(t: String) -> Message {
    Message::Text(t.into())
}

async fn refuse(ws: &mut WebSocketStream<BoxedIo>, r: Refusal) {
    bridge_refusal::close_with(ws, r.code, Some(r.reason)).await;
}

/// Serves one bridge connection. Every decision about it is [`BridgeSession`]'s (the
/// edge relay runs the same code); this function moves frames, runs the timers and
/// settles which connection owns a tenant.
pub async fn run(
    mut ws: WebSocketStream<BoxedIo>,
    ip: IpAddr,
    tenants: TenantMap,
    verifier: Arc<dyn TokenVerifier>,
    owners: Arc<Owners>,
    status: Arc<Status>,
    auth_deadline: Duration,
    max_orders: usize,
) {
    let mut session = BridgeSession::new(None, auth_deadline.as_millis() as u64, max_orders, clock::now())
        .with_ack_interval(MEMORY_ACK_INTERVAL_MS);
    // hello
    let first = tokio::time::timeout(auth_deadline, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return Some(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let hello = match first {
        Some(t) => session.on_hello(t.as_str(), verifier.as_ref(), clock::now()),
        None => Err(session
            .handle_timeout(clock::now())
            .unwrap_or(Refusal { code: CloseCode::AuthRequired, reason: "send hello with a bridge token first" })),
    };
    let hello = match hello {
        Ok(h) => h,
        Err(r) => return refuse(&mut ws, r).await,
    };
    let tenant = hello.tenant.clone();
    let hub = tenants.get_or_create(&tenant);
    let (conn, shared, mut decisions) = owners.hello(&tenant, ip, &status);
    let mut owner = false;
    info!(%tenant, %ip, bridge_epoch = %hello.epoch, bridge_seq = hello.seq, "bridge said hello");
    // what the hello decided (owning the tenant, most often) applies before any frame
    // read behind it
    while let Ok(d) = decisions.try_recv() {
        if !carry_out(d, &mut ws, &hub, &session, &tenant, ip, &mut owner).await {
            let owned = owner && lock(&shared).publisher.owner() == Some(conn);
            hub.with(|h| session.on_closed(h, owned));
            owners.closed(&tenant, &shared, conn, &status);
            return;
        }
    }

    loop {
        let deadline = [session.poll_timeout(), lock(&shared).publisher.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .map(clock::instant_at)
            .unwrap_or_else(clock::far_future);
        tokio::select! {
            msg = ws.next() => {
                // A frame already in the socket's read buffer is ready without touching
                // the socket, so a bridge that publishes as fast as it can would keep
                // this task running and its worker from every other tenant's tasks
                // (and from accepting connections). Each frame spends a unit of the
                // task's cooperative budget: after a bounded batch it yields.
                tokio::task::consume_budget().await;
                let now = clock::now();
                if msg.as_ref().is_some_and(|m| m.is_ok()) {
                    // any frame is a sign of life
                    decide(&shared, &tenant, &status, |p| p.on_sign_of_life(conn));
                }
                match msg {
                    // a bridge that does not own the stream (it waits for the owner's
                    // liveness check) is applied to nothing
                    Some(Ok(Message::Text(_))) if !owner => {}
                    Some(Ok(Message::Text(t))) => {
                        // this relay's storage is its memory: what the hub holds is stored
                        let (applied, held, ack) = hub.with(|h| {
                            let applied = session.on_text(t.as_str(), h, now);
                            let (e, s) = h.position();
                            (applied, h.held_bytes(), session.stored(e, s, now))
                        });
                        tenants.note_held(&tenant, held);
                        if let Some(a) = ack {
                            if ws.send(text(a)).await.is_err() {
                                break;
                            }
                        }
                        match applied {
                            Ok(Applied::Ignored(why)) => warn!(%tenant, "bridge frame ignored: {why}"),
                            Ok(_) => {}
                            Err(r) => {
                                warn!(%tenant, code = r.code.code(), "bridge session ended: {}", r.reason);
                                refuse(&mut ws, r).await;
                                break;
                            }
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Binary(_))) => {
                        refuse(&mut ws, session.on_binary()).await;
                        break;
                    }
                    _ => break,
                }
            }
            Some(d) = decisions.recv() => {
                if !carry_out(d, &mut ws, &hub, &session, &tenant, ip, &mut owner).await {
                    break;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let now = clock::now();
                decide(&shared, &tenant, &status, |p| p.handle_timeout(now.mono_ms));
                if let Some(r) = session.handle_timeout(now) {
                    refuse(&mut ws, r).await;
                    break;
                }
                if let Some(a) = session.poll_ack(now) {
                    if ws.send(text(a)).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    let owned = owner && lock(&shared).publisher.owner() == Some(conn);
    hub.with(|h| session.on_closed(h, owned));
    owners.closed(&tenant, &shared, conn, &status);
    if owned {
        info!(%tenant, "bridge disconnected");
    }
}

/// Carries out one of the publisher's decisions on this connection; false when the
/// connection ends.
async fn carry_out(
    d: Decision,
    ws: &mut WebSocketStream<BoxedIo>,
    hub: &crate::server::SharedHub,
    session: &BridgeSession,
    tenant: &str,
    ip: IpAddr,
    owner: &mut bool,
) -> bool {
    match d {
        Decision::Own(_) => {
            *owner = true;
            let (welcome, epoch, seq) = hub.with(|h| (session.welcome(h), h.position().0.to_owned(), h.position().1));
            info!(%tenant, %ip, relay_epoch = %epoch, relay_seq = seq, "bridge connected");
            ws.send(text(welcome)).await.is_ok()
        }
        Decision::Ping(_) => {
            let ping = text(r#"{"type":"ping"}"#.to_owned());
            ws.send(Message::Ping(Default::default())).await.is_ok() && ws.send(ping).await.is_ok()
        }
        Decision::Refuse(_) => {
            bridge_refusal::close_with(ws, CloseCode::ConnectionLimit, Some("this tenant already has a live bridge"))
                .await;
            false
        }
        Decision::Replace(_) => {
            info!(%tenant, "bridge connection replaced by a newer one");
            bridge_refusal::close_with(ws, CloseCode::GoingAway, None).await;
            *owner = false;
            false
        }
    }
}
