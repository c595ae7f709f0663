//! The fuzz targets on the stable toolchain: every seed, and every input the fuzzer
//! ever found a crash with (`fuzz/regressions/<target>/`, committed), goes through the
//! same function `cargo +nightly fuzz` runs (`ibws_tests::fuzz_targets`). A crash
//! found once stays fixed.

use std::sync::mpsc;
use std::time::Duration;

use ibws_tests::fuzz_targets::{seeds, TARGETS};

fn target(name: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).unwrap_or_else(|| panic!("no target {name}"))
}

#[test]
fn every_seed_runs_through_its_target() {
    let all = seeds();
    for (name, _) in TARGETS {
        assert!(all.iter().any(|(t, _, _)| *t == name), "{name} has seeds");
    }
    assert!(all.iter().filter(|(t, _, _)| *t == "tws_frames").count() >= 5, "the TWS capture seeds tws_frames");
    for (t, name, bytes) in &all {
        target(t)(bytes);
        // and every prefix of a short seed, as a truncated read would give
        if bytes.len() < 600 {
            for cut in 0..bytes.len() {
                target(t)(&bytes[..cut]);
            }
        }
        let _ = name;
    }
}

/// How long one input may take through its target before it counts as a hang (the
/// fuzzer's `-timeout=` in `fuzz/run.sh` is the same kind of bound). Every committed
/// input runs in milliseconds; this is far above that even in a debug build on a busy
/// machine, and far below a hang.
const HANG: Duration = Duration::from_secs(20);

/// Runs one input through its target on its own thread: `Err` when it panics or does
/// not finish within [`HANG`] (the thread is left behind; the test fails anyway).
fn replay(f: fn(&[u8]), bytes: Vec<u8>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| f(&bytes));
        let _ = tx.send(r.map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(msg)) => Err(format!("panicked: {msg}")),
        Err(_) => Err(format!("did not finish within {HANG:?} (a hang)")),
    }
}

#[test]
fn every_crash_found_stays_fixed() {
    let dir = ibws_tests::repo_root().join("fuzz/regressions");
    let mut n = 0;
    let mut failures = Vec::new();
    for (name, f) in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else { continue };
        for e in entries.flatten() {
            let bytes = std::fs::read(e.path()).expect("read regression input");
            if let Err(why) = replay(f, bytes) {
                failures.push(format!("{name}/{}: {why}", e.file_name().to_string_lossy()));
            }
            n += 1;
        }
    }
    println!("fuzz regressions replayed: {n}");
    assert!(failures.is_empty(), "regression inputs misbehave:\n{}", failures.join("\n"));
    // the inputs committed with the fixes they found (a hostile bridge's seq 2^64 - 1)
    assert!(n >= 3, "fuzz/regressions holds the committed inputs (found {n})");
}

/// The replay itself can fail: a target that panics is reported, not passed (a hang
/// takes the same path, after [`HANG`]).
#[test]
fn the_replay_fails_a_panicking_target() {
    fn panics(_: &[u8]) {
        panic!("boom")
    }
    assert!(replay(panics, vec![]).unwrap_err().contains("boom"));
    fn fine(_: &[u8]) {}
    assert!(replay(fine, vec![]).is_ok());
}
