//! Another program's orders, told apart: ib_async (pinned in tests/requirements.txt), on
//! its own API client id as third-party MCP servers run it, asks the simulator what they
//! ask (contract details, a market rule, a what-if preview), places an order and later
//! cancels everything with a global cancel. Web clients see the order as `source: API`
//! with its client id; a bridge started with `--mcp-client-ids` for that id shows it as
//! an agent's (`source: MCP`, `mcp_order` naming `client 42`). The preview books nothing.

use std::time::Duration;

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::notify::AgentRules;
use ibws_tests::{python, Client};
use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::{json, Value};

const PLACE: &str = r#"
import asyncio, json, sys
from ib_async import IB, Stock, LimitOrder
async def main():
    ib = IB()
    await ib.connectAsync('127.0.0.1', int(sys.argv[1]), clientId=42, timeout=10)
    [aapl] = await ib.qualifyContractsAsync(Stock('AAPL', 'SMART', 'USD'))
    details = await ib.reqContractDetailsAsync(aapl)
    rule_id = int(details[0].marketRuleIds.split(',')[0])
    rule = await ib.reqMarketRuleAsync(rule_id)
    state = await ib.whatIfOrderAsync(aapl, LimitOrder('BUY', 10, 150.0))
    trade = ib.placeOrder(aapl, LimitOrder('BUY', 3, 150.0))
    for _ in range(50):
        await asyncio.sleep(0.1)
        if trade.orderStatus.status == 'PreSubmitted':
            break
    print(json.dumps({"con_id": aapl.conId, "long_name": details[0].longName, "min_tick": details[0].minTick,
                      "rule": [[p.lowEdge, p.increment] for p in rule or []],
                      "what_if_init_margin_change": state.initMarginChange, "what_if_commission": state.commission,
                      "order_id": trade.order.orderId, "status": trade.orderStatus.status}))
    ib.disconnect()
asyncio.run(main())
"#;

const CANCEL_ALL: &str = r#"
import asyncio, sys
from ib_async import IB
async def main():
    ib = IB()
    await ib.connectAsync('127.0.0.1', int(sys.argv[1]), clientId=42, timeout=10)
    ib.reqGlobalCancel()
    await asyncio.sleep(0.5)
    ib.disconnect()
asyncio.run(main())
"#;

async fn run(script: &str, port: u16) -> String {
    let out =
        tokio::process::Command::new(python()).arg("-c").arg(script).arg(port.to_string()).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("ib_async finishes").unwrap();
    assert!(out.status.success(), "ib_async failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn bridge(sim: &Simulator, agents: AgentRules) -> (Bridge, Client) {
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        agents,
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    for _ in 0..200 {
        if bridge.hub.with(|h| h.source_connected()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut web = Client::connect(&format!("ws://{}/websocket/ws", bridge.addr)).await;
    web.send(json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "mcp_order"]})).await;
    web.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.expect("subscribed");
    (bridge, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_programs_order_is_source_api_with_its_client_id_or_an_agents_when_configured() {
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let port = sim.addr().port();

    // a bridge with the defaults: a program on client 42 is a program, not a person
    let (first, mut web) = bridge(&sim, AgentRules::default()).await;
    let placed: Value = serde_json::from_str(run(PLACE, port).await.trim()).unwrap();
    assert_eq!(placed["con_id"], 265598, "{placed}");
    assert_eq!(placed["min_tick"], 0.01, "{placed}");
    assert_eq!(placed["rule"], json!([[0.0, 0.01]]), "{placed}");
    assert!(placed["what_if_init_margin_change"].as_str().unwrap().parse::<f64>().unwrap() > 0.0, "{placed}");
    assert_eq!(placed["status"], "PreSubmitted", "{placed}");
    let oid = placed["order_id"].as_i64().unwrap();
    let update = web
        .recv_until(Duration::from_secs(5), |v| v["type"] == "order_update" && v["data"]["order_id"] == oid)
        .await
        .expect("the program's order reaches web clients");
    let d = &update["data"];
    assert_eq!((d["source"].as_str(), d["client_id"].as_i64()), (Some("API"), Some(42)), "{d}");
    assert!(d.get("agent").is_none(), "{d}");
    // the what-if preview was never booked: the program's only order is the one it placed
    let mine: Vec<_> = sim.orders().into_iter().filter(|o| o.order.client_id == 42).collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].order.total_quantity, 3.0);
    drop(web);
    first.shutdown().await;
    drop(first);

    // the user marks client 42 as an agent: the same order is an agent's
    let (_second, mut web) = bridge(&sim, AgentRules { client_ids: vec![42], ..AgentRules::default() }).await;
    web.send(json!({"type": "get_orders"})).await;
    let orders = web.recv_until(Duration::from_secs(5), |v| v["type"] == "orders_response").await.unwrap();
    let row = orders["data"].as_array().unwrap().iter().find(|o| o["order_id"] == oid).cloned().unwrap();
    assert_eq!((row["source"].as_str(), row["agent"].as_bool()), (Some("MCP"), Some(true)), "{row}");

    // a global cancel from the program: the agent's order is cancelled, and said to be
    run(CANCEL_ALL, port).await;
    let cancelled = web
        .recv_until(Duration::from_secs(5), |v| v["type"] == "mcp_order" && v["event"] == "cancelled")
        .await
        .expect("mcp_order cancelled");
    assert_eq!(cancelled["agent"], "client 42", "{cancelled}");
    assert!(sim.orders().iter().all(|o| o.is_terminal()), "the global cancel left working orders");
}
