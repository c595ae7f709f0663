//! The browser client as an npm package, used as a web developer would: the package is
//! built by its one command (`cargo run -p ibws-web-npm`), packed, installed into a
//! small TypeScript app, type-checked by `tsc` against the package's generated
//! declarations, bundled by esbuild, served from a loopback origin and opened in
//! headless Chromium against `ibws demo`, where orders arrive, typed. Then a React app in
//! StrictMode, bundled by esbuild, and the same app as Vite's React template makes it:
//! served by Vite's dev server and built by `vite build`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ibws_bridge::app::{Demo, DemoOptions};
use ibws_tests::{browser_dir, repo_root};

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundled_typescript_app_installs_the_package_and_sees_orders_in_chromium() {
    let root = repo_root();
    let browser = browser_dir();
    let work = std::env::temp_dir().join(format!("ibws-npm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let (pkg, app) = (work.join("ibws-web"), work.join("app"));
    std::fs::create_dir_all(app.join("dist")).unwrap();

    // the package, by the documented command
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        Command::new(cargo).current_dir(&root).args(["run", "-q", "-p", "ibws-web-npm", "--"]).arg(&pkg),
        "cargo run -p ibws-web-npm",
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pkg.join("package.json")).unwrap()).unwrap();
    assert_eq!(manifest["types"], "./ibws_web.d.ts");
    assert_eq!(manifest["exports"]["."]["types"], "./ibws_web.d.ts");
    let protocol = std::fs::read_to_string(pkg.join("protocol.d.ts")).unwrap();
    assert_eq!(protocol, ibws_shared::protocol::typescript::declarations(), "the shipped types are the generated ones");

    // packed and installed into the app, as from a registry
    let tarball = run(
        Command::new("npm").current_dir(&work).args(["pack", "--silent", "--pack-destination"]).arg(&work).arg(&pkg),
        "npm pack",
    );
    let tarball = work.join(tarball.trim().lines().last().unwrap().trim());
    for f in ["main.ts", "index.html", "tsconfig.json", "package.json"] {
        copy(&browser.join("npm-app").join(f), &app.join(f));
    }
    run(
        Command::new("npm").current_dir(&app).args(["install", "--offline", "--no-audit", "--no-fund"]).arg(&tarball),
        "npm install of the package tarball",
    );

    // typed: tsc checks the app against the package's declarations
    run(
        Command::new("node")
            .current_dir(&app)
            .arg(browser.join("node_modules/typescript/bin/tsc"))
            .args(["-p", "tsconfig.json"]),
        "tsc",
    );
    // bundled: esbuild, the wasm beside the bundle (where the package's init() looks)
    run(
        Command::new(browser.join("node_modules/.bin/esbuild")).current_dir(&app).args([
            "main.ts",
            "--bundle",
            "--format=esm",
            "--target=es2022",
            "--outfile=dist/main.js",
        ]),
        "esbuild",
    );
    copy(&app.join("index.html"), &app.join("dist/index.html"));
    copy(&app.join("node_modules/ibws-web/ibws_web_bg.wasm"), &app.join("dist/ibws_web_bg.wasm"));

    // served from a loopback origin, opened in Chromium against the demo
    let demo = Demo::start(
        "127.0.0.1:0".parse().unwrap(),
        DemoOptions { seed: 5, flow: Some(Duration::from_millis(200)), ..DemoOptions::default() },
    )
    .await
    .unwrap();
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("npm-app.png");
    let out = tokio::process::Command::new("node")
        .arg(browser.join("npm-app.mjs"))
        .arg(app.join("dist"))
        .arg(format!("ws://{}/websocket/ws", demo.bridge.addr))
        .arg(&shot)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out).await.expect("the app finished").expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "app failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no result in {stdout}"));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["state"], "open", "{r}");
    assert!(r["snapshot"].as_u64().unwrap() > 0, "the snapshot at connect: {r}");
    assert!(r["fetched"].as_u64().unwrap() > 0, "orders from getOrders(): {r}");
    assert!(r["updates"].as_u64().unwrap() >= 3, "live order updates: {r}");
    assert_eq!(r["orderIdsAreNumbers"], true, "{r}");
    assert!(!r["symbols"].as_array().unwrap().is_empty(), "{r}");

    // a React app in StrictMode (the default of Vite's React template) with README's
    // hook: one connection, every update handled once
    let react = work.join("react");
    std::fs::create_dir_all(react.join("dist")).unwrap();
    for f in ["main.tsx", "index.html"] {
        copy(&browser.join("react-app").join(f), &react.join(f));
    }
    std::fs::write(react.join("package.json"), r#"{ "private": true, "type": "module" }"#).unwrap();
    run(
        Command::new("npm").current_dir(&react).args(["install", "--offline", "--no-audit", "--no-fund"]).arg(&tarball),
        "npm install of the package tarball (React app)",
    );
    run(
        Command::new(browser.join("node_modules/.bin/esbuild"))
            .current_dir(&react)
            // React itself comes from the test tools' node_modules
            .env("NODE_PATH", browser.join("node_modules"))
            .args(["main.tsx", "--bundle", "--format=esm", "--target=es2022", "--jsx=automatic"])
            .args(["--define:process.env.NODE_ENV=\"development\"", "--outfile=dist/main.js"]),
        "esbuild (React app)",
    );
    copy(&react.join("index.html"), &react.join("dist/index.html"));
    copy(&react.join("node_modules/ibws-web/ibws_web_bg.wasm"), &react.join("dist/ibws_web_bg.wasm"));
    let ws = format!("ws://{}/websocket/ws", demo.bridge.addr);
    strict_mode_app(&react.join("dist").to_string_lossy(), &ws, &artifacts.join("react-strictmode.png")).await;

    // the same app as Vite's React template makes it, with the tarball installed as
    // README says: Vite's dev server (wasm served from node_modules), then its build
    let vite = work.join("vite");
    std::fs::create_dir_all(&vite).unwrap();
    for f in ["index.html", "vite.config.js", "package.json"] {
        copy(&browser.join("vite-app").join(f), &vite.join(f));
    }
    copy(&browser.join("react-app/main.tsx"), &vite.join("main.tsx"));
    run(
        Command::new("npm")
            .current_dir(&vite)
            .args(["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg(&tarball),
        "npm install (Vite app: its template's packages and the ibws-web tarball)",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut dev = tokio::process::Command::new(vite.join("node_modules/.bin/vite"))
        .current_dir(&vite)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--strictPort"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("vite runs");
    let origin = format!("http://127.0.0.1:{port}");
    let up = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), up).await.expect("vite's dev server listens");
    let r = strict_mode_app(&origin, &ws, &artifacts.join("vite-dev.png")).await;
    assert!(r["wasm"].to_string().contains("node_modules"), "the dev server served the package's wasm: {r}");
    dev.kill().await.unwrap();
    run(Command::new(vite.join("node_modules/.bin/vite")).current_dir(&vite).arg("build"), "vite build");
    let r = strict_mode_app(&vite.join("dist").to_string_lossy(), &ws, &artifacts.join("vite-build.png")).await;
    assert!(r["wasm"].to_string().contains("/assets/"), "the build emitted the wasm as an asset: {r}");
    let _ = std::fs::remove_dir_all(&work);
}

/// Opens a React StrictMode app (a folder to serve, or a dev server's origin) in
/// Chromium: it must end with one connection and handle every update once.
async fn strict_mode_app(app: &str, ws: &str, shot: &Path) -> serde_json::Value {
    let out = tokio::process::Command::new("node")
        .arg(browser_dir().join("react-app.mjs"))
        .arg(app)
        .arg(ws)
        .arg(shot)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out).await.expect("the app finished").expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "React app {app} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no result in {stdout}"));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(r["ok"], true, "{app}: {r}");
    assert_eq!(r["sockets"], 1, "StrictMode must end with one connection ({app}): {r}");
    assert_eq!(r["duplicates"], 0, "every update handled once ({app}): {r}");
    assert!(r["handled"].as_u64().unwrap() >= 5, "{app}: {r}");
    r
}
