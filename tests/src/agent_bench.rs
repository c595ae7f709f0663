//! The agent latency benchmark: a real MCP client (the Python SDK) drives `ibws mcp` on
//! the simulator and times each `place_order` call to the first event a web client on
//! the bridge receives about that order, and to the agent's own MCP notification
//! (`tests/clients/mcp_agent.py` with `MCP_BENCH`). Used by `ibws-mcp-bench` and its
//! smoke test.

use std::time::Duration;

use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::Value;

/// Places `orders` limit orders, one every `interval_ms`, through `ibws mcp` (the binary `ibws`) and returns the
/// script's `bench` object: `tool_call_to_web_event` and
/// `tool_call_to_agent_notification`, each with `n`, `median_ms`, `p99_ms`, `max_ms`.
pub async fn run(ibws: &std::path::Path, orders: usize, interval_ms: u64) -> Value {
    let sim = Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().expect("address"), ..SimConfig::default() })
        .await
        .expect("simulator");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let out = tokio::process::Command::new(crate::python())
        .arg(crate::client_script("mcp_agent.py"))
        .arg(ibws)
        .arg(sim.addr().to_string())
        .arg(port.to_string())
        .arg("off")
        .args(["--agent-trading", "--watch", "AAPL", "--agent-max-orders-per-minute", "1000000"])
        .env("MCP_BENCH", orders.to_string())
        .env("MCP_BENCH_INTERVAL_MS", interval_ms.to_string())
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(600), out).await.expect("the benchmark finishes").expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mcp_agent.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON");
    v["bench"].clone()
}
