//! `ibws-fuzz-seeds DIR`: writes every fuzz target's seed inputs to `DIR/<target>/`
//! (the cargo-fuzz corpora; `fuzz/run.sh` calls it).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: ibws-fuzz-seeds DIR");
        return ExitCode::FAILURE;
    };
    let mut n = 0;
    for (target, name, bytes) in ibws_tests::fuzz_targets::seeds() {
        let d = dir.join(target);
        if let Err(e) = std::fs::create_dir_all(&d).and_then(|_| std::fs::write(d.join(&name), &bytes)) {
            eprintln!("error: {}: {e}", d.join(&name).display());
            return ExitCode::FAILURE;
        }
        n += 1;
    }
    eprintln!("wrote {n} seeds under {}", dir.display());
    ExitCode::SUCCESS
}
