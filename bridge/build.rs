//! Builds the browser client (`ibws-web`) for wasm32 and generates its JavaScript glue
//! with wasm-bindgen, so `ibws` can serve the dashboard with no front-end build step.
//!
//! The nested cargo uses its own target directory under OUT_DIR (the outer build holds
//! the main one). `rust-toolchain.toml` lists the wasm32 target, but rustup installs
//! listed targets only when it installs the toolchain itself; on a machine where stable
//! was already installed the target is missing, so this script adds it with rustup (a
//! one-time download, announced by a cargo warning; `IBWS_NO_RUSTUP=1` forbids it).
//! When the wasm build is still impossible (no rustup, offline, or `IBWS_SKIP_WEB=1`),
//! empty artifacts are written and `/` serves the plain status page instead; a cargo
//! warning says why and what to run.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build/wasm_target.rs"]
mod wasm_target;

use wasm_target::WASM_TARGET;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let web_out = out.join("web");
    std::fs::create_dir_all(&web_out).expect("create OUT_DIR/web");
    for p in [
        "../web/src",
        "../web/Cargo.toml",
        "../shared/src/backoff.rs",
        "../shared/src/close_code.rs",
        "src/server/dashboard",
        "build/wasm_target.rs",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-env-changed=IBWS_SKIP_WEB");
    println!("cargo:rerun-if-env-changed=IBWS_NO_RUSTUP");
    let result = if std::env::var_os("IBWS_SKIP_WEB").is_some() {
        Err("IBWS_SKIP_WEB is set".to_owned())
    } else {
        build(&out, &web_out)
    };
    if let Err(e) = result {
        println!("cargo:warning=dashboard not built ({e}); `/` serves the plain status page");
        for f in ["ibws_web.js", "ibws_web_bg.wasm", "ibws_web.d.ts"] {
            std::fs::write(web_out.join(f), b"").expect("write placeholder");
        }
    }
}

/// Makes sure the active toolchain has the wasm32 standard library, adding it with
/// rustup when it is missing (see `build/wasm_target.rs`).
fn ensure_wasm_target() -> Result<(), String> {
    wasm_target::ensure(&wasm_target::Tools {
        rustc: std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()),
        rustup: "rustup".into(),
        no_rustup: std::env::var_os("IBWS_NO_RUSTUP").is_some(),
        toolchain: std::env::var("RUSTUP_TOOLCHAIN").ok(),
    })
    .map(|added| {
        if let Some(warning) = added {
            println!("cargo:warning={warning}");
        }
    })
}

fn build(out: &Path, web_out: &Path) -> Result<(), String> {
    ensure_wasm_target()?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let target_dir = out.join("web-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "ibws-web", "--target", WASM_TARGET, "--profile", "web"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    // Settings meant for the outer build must not leak into this one.
    for v in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(v);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of ibws-web for {WASM_TARGET} failed; `rustup target add {WASM_TARGET}` and rebuild to get the dashboard"));
    }
    let wasm = target_dir.join(WASM_TARGET).join("web/ibws_web.wasm");
    let mut b = wasm_bindgen_cli_support::Bindgen::new();
    // `init()` with no argument loads ibws_web_bg.wasm from beside the script (the
    // bridge serves both at its root)
    b.input_path(&wasm).web(true).map_err(|e| e.to_string())?.typescript(true).omit_default_module_path(false);
    b.generate(web_out).map_err(|e| format!("wasm-bindgen: {e}"))?;
    Ok(())
}
