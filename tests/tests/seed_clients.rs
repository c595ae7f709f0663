//! Existing clients of the seed system keep working unchanged against the demo on its
//! default port 8000: the seed-style Python and JavaScript clients in `tests/clients/`
//! (written here to do what the seed document's examples do) must get the
//! subscription confirmation, order_update and order_notification events within
//! seconds. A second pair of scripts, written in the seed's style, checks `pong` for
//! `ping` and `orders_response` for `get_orders`.

use std::process::Stdio;
use std::time::Duration;

use ibws_bridge::app::{Demo, DemoOptions};
use ibws_tests::{client_script, python};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Runs a client for up to `secs`, collecting stdout lines until `done` says so.
async fn run_client(mut cmd: Command, secs: u64, done: impl Fn(&str) -> bool) -> String {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().expect("client starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(secs), async {
        while let Ok(Some(l)) = lines.next_line().await {
            out.push_str(&l);
            out.push('\n');
            if done(&out) {
                break;
            }
        }
    })
    .await;
    let _ = child.kill().await;
    out
}

fn has_all(out: &str, needles: &[&str]) -> bool {
    needles.iter().all(|n| out.contains(n))
}

const PY_PING_ORDERS: &str = r#"
import asyncio, json, websockets
async def main():
    async with websockets.connect("ws://localhost:8000/websocket/ws?client_id=py_checker") as ws:
        await ws.send(json.dumps({"type": "ping"}))
        await ws.send(json.dumps({"type": "get_orders"}))
        while True:
            print(json.loads(await ws.recv())["type"], flush=True)
asyncio.run(main())
"#;

const JS_PING_ORDERS: &str = r#"
const ws = new WebSocket('ws://localhost:8000/websocket/ws?client_id=js_checker');
ws.onopen = () => { ws.send(JSON.stringify({type: 'ping'})); ws.send(JSON.stringify({type: 'get_orders'})); };
ws.onmessage = (e) => console.log(JSON.parse(e.data).type);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_clients_work_unchanged_against_the_demo() {
    let demo = Demo::start(
        "127.0.0.1:8000".parse().unwrap(),
        DemoOptions { seed: 1, flow: Some(Duration::from_millis(150)), ..DemoOptions::default() },
    )
    .await
    .expect("demo starts on :8000");

    let py = python();
    let py_want =
        ["'type': 'subscription'", "'status': 'success'", "'type': 'order_update'", "'type': 'order_notification'"];
    let js_want = ["type: 'subscription'", "type: 'order_update'", "type: 'order_notification'"];

    // Python, written here as the seed's users write it (tests/clients/)
    let mut cmd = Command::new(&py);
    cmd.arg(client_script("seed_style_client.py")).env("PYTHONUNBUFFERED", "1");
    let out = run_client(cmd, 20, |o| has_all(o, &py_want)).await;
    assert!(has_all(&out, &py_want), "python seed-style client got:\n{out}");

    let mut cmd = Command::new(&py);
    cmd.arg("-c").arg(PY_PING_ORDERS).env("PYTHONUNBUFFERED", "1");
    let out = run_client(cmd, 10, |o| has_all(o, &["pong", "orders_response"])).await;
    assert!(has_all(&out, &["connection", "pong", "orders_response"]), "python: {out}");

    // JavaScript, likewise, on Node's built-in WebSocket
    let mut cmd = Command::new("node");
    cmd.arg("--experimental-websocket").arg(client_script("seed_style_client.mjs"));
    let want: Vec<&str> = std::iter::once("connected").chain(js_want).collect();
    let out = run_client(cmd, 20, |o| has_all(o, &want)).await;
    assert!(has_all(&out, &want), "node seed-style client got:\n{out}");

    let mut cmd = Command::new("node");
    cmd.arg("--experimental-websocket").arg("-e").arg(JS_PING_ORDERS);
    let out = run_client(cmd, 10, |o| has_all(o, &["pong", "orders_response"])).await;
    assert!(has_all(&out, &["connection", "pong", "orders_response"]), "node: {out}");

    drop(demo);
}
