//! A bridge's connection to the relay (`/bridge/ws`).
//!
//! The bridge must say `hello` with a `bridge`-role token within the auth deadline.
//! The relay answers `welcome` with the highest seq it holds for its stream, applies
//! snapshots (reassembled from parts when large), publishes events into the tenant's hub (the hub drops duplicates by seq,
//! which makes the bridge's resends harmless) and acknowledges what it stored. A newer
//! connection for the same tenant replaces an older one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ibws_shared::auth::{Role, TokenVerifier};
use ibws_shared::hub::StampedEvent;
use ibws_shared::protocol::{BridgeFrame, CloseCode, RelayFrame, SnapshotAssembler};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{info, warn};

use crate::clock;
use crate::server::{auth_close, ws, BoxedIo, TenantMap};

/// Which connection currently owns each tenant's stream.
#[derive(Default)]
pub struct Owners {
    gens: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Owners {
    /// Claims the tenant; the receiver changes when a newer connection claims it.
    fn claim(&self, tenant: &str) -> (u64, watch::Receiver<u64>) {
        let mut g = self.gens.lock().unwrap_or_else(|p| p.into_inner());
        let tx = g.entry(tenant.to_owned()).or_insert_with(|| watch::channel(0).0);
        let mut gen = 0;
        tx.send_modify(|v| {
            *v += 1;
            gen = *v;
        });
        let mut rx = tx.subscribe();
        rx.borrow_and_update();
        (gen, rx)
    }

    fn owns(&self, tenant: &str, gen: u64) -> bool {
        self.gens.lock().unwrap_or_else(|p| p.into_inner()).get(tenant).is_some_and(|t| *t.borrow() == gen)
    }
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
    let hub = tenants.get_or_create(&tenant);
    let (gen, mut replaced) = owners.claim(&tenant);
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
