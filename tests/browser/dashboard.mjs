// Opens the dashboard that `ibws demo` serves, in Debian's Chromium, and checks that
// orders appear and change status, notifications and tickers arrive; saves a
// screenshot. Usage: node dashboard.mjs <dashboard url> <screenshot.png>
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => { console.log("pageerror:", e.message); failed = true; });
  page.on("console", (m) => { if (m.type() === "error") console.log("console error:", m.text()); });
  await page.goto(url);
  await page.waitForSelector("#state.open", { timeout: 20000 });
  await page.waitForFunction(() => document.querySelectorAll("#orders tbody tr").length >= 3, null, { timeout: 20000 });
  const before = await page.$$eval("#orders tbody tr", (rows) => Object.fromEntries(rows.map((r) => [r.dataset.perm, r.cells[6].textContent])));
  await page.waitForFunction(
    (b) => [...document.querySelectorAll("#orders tbody tr")].some((r) => b[r.dataset.perm] !== undefined && b[r.dataset.perm] !== r.cells[6].textContent),
    before, { timeout: 20000 });
  await page.waitForFunction(() => document.querySelectorAll("#feed li").length > 0 && document.querySelectorAll(".ticker").length > 0
    && document.querySelectorAll("#orders tbody tr.agent").length > 0 && document.querySelector("#accounts table") !== null,
    null, { timeout: 20000 });
  const rows = await page.$$eval("#orders tbody tr", (r) => r.length);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ ok: !failed, rows, screenshot: shot }));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
