// Opens the dashboard of a bridge whose TWS has 10,000 working orders, in Debian's
// Chromium: the page takes the whole book into a scroll area that draws only the rows
// in view, puts the most recently changed order first, follows a live change to it in
// place, reaches the oldest order by scrolling, and opens an order's timeline on every
// real click while the book changes. Saves a screenshot.
//
// Usage: node dashboard-scale.mjs <dashboard url> <artifacts dir> <orders> <perm id of the moving order>
import { chromium } from "playwright-core";

const [url, dir, total, moving] = process.argv.slice(2);
const T = { timeout: 60000 };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
const checks = {};
const fail = (what, detail) => { console.log(`FAILED ${what}:`, JSON.stringify(detail)); failed = true; };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => fail("pageerror", e.message));
  await page.goto(url);
  await page.waitForSelector("#state.open", T);
  await page.waitForFunction((n) => document.querySelector("#count").dataset.total === n, total, T);
  const drawn = () => page.$$eval("#orders .row.order:not([hidden])", (r) => r
    .map((x) => ({ top: parseFloat(x.style.top), perm: x.dataset.perm, price: x.querySelector(".c-price").textContent }))
    .sort((a, b) => a.top - b.top));

  // the moving order (changed every 200 ms by the parent) comes first, its price live
  await page.waitForFunction((perm) => {
    const rows = [...document.querySelectorAll("#orders .row.order:not([hidden])")].sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
    return rows.length && rows[0].dataset.perm === perm;
  }, moving, T);
  const first = await drawn();
  checks.loaded = { drawn: first.length, count: await page.$eval("#count", (c) => ({ ...c.dataset, text: c.textContent })) };
  if (first.length > 80 || checks.loaded.count.matching !== total || !checks.loaded.count.text.includes("10,000")) fail("a virtual list of the whole book", checks.loaded);
  const price = async () => (await drawn()).find((r) => r.perm === moving)?.price;
  const p0 = await price();
  await page.waitForFunction(([perm, p]) => {
    const r = document.querySelector(`#orders .row.order[data-perm="${perm}"]`);
    return r && r.querySelector(".c-price").textContent !== p;
  }, [moving, p0], T);
  checks.live = [p0, await price()];

  // the oldest order, by scrolling the area to its end
  await page.$eval("#orders-scroll", (s) => { s.scrollTop = s.scrollHeight; });
  await page.waitForFunction(() => {
    const s = document.getElementById("orders-scroll");
    const tops = [...document.querySelectorAll("#orders .row.order:not([hidden])")].map((r) => parseFloat(r.style.top));
    return tops.length && Math.max(...tops) >= s.scrollHeight - 3 * 24 - 24;
  }, null, T);
  checks.scrolled_to_end = (await drawn()).length;
  await page.$eval("#orders-scroll", (s) => { s.scrollTop = 0; });

  // every real click opens that order's timeline. The pointer rests on the list first:
  // the list's order is held from then on, so the row under the mouse stays put
  await page.waitForFunction(() => Math.min(...[...document.querySelectorAll("#orders .row.order:not([hidden])")]
    .map((r) => parseFloat(r.style.top))) === 0, null, T);
  await page.hover("#orders-scroll");
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const clicks = [];
  for (let i = 0; i < 6; i++) {
    // the row and where it is, read in one task of the page
    const t = await page.evaluate(([i, last]) => {
      const area = document.getElementById("orders-scroll").getBoundingClientRect();
      const rows = [...document.querySelectorAll("#orders .row.order:not([hidden])")]
        .filter((r) => r.dataset.perm !== last)
        .map((r) => ({ perm: r.dataset.perm, b: r.getBoundingClientRect() }))
        .filter(({ b }) => b.top >= area.top + b.height && b.bottom <= area.bottom)
        .sort((x, y) => x.b.top - y.b.top);
      const pick = rows[(i * 5) % Math.min(rows.length, 12)];
      return { perm: pick.perm, x: pick.b.x + pick.b.width / 2, y: pick.b.y + pick.b.height / 2 };
    }, [i, clicks.at(-1) ?? ""]);
    await page.mouse.click(t.x, t.y);
    await page.waitForFunction((perm) => document.querySelector("#detail").dataset.perm === perm && document.querySelector("#detail li"), t.perm, { timeout: 3000 });
    clicks.push(t.perm);
    await page.waitForTimeout(150);
  }
  checks.clicks = clicks.length;
  if (clicks.length < 4) fail("clicks opened timelines", clicks);
  await page.mouse.move(5, 5);
  await page.screenshot({ path: `${dir}/dashboard-10000-orders.png` });
} catch (e) {
  console.log("failed:", e.message);
  failed = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: !failed, checks }));
process.exit(failed ? 1 : 0);
