//! `ibws-mcp-bench`: how long from an agent's `place_order` tool call to the first
//! event web clients receive about that order, and to the agent's own notification
//! (median, p99, max). A real MCP client (the Python SDK) drives `ibws mcp` over stdio
//! on the simulator. See `ibws_tests::agent_bench`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "ibws-mcp-bench")]
struct Args {
    /// Orders to place
    #[arg(long, default_value_t = 300)]
    orders: usize,
    /// Milliseconds between orders (TWS takes 50 messages a second; the bridge paces
    /// its requests to that, so a faster rate measures the queue)
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// The ibws binary (default: built, next to this one)
    #[arg(long)]
    ibws: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let ibws = a.ibws.unwrap_or_else(ibws_tests::process::built_ibws_bin);
    let r = ibws_tests::agent_bench::run(&ibws, a.orders, a.interval_ms).await;
    for (name, key) in [
        ("tool call -> first web event", "tool_call_to_web_event"),
        ("tool call -> agent notification", "tool_call_to_agent_notification"),
    ] {
        let s = &r[key];
        println!(
            "{name:34} n={} median {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            s["n"],
            s["median_ms"].as_f64().unwrap_or(f64::NAN),
            s["p99_ms"].as_f64().unwrap_or(f64::NAN),
            s["max_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
}
