//! The soak, short: a few hundred authenticated TLS clients on an `ibws relay`
//! process with a steady flow through its real ingest. No connection may drop and no
//! event may be lost. The full run (10,000 clients, 10 minutes) is `ibws-soak`; see
//! docs/reliability.md. Latency and memory are printed, not asserted.

use std::time::Duration;

use ibws_tests::soak::{self, SoakConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_holds_every_connection_and_event() {
    let clients = 300;
    let report = soak::run(SoakConfig {
        clients,
        duration: Duration::from_secs(12),
        rate: 20,
        sample: Duration::from_secs(2),
        connect_parallelism: 100,
        ibws: ibws_tests::process::built_ibws_bin(),
        work_dir: ibws_tests::repo_root().join("target/soak-test"),
    })
    .await;
    println!("{}", report.summary());
    assert_eq!(report.connected, clients as u64, "every client subscribed");
    assert_eq!(report.lost_connections, 0, "no connection dropped: {}", report.summary());
    assert_eq!(report.lost_events, 0, "no event lost: {}", report.summary());
    // every client saw (nearly) every event published in the steady phase
    assert!(report.delivered >= clients as u64 * 200, "{}", report.summary());
    assert!(report.rss_samples.len() >= 3, "RSS was sampled");
}
