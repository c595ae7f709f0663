//! Playwright (npm `playwright-core`) drives Debian's Chromium through the dashboard a
//! bridge serves: a simulated TWS with two accounts, a few hundred working orders and a
//! random order flow, the bridge forwarding to a relay. Each piece is checked (see
//! `tests/browser/dashboard.mjs`: the scroll area, sorting, search, agent marks from the
//! server's flag, English notifications, the alerts strip, the fills blotter, P&L,
//! number formats, sparklines, an order's timeline, link states with their reasons,
//! filters). Screenshots go to `tests/artifacts/`. How fast the page stays on a busy
//! day is a benchmark (`tests/browser/dashboard-bench.mjs`), not a test.

use std::time::Duration;

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::notify::AgentRules;
use ibws_tests::{browser_dir, repo_root, test_relay, test_uplink, TestKeys};
use ibws_tws_io::sim::{AccountSpec, SimConfig, Simulator, AGENT_CLIENT_ID};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SCREENSHOTS: [&str; 5] = [
    "dashboard.png",
    "dashboard-timeline.png",
    "dashboard-alerts.png",
    "dashboard-filtered.png",
    "dashboard-links-down.png",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_each_piece_live_in_chromium() {
    use ibws_tws::outgoing::OrderTicket;
    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        seed: 3,
        accounts: vec!["DU111".parse::<AccountSpec>().unwrap(), "DU222:GBP".parse().unwrap()],
        flow_interval: Some(Duration::from_millis(150)),
        orders: 300,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keys = TestKeys::hs256("dashboard-test-secret-of-at-least-32-bytes");
    let (relay, ca) = test_relay(&keys).await;
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        watch: ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "SPY"].map(String::from).to_vec(),
        agents: AgentRules { client_ids: vec![AGENT_CLIENT_ID], ..AgentRules::default() },
        market_max_per_sec: 8,
        uplink: Some(test_uplink(relay.addr.port(), &keys, "desk", &ca)),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();

    let artifacts = repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for f in SCREENSHOTS {
        let _ = std::fs::remove_file(artifacts.join(f));
    }
    let mut child = tokio::process::Command::new("node")
        .arg(browser_dir().join("dashboard.mjs"))
        .arg(format!("http://{}/", bridge.addr))
        .arg(&artifacts)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    let mut relay = Some(relay);
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let answer: &[u8] = if line.contains("\"phase\":\"pause\"") {
                sim.set_flow(false);
                b"paused\n"
            } else if line.contains("\"phase\":\"resume\"") {
                sim.set_flow(true);
                b"resumed\n"
            } else if line.contains("\"phase\":\"reject\"") {
                let perm = sim.place(0, "MSFT", OrderTicket::limit("BUY", 10.0, 400.0));
                sim.reject(perm, "Order size exceeds the test's limit (simulated).");
                b"rejected\n"
            } else if line.contains("\"phase\":\"up\"") {
                // take TWS (down until the test ends) and the relay away
                sim.go_down();
                drop(relay.take());
                b"links-down\n"
            } else {
                b""
            };
            if !answer.is_empty() {
                stdin.write_all(answer).await.unwrap();
                stdin.flush().await.unwrap();
            }
            out.push(line);
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(240), run).await.expect("the dashboard test finished");
    let stdout = out.join("\n");
    assert!(status.success(), "dashboard test failed:\n{stdout}");
    let result = out.iter().rev().find(|l| l.contains("\"ok\"")).unwrap_or_else(|| panic!("no result in {stdout}"));
    let r: serde_json::Value = serde_json::from_str(result).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    for key in [
        "orders",
        "english_labels",
        "scroll_area",
        "sorting",
        "search",
        "formats",
        "sparkline_fills",
        "fills",
        "accounts",
        "links_up",
        "timeline",
        "alerts",
        "filters",
        "links_down",
    ] {
        assert!(!r["checks"][key].is_null(), "check {key} ran: {r}");
    }
    for f in SCREENSHOTS {
        let png = std::fs::read(artifacts.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{f} is a real screenshot");
    }
    drop(bridge);
}

/// A busy account's book: 10,000 working orders. The dashboard takes them all into a
/// scroll area that draws only the rows in view, puts the order changed last first,
/// follows its changes in place, reaches the oldest by scrolling, and every real click
/// opens the clicked order's timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_with_ten_thousand_orders_draws_the_newest_and_stays_live() {
    use ibws_tws::outgoing::OrderTicket;
    const ORDERS: usize = 10_000;
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    sim.set_flow(false);
    let mut newest = 0;
    for i in 0..ORDERS {
        newest = sim.place(0, "MSFT", OrderTicket::limit("BUY", 100.0, 1.0 + (i % 500) as f64));
    }
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    let artifacts = repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let _ = std::fs::remove_file(artifacts.join("dashboard-10000-orders.png"));
    // the newest order's price changes every 200 ms while the page looks
    let mover = {
        let sim = sim.clone();
        tokio::spawn(async move {
            for i in 1.. {
                tokio::time::sleep(Duration::from_millis(200)).await;
                sim.modify(newest, Some(200.0 + f64::from(i) / 100.0), None);
            }
        })
    };
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg(browser_dir().join("dashboard-scale.mjs"))
            .arg(format!("http://{}/", bridge.addr))
            .arg(&artifacts)
            .arg(ORDERS.to_string())
            .arg(newest.to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the dashboard test finished")
    .expect("node runs");
    mover.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "dashboard at 10,000 orders failed:\n{stdout}");
    let png = std::fs::read(artifacts.join("dashboard-10000-orders.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
    drop(bridge);
}

/// The busy-day benchmark (`tests/browser/dashboard-bench.mjs`, run in full by hand; its
/// numbers are in docs/benchmarks.md) in a few seconds, so the harness cannot rot: it
/// starts `ibws sim` and `ibws bridge` as processes, measures both phases and clicks.
/// Its numbers are printed, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_busy_day_benchmark_runs() {
    let ibws = ibws_tests::process::built_ibws_bin();
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg(browser_dir().join("dashboard-bench.mjs"))
            .arg("--ibws")
            .arg(&ibws)
            .args(["--orders", "300", "--flow-ms", "100", "--secs", "2", "--clicks", "3"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the benchmark finished")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "the benchmark failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().rev().find(|l| l.starts_with('{')).expect("a summary")).unwrap();
    let phases = summary["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "{summary}");
    for p in phases {
        assert!(p["fps"].as_f64().unwrap() > 0.0 && p["busy_pct"].as_f64().is_some(), "{summary}");
    }
    assert!(summary["clicks"].as_u64().unwrap() >= 1, "the clicks were made: {summary}");
}
