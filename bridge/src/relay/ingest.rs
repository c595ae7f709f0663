//! A bridge's connection to the relay (`/bridge/ws`).
//!
//! The bridge must say `hello` with a `bridge`-role token within the auth deadline.
//! The relay answers `welcome` with the highest seq it holds for its stream, applies
//! snapshots (reassembled from parts when large), publishes events into the tenant's
//! hub (the hub drops duplicates by seq, which makes the bridge's resends harmless)
//! and acknowledges what it stored.
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
use ibws_shared::auth::{Role, TokenVerifier};
use ibws_shared::hub::StampedEvent;
use ibws_shared::protocol::{BridgeFrame, CloseCode, RelayFrame, SnapshotAssembler};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{info, warn};

use crate::clock;
use crate::server::{auth_close, ws, BoxedIo, Status, TenantMap};

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

fn send_frame(f: &RelayFrame) -> Message {
    Message::Text(serde_json::to_string(f).expect("relay frames serialize").into())
}

/// Serves one bridge connection.
pub async fn run(
    mut ws: WebSocketStream<BoxedIo>,
    ip: IpAddr,
    tenants: TenantMap,
    verifier: Arc<dyn TokenVerifier>,
    owners: Arc<Owners>,
    status: Arc<Status>,
    auth_deadline: Duration,
) {
    // hello
    let hello = tokio::time::timeout(auth_deadline, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str::<BridgeFrame>(t.as_str()).ok(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let Some(BridgeFrame::Hello { token, epoch: bridge_epoch, seq: bridge_seq, .. }) = hello else {
        ws::close_with(&mut ws, CloseCode::AuthRequired, Some("send hello with a bridge token first")).await;
        return;
    };
    let claims = match verifier.verify(&token, (clock::now().unix_us / 1_000_000) as u64) {
        Ok(c) if c.role == Role::Bridge => c,
        Ok(_) => {
            ws::close_with(&mut ws, CloseCode::Forbidden, Some("token role is not bridge")).await;
            return;
        }
        Err(e) => {
            ws::close_with(&mut ws, auth_close(e), Some("authentication failed")).await;
            return;
        }
    };
    let tenant = claims.tenant.clone();
    if let Some((current_ip, probe)) = owners.current(&tenant) {
        let current = current_ip.map(|a| a.to_string()).unwrap_or_default();
        if alive(probe).await {
            status.bridges_refused.fetch_add(1, Ordering::Relaxed);
            warn!(%tenant, %current, newcomer = %ip, "second bridge refused: the tenant's bridge is alive");
            ws::close_with(&mut ws, CloseCode::ConnectionLimit, Some("this tenant already has a live bridge")).await;
            return;
        }
        status.bridge_takeovers.fetch_add(1, Ordering::Relaxed);
        warn!(%tenant, previous = %current, newcomer = %ip, "bridge takeover: the previous bridge failed its liveness check");
    }
    let hub = tenants.get_or_create(&tenant);
    let (probe_tx, mut probes) = mpsc::channel::<Probe>(4);
    let (gen, mut replaced) = owners.claim(&tenant, ip, probe_tx);
    let mut pending_probe: Option<Probe> = None;
    let (epoch, seq) = hub.with(|h| (h.position().0.to_owned(), h.position().1));
    info!(%tenant, %ip, %bridge_epoch, bridge_seq, relay_epoch = %epoch, relay_seq = seq, "bridge connected");
    if ws.send(send_frame(&RelayFrame::Welcome { tenant: tenant.clone(), epoch, seq })).await.is_err() {
        return;
    }

    let mut parts = SnapshotAssembler::new(hub.with(|h| h.config().max_orders) + 10_000);
    let mut ack_timer = tokio::time::interval(Duration::from_millis(50));
    let mut acked: Option<(String, u64)> = None;
    let expires_in = Duration::from_secs(claims.exp.saturating_sub((clock::now().unix_us / 1_000_000) as u64));
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            msg = ws.next() => {
                let now = clock::now();
                if msg.as_ref().is_some_and(|m| m.is_ok()) {
                    if let Some(p) = pending_probe.take() {
                        let _ = p.send(()); // any frame is a sign of life
                    }
                }
                match msg {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<BridgeFrame>(t.as_str()) {
                        Ok(BridgeFrame::Publish { event }) => match StampedEvent::new(*event) {
                            Some(ev) => {
                                hub.with(|h| h.publish(ev, now));
                            }
                            None => warn!(%tenant, "bridge published an event without a stream position"),
                        },
                        Ok(BridgeFrame::Snapshot(s)) => hub.with(|h| h.apply_snapshot(&s, now)),
                        Ok(BridgeFrame::SnapshotPart(p)) => match parts.push(p) {
                            Ok(Some(s)) => hub.with(|h| h.apply_snapshot(&s, now)),
                            Ok(None) => {}
                            Err(_) => {
                                warn!(%tenant, "bridge snapshot larger than the order table; refused");
                                ws::close_with(&mut ws, CloseCode::MessageTooBig, None).await;
                                break;
                            }
                        },
                        Ok(BridgeFrame::Source { connected }) => hub.with(|h| h.set_source_connected(connected)),
                        Ok(BridgeFrame::Hello { .. }) => {}
                        Err(_) => warn!(%tenant, "unreadable frame from bridge"),
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Binary(_))) => {
                        ws::close_with(&mut ws, CloseCode::UnsupportedData, None).await;
                        break;
                    }
                    _ => break,
                }
            }
            _ = ack_timer.tick() => {
                let pos = hub.with(|h| (h.position().0.to_owned(), h.position().1));
                if acked.as_ref() != Some(&pos) {
                    if ws.send(send_frame(&RelayFrame::Ack { epoch: pos.0.clone(), seq: pos.1 })).await.is_err() {
                        break;
                    }
                    acked = Some(pos);
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
                ws::close_with(&mut ws, CloseCode::GoingAway, None).await;
                return;
            }
            _ = &mut expiry => {
                ws::close_with(&mut ws, CloseCode::TokenExpired, None).await;
                break;
            }
        }
    }
    if owners.owns(&tenant, gen) {
        hub.with(|h| h.set_source_connected(false));
        info!(%tenant, "bridge disconnected");
    }
}
