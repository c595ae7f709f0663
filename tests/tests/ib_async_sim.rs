//! A real third-party TWS client, ib_async (from PyPI, pinned in
//! tests/requirements.txt), connects to the simulator: its handshake completes and it
//! sees the simulator's orders with the right symbol, action, quantity, type and
//! status. It also places and cancels an order through the simulator, which must
//! accept both. This keeps the simulator honest against code we did not write.

use std::time::Duration;

use ibws_tests::python;
use ibws_tws::outgoing::OrderTicket;
use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::Value;

const SCRIPT: &str = r#"
import asyncio, json, sys
from ib_async import IB, Stock, LimitOrder
async def main():
    ib = IB()
    await ib.connectAsync('127.0.0.1', int(sys.argv[1]), clientId=0, timeout=10)
    await asyncio.sleep(1)
    trades = [{"order_id": t.order.orderId, "perm_id": t.order.permId, "symbol": t.contract.symbol,
               "action": t.order.action, "quantity": t.order.totalQuantity, "type": t.order.orderType,
               "status": t.orderStatus.status, "filled": t.orderStatus.filled, "ref": t.order.orderRef}
              for t in ib.trades()]
    placed = ib.placeOrder(Stock('MSFT', 'SMART', 'USD'), LimitOrder('SELL', 5, 401.5, orderRef='from-ib-async'))
    for _ in range(50):
        await asyncio.sleep(0.1)
        if placed.orderStatus.status == 'PreSubmitted':
            break
    after_place = placed.orderStatus.status
    ib.cancelOrder(placed.order)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if placed.orderStatus.status == 'Cancelled':
            break
    print(json.dumps({"server_version": ib.client.serverVersion(), "accounts": ib.managedAccounts(),
                      "trades": trades, "placed_status": after_place, "cancelled_status": placed.orderStatus.status,
                      "fills": len(ib.fills()), "positions": len(ib.positions())}))
    ib.disconnect()
asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ib_async_connects_and_sees_the_simulators_orders() {
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let a = sim.place(0, "AAPL", OrderTicket::limit("BUY", 100.0, 190.5));
    sim.submit(a);
    sim.fill(a, 40.0, 190.4);
    let b = sim.place(7, "NVDA", OrderTicket::market("SELL", 300.0).with_ref("mcp-agent-1"));
    let c = sim.place(0, "TSLA", OrderTicket::limit("BUY", 50.0, 240.0));
    sim.cancel(c);

    let py = python();
    let out = tokio::process::Command::new(&py)
        .arg("-c")
        .arg(SCRIPT)
        .arg(sim.addr().port().to_string())
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(60), out).await.expect("ib_async finishes").expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ib_async failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON result");
    // ib_async 2 offers v157..178; the simulator answers at the lower end of both
    // ranges (up to 213), as TWS does
    assert_eq!(v["server_version"], ibws_tws::versions::TEXT_V178);
    assert_eq!(v["accounts"][0], "DU1234567");

    let trades = v["trades"].as_array().unwrap();
    let find = |perm: i64| {
        trades.iter().find(|t| t["perm_id"] == perm).unwrap_or_else(|| panic!("order {perm} not seen: {trades:?}"))
    };
    let ta = find(a);
    assert_eq!(
        (
            ta["symbol"].as_str(),
            ta["action"].as_str(),
            ta["quantity"].as_f64(),
            ta["type"].as_str(),
            ta["status"].as_str()
        ),
        (Some("AAPL"), Some("BUY"), Some(100.0), Some("LMT"), Some("Submitted"))
    );
    assert_eq!(ta["filled"].as_f64(), Some(40.0));
    let tb = find(b);
    assert_eq!(
        (
            tb["symbol"].as_str(),
            tb["action"].as_str(),
            tb["quantity"].as_f64(),
            tb["type"].as_str(),
            tb["status"].as_str()
        ),
        (Some("NVDA"), Some("SELL"), Some(300.0), Some("MKT"), Some("PreSubmitted"))
    );
    assert_eq!(tb["ref"], "mcp-agent-1");
    let tc = find(c);
    assert_eq!((tc["symbol"].as_str(), tc["status"].as_str()), (Some("TSLA"), Some("Cancelled")));
    assert_eq!(v["fills"], 1, "the fill of order {a} reached ib_async");
    assert_eq!(v["positions"], 1);

    // the order ib_async placed went through our placeOrder decoder and back
    assert_eq!(v["placed_status"], "PreSubmitted");
    assert_eq!(v["cancelled_status"], "Cancelled");
    let placed = sim
        .orders()
        .into_iter()
        .find(|o| o.order.order_ref == "from-ib-async")
        .expect("simulator holds ib_async's order");
    assert_eq!(
        (
            placed.order.contract.symbol.as_str(),
            placed.order.action.as_str(),
            placed.order.total_quantity,
            placed.order.lmt_price
        ),
        ("MSFT", "SELL", 5.0, Some(401.5))
    );
    assert_eq!(placed.status.status, "Cancelled");
}

const MULTI_SCRIPT: &str = r#"
import asyncio, json, sys, time
from ib_async import IB
async def main():
    ib = IB()
    t0 = time.monotonic()
    await ib.connectAsync('127.0.0.1', int(sys.argv[1]), clientId=3, timeout=10, raiseSyncErrors=True)
    took = time.monotonic() - t0
    values = [[v.account, v.tag, v.currency, v.value] for v in ib.accountValues()]
    print(json.dumps({"connect_s": took, "accounts": ib.managedAccounts(), "values": values}))
    ib.disconnect()
asyncio.run(main())
"#;

/// ib_async asks every managed account for reqAccountUpdatesMulti at start-up and
/// waits for each answer: with several accounts (one EUR-based) it must connect
/// without a timeout and decode every value the simulator sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ib_async_follows_several_accounts_without_waiting_for_a_timeout() {
    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        accounts: vec!["DU111".parse().unwrap(), "DU222:EUR".parse().unwrap()],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let out = tokio::process::Command::new(python())
        .arg("-c")
        .arg(MULTI_SCRIPT)
        .arg(sim.addr().port().to_string())
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(60), out).await.expect("ib_async finishes").expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ib_async failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON result");
    assert_eq!(v["accounts"], serde_json::json!(["DU111", "DU222"]));
    assert!(v["connect_s"].as_f64().unwrap() < 5.0, "start-up waited for a timeout: {}", v["connect_s"]);
    let mut seen: Vec<(String, String, String, String)> =
        serde_json::from_value(v["values"].clone()).expect("value rows");
    seen.retain(|r| r.0 == "DU222");
    seen.sort();
    let mut truth: Vec<(String, String, String, String)> = sim.with_engine(|e| {
        e.account_values("DU222").into_iter().map(|(k, val, c)| ("DU222".to_owned(), k, c, val)).collect()
    });
    truth.sort();
    assert_eq!(seen, truth, "every DU222 value decoded by ib_async as the simulator sent it");
}
