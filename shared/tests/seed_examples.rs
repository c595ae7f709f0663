//! Every JSON example in the seed document parses into the typed model and
//! re-serializes to the same JSON value.
//!
//! The seed document's JSON examples are kept below, as the seed gives them, so the
//! test reads nothing outside the repository.

use ibws_shared::protocol::{ClientMessage, ServerFrame};
use serde_json::Value;

/// Extracts the ```json fenced blocks of a markdown document.
fn json_blocks(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        let t = line.trim();
        match &mut cur {
            None if t == "```json" => cur = Some(String::new()),
            Some(buf) if t == "```" => {
                out.push(std::mem::take(buf));
                cur = None;
            }
            Some(buf) => {
                buf.push_str(line);
                buf.push('\n');
            }
            None => {}
        }
    }
    out
}

fn roundtrip(block: &str) {
    let original: Value = serde_json::from_str(block).expect("seed example is JSON");
    let ty = original["type"].as_str().unwrap();
    let again = if matches!(ty, "subscribe" | "unsubscribe" | "ping" | "get_orders") {
        let m = ClientMessage::parse(block).unwrap_or_else(|e| panic!("{ty}: {e}"));
        serde_json::to_value(&m).unwrap()
    } else {
        let f: ServerFrame = serde_json::from_str(block).unwrap_or_else(|e| panic!("{ty}: {e}"));
        serde_json::to_value(&f).unwrap()
    };
    assert_eq!(again, original, "{ty} did not round-trip");
}

#[test]
fn seed_document_examples_round_trip() {
    let doc = EMBEDDED;
    let blocks = json_blocks(&doc);
    // subscribe, unsubscribe, ping, get_orders, order_update, order_notification,
    // mcp_order, error
    assert_eq!(blocks.len(), 8, "the seed has eight JSON examples");
    let types: Vec<String> =
        blocks.iter().map(|b| serde_json::from_str::<Value>(b).unwrap()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        types,
        ["subscribe", "unsubscribe", "ping", "get_orders", "order_update", "order_notification", "mcp_order", "error"]
    );
    for b in &blocks {
        roundtrip(b);
    }
}

#[test]
fn seed_reply_frames_round_trip() {
    // The seed system's reply frames (reference.md section 1).
    for f in [
        r#"{"type":"connection","status":"connected","message":"ok","timestamp":"2023-03-15T10:30:45.123456","client_id":"c1"}"#,
        r#"{"type":"subscription","status":"success","subscribed_types":["order_update","mcp_order"],"timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"unsubscription","status":"success","remaining_types":["mcp_order"],"timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"pong","timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"orders_response","data":[{"order_id":1,"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","filled":0,"remaining":100,"avg_fill_price":0,"price":150.25}],"timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"error","message":"unknown message type: foo","timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"account_update","data":{"account":"DU1","values":{"NetLiquidation":"100"},"positions":[]},"timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"market_data","symbol":"AAPL","data":{"bid":1.5,"ask":2,"last":null,"bid_size":100,"ask_size":200,"last_size":null},"timestamp":"2023-03-15T10:30:45.123456"}"#,
        r#"{"type":"order_update","data":{"order_id":1,"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Filled","filled":100,"remaining":0,"avg_fill_price":150.1,"price":150.25,"perm_id":77},"timestamp":"t","seq":9,"epoch":"e"}"#,
    ] {
        roundtrip(f);
    }
}

const EMBEDDED: &str = r#"
```json
{
  "type": "subscribe",
  "message_types": ["order_update", "order_notification", "mcp_order"]
}
```
```json
{
  "type": "unsubscribe",
  "message_types": ["order_update"]
}
```
```json
{
  "type": "ping"
}
```
```json
{
  "type": "get_orders"
}
```
```json
{
  "type": "order_update",
  "data": {
    "order_id": 12345, "symbol": "AAPL", "action": "BUY", "quantity": 100, "order_type": "LMT",
    "status": "Submitted", "filled": 0, "remaining": 100, "avg_fill_price": 0, "price": 150.25, "why_held": ""
  },
  "timestamp": "2023-03-15T10:30:45.123456"
}
```
```json
{
  "type": "order_notification", "action": "创建",
  "data": {"order_id": 12345, "symbol": "AAPL", "action": "BUY", "quantity": 100, "order_type": "LMT", "status": "Submitted", "price": 150.25},
  "message": "订单创建成功", "timestamp": "2023-03-15T10:30:45.123456"
}
```
```json
{
  "type": "mcp_order", "action": "MCP创建限价单",
  "data": {"order_id": 12345, "symbol": "AAPL", "action": "BUY", "quantity": 100, "order_type": "LMT", "price": 150.25, "status": "Submitted"},
  "source": "MCP", "message": "MCP 创建限价单", "timestamp": "2023-03-15T10:30:45.123456"
}
```
```json
{
  "type": "error", "message": "订单创建失败: 余额不足", "error_code": "INSUFFICIENT_FUNDS", "timestamp": "2023-03-15T10:30:45.123456"
}
```
"#;
