//! An agent trading through `ibws mcp`, driven by a real MCP client (the official
//! Python SDK, pinned in tests/requirements.txt) over stdio, against the simulator,
//! with a web client on the bridge's endpoint (`tests/clients/mcp_agent.py`). A small
//! "exchange" here works the simulator's book as TWS would: it acknowledges the
//! agent's orders, fills its market orders and rejects any order of 13 shares.

use std::time::Duration;

use ibws_tests::process::built_ibws_bin;
use ibws_tests::{client_script, python};
use ibws_tws_io::sim::engine::SimOrder;
use ibws_tws_io::sim::{AccountSpec, SimConfig, Simulator};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn simulator() -> Simulator {
    let accounts = ["DU1234567", "U7654321"].map(|a| AccountSpec { id: a.into(), base: "USD".into() }).to_vec();
    Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), accounts, ..SimConfig::default() })
        .await
        .unwrap()
}

/// Works the agent's orders as an exchange would, until dropped.
fn exchange(sim: Simulator) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for o in sim.orders() {
                if o.is_terminal() || !o.order.order_ref.starts_with("mcp:") {
                    continue;
                }
                let perm = o.order.perm_id;
                if o.order.total_quantity == 13.0 {
                    sim.reject(perm, "The order size is not allowed (simulated).");
                } else if o.status.status == "PreSubmitted" {
                    sim.submit(perm);
                } else if o.order.order_type == "MKT" {
                    sim.fill(perm, o.status.remaining, 190.25);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

async fn run_agent(sim: &Simulator, audit: &std::path::Path, extra: &[&str]) -> Value {
    let bin = built_ibws_bin();
    let out = tokio::process::Command::new(python())
        .arg(client_script("mcp_agent.py"))
        .arg(&bin)
        .arg(sim.addr().to_string())
        .arg(free_port().to_string())
        .arg(audit)
        .args(extra)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out).await.expect("the agent finishes").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "agent script failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn agent_orders(sim: &Simulator) -> Vec<SimOrder> {
    sim.orders().into_iter().filter(|o| o.order.order_ref.starts_with("mcp:")).collect()
}

fn refused(v: &Value, why: &str) {
    assert_eq!(v["error"], true, "expected a refusal ({why}): {v}");
    let body = v["body"].as_str().unwrap_or_default();
    assert!(body.contains(why), "refusal should say {why:?}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_trades_through_ibws_mcp_within_its_limits_and_web_clients_see_each_step() {
    let sim = simulator().await;
    let _exchange = exchange(sim.clone());
    let dir = tempdir();
    let audit = dir.join("audit.jsonl");
    let out = run_agent(
        &sim,
        &audit,
        &[
            "--agent-trading",
            "--agent-name",
            "pytest",
            "--watch",
            "AAPL,MSFT",
            "--agent-order-types",
            "LMT,MKT",
            "--agent-max-notional",
            "50000",
            "--agent-max-orders-per-minute",
            "6",
        ],
    )
    .await;
    // shown when an assertion fails
    println!("{out:#}");
    println!("simulator's orders: {:#?}", sim.orders());

    let tools: Vec<&str> = out["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for t in ["get_accounts", "get_positions", "get_open_orders", "get_executions", "get_quotes", "preview_order"] {
        assert!(tools.contains(&t), "tool {t} missing: {tools:?}");
    }
    for t in ["place_order", "modify_order", "cancel_order", "get_my_orders"] {
        assert!(tools.contains(&t), "tool {t} missing: {tools:?}");
    }

    // the preview: TWS's order state, a confirmation id, nothing booked
    let p = &out["preview"]["body"];
    assert_eq!(out["preview"]["error"], false, "{p}");
    assert!(p["commission"].as_f64().is_some_and(|c| c > 0.0), "{p}");
    assert!(p["init_margin_change"].as_str().is_some_and(|m| m.parse::<f64>().unwrap() > 0.0), "{p}");
    assert!(p["confirmation_id"].as_str().is_some_and(|c| c.starts_with("cf-")), "{p}");

    // the placement, at the web client as an agent's order naming the agent
    assert_eq!(out["place"]["error"], false, "{}", out["place"]);
    let oid = out["place"]["body"]["order_id"].as_i64().unwrap();
    let mcp = &out["mcp_order"];
    assert_eq!(mcp["agent"], "pytest", "{mcp}");
    assert_eq!(mcp["event"], "created", "{mcp}");
    assert_eq!(mcp["data"]["source"], "MCP", "{mcp}");
    assert_eq!(mcp["data"]["agent"], true, "{mcp}");
    assert_eq!(mcp["data"]["order_ref"], "mcp:pytest", "{mcp}");
    assert!(out["first_web_event_ms"].as_f64().is_some(), "no web event for the placement");

    // the agent is told (MCP resources/updated on ibws://orders, which it subscribed to)
    assert_eq!(out["resources"], serde_json::json!(["ibws://orders"]));
    assert!(out["first_agent_notification_ms"].as_f64().is_some(), "the agent was not told of its order");
    assert_eq!(out["told_of_fill"], true, "the agent was not told of its fill");

    // the retry placed nothing
    assert_eq!(out["retry"]["body"]["order_id"].as_i64(), Some(oid), "{}", out["retry"]);
    assert!(out["retry"]["body"]["status"].as_str().unwrap().contains("already placed"));

    // modify: an order_update with the new quantity and price
    let m = &out["modified_update"]["data"];
    assert_eq!(m["quantity"], 12.0, "{m}");
    assert_eq!(m["price"], 151.0, "{m}");
    assert_eq!(m["remaining"], 12.0, "{m}");
    assert_eq!(out["cancelled_update"]["data"]["status"], "Cancelled");

    // the market order's fill, at the web client and in get_executions
    let f = &out["market_fill"]["data"];
    assert_eq!(f["execution"]["shares"], 5.0, "{f}");
    let moid = out["market"]["body"]["order_id"].as_i64().unwrap();
    let fills = out["executions"]["body"].as_array().unwrap();
    assert!(fills.iter().any(|x| x["order_id"] == moid && x["quantity"] == 5.0 && x["agent"] == true), "{fills:?}");
    assert!(out["my_orders"]["body"].as_array().unwrap().iter().any(|o| o["order_id"] == moid));
    let res = out["orders_resource"].as_array().unwrap();
    assert!(res.iter().any(|o| o["order_id"] == moid && o["status"] == "Filled"), "{res:?}");

    // TWS's rejection names the account and the agent
    let rej = &out["reject_error"];
    assert_eq!(rej["account"], "DU1234567", "{rej}");
    assert_eq!(rej["agent"], "pytest", "{rej}");
    assert_eq!(rej["tws_code"], 201, "{rej}");

    // preview-then-confirm
    refused(&out["confirm_wrong"], "confirmation id");
    assert_eq!(out["confirm_right"]["error"], false, "{}", out["confirm_right"]);
    refused(&out["confirm_again"], "confirmation id");

    // every guard refused
    let g = &out["guards"];
    refused(&g["symbol"], "TSLA is not among the symbols");
    refused(&g["order_type"], "order type STP is not allowed");
    refused(&g["quantity"], "above the agent limit of 100");
    refused(&g["notional"], "notional 54000.00 is above");
    refused(&g["live_account"], "not a paper account");
    refused(&g["modify_not_own"], "not placed by this agent");
    assert_eq!(out["rate_ok"]["error"], false, "{}", out["rate_ok"]);
    refused(&out["rate_refused"], "orders in the last minute");

    // what reached TWS: exactly the five orders placed, no preview, nothing refused
    let booked = agent_orders(&sim);
    let mut qty: Vec<f64> = booked.iter().map(|o| o.order.total_quantity).collect();
    qty.sort_by(f64::total_cmp);
    assert_eq!(qty, vec![5.0, 10.0, 10.0, 12.0, 13.0], "{booked:?}");
    assert!(booked.iter().all(|o| o.order.account == "DU1234567" && o.order.contract.symbol == "AAPL"));
    assert_eq!(out["web_mcp_created"], 5, "one mcp_order created per placed order");

    // the audit log: one line per call, refusals included, no secrets
    let log = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 20, "{} lines", lines.len());
    assert!(lines.iter().all(|l| l["agent"] == "pytest" && l["time_ms"].as_i64().is_some()));
    assert_eq!(lines.iter().filter(|l| l["tool"] == "place_order" && l["outcome"] == "ok").count(), 6);
    assert!(lines.iter().filter(|l| l["outcome"] == "refused").count() >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trading_off_an_agent_reads_but_places_nothing() {
    let sim = simulator().await;
    let dir = tempdir();
    let out = run_agent(&sim, &dir.join("audit.jsonl"), &["--watch", "AAPL"]).await;
    let accounts = out["accounts"]["body"].as_array().unwrap();
    assert!(accounts.iter().any(|a| a["account"] == "DU1234567"), "{accounts:?}");
    refused(&out["place_when_off"], "trading is off");
    assert!(agent_orders(&sim).is_empty());
}

fn tempdir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("ibws-mcp-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A smoke run of `ibws-mcp-bench` (the full run is a separate command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_latency_benchmark_runs() {
    let r = ibws_tests::agent_bench::run(&built_ibws_bin(), 20, 20).await;
    for key in ["tool_call_to_web_event", "tool_call_to_agent_notification"] {
        assert_eq!(r[key]["n"], 20, "{r}");
        assert!(r[key]["median_ms"].as_f64().is_some_and(|m| m > 0.0), "{r}");
    }
}

/// `ibws mcp --transport http`: MCP's streamable HTTP on the bridge's loopback listener,
/// token required, the local endpoint's Host and Origin rules applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_agent_needs_the_token_and_a_local_page_or_none() {
    let sim = simulator().await;
    let dir = tempdir();
    let token_file = dir.join("token");
    let port = free_port();
    let args: Vec<String> = [
        "mcp",
        "--transport",
        "http",
        "--tws",
        &sim.addr().to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--watch",
        "AAPL",
        "--agent-trading",
        "--agent-name",
        "web-agent",
        "--mcp-token-file",
        token_file.to_str().unwrap(),
        "--agent-audit-log",
        dir.join("audit.jsonl").to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let _proc = ibws_tests::process::Proc::spawn(&built_ibws_bin(), &args, &dir.join("ibws.log"));
    for _ in 0..200 {
        if token_file.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let token = std::fs::read_to_string(&token_file).expect("the token file was made");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let out = tokio::process::Command::new(python())
        .arg(client_script("mcp_http_agent.py"))
        .arg(format!("http://127.0.0.1:{port}/mcp"))
        .arg(token.trim())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["no_token"], 401, "{v}");
    assert_eq!(v["wrong_token"], 401, "{v}");
    assert_eq!(v["foreign_origin"], 403, "{v}");
    assert_eq!(v["foreign_host"], 403, "{v}");
    assert!(v["tools"].as_array().unwrap().iter().any(|t| t == "place_order"), "{v}");
    assert_eq!(v["accounts"], serde_json::json!(["DU1234567", "U7654321"]), "{v}");
    assert_eq!(v["place"]["error"], false, "{v}");
    let booked = agent_orders(&sim);
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].order.order_ref, "mcp:web-agent");
    // the log never holds the token
    let log = std::fs::read_to_string(dir.join("ibws.log")).unwrap_or_default();
    assert!(!log.contains(token.trim()), "the token reached the log");
}
