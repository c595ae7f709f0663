// Opens the dashboard of a bridge whose TWS has 10,000 working orders, in Debian's
// Chromium: the page takes the whole book, draws the newest rows only, says how many
// there are, and still shows a live change to the newest order. Prints how long the
// table took to draw (reported, not asserted). Saves a screenshot.
//
// Usage: node dashboard-scale.mjs <dashboard url> <artifacts dir> <orders> <newest perm id>
import { chromium } from "playwright-core";

const [url, dir, total, newest] = process.argv.slice(2);
const T = { timeout: 60000 };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
const checks = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => { console.log("pageerror:", e.message); failed = true; });
  await page.goto(url);
  await page.waitForSelector("#state.open", T);
  await page.waitForFunction((n) => document.querySelector("#count").dataset.total === n, total, T);
  const drawn = await page.$$eval("#orders tbody tr.order", (r) => r.map((x) => x.dataset.perm));
  const count = await page.$eval("#count", (c) => ({ ...c.dataset, text: c.textContent }));
  checks.loaded = { drawn: drawn.length, first: drawn[0], count };
  if (drawn.length !== 500 || drawn[0] !== newest || count.shown !== "500" || !count.text.includes(`newest 500 of ${total}`)) {
    console.log("expected the newest 500 rows drawn, the newest first:", JSON.stringify(checks.loaded));
    failed = true;
  }
  // the parent changes the newest order's price every 200 ms: the row follows
  const price = () => page.$eval(`#orders tbody tr.order[data-perm="${newest}"]`, (r) => r.cells[5].textContent);
  const p0 = await price();
  await page.waitForFunction(([perm, p]) => {
    const r = document.querySelector(`#orders tbody tr.order[data-perm="${perm}"]`);
    return r && r.cells[5].textContent !== p;
  }, [newest, p0], T);
  const p1 = await price();
  await page.waitForFunction(([perm, p]) => {
    const r = document.querySelector(`#orders tbody tr.order[data-perm="${perm}"]`);
    return r && r.cells[5].textContent !== p;
  }, [newest, p1], T);
  checks.live = [p0, p1, await price()];
  checks.render_ms = Number(await page.$eval("#count", (c) => c.dataset.renderMs));
  await page.screenshot({ path: `${dir}/dashboard-10000-orders.png` });
} catch (e) {
  console.log("failed:", e.message);
  failed = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: !failed, checks }));
process.exit(failed ? 1 : 0);
