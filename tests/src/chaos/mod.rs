//! The chaos harness: the whole pipeline as separate processes, with faults cycled
//! through it, checking after every cycle that no client lost or repeated an event.
//!
//! ```text
//! simulator (in this process) -> ibws bridge (process) -> cut proxy -> relay -> clients
//!                                                                     (ibws relay, or
//!                                                                      workerd + edge)
//! ```
//!
//! Each cycle lets the simulator's order flow run, injects one fault while events flow,
//! then stops the flow and waits until every client stands at the bridge's head with
//! an order table equal to the simulator's truth. The faults, in turn: kill -9 and
//! restart the relay (or `workerd`), cut the uplink, kill -9 and restart the bridge (a
//! new epoch), restart the simulator as a new TWS session, TWS connectivity lost
//! (1100) then restored (1101 / 1102), clients that vanish without a close frame, and
//! clients that stop reading for a while. Clients count every event lost or
//! duplicated (both must stay 0); a `recovered: false` followed by a fresh snapshot
//! is the honest way through a gap. The bridge's `/metrics` reports whether a relay
//! ever welcomed it below what it had acknowledged (acked, then lost).
//!
//! `ibws-chaos` (tests/src/bin) runs it from the command line; `tests/tests/chaos.rs`
//! runs a few cycles of each relay inside the test suite.

pub mod client;
pub mod proxy;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ibws_shared::auth::Role;
use ibws_tws_io::sim::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use self::client::{ClientHandle, ClientStats, Command, Target};
use self::proxy::CutProxy;
use crate::process::{wait_port, Proc};
use crate::{free_port, TestKeys, Workerd};

/// Which relay the clients read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayKind {
    /// `ibws relay` over TLS.
    Native,
    /// The edge relay under `workerd` (Durable Object storage on disk).
    Edge,
}

impl RelayKind {
    pub fn name(self) -> &'static str {
        match self {
            RelayKind::Native => "native",
            RelayKind::Edge => "edge",
        }
    }
}

/// One fault, injected while events flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    RelayKill,
    UplinkCut,
    BridgeKill,
    TwsRestart,
    Connectivity,
    ClientDrop,
    ClientStall,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::RelayKill,
        Fault::UplinkCut,
        Fault::BridgeKill,
        Fault::TwsRestart,
        Fault::Connectivity,
        Fault::ClientDrop,
        Fault::ClientStall,
    ];

    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::RelayKill => "relay_kill9",
            Fault::UplinkCut => "uplink_cut",
            Fault::BridgeKill => "bridge_kill9",
            Fault::TwsRestart => "tws_restart",
            Fault::Connectivity => "connectivity_1100",
            Fault::ClientDrop => "client_drop",
            Fault::ClientStall => "client_stall",
        }
    }
}

/// How a chaos run goes.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    pub relay: RelayKind,
    pub cycles: usize,
    /// The faults to cycle through, in turn (default: [`Fault::ALL`]).
    pub faults: Vec<Fault>,
    pub clients: usize,
    /// Interval of the simulator's random order flow.
    pub flow: Duration,
    /// How long events flow in each cycle (the fault lands in the middle).
    pub flow_per_cycle: Duration,
    /// How long a cycle may take to converge before it counts as failed.
    pub converge_timeout: Duration,
    /// The `ibws` binary.
    pub ibws: PathBuf,
    /// Logs of the child processes, TLS material, token files, edge storage.
    pub work_dir: PathBuf,
    pub seed: u64,
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct ChaosReport {
    pub relay: &'static str,
    pub cycles: usize,
    pub faults: BTreeMap<&'static str, usize>,
    pub clients: ClientStats,
    /// Times a relay welcomed the bridge below what it had acknowledged.
    pub ack_regressions: u64,
    /// Cycles that did not converge, or ended with a client's table not equal to the
    /// simulator's truth, with the reason.
    pub failures: Vec<String>,
    pub head_seq: u64,
}

impl ChaosReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
            && self.clients.lost == 0
            && self.clients.duplicated == 0
            && self.ack_regressions == 0
            && self.cycles > 0
    }

    /// One line with every number.
    pub fn summary(&self) -> String {
        let c = &self.clients;
        let closes: Vec<String> = c.closes.iter().map(|(k, v)| format!("{k}x{v}")).collect();
        format!(
            "chaos: relay={} cycles={} events_delivered={} lost={} duplicated={} resumes_recovered={} \
             resumes_refused={} snapshots={} reconnects={} closes=[{}] ack_regressions={} failed_cycles={} head_seq={}",
            self.relay,
            self.cycles,
            c.delivered,
            c.lost,
            c.duplicated,
            c.resumes_recovered,
            c.resumes_refused,
            c.snapshots,
            c.reconnects,
            closes.join(","),
            self.ack_regressions,
            self.failures.len(),
            self.head_seq,
        )
    }
}

enum RelayProc {
    Native(Proc),
    Edge(Workerd),
}

struct Setup {
    cfg: ChaosConfig,
    relay_port: u16,
    bridge_port: u16,
    relay_args: Vec<String>,
    bridge_args: Vec<String>,
    secret: String,
    storage: PathBuf,
}

impl Setup {
    fn start_relay(&self) -> RelayProc {
        match self.cfg.relay {
            RelayKind::Native => {
                let p = Proc::spawn(&self.cfg.ibws, &self.relay_args, &self.cfg.work_dir.join("relay.log"));
                wait_port(self.relay_port);
                RelayProc::Native(p)
            }
            RelayKind::Edge => RelayProc::Edge(Workerd::start_logged(
                self.relay_port,
                &self.storage,
                &self.secret,
                "*",
                Some(&self.cfg.work_dir.join("workerd.log")),
            )),
        }
    }

    fn start_bridge(&self) -> Proc {
        let p = Proc::spawn(&self.cfg.ibws, &self.bridge_args, &self.cfg.work_dir.join("bridge.log"));
        wait_port(self.bridge_port);
        p
    }
}

fn kill_relay(r: RelayProc) {
    match r {
        RelayProc::Native(mut p) => p.kill9(),
        RelayProc::Edge(w) => w.kill(),
    }
}

/// `GET path` on a loopback port; the body, if the server answered.
pub async fn http_get(port: u16, path: &str) -> Option<String> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8(buf).ok()?;
        text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), fut).await.ok().flatten()
}

/// The bridge's stream head and TWS link state, from its `/healthz`.
async fn bridge_head(port: u16) -> Option<((String, u64), bool)> {
    let v: serde_json::Value = serde_json::from_str(&http_get(port, "/healthz").await?).ok()?;
    Some(((v["epoch"].as_str()?.to_owned(), v["seq"].as_u64()?), v["tws_connected"].as_bool()?))
}

/// One counter or gauge from the `/metrics` of a loopback port.
pub async fn metric(port: u16, name: &str) -> Option<u64> {
    let body = http_get(port, "/metrics").await?;
    body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn truth(sim: &Simulator) -> BTreeMap<i64, (String, f64, f64)> {
    sim.orders()
        .into_iter()
        .map(|o| (o.order.perm_id, (o.status.status.clone(), o.status.filled, o.status.remaining)))
        .collect()
}

fn add(total: &mut ClientStats, s: &ClientStats) {
    total.delivered += s.delivered;
    total.lost += s.lost;
    total.duplicated += s.duplicated;
    total.resumes_recovered += s.resumes_recovered;
    total.resumes_refused += s.resumes_refused;
    total.snapshots += s.snapshots;
    total.reconnects += s.reconnects;
    for (k, v) in &s.closes {
        *total.closes.entry(*k).or_default() += v;
    }
}

/// Runs the harness. Progress goes to stderr, one line per cycle.
pub async fn run(mut cfg: ChaosConfig) -> ChaosReport {
    std::fs::create_dir_all(&cfg.work_dir).expect("work dir");
    // workerd runs in the worker's directory: every path handed to it is absolute
    cfg.work_dir = cfg.work_dir.canonicalize().expect("work dir");
    let keys_secret = format!("chaos-{:016x}{:016x}", rand_u64(), rand_u64());
    let keys = TestKeys::hs256(&keys_secret);
    let secret_file = cfg.work_dir.join("jwt.secret");
    std::fs::write(&secret_file, &keys_secret).expect("write secret");
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).expect("certificate");
    let (ca_file, cert_file, key_file) =
        (cfg.work_dir.join("ca.pem"), cfg.work_dir.join("cert.pem"), cfg.work_dir.join("key.pem"));
    std::fs::write(&ca_file, &ca).expect("write ca");
    std::fs::write(&cert_file, &cert).expect("write cert");
    std::fs::write(&key_file, &key).expect("write key");
    let token_file = cfg.work_dir.join("bridge.token");
    std::fs::write(&token_file, keys.token("chaos-bridge", Role::Bridge, "desk1", &[])).expect("write token");
    let storage = cfg.work_dir.join("edge-storage");
    let _ = std::fs::remove_dir_all(&storage);
    std::fs::create_dir_all(&storage).expect("storage dir");

    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        seed: cfg.seed,
        flow_interval: Some(cfg.flow),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    sim.set_flow(false);

    let relay_port = free_port();
    let bridge_port = free_port();
    let s = |v: &str| v.to_owned();
    let relay_args = vec![
        s("relay"),
        s("--listen"),
        format!("127.0.0.1:{relay_port}"),
        s("--tls-cert"),
        cert_file.display().to_string(),
        s("--tls-key"),
        key_file.display().to_string(),
        s("--jwt-secret-file"),
        secret_file.display().to_string(),
        s("--max-per-ip"),
        s("100000"),
        s("--max-per-subject"),
        s("100000"),
        s("--handshake-burst"),
        s("100000"),
        s("--handshakes-per-sec"),
        s("100000"),
        s("--max-pending-per-ip"),
        s("100000"),
        s("--metrics-listen"),
        s("127.0.0.1:0"),
    ];
    let upstream: SocketAddr = format!("127.0.0.1:{relay_port}").parse().expect("address");
    let proxy = CutProxy::start(upstream).await.expect("proxy");
    let (relay_url, client_url, client_ca) = match cfg.relay {
        RelayKind::Native => (
            format!("wss://localhost:{}/bridge/ws", proxy.addr.port()),
            format!("wss://localhost:{relay_port}/websocket/ws"),
            Some(ca.clone()),
        ),
        RelayKind::Edge => (
            format!("ws://127.0.0.1:{}/bridge/ws?tenant=desk1", proxy.addr.port()),
            format!("ws://127.0.0.1:{relay_port}/websocket/ws?tenant=desk1"),
            None,
        ),
    };
    let mut bridge_args = vec![
        s("bridge"),
        s("--tws"),
        sim.addr().to_string(),
        s("--client-id"),
        s("0"),
        s("--listen"),
        format!("127.0.0.1:{bridge_port}"),
        s("--relay"),
        relay_url,
        s("--relay-token-file"),
        token_file.display().to_string(),
    ];
    if cfg.relay == RelayKind::Native {
        bridge_args.extend([s("--ca"), ca_file.display().to_string()]);
    }
    let setup =
        Setup { cfg: cfg.clone(), relay_port, bridge_port, relay_args, bridge_args, secret: keys_secret, storage };
    let mut relay = Some(setup.start_relay());
    let mut bridge = setup.start_bridge();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let target =
        Target { url: client_url, ca_pem: client_ca, token: keys.token("chaos-client", Role::Client, "desk1", &[]) };
    let clients: Vec<ClientHandle> = (0..cfg.clients).map(|_| client::spawn(target.clone(), stop_rx.clone())).collect();

    let mut report = ChaosReport { relay: cfg.relay.name(), ..ChaosReport::default() };
    let mut regressions_seen = 0u64; // in the current bridge process
    let started = Instant::now();
    // Cycle 0 is the start itself: everyone converges before the first fault.
    for cycle in 0..=cfg.cycles {
        let fault = (cycle > 0 && !cfg.faults.is_empty()).then(|| cfg.faults[(cycle - 1) % cfg.faults.len()]);
        let t0 = Instant::now();
        sim.set_flow(true);
        tokio::time::sleep(cfg.flow_per_cycle / 2).await;
        if let Some(f) = fault {
            *report.faults.entry(f.name()).or_default() += 1;
            match f {
                Fault::RelayKill => {
                    if let Some(r) = relay.take() {
                        kill_relay(r);
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    relay = Some(setup.start_relay());
                }
                Fault::UplinkCut => proxy.cut(),
                Fault::BridgeKill => {
                    if let Some(r) = metric(bridge_port, "ibws_uplink_ack_regressions_total").await {
                        report.ack_regressions += r.saturating_sub(regressions_seen);
                    }
                    regressions_seen = 0;
                    bridge.kill9();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    bridge = setup.start_bridge();
                }
                Fault::TwsRestart => sim.restart(Duration::from_millis(1_000)).await,
                Fault::Connectivity => {
                    sim.connectivity_lost();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    sim.connectivity_restored(cycle % 2 == 0);
                }
                Fault::ClientDrop => {
                    for c in clients.iter().step_by(3) {
                        let _ = c.commands.send(Command::DropSocket);
                    }
                }
                Fault::ClientStall => {
                    for c in clients.iter().skip(1).step_by(4) {
                        let _ = c.commands.send(Command::Stall(Duration::from_secs(3)));
                    }
                }
            }
        }
        tokio::time::sleep(cfg.flow_per_cycle / 2).await;
        sim.set_flow(false);
        let outcome = converge(&sim, &clients, bridge_port, cfg.converge_timeout).await;
        if let Some(r) = metric(bridge_port, "ibws_uplink_ack_regressions_total").await {
            report.ack_regressions += r.saturating_sub(regressions_seen);
            regressions_seen = r;
        }
        let fault_name = fault.map_or("start", Fault::name);
        match outcome {
            Ok(head) => {
                report.head_seq = head.1;
                let mut totals = ClientStats::default();
                for c in &clients {
                    add(&mut totals, &c.view.lock().unwrap_or_else(|p| p.into_inner()).stats);
                }
                eprintln!(
                    "cycle {cycle:>3} {:<6} {fault_name:<17} ok in {:>5.1}s  head={}:{}  delivered={} lost={} duplicated={} recovered={} refused={}",
                    cfg.relay.name(),
                    t0.elapsed().as_secs_f64(),
                    head.0,
                    head.1,
                    totals.delivered,
                    totals.lost,
                    totals.duplicated,
                    totals.resumes_recovered,
                    totals.resumes_refused
                );
            }
            Err(why) => {
                eprintln!("cycle {cycle:>3} {:<6} {fault_name:<17} FAILED: {why}", cfg.relay.name());
                report.failures.push(format!("cycle {cycle} ({fault_name}): {why}"));
            }
        }
        if cycle > 0 {
            report.cycles += 1;
        }
        if !report.failures.is_empty() {
            break; // the state is unknown from here; the logs tell the rest
        }
    }
    stop_tx.send_replace(true);
    for c in &clients {
        add(&mut report.clients, &c.view.lock().unwrap_or_else(|p| p.into_inner()).stats);
    }
    eprintln!("chaos run took {:.0}s", started.elapsed().as_secs_f64());
    drop(bridge);
    if let Some(r) = relay {
        kill_relay(r);
    }
    report
}

/// Waits until the bridge's head is stable, TWS is connected, and every client stands
/// at the head with a table equal to the simulator's truth.
async fn converge(
    sim: &Simulator,
    clients: &[ClientHandle],
    bridge_port: u16,
    timeout: Duration,
) -> Result<(String, u64), String> {
    let deadline = Instant::now() + timeout;
    let mut last: Option<(String, u64)> = None;
    let mut stable_since = Instant::now();
    let mut why = String::from("bridge not answering");
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some((head, tws_up)) = bridge_head(bridge_port).await else {
            why = "bridge not answering".into();
            continue;
        };
        if last.as_ref() != Some(&head) || !tws_up {
            last = Some(head);
            stable_since = Instant::now();
            why = "bridge head still moving or TWS down".into();
            continue;
        }
        if stable_since.elapsed() < Duration::from_millis(800) {
            continue;
        }
        let truth = truth(sim);
        let mut behind = 0;
        let mut wrong_table = 0;
        let mut example = String::new();
        for (i, c) in clients.iter().enumerate() {
            let v = c.view.lock().unwrap_or_else(|p| p.into_inner());
            let at_head = v.connected && !v.awaiting_snapshot && v.pos.as_ref() == Some(&head);
            if !at_head {
                behind += 1;
                if example.is_empty() {
                    example = format!(
                        "client {i}: pos={:?} awaiting_snapshot={} connected={}",
                        v.pos, v.awaiting_snapshot, v.connected
                    );
                }
            } else if v.table() != truth {
                wrong_table += 1;
                if example.is_empty() {
                    let t = v.table();
                    let diff: Vec<_> = truth
                        .iter()
                        .filter(|(k, x)| t.get(k) != Some(x))
                        .take(3)
                        .map(|(k, x)| format!("perm {k}: truth {x:?} client {:?}", t.get(k)))
                        .collect();
                    example = format!("client {i}: {} rows vs {} in truth; {}", t.len(), truth.len(), diff.join("; "));
                }
            }
        }
        if behind == 0 && wrong_table == 0 {
            return Ok(head);
        }
        why = format!(
            "head {}:{}; {behind} clients not at the head, {wrong_table} with a table unlike the truth ({example})",
            head.0, head.1
        );
    }
    Err(why)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// The `ibws` binary next to the running executable (cargo puts every binary of the
/// workspace in the same target directory), or `IBWS_BIN`.
pub fn default_ibws_bin() -> PathBuf {
    if let Ok(p) = std::env::var("IBWS_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    // test binaries live in target/<profile>/deps
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("ibws")
}
