//! Cost per delivered event at 1,000 subscribers.
//!
//! Drives the hub as a transport would: publish an order_update, drain the outputs,
//! take every woken client's frames. Prints ns per delivered event (publish plus
//! fan-out plus hand-over) and events/s. Run: `cargo bench -p ibws-shared --bench hub_fanout`.

use std::hint::black_box;
use std::time::Instant;

use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output, StampedEvent};
use ibws_shared::protocol::{ClientMessage, Num, OrderData, OrderUpdate, ServerFrame};

fn main() {
    for &subscribers in &[1_000usize, 100] {
        run(subscribers, 2_000);
    }
}

fn run(subscribers: usize, events: u64) {
    let cfg = HubConfig::default();
    let mut hub = Hub::new(cfg, None, "bench".into());
    let now = Now { mono_ms: 1, unix_us: 1_700_000_000_000_000 };
    let sub = serde_json::to_string(&ClientMessage::Subscribe {
        message_types: vec!["order_update".into()],
        epoch: None,
        since: None,
    })
    .unwrap();
    for id in 0..subscribers as u64 {
        hub.connect(id, ConnectInfo::default(), now);
        hub.on_text(id, &sub, now);
    }
    let mut sink = Vec::new();
    drain(&mut hub, &mut sink);

    let start = Instant::now();
    let mut delivered = 0u64;
    for seq in 1..=events {
        let mut f = ServerFrame::OrderUpdate(OrderUpdate {
            data: OrderData {
                order_id: seq as i64,
                symbol: "AAPL".into(),
                action: "BUY".into(),
                quantity: Num(100.0),
                order_type: "LMT".into(),
                status: "Submitted".into(),
                filled: Some(Num(0.0)),
                remaining: Some(Num(100.0)),
                avg_fill_price: Some(Num(0.0)),
                price: Some(Num(150.25)),
                perm_id: Some(1_000 + seq as i64),
                account: Some("DU123".into()),
                ..Default::default()
            },
            timestamp: "2026-11-22T10:30:45.123456".into(),
            seq: None,
            epoch: None,
        });
        f.set_position("bench", seq);
        hub.publish(StampedEvent::new(f).unwrap(), now).expect("the next event");
        delivered += drain(&mut hub, &mut sink);
        sink.clear();
    }
    let el = start.elapsed();
    assert_eq!(delivered, events * subscribers as u64);
    println!(
        "hub_fanout: subscribers={subscribers} events={events} delivered={delivered} \
         ns_per_delivery={:.1} deliveries_per_sec={:.0} us_per_event={:.1}",
        el.as_nanos() as f64 / delivered as f64,
        delivered as f64 / el.as_secs_f64(),
        el.as_micros() as f64 / events as f64,
    );
}

fn drain(hub: &mut Hub, sink: &mut Vec<ibws_shared::hub::Frame>) -> u64 {
    let mut n = 0;
    while let Some(o) = hub.poll_output() {
        if let Output::Wake(id) = o {
            let before = sink.len();
            hub.take_frames(id, sink);
            n += (sink.len() - before) as u64;
        }
    }
    black_box(&sink);
    n
}
