// Serves the built React app on a loopback origin (or opens one a dev server serves)
// in Debian's Chromium against an ibws endpoint; prints the page's counts once updates
// have arrived.
// Usage: node react-app.mjs <dist dir | http://origin> <ws url> <screenshot.png>
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

const [dist, ws, shot] = process.argv.slice(2);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = createServer(async (req, res) => {
  const path = normalize(new URL(req.url, "http://x").pathname).replace(/^\/+/, "") || "index.html";
  try {
    const body = await readFile(join(dist, path));
    res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
const served = !dist.startsWith("http");
if (served) await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = served ? `http://127.0.0.1:${server.address().port}` : dist.replace(/\/$/, "");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 400 } });
  page.on("pageerror", (e) => { console.log("pageerror:", e.message); failed = true; });
  const sockets = [];
  // the app's own connections (a dev server's hot-reload socket is not one)
  page.on("websocket", (w) => { if (w.url().startsWith(ws)) sockets.push(w.url()); });
  page.on("console", (m) => { if (m.type() === "error") console.log("console error:", m.text()); });
  await page.goto(`${origin}/index.html?ws=${encodeURIComponent(ws)}`);
  await page.waitForFunction(() => window.ibwsResult && window.ibwsResult.state === "open"
    && window.ibwsResult.handled >= 5, null, { timeout: 30000 });
  const wasm = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name).filter((n) => /\.wasm/.test(n)));
  // a while longer: a second connection would deliver every update again
  await page.waitForTimeout(1500);
  const result = await page.evaluate(() => window.ibwsResult);
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ ok: !failed, sockets: sockets.length, wasm, ...result }));
} catch (e) {
  console.log("failed:", e.message);
  failed = true;
} finally {
  await browser.close();
  if (served) server.close();
}
process.exit(failed ? 1 : 0);
