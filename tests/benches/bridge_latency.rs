//! Latency from a TWS frame to the notification reaching the bridge's WebSocket
//! clients, at 1 and at 100 clients: scenario D of the peer benchmark
//! ([`ibws_tests::bench::bridge_end_to_end`]) at a size that suits `cargo bench`.
//!
//! The bridge is the real `ibws` binary in its own process (release build), between a
//! simulated TWS and the clients, both inside this process; t0 is taken when the
//! simulator begins writing the frame, t1 when a client's read of the notification
//! returns (the clients are read by one epoll thread, see `ibws_tests::epoll_clients`).
//! So each sample includes both loopback TCP hops and the client's read. `first` is
//! the first client's latency in each round (the path), `spread` the time from the
//! first client to the last (the fan-out). Speed is reported, not asserted.
//! Run: `cargo bench -p ibws-tests --bench bridge_latency`.

use std::path::PathBuf;

use ibws_tests::bench::bridge_end_to_end;
use ibws_tests::process::built_ibws_bin;

fn main() {
    let ibws = built_ibws_bin();
    let work = std::env::temp_dir().join(format!("ibws-bridge-latency-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for (clients, orders) in [(1usize, 0usize), (100, 0), (100, 10_000)] {
            let dir: PathBuf = work.join(format!("{clients}-{orders}"));
            let s = bridge_end_to_end(&ibws, &dir, clients, 1_000, orders).await;
            let m = |k: &str| s.metrics.get(k).copied().unwrap_or(f64::NAN);
            let us = |k: &str| (m(k) * 1000.0).round();
            println!(
                "bridge_latency: clients={clients} orders_in_book={orders} delivered_pct={:.1} p50_us={} p99_us={} p999_us={} max_us={} first_p50_us={} spread_p50_us={}",
                m("delivered_pct"),
                us("p50_ms"),
                us("p99_ms"),
                us("p999_ms"),
                us("max_ms"),
                us("first_p50_ms"),
                us("spread_p50_ms"),
            );
        }
    });
    let _ = std::fs::remove_dir_all(&work);
}
