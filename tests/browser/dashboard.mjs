// Opens the dashboard a bridge serves, in Debian's Chromium, and checks each piece a
// trader looks at: live orders changing status, agent orders marked, notifications,
// account values, tickers with a price sparkline and the trader's fills on it, an
// order's timeline when its row is opened, the TWS and relay link states, the age of
// the newest event, and the account and agent filters. Saves screenshots.
//
// Usage: node dashboard.mjs <dashboard url> <artifacts dir>
// Then, if the parent writes "links-down\n" on stdin after it prints {"phase":"up"},
// checks that the TWS and relay links show as down.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [url, dir] = process.argv.slice(2);
const T = { timeout: 30000 };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const checks = {};
let failed = false;
let page;
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => { console.log("pageerror:", e.message); failed = true; });
  page.on("console", (m) => { if (m.type() === "error") console.log("console error:", m.text()); });
  await page.goto(url);
  await page.waitForSelector("#state.open", T);

  // orders appear and change status; agent orders, notifications, accounts, tickers
  await page.waitForFunction(() => document.querySelectorAll("#orders tbody tr.order").length >= 3, null, T);
  const before = await page.$$eval("#orders tbody tr.order", (rows) => Object.fromEntries(rows.map((r) => [r.dataset.perm, r.cells[6].textContent])));
  await page.waitForFunction(
    (b) => [...document.querySelectorAll("#orders tbody tr.order")].some((r) => b[r.dataset.perm] !== undefined && b[r.dataset.perm] !== r.cells[6].textContent),
    before, T);
  await page.waitForFunction(() => document.querySelectorAll("#feed li").length > 0 && document.querySelectorAll(".ticker").length > 0
    && document.querySelectorAll("#orders tbody tr.agent").length > 0 && document.querySelector("#accounts table") !== null, null, T);
  checks.orders = true;

  // sparklines: a line per watched symbol, and the trader's fills marked on one
  await page.waitForFunction(() => [...document.querySelectorAll(".ticker svg.spark polyline")]
    .filter((l) => l.getAttribute("points").split(" ").length >= 5).length >= 2, null, T);
  await page.waitForFunction(() => document.querySelectorAll(".ticker svg.spark circle.fill").length >= 1, null, { timeout: 60000 });
  checks.sparkline_fills = await page.$$eval(".ticker svg.spark circle.fill", (c) => c.length);

  // the link states and the age of the newest event
  await page.waitForFunction(() => document.querySelector("#tws-link").dataset.state === "up"
    && document.querySelector("#relay-link").dataset.state === "up", null, T);
  await page.waitForFunction(() => /newest event [\d.]+ s ago/.test(document.querySelector("#age").textContent)
    && Number(document.querySelector("#age").dataset.ageMs) < 10000, null, T);
  checks.links_up = true;
  await page.screenshot({ path: `${dir}/dashboard.png`, fullPage: true });

  // an order's timeline: open the row of a Filled order whose fill the page saw (one
  // already Filled when the page opened starts at "seen" with that state, and has no
  // fill of its own: try the next)
  const tried = new Set();
  let perm = null;
  let kinds = [];
  const until = Date.now() + 60000;
  while (Date.now() < until) {
    const next = await page.evaluate((tried) => {
      const rows = [...document.querySelectorAll("#orders tbody tr.order")];
      const r = rows.find((r) => r.cells[6].textContent === "Filled" && r.dataset.perm && !tried.includes(r.dataset.perm));
      return r ? r.dataset.perm : null;
    }, [...tried]);
    if (next === null) { await new Promise((r) => setTimeout(r, 250)); continue; }
    tried.add(next);
    await page.click(`#orders tbody tr.order[data-perm="${next}"]`);
    await page.waitForSelector(`#orders tbody tr.timeline[data-perm="${next}"] li`, T);
    kinds = await page.$$eval(`#orders tbody tr.timeline[data-perm="${next}"] li`, (li) => li.map((l) => l.className));
    if (kinds.includes("filled") && kinds.some((k) => k === "created" || k === "seen")) { perm = next; break; }
    await page.click(`#orders tbody tr.order[data-perm="${next}"]`);
    await page.waitForFunction(() => document.querySelector("#orders tbody tr.timeline") === null, null, T);
  }
  if (perm === null) {
    console.log("no Filled order's timeline has created/filled; last:", JSON.stringify(kinds), "tried", tried.size); failed = true;
  }
  checks.timeline = kinds;
  checks.timeline_tries = tried.size;
  if (perm !== null) {
    await page.screenshot({ path: `${dir}/dashboard-timeline.png`, fullPage: true });
    await page.click(`#orders tbody tr.order[data-perm="${perm}"]`);
    await page.waitForFunction(() => document.querySelector("#orders tbody tr.timeline") === null, null, T);
  }

  // filters: one account, then agent orders only
  const accounts = await page.$$eval("#f-account option", (o) => o.map((x) => x.value).filter(Boolean));
  if (accounts.length < 2) { console.log("expected two accounts in the filter:", accounts); failed = true; }
  await page.selectOption("#f-account", accounts[1]);
  await page.waitForFunction((a) => {
    const rows = [...document.querySelectorAll("#orders tbody tr.order")];
    return rows.length > 0 && rows.every((r) => r.cells[10].textContent === a);
  }, accounts[1], T);
  await page.selectOption("#f-account", "");
  await page.check("#f-agent");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#orders tbody tr.order")];
    return rows.length > 0 && rows.every((r) => r.classList.contains("agent"));
  }, null, T);
  checks.filters = { accounts, agent_rows: await page.$$eval("#orders tbody tr.order", (r) => r.length) };
  await page.screenshot({ path: `${dir}/dashboard-filtered.png`, fullPage: true });
  await page.uncheck("#f-agent");

  // the parent takes TWS and the relay away; both links show it
  console.log(JSON.stringify({ phase: "up" }));
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) if (line.trim() === "links-down") break;
  await page.waitForFunction(() => document.querySelector("#tws-link").dataset.state === "down"
    && document.querySelector("#relay-link").dataset.state === "down", null, T);
  checks.links_down = true;
  await page.screenshot({ path: `${dir}/dashboard-links-down.png`, fullPage: true });
  const rows = await page.$$eval("#orders tbody tr.order", (r) => r.length);
  console.log(JSON.stringify({ ok: !failed, rows, checks }));
} catch (e) {
  console.log("failed:", e.message);
  if (page) console.log("page state:", await page.evaluate(() => JSON.stringify({
    tws: document.querySelector("#tws-link").textContent, relay: document.querySelector("#relay-link").textContent,
    age: document.querySelector("#age").textContent, state: document.querySelector("#state").textContent })).catch(() => "?"));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
