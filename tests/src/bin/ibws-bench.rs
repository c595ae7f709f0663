//! `ibws-bench`: ibws against Bun, Node `ws` and Python `websockets`, each server its
//! own process, driven by this one load generator (see `ibws_tests::bench`). Prints one
//! line per run and a summary with medians, ranges and ratios ibws / peer. The peers
//! come from `tests/bench` (`npm ci` there, and a virtualenv with its
//! requirements.txt; `tests/run` does both). Example (the full run in
//! docs/benchmarks.md):
//!
//! ```text
//! cargo build --release -p ibws-bridge -p ibws-tests
//! target/release/ibws-bench --runs 3
//! ```

use std::path::PathBuf;

use clap::Parser;
use ibws_tests::bench::{self, Sample, Server};

#[derive(Parser)]
#[command(about = "ibws against Bun, Node ws and Python websockets: fan-out, latency, memory per connection")]
struct Args {
    /// Servers to measure, comma-separated (ibws, ibws-wss, ibws-edge-workerd, bun, bun-wss, node, python)
    #[arg(long, value_delimiter = ',', default_value = "ibws,ibws-wss,ibws-edge-workerd,bun,bun-wss,node,python")]
    servers: Vec<String>,
    /// Scenarios: A (fan-out), B (latency), C (idle memory), D (bridge end to end; and,
    /// for every plain ws server, the same clients fed a ready-made event), E (relay
    /// memory per byte of large events, ibws only), F (the edge relay's ingest: ack
    /// rate, CPU and disk per event as the ring fills)
    #[arg(long, value_delimiter = ',', default_value = "A,B,C,D,E,F")]
    scenarios: Vec<String>,
    /// Runs of each scenario, interleaved across servers
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A: subscribers and events
    #[arg(long, default_value_t = 1_000)]
    a_subs: usize,
    #[arg(long, default_value_t = 20_000)]
    a_events: u64,
    /// B: seconds per latency run; the two configurations are 1,000 x 100/s and 100 x 1,000/s
    #[arg(long, default_value_t = 20)]
    b_secs: u64,
    #[arg(long, default_value_t = 1_000)]
    b_subs_slow: usize,
    #[arg(long, default_value_t = 100)]
    b_subs_fast: usize,
    /// B: events per second of the two configurations
    #[arg(long, default_value_t = 100)]
    b_rate_slow: u32,
    #[arg(long, default_value_t = 1_000)]
    b_rate_fast: u32,
    /// C: idle subscribed connections
    #[arg(long, default_value_t = 10_000)]
    c_subs: usize,
    /// D: local clients of the bridge, and price changes sent through it
    #[arg(long, default_value_t = 100)]
    d_clients: usize,
    #[arg(long, default_value_t = 2_000)]
    d_rounds: usize,
    /// D: more working orders in the book, one run of D for each count
    #[arg(long, value_delimiter = ',', default_value = "0,10000")]
    d_orders: Vec<usize>,
    /// E: events and their size in bytes
    #[arg(long, default_value_t = 1_000)]
    e_events: u64,
    #[arg(long, default_value_t = 60_000)]
    e_size: usize,
    /// F: events published into one edge tenant
    #[arg(long, default_value_t = 20_000)]
    f_events: u64,
    /// The ibws binary
    #[arg(long)]
    ibws: Option<PathBuf>,
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// Exit non-zero unless ibws delivered every event in A and B (the suite's smoke
    /// run uses this: speed is reported, completeness is checked)
    #[arg(long)]
    check: bool,
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let servers: Vec<Server> =
        a.servers.iter().map(|s| Server::parse(s).unwrap_or_else(|| panic!("unknown server {s:?}"))).collect();
    let ibws = a.ibws.clone().unwrap_or_else(ibws_tests::process::built_ibws_bin);
    // ibws's servers inherit this environment: IBWS_WORKER_THREADS=2 runs them on two threads
    println!(
        "bench-config: ibws_worker_threads={}",
        std::env::var("IBWS_WORKER_THREADS").unwrap_or_else(|_| "1 (the default)".into())
    );
    let mut samples: Vec<Sample> = Vec::new();
    for run in 1..=a.runs {
        for sc in &a.scenarios {
            if sc == "E" {
                for orders in [false, true] {
                    let work = a.work_dir.join(format!("ibws-E-{orders}-{run}"));
                    let s = bench::event_memory(&ibws, &work, a.e_events, a.e_size, orders).await;
                    println!("{} run={run}", s.line());
                    samples.push(s);
                }
                continue;
            }
            if sc == "F" {
                for distinct in [false, true] {
                    let work = a.work_dir.join(format!("edge-F-{distinct}-{run}"));
                    let s = bench::edge_ingest(&ibws, &work, a.f_events, distinct).await;
                    println!("{} run={run}", s.line());
                    samples.push(s);
                }
                continue;
            }
            if sc == "D" {
                for &orders in &a.d_orders {
                    let work = a.work_dir.join(format!("ibws-bridge-D-{orders}-{run}"));
                    let s = bench::bridge_end_to_end(&ibws, &work, a.d_clients, a.d_rounds, orders).await;
                    println!("{} run={run}", s.line());
                    samples.push(s);
                }
                // the yardstick: the same clients fed a ready-made event by each server
                for &server in &servers {
                    let work = a.work_dir.join(format!("{}-D-{run}", server.name()));
                    if let Some(s) = bench::forward_rounds(server, &ibws, &work, a.d_clients, a.d_rounds).await {
                        println!("{} run={run}", s.line());
                        samples.push(s);
                    }
                }
                continue;
            }
            for &server in &servers {
                let work = a.work_dir.join(format!("{}-{sc}-{run}", server.name()));
                let got = match sc.as_str() {
                    "A" => vec![bench::fan_out(server, &ibws, &work, a.a_subs, a.a_events).await],
                    "B" => vec![
                        bench::latency(server, &ibws, &work, a.b_subs_slow, a.b_rate_slow, a.b_secs).await,
                        bench::latency(server, &ibws, &work, a.b_subs_fast, a.b_rate_fast, a.b_secs).await,
                    ],
                    "C" => vec![bench::idle_memory(server, &ibws, &work, a.c_subs).await],
                    other => panic!("unknown scenario {other:?}"),
                };
                for s in got {
                    println!("{} run={run}", s.line());
                    samples.push(s);
                }
            }
        }
    }
    for l in bench::summarize(&samples) {
        println!("{l}");
    }
    if a.check {
        let short: Vec<&Sample> = samples
            .iter()
            .filter(|s| matches!(s.server, Server::Ibws | Server::IbwsTls | Server::Edge))
            .filter(|s| ["delivered_pct", "acked_pct"].iter().any(|k| s.metrics.get(k).is_some_and(|p| *p < 100.0)))
            .collect();
        if !short.is_empty() {
            for s in short {
                eprintln!("ibws did not deliver everything: {}", s.line());
            }
            std::process::exit(1);
        }
    }
}
