//! `ibws-soak`: thousands of authenticated TLS clients on one `ibws relay` process
//! with a steady event flow, for minutes. Prints RSS, connections, deliveries and
//! latency per minute, then a summary; exits non-zero if a connection dropped that
//! the soak did not close, or an event was lost. See `ibws_tests::soak` and
//! docs/reliability.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ibws_tests::soak::{self, SoakConfig};

#[derive(Parser)]
#[command(name = "ibws-soak")]
struct Args {
    /// Authenticated client connections
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Minutes of steady flow after every client is subscribed
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Events per second from the publisher (each goes to every client)
    #[arg(long, default_value_t = 5)]
    rate: u32,
    /// Seconds between RSS samples
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
    /// Handshakes in flight while connecting
    #[arg(long, default_value_t = 200)]
    parallel: usize,
    /// The ibws binary (default: next to this one)
    #[arg(long)]
    ibws: Option<PathBuf>,
    #[arg(long, default_value = "target/soak")]
    work_dir: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    let ibws = a.ibws.unwrap_or_else(ibws_tests::chaos::default_ibws_bin);
    if !ibws.exists() {
        eprintln!(
            "error: {} not found; build it (cargo build --release -p ibws-bridge) or pass --ibws",
            ibws.display()
        );
        return ExitCode::FAILURE;
    }
    let report = soak::run(SoakConfig {
        clients: a.clients,
        duration: Duration::from_secs_f64(a.minutes * 60.0),
        rate: a.rate,
        sample: Duration::from_secs(a.sample_secs.max(1)),
        connect_parallelism: a.parallel,
        ibws,
        work_dir: a.work_dir,
    })
    .await;
    println!("{}", report.summary());
    let rss: Vec<String> =
        report.rss_samples.iter().map(|(t, b)| format!("{t:.0}s:{:.1}", *b as f64 / 1048576.0)).collect();
    println!("soak_rss_mib: {}", rss.join(" "));
    if report.lost_connections == 0 && report.lost_events == 0 && report.connected == a.clients as u64 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
