//! Playwright (npm `playwright-core`) drives Debian's Chromium through the dashboard
//! that the demo serves: orders appear and change status, agent orders are marked,
//! notifications, account and tickers fill in. The screenshot is kept as a test
//! artifact in `tests/artifacts/dashboard.png`.

use std::time::Duration;

use ibws_bridge::app::Demo;
use ibws_tests::{browser_dir, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_live_orders_in_chromium() {
    let demo = Demo::start("127.0.0.1:0".parse().unwrap(), 3, Some(Duration::from_millis(250))).await.unwrap();
    let dir = browser_dir();
    let artifacts = repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let out = tokio::process::Command::new("node")
        .arg(dir.join("dashboard.mjs"))
        .arg(format!("http://{}/", demo.bridge.addr))
        .arg(&shot)
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(120), out).await.expect("playwright finished").expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dashboard test failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
    let png = std::fs::read(&shot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
}
