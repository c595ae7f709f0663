//! `ibws-chaos`: cycles every fault through simulator -> bridge -> relay -> clients
//! and checks that no client lost or repeated an event. See `ibws_tests::chaos` and
//! docs/reliability.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ibws_tests::chaos::{self, ChaosConfig, Fault, RelayKind};

#[derive(Clone, Copy, ValueEnum)]
enum Relays {
    Native,
    Edge,
    Both,
}

/// Runs the chaos harness: the simulator, an `ibws bridge` process, a relay (`ibws
/// relay`, or the edge relay under `workerd`) behind a cuttable proxy, and many
/// clients; cycles kill -9 of the relay and the bridge, uplink cuts, TWS restarts,
/// 1100/1101/1102, vanishing and stalled clients. Exits non-zero if any event was lost
/// or duplicated, a cycle did not converge, or a relay lost acknowledged events.
#[derive(Parser)]
#[command(name = "ibws-chaos")]
struct Args {
    /// Which relay to run against
    #[arg(long, value_enum, default_value_t = Relays::Both)]
    relay: Relays,
    /// Fault cycles per relay (each fault kind in turn)
    #[arg(long, default_value_t = 50)]
    cycles: usize,
    /// Faults to cycle through (default: all): relay_kill9, uplink_cut, bridge_kill9,
    /// tws_restart, connectivity_1100, client_drop, client_stall
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Concurrent clients
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Simulator order-flow interval in milliseconds (native relay)
    #[arg(long, default_value_t = 30)]
    flow_ms: u64,
    /// Simulator order-flow interval in milliseconds (edge relay, which stores every
    /// bridge frame before acknowledging it)
    #[arg(long, default_value_t = 150)]
    edge_flow_ms: u64,
    /// Seconds of order flow per cycle
    #[arg(long, default_value_t = 3.0)]
    flow_secs: f64,
    /// Seconds a cycle may take to converge
    #[arg(long, default_value_t = 60)]
    converge_secs: u64,
    /// The ibws binary (default: next to this one)
    #[arg(long)]
    ibws: Option<PathBuf>,
    /// Where logs, keys and edge storage go
    #[arg(long, default_value = "target/chaos")]
    work_dir: PathBuf,
    /// Simulator seed
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    let ibws = a.ibws.clone().unwrap_or_else(chaos::default_ibws_bin);
    if !ibws.exists() {
        eprintln!(
            "error: {} not found; build it (cargo build --release -p ibws-bridge) or pass --ibws",
            ibws.display()
        );
        return ExitCode::FAILURE;
    }
    let mut faults = Vec::new();
    for f in &a.faults {
        match Fault::parse(f) {
            Some(f) => faults.push(f),
            None => {
                eprintln!("error: unknown fault {f:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    if faults.is_empty() {
        faults = Fault::ALL.to_vec();
    }
    let kinds: &[RelayKind] = match a.relay {
        Relays::Native => &[RelayKind::Native],
        Relays::Edge => &[RelayKind::Edge],
        Relays::Both => &[RelayKind::Native, RelayKind::Edge],
    };
    let mut ok = true;
    let mut summaries = Vec::new();
    for &kind in kinds {
        let cfg = ChaosConfig {
            relay: kind,
            cycles: a.cycles,
            faults: faults.clone(),
            clients: a.clients,
            flow: Duration::from_millis(if kind == RelayKind::Edge { a.edge_flow_ms } else { a.flow_ms }),
            flow_per_cycle: Duration::from_secs_f64(a.flow_secs),
            converge_timeout: Duration::from_secs(a.converge_secs),
            ibws: ibws.clone(),
            work_dir: a.work_dir.join(kind.name()),
            seed: a.seed,
        };
        eprintln!(
            "chaos: {} relay, {} cycles, {} clients; logs in {}",
            kind.name(),
            a.cycles,
            a.clients,
            cfg.work_dir.display()
        );
        let report = chaos::run(cfg).await;
        for f in &report.failures {
            eprintln!("  failed: {f}");
        }
        ok &= report.passed();
        summaries.push(report.summary());
    }
    for s in summaries {
        println!("{s}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
