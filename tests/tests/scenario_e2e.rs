//! A scripted trading day through simulator -> bridge -> WebSocket client, checking
//! the exact notification sequence the client receives: create, partial fill, modify,
//! fill; create, cancel; an agent (MCP) order; a rejection; a TWS restart, after which
//! nothing is repeated and events keep flowing.

use std::time::Duration;

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::notify::AgentRules;
use ibws_shared::protocol::CloseCode;
use ibws_tests::Client;
use ibws_tws::outgoing::OrderTicket;
use ibws_tws_io::sim::{SimConfig, Simulator, AGENT_CLIENT_ID};
use serde_json::{json, Value};

/// A frame in a compact, comparable form.
fn compact(v: &Value) -> String {
    let d = &v["data"];
    let num = |x: &Value| x.as_f64().map(|f| f.to_string()).unwrap_or_else(|| "-".into());
    match v["type"].as_str().unwrap() {
        "order_update" => {
            let e = &d["execution"];
            let exec = match (e.is_object(), e["commission"].is_number()) {
                (false, _) => "",
                (true, false) => " exec",
                (true, true) => " exec+commission",
            };
            format!(
                "update {} {} {}{exec}",
                d["symbol"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
                num(&d["filled"])
            )
        }
        "order_notification" => format!(
            "notify {} {} {}",
            v["event"].as_str().unwrap(),
            d["symbol"].as_str().unwrap(),
            v["action"].as_str().unwrap()
        ),
        "mcp_order" => format!(
            "mcp {} {} {}",
            v["action"].as_str().unwrap(),
            d["symbol"].as_str().unwrap(),
            v["source"].as_str().unwrap()
        ),
        "error" => match v["account"].as_str() {
            // an error about an order names the order's account (for account scopes)
            Some(a) => format!("error {} {} @{a}", v["error_code"].as_str().unwrap(), num(&v["tws_code"])),
            None => format!("error {} {}", v["error_code"].as_str().unwrap(), num(&v["tws_code"])),
        },
        other => format!("other {other}"),
    }
}

struct Run {
    client: Client,
    seen: Vec<String>,
    raw: Vec<Value>,
    last_seq: u64,
}

impl Run {
    /// Reads until `n` more events arrived (checking seqs grow by exactly one for this
    /// all-types subscriber), then makes sure nothing else follows for a moment.
    async fn expect(&mut self, want: &[&str]) {
        let start = self.seen.len();
        while self.seen.len() < start + want.len() {
            let v = self
                .client
                .recv(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("timed out; so far {:#?}", &self.seen[start..]));
            let seq = v["seq"].as_u64().expect("events carry seq");
            assert!(seq > self.last_seq, "seq grows");
            self.last_seq = seq;
            self.seen.push(compact(&v));
            self.raw.push(v);
        }
        assert_eq!(&self.seen[start..], want);
        if let Some(extra) = self.client.recv(Duration::from_millis(300)).await {
            panic!("unexpected extra event after {want:?}: {}", compact(&extra));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_day_gives_the_exact_notification_sequence() {
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        agents: AgentRules { client_ids: vec![AGENT_CLIENT_ID], ..AgentRules::default() },
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    // wait for the link
    for _ in 0..100 {
        if bridge.hub.with(|h| h.source_connected()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = Client::connect(&format!("ws://{}/websocket/ws?client_id=scenario", bridge.addr)).await;
    let hello = client.recv(Duration::from_secs(2)).await.unwrap();
    assert_eq!((hello["type"].as_str(), hello["client_id"].as_str()), (Some("connection"), Some("scenario")));
    client
        .send(
            json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "mcp_order", "error"]}),
        )
        .await;
    let sub = client.recv(Duration::from_secs(2)).await.unwrap();
    assert_eq!(sub["subscribed_types"], json!(["order_update", "order_notification", "mcp_order", "error"]));
    let mut run = Run { client, seen: vec![], raw: vec![], last_seq: 0 };

    // create, partial fill, modify, fill
    let a = sim.place(0, "AAPL", OrderTicket::limit("BUY", 100.0, 190.0));
    run.expect(&["notify created AAPL 创建", "update AAPL PreSubmitted 0"]).await;
    sim.submit(a);
    run.expect(&["update AAPL Submitted 0"]).await;
    sim.fill(a, 40.0, 190.0);
    run.expect(&["update AAPL Submitted 40 exec", "update AAPL Submitted 40 exec+commission"]).await;
    sim.modify(a, Some(191.0), None);
    // the modify is told (notification) and the order's row changes with it
    run.expect(&["notify modified AAPL 修改", "update AAPL Submitted 40"]).await;
    let row = &run.raw.last().unwrap()["data"];
    assert_eq!((row["price"].as_f64(), row["remaining"].as_f64()), (Some(191.0), Some(60.0)), "{row}");
    sim.fill(a, 60.0, 191.0);
    run.expect(&["update AAPL Filled 100 exec", "update AAPL Filled 100 exec+commission"]).await;

    // create, cancel
    let b = sim.place(0, "MSFT", OrderTicket::limit("SELL", 200.0, 410.0));
    run.expect(&["notify created MSFT 创建", "update MSFT PreSubmitted 0"]).await;
    sim.cancel(b);
    run.expect(&["update MSFT Cancelled 0", "notify cancelled MSFT 取消"]).await;

    // an agent order (MCP server with its own client id and orderRef)
    let c = sim.place(AGENT_CLIENT_ID, "NVDA", OrderTicket::market("BUY", 300.0).with_ref("mcp-agent-1"));
    run.expect(&["notify created NVDA 创建", "mcp MCP创建市价单 NVDA MCP", "update NVDA PreSubmitted 0"]).await;
    // the server says it is an agent's order, on the row itself; a person's order says nothing
    assert_eq!(run.raw.last().unwrap()["data"]["agent"], json!(true));
    assert!(run.raw.iter().filter(|v| v["data"]["symbol"] == "MSFT").all(|v| v["data"].get("agent").is_none()));

    // a rejection
    let d = sim.place(0, "TSLA", OrderTicket::limit("BUY", 100.0, 240.0));
    run.expect(&["notify created TSLA 创建", "update TSLA PreSubmitted 0"]).await;
    sim.reject(d, "Insufficient buying power for this order.");
    run.expect(&["error INSUFFICIENT_FUNDS 201 @DU1234567", "update TSLA Inactive 0"]).await;

    // TWS restarts: clients hear about the link, and nothing is announced again
    sim.restart(Duration::from_millis(500)).await;
    run.expect(&["error TWS_DISCONNECTED 504", "error TWS_RECONNECTED -"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(extra) = run.client.recv(Duration::from_millis(500)).await {
        panic!("replay after restart leaked an event: {}", compact(&extra));
    }

    // and events keep flowing after it
    sim.fill(c, 300.0, 120.0);
    run.expect(&["update NVDA Filled 300 exec", "update NVDA Filled 300 exec+commission"]).await;

    // the order table agrees
    run.client.send(json!({"type": "get_orders"})).await;
    let orders = run.client.recv_until(Duration::from_secs(2), |v| v["type"] == "orders_response").await.unwrap();
    let statuses: Vec<(String, String)> = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["symbol"].as_str().unwrap().to_owned(), o["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(statuses.len(), 4);
    for (sym, st) in [("AAPL", "Filled"), ("MSFT", "Cancelled"), ("NVDA", "Filled"), ("TSLA", "Inactive")] {
        assert!(statuses.contains(&(sym.to_owned(), st.to_owned())), "{sym} {st} in {statuses:?}");
    }
    // the stream also carries account updates this client did not subscribe to
    assert!(orders["seq"].as_u64().unwrap() >= run.last_seq);
    assert_eq!(orders["source_connected"], true);

    // graceful shutdown closes clients with "server restarting"
    bridge.shutdown().await;
    assert_eq!(run.client.close_code(Duration::from_secs(2)).await, Some(CloseCode::ServerRestarting.code()));
}
