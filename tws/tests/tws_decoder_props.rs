//! The decoder never panics, whatever the bytes: arbitrary streams, and frames that
//! start with a real message id followed by random fields (which reach deep into the
//! openOrder walk, its counts and its conditional sections).

use ibws_tws::frame::{encode_frame, split_fields};
use ibws_tws::incoming::decode;
use ibws_tws::{FrameDecoder, Request};
use proptest::prelude::*;

const IDS: [&str; 24] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "11", "15", "45", "46", "49", "53", "54", "55", "58", "59", "61",
    "62", "101", "102", "999",
];

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("3".to_owned()),
        Just("-1".to_owned()),
        Just("1.7976931348623157E308".to_owned()),
        Just("2147483647".to_owned()),
        Just("PEG BENCH".to_owned()),
        Just("99999999999999999999".to_owned()),
        "[0-9]{1,4}",
        ".{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2_000), version in 150i32..=ibws_tws::versions::MAX_CLIENT_VERSION) {
        let mut d = FrameDecoder::new();
        d.extend(&bytes);
        while let Ok(Some(frame)) = d.next_frame() {
            let _ = decode(version, &split_fields(&frame));
            let _ = Request::decode(&split_fields(&frame), ibws_tws::versions::MAX_CLIENT_VERSION);
        }
    }

    #[test]
    fn typed_frames_with_random_fields_never_panic(
        id in prop::sample::select(IDS.to_vec()),
        rest in prop::collection::vec(field(), 0..200),
        version in 157i32..=ibws_tws::versions::MAX_CLIENT_VERSION,
    ) {
        let mut fields = vec![id.to_owned()];
        fields.extend(rest);
        let bytes = encode_frame(&fields);
        let mut d = FrameDecoder::new();
        d.extend(&bytes);
        let frame = d.next_frame().unwrap().unwrap();
        let _ = decode(version, &split_fields(&frame));
        let _ = Request::decode(&split_fields(&frame), ibws_tws::versions::MAX_CLIENT_VERSION);
    }
}
