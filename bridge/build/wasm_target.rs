//! The wasm32 target for the dashboard's build: present, or added with rustup once.
//!
//! `rust-toolchain.toml` lists the target, but rustup installs listed targets only when
//! it installs the toolchain itself; on a machine where the toolchain was already
//! installed the target is missing and the dashboard could not be built. Used by
//! `bridge/build.rs`, and by `bridge/tests/wasm_target.rs` with stand-in tools.

use std::path::PathBuf;
use std::process::Command;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The programs and settings the check uses.
pub struct Tools {
    /// `rustc` of this build (its sysroot is where the target's library would be).
    pub rustc: String,
    pub rustup: String,
    /// `IBWS_NO_RUSTUP`: never download anything.
    pub no_rustup: bool,
    /// `RUSTUP_TOOLCHAIN`, the toolchain rustup's proxy chose for this build.
    pub toolchain: Option<String>,
}

/// `Ok(None)` when the target is there, `Ok(Some(warning))` after adding it, `Err`
/// saying what to run when it cannot be added.
pub fn ensure(tools: &Tools) -> Result<Option<String>, String> {
    let out = Command::new(&tools.rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tools.rustc))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib").is_dir() {
        return Ok(None);
    }
    let how = format!("`rustup target add {WASM_TARGET}` and rebuild to get the dashboard");
    if tools.no_rustup {
        return Err(format!("the {WASM_TARGET} target is not installed and IBWS_NO_RUSTUP is set; {how}"));
    }
    // The toolchain this build runs on: rustup's proxy names it, else the sysroot does.
    let toolchain = tools
        .toolchain
        .clone()
        .or_else(|| sysroot.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "stable".into());
    let status =
        Command::new(&tools.rustup)
            .args(["target", "add", WASM_TARGET, "--toolchain", &toolchain])
            .status()
            .map_err(|e| format!("the {WASM_TARGET} target is not installed and rustup cannot run ({e}); {how}"))?;
    if !status.success() {
        return Err(format!("`rustup target add {WASM_TARGET}` failed ({status}); {how}"));
    }
    Ok(Some(format!(
        "the {WASM_TARGET} target was missing from toolchain {toolchain}; added it with rustup (once) to build the dashboard"
    )))
}
