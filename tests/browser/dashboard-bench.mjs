// The dashboard on a busy day, measured in Debian's Chromium (a benchmark: it prints
// numbers and asserts nothing but that the page worked).
//
// Starts `ibws sim` with a book of working orders and a fast order flow, and `ibws
// bridge` on it, each in its own process; opens the dashboard; then, for each phase,
// reads the renderer's main-thread time from DevTools (Performance.getMetrics:
// TaskDuration, ScriptDuration, LayoutDuration, RecalcStyleDuration), counts animation
// frames in the page, and counts the order events the bridge published (/metrics).
//   watch: the pointer away from the orders (the list re-sorts live)
//   click: real mouse clicks (DevTools input events) on order rows, one every 400-900
//          ms; each click's latency is from the pointerdown event to the order's panel
//          showing that order, after the next frame; a click whose order never shows
//          within 3 s is lost
//
// Usage: node dashboard-bench.mjs --ibws target/release/ibws [--orders 5000]
//          [--flow-ms 45] [--secs 15] [--clicks 20] [--screenshot path.png]
//          [--trace trace.json: a Chromium trace of the watch phase]
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith("--") ? all[i + 1] : "true"]);
  return acc;
}, []));
if (!args.ibws || args.help) {
  console.log("usage: node dashboard-bench.mjs --ibws <path to ibws> [--orders 5000] [--flow-ms 45] [--secs 15] [--clicks 20] [--screenshot file.png]");
  process.exit(args.help ? 0 : 2);
}
const ORDERS = Number(args.orders ?? 5000);
const FLOW_MS = Number(args["flow-ms"] ?? 45);
const SECS = Number(args.secs ?? 15);
const CLICKS = Number(args.clicks ?? 20);
const procs = [];
let stopping = false;
function stopAll() { stopping = true; for (const p of procs) p.kill("SIGTERM"); }
process.on("exit", stopAll);

// Starts `ibws <argv>` and resolves with what `ready` captures from its stdout (each
// listens on a port the system picks, and prints where).
function start(argv, ready) {
  const p = spawn(args.ibws, argv, { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  let err = "";
  let out = "";
  p.stderr.on("data", (d) => { err = (err + d).slice(-4000); });
  return new Promise((resolve, reject) => {
    p.stdout.on("data", (d) => {
      out = (out + d).slice(-4000);
      const m = ready.exec(out);
      if (m) resolve(m[1]);
    });
    p.on("exit", (code) => {
      if (stopping) return;
      console.error(`${argv[0]} exited ${code}: ${err}`);
      reject(new Error(`${argv[0]} exited ${code}`));
      process.exit(1);
    });
    setTimeout(() => reject(new Error(`${argv[0]} did not start: ${err}`)), 60000).unref();
  });
}

const tws = await start(["sim", "--listen", "127.0.0.1:0", "--orders", String(ORDERS), "--flow-ms", String(FLOW_MS),
  "--accounts", "DU111,DU222:GBP"], /TWS simulator listening on (\S+)/);
const base = "http://" + await start(["bridge", "--tws", tws, "--listen", "127.0.0.1:0",
  "--watch", process.env.BENCH_WATCH ?? "AAPL,MSFT,NVDA,TSLA,AMZN,SPY"], /dashboard\s+http:\/\/([^/\s]+)\//);
for (let i = 0; ; i++) {
  try {
    const h = await (await fetch(`${base}/healthz`)).json();
    if (h.tws_connected) break;
  } catch { /* not up yet */ }
  if (i > 100) throw new Error("the bridge did not connect to the simulator");
  await sleep(100);
}

async function orderEvents() {
  const text = await (await fetch(`${base}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^ibws_events_total\{type="(order_update|order_notification|mcp_order)"\} (\d+)/gm)) n += Number(m[2]);
  return n;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.on("pageerror", (e) => { console.error("pageerror:", e.message); process.exitCode = 1; });
const cdp = await page.context().newCDPSession(page);
await cdp.send("Performance.enable", { timeDomain: "timeTicks" });
const metrics = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));

await page.goto(`${base}/`);
await page.waitForSelector("#state.open", { timeout: 30000 });
await page.waitForFunction((n) => Number(document.querySelector("#count").dataset.total) >= n, ORDERS, { timeout: 60000 });
await page.evaluate(() => {
  // frames: one count per animation frame; clicks: pointerdown -> the order's panel
  window.bench = { frames: 0, clicks: [] };
  const tick = () => { window.bench.frames++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const detail = document.getElementById("detail");
  let pending = null;
  document.addEventListener("pointerdown", (e) => {
    const row = e.target.closest("[data-perm]");
    pending = { t0: e.timeStamp, perm: row ? row.dataset.perm : null, done: false };
    window.bench.clicks.push(pending);
    check();
  }, { capture: true });
  const check = () => {
    const p = pending;
    if (!p || p.done || detail.dataset.perm !== p.perm) return;
    p.done = true;
    requestAnimationFrame(() => { p.ms = performance.now() - p.t0; });
  };
  new MutationObserver(check).observe(detail, { attributes: true, childList: true, subtree: true });
});
await sleep(3000); // settle after the snapshot

async function phase(name, body) {
  const m0 = await metrics();
  const e0 = await orderEvents();
  const f0 = await page.evaluate(() => window.bench.frames);
  const t0 = Date.now();
  await body();
  const secs = (Date.now() - t0) / 1000;
  const m1 = await metrics();
  const e1 = await orderEvents();
  const f1 = await page.evaluate(() => window.bench.frames);
  const pct = (k) => Math.round(((m1[k] - m0[k]) / secs) * 1000) / 10;
  return {
    phase: name, secs: Math.round(secs * 10) / 10, order_events_per_sec: Math.round(((e1 - e0) / secs) * 10) / 10,
    busy_pct: pct("TaskDuration"), script_pct: pct("ScriptDuration"), layout_pct: pct("LayoutDuration"),
    style_pct: pct("RecalcStyleDuration"), fps: Math.round(((f1 - f0) / secs) * 10) / 10,
  };
}

const results = [];
await page.mouse.move(5, 5); // on the header: the list is live
if (args.trace) await browser.startTracing(page, { path: args.trace, categories: ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "blink", "cc"] });
results.push(await phase("watch", () => sleep(SECS * 1000)));
if (args.trace) await browser.stopTracing();

results.push(await phase("click", async () => {
  const until = Date.now() + SECS * 1000;
  for (let i = 0; i < CLICKS && Date.now() < until; i++) {
    // a visible order row other than the open one, at a different height each time
    const box = await page.evaluate((i) => {
      const area = document.getElementById("orders-scroll").getBoundingClientRect();
      const open = document.getElementById("detail").dataset.perm;
      const rows = [...document.querySelectorAll("#orders .row.order:not([hidden])")].filter((r) => {
        const b = r.getBoundingClientRect();
        return b.top >= area.top + b.height && b.bottom <= area.bottom && r.dataset.perm !== open;
      });
      if (!rows.length) return null;
      const b = rows[(i * 7) % rows.length].getBoundingClientRect();
      return { x: b.left + b.width / 2, y: b.top + b.height / 2 };
    }, i);
    if (box) await page.mouse.click(box.x, box.y);
    await sleep(400 + ((i * 137) % 500));
  }
  await sleep(Math.max(0, until - Date.now()));
}));
await sleep(3000); // the last click's answer
const clicks = await page.evaluate(() => window.bench.clicks.map((c) => ({ perm: c.perm, ms: c.ms })));
if (args.screenshot) await page.screenshot({ path: args.screenshot });
await browser.close();
stopAll();

const ms = clicks.filter((c) => c.ms !== undefined).map((c) => c.ms).sort((a, b) => a - b);
const q = (p) => (ms.length ? Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] * 10) / 10 : null);
const summary = {
  orders: ORDERS, flow_ms: FLOW_MS, phases: results,
  clicks: clicks.length, lost_clicks: clicks.length - ms.length, click_to_timeline_ms: { median: q(0.5), p90: q(0.9), max: ms.length ? Math.round(ms[ms.length - 1] * 10) / 10 : null },
};
for (const r of results) console.log(`dashboard-bench ${r.phase}: orders=${ORDERS} order_events_per_sec=${r.order_events_per_sec} busy=${r.busy_pct}% (script ${r.script_pct}%, style ${r.style_pct}%, layout ${r.layout_pct}%) fps=${r.fps}`);
console.log(`dashboard-bench clicks: ${summary.clicks} clicked, ${summary.lost_clicks} lost, click->timeline median ${summary.click_to_timeline_ms.median} ms, p90 ${summary.click_to_timeline_ms.p90} ms, max ${summary.click_to_timeline_ms.max} ms`);
console.log(JSON.stringify(summary));
process.exit(process.exitCode ?? 0);
