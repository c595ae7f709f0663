//! One chaos client: a relay client that checks the stream promise on every frame.
//!
//! It authenticates, subscribes to every type, takes a snapshot, then applies every
//! event on top of it. Each event must be the next seq of its epoch; anything else is
//! counted (lost, duplicated), never hidden. A `resume` with `recovered: false` (or a
//! new epoch announced that way) sends it back to a fresh snapshot. When its socket
//! drops it reconnects and resumes from its position. The harness can make it drop its
//! socket without a close frame, or stop reading for a while.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ibws_shared::hub::OrderTable;
use ibws_shared::protocol::{OrderData, ServerFrame};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::{Client, Next};

/// Every message type: chaos clients see the whole stream.
const ALL: [&str; 6] = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];

/// What the harness can make a client do.
#[derive(Debug, Clone, Copy)]
pub enum Command {
    /// Vanish: drop the socket without a close frame, then reconnect and resume.
    DropSocket,
    /// Stop reading for this long (the server's queue for it grows meanwhile).
    Stall(Duration),
}

/// Counters one client keeps.
#[derive(Clone, Debug, Default)]
pub struct ClientStats {
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub resumes_recovered: u64,
    pub resumes_refused: u64,
    pub snapshots: u64,
    pub reconnects: u64,
    /// Close codes the server sent, by code.
    pub closes: BTreeMap<u16, u64>,
}

/// A client's view of the stream, shared with the harness.
#[derive(Default)]
pub struct ClientView {
    /// Epoch and seq of the last event applied (or of the snapshot).
    pub pos: Option<(String, u64)>,
    pub awaiting_snapshot: bool,
    pub connected: bool,
    pub orders: Option<OrderTable>,
    pub stats: ClientStats,
}

impl ClientView {
    /// perm id -> (status, filled, remaining): what the harness compares with the truth.
    pub fn table(&self) -> BTreeMap<i64, (String, f64, f64)> {
        self.orders.as_ref().map(|t| order_rows(t.rows().into_iter())).unwrap_or_default()
    }
}

/// The comparable part of order rows.
pub fn order_rows<'a>(rows: impl Iterator<Item = &'a OrderData>) -> BTreeMap<i64, (String, f64, f64)> {
    rows.filter_map(|o| {
        let perm = o.perm_id?;
        Some((perm, (o.status.clone(), o.filled.map_or(0.0, |n| n.0), o.remaining.map_or(0.0, |n| n.0))))
    })
    .collect()
}

/// Where and how a client connects.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    /// The CA to trust for `wss://`.
    pub ca_pem: Option<String>,
    pub token: String,
}

/// The handle the harness keeps.
pub struct ClientHandle {
    pub view: Arc<Mutex<ClientView>>,
    pub commands: mpsc::UnboundedSender<Command>,
}

/// Starts a client task; it runs until `stop` turns true.
pub fn spawn(target: Target, stop: watch::Receiver<bool>) -> ClientHandle {
    let view = Arc::new(Mutex::new(ClientView::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(target, view.clone(), rx, stop));
    ClientHandle { view, commands: tx }
}

fn lock(v: &Mutex<ClientView>) -> std::sync::MutexGuard<'_, ClientView> {
    v.lock().unwrap_or_else(|p| p.into_inner())
}

async fn connect(t: &Target) -> Option<Client> {
    let fut = async {
        match &t.ca_pem {
            Some(ca) => Client::connect_tls(&t.url, ca, &[]).await.ok(),
            None => tokio_tungstenite::connect_async(t.url.as_str()).await.ok().map(|(ws, _)| Client::from_stream(ws)),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), fut).await.ok().flatten()
}

async fn run(
    target: Target,
    view: Arc<Mutex<ClientView>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut stop: watch::Receiver<bool>,
) {
    let mut first = true;
    while !*stop.borrow() {
        if !first {
            lock(&view).stats.reconnects += 1;
            let jitter = rand_ms(250);
            tokio::time::sleep(Duration::from_millis(50 + jitter)).await;
        }
        first = false;
        let Some(mut c) = connect(&target).await else { continue };
        // Resume from a position when it has one and is not waiting for a snapshot.
        let resume = {
            let v = lock(&view);
            v.pos.clone().filter(|_| !v.awaiting_snapshot)
        };
        let mut ok = c.try_send(json!({"type": "auth", "token": target.token})).await;
        ok = ok
            && match &resume {
                Some((e, s)) => {
                    c.try_send(json!({"type": "subscribe", "message_types": ALL, "epoch": e, "since": s})).await
                }
                None => {
                    lock(&view).awaiting_snapshot = true;
                    c.try_send(json!({"type": "subscribe", "message_types": ALL})).await
                        && c.try_send(json!({"type": "get_orders"})).await
                }
            };
        if !ok {
            continue;
        }
        lock(&view).connected = true;
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() {
                        lock(&view).connected = false;
                        return;
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::DropSocket) | None => break,
                    Some(Command::Stall(d)) => tokio::time::sleep(d).await,
                },
                next = c.next_frame(Duration::from_millis(500)) => match next {
                    Next::Frame(v) => {
                        let reply = on_frame(&view, &v);
                        if reply && !c.try_send(json!({"type": "get_orders"})).await {
                            break;
                        }
                    }
                    Next::Closed(code) => {
                        if let Some(code) = code {
                            *lock(&view).stats.closes.entry(code).or_default() += 1;
                        }
                        break;
                    }
                    // Silence alone does not mean a dead socket; probe it.
                    Next::Silent => {
                        if !c.try_send(json!({"type": "ping"})).await {
                            break;
                        }
                    }
                },
            }
        }
        lock(&view).connected = false;
        // Dropped here without a close frame: the server sees the socket vanish.
        drop(c);
    }
}

/// Applies one frame; true when the client must ask for a fresh snapshot.
fn on_frame(view: &Mutex<ClientView>, v: &Value) -> bool {
    let mut g = lock(view);
    let g = &mut *g;
    match v["type"].as_str().unwrap_or("") {
        "orders_response" => {
            let (Some(epoch), Some(seq)) = (v["epoch"].as_str(), v["seq"].as_u64()) else {
                return false;
            };
            let rows: Vec<OrderData> = serde_json::from_value(v["data"].clone()).unwrap_or_default();
            let mut t = OrderTable::new(usize::MAX);
            t.replace(&rows);
            g.orders = Some(t);
            g.pos = Some((epoch.to_owned(), seq));
            g.awaiting_snapshot = false;
            g.stats.snapshots += 1;
            false
        }
        "resume" => {
            if v["recovered"] == true {
                g.stats.resumes_recovered += 1;
                // Recovered means every missed event came before this frame: the
                // client must now stand exactly at the head the server names.
                let head = (v["epoch"].as_str().unwrap_or("").to_owned(), v["seq"].as_u64().unwrap_or(0));
                if let Some(pos) = &g.pos {
                    if *pos != head && !g.awaiting_snapshot {
                        trace(|| format!("recovered resume at {head:?} while at {pos:?}"));
                        if pos.0 == head.0 && head.1 > pos.1 {
                            g.stats.lost += head.1 - pos.1;
                        } else {
                            g.stats.lost += 1;
                        }
                        g.awaiting_snapshot = true;
                        return true;
                    }
                }
                false
            } else {
                g.stats.resumes_refused += 1;
                g.awaiting_snapshot = true;
                true
            }
        }
        t if ALL.contains(&t) => {
            let (Some(epoch), Some(seq)) = (v["epoch"].as_str(), v["seq"].as_u64()) else {
                return false; // an error about a request, not an event of the stream
            };
            if g.awaiting_snapshot {
                return false; // the snapshot that is coming covers it
            }
            let Some(pos) = g.pos.as_mut() else {
                return false;
            };
            if epoch != pos.0 {
                // A new epoch without a `resume` frame: a silent discontinuity.
                trace(|| format!("lost: event {epoch}:{seq} while at {pos:?}"));
                g.stats.lost += 1;
                g.awaiting_snapshot = true;
                return true;
            }
            if seq <= pos.1 {
                trace(|| format!("duplicate: event {epoch}:{seq} while at {pos:?}"));
                g.stats.duplicated += 1;
                return false;
            }
            if seq > pos.1 + 1 {
                trace(|| format!("gap: event {epoch}:{seq} while at {pos:?}"));
                g.stats.lost += seq - pos.1 - 1;
            }
            pos.1 = seq;
            g.stats.delivered += 1;
            // a client keeps each order's row as its `order_update` gives it
            if let Ok(ServerFrame::OrderUpdate(u)) = serde_json::from_value::<ServerFrame>(v.clone()) {
                if let Some(t) = g.orders.as_mut() {
                    t.put(&u.data);
                }
            }
            false
        }
        // replies: connection (its epoch and seq say where the stream stands, not an
        // event), subscription, pong
        _ => false,
    }
}

/// With `IBWS_CHAOS_TRACE` set, prints what a client saw when it counted a fault.
fn trace(f: impl FnOnce() -> String) {
    if std::env::var_os("IBWS_CHAOS_TRACE").is_some() {
        eprintln!("  trace: {}", f());
    }
}

/// A few random milliseconds, for reconnect jitter.
pub fn rand_ms(max: u64) -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    u64::from(nanos) % max.max(1)
}
