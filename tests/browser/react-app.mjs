// Serves the built React app on a loopback origin and opens it in Debian's Chromium
// against an ibws endpoint; prints the page's counts once updates have arrived.
// Usage: node react-app.mjs <dist dir> <ws url> <screenshot.png>
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
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
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
  page.on("websocket", (w) => sockets.push(w.url()));
  await page.goto(`${origin}/index.html?ws=${encodeURIComponent(ws)}`);
  await page.waitForFunction(() => window.ibwsResult && window.ibwsResult.state === "open"
    && window.ibwsResult.handled >= 5, null, { timeout: 30000 });
  // a while longer: a second connection would deliver every update again
  await page.waitForTimeout(1500);
  const result = await page.evaluate(() => window.ibwsResult);
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ ok: !failed, sockets: sockets.length, ...result }));
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
