//! `cargo run -p ibws-web-npm`: builds the npm package of the browser client.
//!
//! Web apps install the client as a package rather than copying files off a running
//! bridge. The package holds the client compiled to wasm (the `web` profile: small),
//! its ES-module JavaScript and `.d.ts` from wasm-bindgen, and `protocol.d.ts`, the
//! protocol's TypeScript types generated from the Rust types the servers use (so they
//! cannot drift), with a `package.json` whose `exports` and `types` point at them.
//!
//! Usage: `cargo run -p ibws-web-npm [-- OUT_DIR]` (default `target/npm/ibws-web`);
//! then `npm install <OUT_DIR>` in the app, or `npm pack` it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let out = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| root.join("target/npm/ibws-web"));
    match build(&root, &out) {
        Ok(()) => {
            println!("ibws-web package in {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build(root: &Path, out: &Path) -> Result<(), String> {
    let target_dir = root.join("target/npm/wasm-target");
    eprintln!("building ibws-web for {WASM_TARGET} (profile web) ...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "ibws-web", "--target", WASM_TARGET, "--profile", "web"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of ibws-web for {WASM_TARGET} failed (is the target installed? rustup target add {WASM_TARGET})"
        ));
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    eprintln!("wasm-bindgen (ES module, TypeScript declarations) ...");
    let wasm = target_dir.join(WASM_TARGET).join("web/ibws_web.wasm");
    let mut b = wasm_bindgen_cli_support::Bindgen::new();
    // init() with no argument finds the wasm beside the JS (new URL(..., import.meta.url)),
    // which Vite and webpack follow and esbuild users copy
    b.input_path(&wasm).web(true).map_err(|e| e.to_string())?.typescript(true).omit_default_module_path(false);
    b.generate(out).map_err(|e| format!("wasm-bindgen: {e}"))?;
    let dts = out.join("ibws_web.d.ts");
    let text = std::fs::read_to_string(&dts).map_err(|e| format!("cannot read {}: {e}", dts.display()))?;
    write(out, "ibws_web.d.ts", &fit_declarations(&text)?)?;

    eprintln!("protocol.d.ts from the Rust protocol types ...");
    write(out, "protocol.d.ts", &ibws_shared::protocol::typescript::declarations())?;
    // The JS side of protocol.d.ts: types only, nothing at run time.
    write(out, "protocol.js", "// The protocol has types only (protocol.d.ts).\nexport {};\n")?;
    write(out, "package.json", &package_json())?;
    write(out, "README.md", README)?;
    Ok(())
}

/// Makes wasm-bindgen's declarations type-check under a default strict `tsconfig`:
/// `connect`'s options become optional (wasm-bindgen writes an `Option` parameter
/// with an explicit type as required), and the `[Symbol.dispose]` member goes (it needs
/// `lib: esnext.disposable`; `free()` and `close()` stay, and the method is still there
/// at run time where the platform has `Symbol.dispose`). Each change must find its
/// text, so a wasm-bindgen upgrade that changes the output fails the build here.
fn fit_declarations(text: &str) -> Result<String, String> {
    let edits = [
        (
            "static connect(url: string, options: ConnectOptions): IbwsClient;",
            "static connect(url: string, options?: ConnectOptions): IbwsClient;",
        ),
        ("    [Symbol.dispose](): void;\n", ""),
    ];
    let mut out = text.to_owned();
    for (from, to) in edits {
        if !out.contains(from) {
            return Err(format!("ibws_web.d.ts no longer contains {from:?}: update fit_declarations"));
        }
        out = out.replace(from, to);
    }
    Ok(out)
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
}

fn package_json() -> String {
    let pkg = serde_json::json!({
        "name": "ibws-web",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Browser client for ibws: Interactive Brokers events in web apps, typed, with auto-reconnect, heartbeat and resume",
        "license": "MIT OR Apache-2.0",
        "type": "module",
        "main": "./ibws_web.js",
        "module": "./ibws_web.js",
        "types": "./ibws_web.d.ts",
        "exports": {
            ".": { "types": "./ibws_web.d.ts", "default": "./ibws_web.js" },
            "./protocol": { "types": "./protocol.d.ts", "default": "./protocol.js" },
            "./ibws_web_bg.wasm": "./ibws_web_bg.wasm",
            "./package.json": "./package.json"
        },
        "files": [
            "ibws_web.js", "ibws_web.d.ts", "ibws_web_bg.wasm", "ibws_web_bg.wasm.d.ts",
            "protocol.d.ts", "protocol.js", "README.md"
        ],
        "sideEffects": false
    });
    serde_json::to_string_pretty(&pkg).expect("JSON") + "\n"
}

const README: &str = r#"# ibws-web

The browser client of ibws: live Interactive Brokers orders,
fills, account values and market data over WebSocket, with typed frames, auto-reconnect,
heartbeat and resume.

```ts
import init, { IbwsClient } from "ibws-web";
await init();   // fetches ibws_web_bg.wasm beside the JS: Vite and webpack bundle it; with esbuild, copy it beside the bundle
const client = IbwsClient.connect("ws://127.0.0.1:8000/websocket/ws", { subscribe: ["order_update"] });
client.on("order_update", (e) => { if (e.type === "order_update") console.log(e.data.symbol, e.data.status); });
```

The protocol's types (`OrderData`, `ServerEvent`, ...) are generated from the Rust types
of the servers (`protocol.d.ts`).
"#;
