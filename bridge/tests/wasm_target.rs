//! The dashboard's build on a toolchain without the wasm32 target (issue: a newcomer's
//! first `cargo run` served the plain status page): the build script's check, run with
//! a stand-in `rustc` whose sysroot lacks the target and a stand-in `rustup` that
//! records what it is asked and installs the target's library directory.

#[path = "../build/wasm_target.rs"]
mod wasm_target;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use wasm_target::{ensure, Tools, WASM_TARGET};

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Fake {
    dir: PathBuf,
    sysroot: PathBuf,
    tools: Tools,
}

fn fake(name: &str) -> Fake {
    let dir = std::env::temp_dir().join(format!("ibws-wasm-target-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sysroot = dir.join("toolchains/stable-x86_64-unknown-linux-gnu");
    std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
    script(&dir.join("rustc"), &format!("[ \"$1 $2\" = \"--print sysroot\" ] && echo {}", sysroot.display()));
    let lib = sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib");
    script(
        &dir.join("rustup"),
        &format!("echo \"$@\" >> {}\nmkdir -p {}", dir.join("rustup.log").display(), lib.display()),
    );
    let tools = Tools {
        rustc: dir.join("rustc").display().to_string(),
        rustup: dir.join("rustup").display().to_string(),
        no_rustup: false,
        toolchain: None,
    };
    Fake { dir, sysroot, tools }
}

fn rustup_calls(f: &Fake) -> Vec<String> {
    std::fs::read_to_string(f.dir.join("rustup.log")).unwrap_or_default().lines().map(String::from).collect()
}

/// One test running the cases in turn: each writes executables, and a test thread
/// writing one while another forks would make its exec fail ("text file busy").
#[test]
fn the_wasm_target_check() {
    a_missing_target_is_added_once_for_the_toolchain_of_the_build();
    rustups_toolchain_choice_wins_over_the_sysroot_name();
    without_rustup_the_error_says_what_to_run();
}

fn a_missing_target_is_added_once_for_the_toolchain_of_the_build() {
    let f = fake("add");
    let warning = ensure(&f.tools).unwrap().expect("the target was added");
    assert!(
        warning.contains("stable-x86_64-unknown-linux-gnu") && warning.contains("added it with rustup"),
        "{warning}"
    );
    assert_eq!(rustup_calls(&f), [format!("target add {WASM_TARGET} --toolchain stable-x86_64-unknown-linux-gnu")]);
    assert!(f.sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib").is_dir());
    // the next build finds it and runs nothing
    assert_eq!(ensure(&f.tools).unwrap(), None);
    assert_eq!(rustup_calls(&f).len(), 1, "rustup ran once");
}

fn rustups_toolchain_choice_wins_over_the_sysroot_name() {
    let mut f = fake("named");
    f.tools.toolchain = Some("nightly-x86_64-unknown-linux-gnu".into());
    ensure(&f.tools).unwrap();
    assert_eq!(rustup_calls(&f), [format!("target add {WASM_TARGET} --toolchain nightly-x86_64-unknown-linux-gnu")]);
}

fn without_rustup_the_error_says_what_to_run() {
    let mut f = fake("forbidden");
    f.tools.no_rustup = true;
    let e = ensure(&f.tools).unwrap_err();
    assert!(e.contains("IBWS_NO_RUSTUP") && e.contains(&format!("rustup target add {WASM_TARGET}")), "{e}");
    assert!(rustup_calls(&f).is_empty(), "nothing downloaded");

    f.tools.no_rustup = false;
    f.tools.rustup = f.dir.join("no-such-rustup").display().to_string();
    let e = ensure(&f.tools).unwrap_err();
    assert!(e.contains("rustup cannot run") && e.contains(&format!("rustup target add {WASM_TARGET}")), "{e}");

    script(&f.dir.join("failing-rustup"), "exit 1");
    f.tools.rustup = f.dir.join("failing-rustup").display().to_string();
    let e = ensure(&f.tools).unwrap_err();
    assert!(e.contains("failed"), "{e}");
}
