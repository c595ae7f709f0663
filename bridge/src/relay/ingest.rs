//! A bridge's connection to the relay (`/bridge/ws`): the tokio driver of
//! [`BridgeSession`] (hello, welcome, snapshots, publishing, acks, token expiry, all
//! decided in `ibws_shared::relay`, the same code the edge relay runs).
//!
//! One bridge owns a tenant's stream at a time. A second connection with a valid
//! bridge token takes over only if the current one fails a liveness check (a ping it
//! must answer within [`LIVENESS_TIMEOUT`]): a restarted bridge whose old socket is
//! half-open gets through, while a second live publisher (a misconfiguration, or a
//! stolen bridge token) is refused with 4503 instead of the two displacing each other.
//! Every takeover and every refusal is logged with both addresses and counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ibws_shared::auth::TokenVerifier;
use ibws_shared::protocol::CloseCode;
use ibws_shared::relay::bridge_session::Applied;
use ibws_shared::relay::{BridgeSession, Refusal};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{info, warn};

use crate::clock;
use crate::server::{bridge_refusal, BoxedIo, Status, TenantMap};

/// How long the current bridge has to answer a liveness ping before a newcomer may
/// take its tenant over.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(3);

/// A liveness question to the current owner: answered when it shows a sign of life.
type Probe = oneshot::Sender<()>;

struct Owner {
    gen: watch::Sender<u64>,
    ip: Option<IpAddr>,
    probe: Option<mpsc::Sender<Probe>>,
}

/// Which connection currently owns each tenant's stream.
#[derive(Default)]
pub struct Owners {
    owners: Mutex<HashMap<String, Owner>>,
}

impl Owners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Owner>> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current owner's address and liveness channel, if the tenant has one.
    fn current(&self, tenant: &str) -> Option<(Option<IpAddr>, mpsc::Sender<Probe>)> {
        self.lock().get(tenant).and_then(|o| o.probe.clone().map(|p| (o.ip, p)))
    }

    /// Claims the tenant; the receiver changes when a newer connection claims it.
    fn claim(&self, tenant: &str, ip: IpAddr, probe: mpsc::Sender<Probe>) -> (u64, watch::Receiver<u64>) {
        let mut g = self.lock();
        let o = g.entry(tenant.to_owned()).or_insert_with(|| Owner { gen: watch::channel(0).0, ip: None, probe: None });
        let mut gen = 0;
        o.gen.send_modify(|v| {
            *v += 1;
            gen = *v;
        });
        o.ip = Some(ip);
        o.probe = Some(probe);
        let mut rx = o.gen.subscribe();
        rx.borrow_and_update();
        (gen, rx)
    }

    fn owns(&self, tenant: &str, gen: u64) -> bool {
        self.lock().get(tenant).is_some_and(|o| *o.gen.borrow() == gen)
    }
}

/// Asks the current owner whether it is alive; false when it does not answer in time
/// (or is already gone).
async fn alive(probe: mpsc::Sender<Probe>) -> bool {
    let (tx, rx) = oneshot::channel();
    if probe.send(tx).await.is_err() {
        return false;
    }
    matches!(tokio::time::timeout(LIVENESS_TIMEOUT, rx).await, Ok(Ok(())))
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
    let mut session = BridgeSession::new(None, auth_deadline.as_millis() as u64, max_orders, clock::now());
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
    if let Some((current_ip, probe)) = owners.current(&tenant) {
        let current = current_ip.map(|a| a.to_string()).unwrap_or_default();
        if alive(probe).await {
            status.bridges_refused.fetch_add(1, Ordering::Relaxed);
            warn!(%tenant, %current, newcomer = %ip, "second bridge refused: the tenant's bridge is alive");
            bridge_refusal::close_with(
                &mut ws,
                CloseCode::ConnectionLimit,
                Some("this tenant already has a live bridge"),
            )
            .await;
            return;
        }
        status.bridge_takeovers.fetch_add(1, Ordering::Relaxed);
        warn!(%tenant, previous = %current, newcomer = %ip, "bridge takeover: the previous bridge failed its liveness check");
    }
    let hub = tenants.get_or_create(&tenant);
    let (probe_tx, mut probes) = mpsc::channel::<Probe>(4);
    let (gen, mut replaced) = owners.claim(&tenant, ip, probe_tx);
    let mut pending_probe: Option<Probe> = None;
    let (welcome, epoch, seq) = hub.with(|h| (session.welcome(h), h.position().0.to_owned(), h.position().1));
    info!(%tenant, %ip, bridge_epoch = %hello.epoch, bridge_seq = hello.seq, relay_epoch = %epoch, relay_seq = seq, "bridge connected");
    if ws.send(text(welcome)).await.is_err() {
        hub.with(|h| session.on_closed(h, owners.owns(&tenant, gen)));
        return;
    }

    // The native relay's storage is its memory: what the hub holds is stored, and is
    // acknowledged every 50 ms.
    let mut ack_timer = tokio::time::interval(Duration::from_millis(50));
    loop {
        let deadline = session.poll_timeout().map(clock::instant_at).unwrap_or_else(clock::far_future);
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
                    if let Some(p) = pending_probe.take() {
                        let _ = p.send(()); // any frame is a sign of life
                    }
                }
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        let (applied, held) = hub.with(|h| (session.on_text(t.as_str(), h, now), h.held_bytes()));
                        tenants.note_held(&tenant, held);
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
            _ = ack_timer.tick() => {
                let ack = hub.with(|h| {
                    let (e, s) = h.position();
                    session.ack(e, s)
                });
                if let Some(a) = ack {
                    if ws.send(text(a)).await.is_err() {
                        break;
                    }
                }
            }
            Some(p) = probes.recv() => {
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
                pending_probe = Some(p);
            }
            _ = replaced.changed() => {
                info!(%tenant, "bridge connection replaced by a newer one");
                bridge_refusal::close_with(&mut ws, CloseCode::GoingAway, None).await;
                hub.with(|h| session.on_closed(h, false));
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if let Some(r) = session.handle_timeout(clock::now()) {
                    refuse(&mut ws, r).await;
                    break;
                }
            }
        }
    }
    let owned = owners.owns(&tenant, gen);
    hub.with(|h| session.on_closed(h, owned));
    if owned {
        info!(%tenant, "bridge disconnected");
    }
}
