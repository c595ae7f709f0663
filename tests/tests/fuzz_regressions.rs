//! The fuzz targets on the stable toolchain: every seed, and every input the fuzzer
//! ever found a crash with (`fuzz/regressions/<target>/`, committed), goes through the
//! same function `cargo +nightly fuzz` runs (`ibws_tests::fuzz_targets`). A crash
//! found once stays fixed.

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

#[test]
fn every_crash_found_stays_fixed() {
    let dir = ibws_tests::repo_root().join("fuzz/regressions");
    let mut n = 0;
    for (name, f) in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else { continue };
        for e in entries.flatten() {
            let bytes = std::fs::read(e.path()).expect("read regression input");
            f(&bytes);
            n += 1;
        }
    }
    println!("fuzz regressions replayed: {n}");
}
