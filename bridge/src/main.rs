//! `ibws`: the command line. See `ibws --help`.

use std::time::Duration;

use clap::{Parser, Subcommand};
use ibws_bridge::sim::{SimConfig, Simulator};

#[derive(Parser)]
#[command(name = "ibws", version, about = "Interactive Brokers events to web apps, in real time")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated TWS (for trying TWS clients without an IB account)
    Sim(SimArgs),
}

#[derive(clap::Args)]
struct SimArgs {
    /// Address to listen on (TWS paper trading uses 7497)
    #[arg(long, env = "IBWS_SIM_LISTEN", default_value = "127.0.0.1:7497")]
    listen: std::net::SocketAddr,
    /// Seed of the random order flow and market data
    #[arg(long, env = "IBWS_SIM_SEED", default_value_t = 1)]
    seed: u64,
    /// Milliseconds between random order-flow steps; 0 turns the flow off
    #[arg(long, env = "IBWS_SIM_FLOW_MS", default_value_t = 700)]
    flow_ms: u64,
    /// The simulated account id
    #[arg(long, env = "IBWS_SIM_ACCOUNT", default_value = "DU1234567")]
    account: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).init();
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(a) => {
            let cfg = SimConfig {
                listen: a.listen,
                seed: a.seed,
                account: a.account,
                flow_interval: (a.flow_ms > 0).then(|| Duration::from_millis(a.flow_ms)),
                ..SimConfig::default()
            };
            match Simulator::start(cfg).await {
                Ok(sim) => {
                    println!("TWS simulator listening on {}", sim.addr());
                    let _ = tokio::signal::ctrl_c().await;
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot listen: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
