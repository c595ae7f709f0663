//! Frames decoded per second for orderStatus and openOrder (a full openOrder as the
//! simulator encodes it: every field of the layout, lists empty), through the framer,
//! the envelope and the typed decoder: text at server versions 176 and 200 (the text
//! encoding's last), and at 213 both text (after the binary id) and protobuf, the
//! same messages in each, so the two encodings compare in one run.
//! Run: `cargo bench -p ibws-tws --bench tws_decode`.

use std::hint::black_box;
use std::time::Instant;

use ibws_tws::encoding::Encoding;
use ibws_tws::message::{decode_message, encode_incoming_as};
use ibws_tws::types::*;
use ibws_tws::{FrameDecoder, Incoming};

fn bench(name: &str, version: i32, encoding: Encoding, frame: &[u8], n: usize) {
    let stream: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 1000).collect();
    let start = Instant::now();
    let mut count = 0;
    for _ in 0..n / 1000 {
        let mut d = FrameDecoder::new();
        d.extend(&stream);
        while let Some(f) = d.next_frame().unwrap() {
            let m = decode_message(version, &f).unwrap();
            black_box(&m);
            count += 1;
        }
    }
    let el = start.elapsed();
    println!(
        "tws_decode: message={name} version={version} encoding={} frames={count} bytes_per_frame={} frames_per_sec={:.0} ns_per_frame={:.0}",
        if encoding == Encoding::Text { "text" } else { "protobuf" },
        frame.len(),
        count as f64 / el.as_secs_f64(),
        el.as_nanos() as f64 / count as f64
    );
}

fn main() {
    let max = ibws_tws::versions::MAX_CLIENT_VERSION;
    for (version, encoding) in [
        (176, Encoding::Text),
        (ibws_tws::versions::TEXT_ONLY_MAX, Encoding::Text),
        (max, Encoding::Text),
        (max, Encoding::Protobuf),
    ] {
        run(version, encoding);
    }
}

fn run(version: i32, encoding: Encoding) {
    let status = Incoming::OrderStatus(OrderStatus {
        order_id: 219,
        status: "Submitted".into(),
        filled: 40.0,
        remaining: 60.0,
        avg_fill_price: 190.12,
        perm_id: 665616366,
        last_fill_price: 190.1,
        client_id: 0,
        ..OrderStatus::default()
    });
    bench("orderStatus", version, encoding, &encode_incoming_as(version, &status, encoding), 500_000);

    let order = Incoming::OpenOrder(Box::new((
        Order {
            order_id: 219,
            contract: Contract::stock("AAPL", 265598),
            action: "BUY".into(),
            total_quantity: 100.0,
            order_type: "LMT".into(),
            lmt_price: Some(190.5),
            tif: "DAY".into(),
            account: "DU1".into(),
            perm_id: 665616366,
            ..Order::default()
        },
        OrderState { status: "Submitted".into(), ..OrderState::default() },
    )));
    bench("openOrder", version, encoding, &encode_incoming_as(version, &order, encoding), 200_000);
}
