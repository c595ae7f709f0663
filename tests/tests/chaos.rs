//! The chaos harness, short: every fault once against each relay (kill -9 of the relay
//! and of the bridge as real processes, uplink cut, TWS restart, 1100/1101, vanishing
//! and stalled clients). No event may be lost or duplicated, every cycle must converge
//! to the simulator's truth, and no relay may lose what it acknowledged. The full run
//! (50+ cycles per relay) is `ibws-chaos`; see docs/reliability.md.

use std::time::Duration;

use ibws_tests::chaos::{self, ChaosConfig, Fault, RelayKind};

async fn short_run(relay: RelayKind, flow_ms: u64) {
    let cfg = ChaosConfig {
        relay,
        cycles: Fault::ALL.len(),
        faults: Fault::ALL.to_vec(),
        clients: 20,
        flow: Duration::from_millis(flow_ms),
        flow_per_cycle: Duration::from_secs(2),
        converge_timeout: Duration::from_secs(45),
        ibws: ibws_tests::process::built_ibws_bin(),
        work_dir: ibws_tests::repo_root().join("target/chaos-test").join(relay.name()),
        seed: 11,
    };
    let report = chaos::run(cfg).await;
    println!("{}", report.summary());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.cycles, Fault::ALL.len());
    assert_eq!((report.clients.lost, report.clients.duplicated), (0, 0), "{}", report.summary());
    assert_eq!(report.ack_regressions, 0, "a relay lost events it had acknowledged");
    assert!(report.clients.delivered > 1_000, "events flowed: {}", report.summary());
    assert!(report.clients.resumes_refused >= 20, "the bridge's restart was announced: {}", report.summary());
    assert!(report.clients.resumes_recovered >= 6, "vanished clients resumed: {}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_relay_survives_every_fault() {
    short_run(RelayKind::Native, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_relay_survives_every_fault() {
    short_run(RelayKind::Edge, 150).await;
}
