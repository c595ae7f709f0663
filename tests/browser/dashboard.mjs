// Opens the dashboard a bridge serves, in Debian's Chromium, and checks each piece a
// trader looks at, on a book of a few hundred orders with a live flow: the orders in a
// scroll area of their own (a sticky header, only the visible rows drawn), sorting by
// recent activity, symbol and status, search by symbol or order id, agent orders marked
// from the server's flag, notifications in the page's own English words, the alerts
// strip (a rejection the parent causes), the fills blotter with commissions, accounts
// with P&L per position and for the day, consistent number and time formats, tickers
// with a price sparkline and the trader's fills on it, an order's timeline when its row
// is clicked, the TWS and relay link states with the reason when down, the age of the
// newest event, and the account and agent filters. Saves screenshots.
//
// Usage: node dashboard.mjs <dashboard url> <artifacts dir>
// Protocol with the parent, one line each way:
//   prints {"phase":"pause"}   -> the parent stops the order flow, writes "paused"
//   prints {"phase":"resume"}  -> the parent starts it again, writes "resumed"
//   prints {"phase":"reject"}  -> the parent rejects an order, writes "rejected"
//   prints {"phase":"up"}      -> the parent takes TWS and the relay away, writes "links-down"
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
const fail = (what, detail) => { console.log(`FAILED ${what}:`, JSON.stringify(detail)); failed = true; };
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function parent(phase, answer) {
  console.log(JSON.stringify({ phase }));
  for (;;) {
    const { value, done } = await stdin.next();
    if (done) throw new Error(`the parent did not answer ${phase}`);
    if (value.trim() === answer) return;
  }
}
let page;
// the drawn order rows, top to bottom, as { perm, cells: {column: text}, agent }
const rows = () => page.$$eval("#orders .row.order:not([hidden])", (rs) => rs
  .map((r) => ({ top: parseFloat(r.style.top), perm: r.dataset.perm, agent: r.classList.contains("agent"),
    cells: Object.fromEntries([...r.children].map((c) => [c.className.split(" ")[0].slice(2), c.textContent])) }))
  .sort((a, b) => a.top - b.top));
const PRICE = /^(–|-?\d{1,3}(,\d{3})*\.\d{2,5})$/;
const QTY = /^-?\d{1,3}(,\d{3})*(\.\d{1,4})?$/;
const MONEY = /^(–|-?\d{1,3}(,\d{3})*\.\d{2})$/;
const TIME = /^\d{2}:\d{2}:\d{2}$/;
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => fail("pageerror", e.message));
  page.on("console", (m) => { if (m.type() === "error") console.log("console error:", m.text()); });
  await page.goto(url);
  await page.waitForSelector("#state.open", T);

  // orders appear and change status; agent orders, notifications, accounts, tickers
  await page.waitForFunction(() => Number(document.querySelector("#count").dataset.total) >= 300, null, T);
  const before = Object.fromEntries((await rows()).map((r) => [r.perm, r.cells.status]));
  await page.waitForFunction((b) => [...document.querySelectorAll("#orders .row.order:not([hidden])")]
    .some((r) => b[r.dataset.perm] !== undefined && b[r.dataset.perm] !== r.querySelector(".c-status").textContent), before, T);
  await page.waitForFunction(() => document.querySelectorAll("#feed li").length > 0 && document.querySelectorAll(".ticker").length > 0
    && document.querySelectorAll("#orders .row.agent:not([hidden])").length > 0 && document.querySelector("#accounts .account") !== null, null, T);
  const agentRows = (await rows()).filter((r) => r.agent);
  if (!agentRows.every((r) => / · AI \S/.test(r.cells.origin))) fail("agent rows name the agent", agentRows);
  checks.orders = { total: Number(await page.$eval("#count", (c) => c.dataset.total)), agent_rows: agentRows.length };

  // notifications in the page's words: the seed protocol's Chinese action words stay on the wire
  await page.waitForFunction(() => [...document.querySelectorAll("#feed li")].some((l) => /New order|AI .* placed/.test(l.textContent)), null, T);
  const feedText = await page.$$eval("#feed li", (l) => l.map((x) => x.textContent));
  if (feedText.some((t) => /[\u4e00-\u9fff]/.test(t))) fail("English notification labels", feedText.slice(0, 5));
  if (!feedText.every((t) => /^\d{2}:\d{2}:\d{2}/.test(t))) fail("feed times", feedText.slice(0, 5));
  checks.english_labels = feedText.length;

  // the order flow stops while the table's order is checked (rows change in place at
  // once but move at most four times a second)
  await parent("pause", "paused");
  const frames = (n) => page.evaluate((n) => new Promise((r) => { const f = () => (--n ? requestAnimationFrame(f) : r()); requestAnimationFrame(f); }), n);
  await new Promise((r) => setTimeout(r, 1000));

  // a scroll area of its own with a sticky header; only the visible rows exist
  const area = await page.evaluate(() => {
    const s = document.getElementById("orders-scroll");
    return { scrollHeight: s.scrollHeight, clientHeight: s.clientHeight, page: document.documentElement.scrollHeight,
      drawn: document.querySelectorAll("#orders .row:not([hidden])").length };
  });
  if (!(area.scrollHeight > area.clientHeight * 3 && area.page < 2500 && area.drawn < 80)) fail("scroll area", area);
  await page.$eval("#orders-scroll", (s) => { s.scrollTop = s.scrollHeight; });
  await page.waitForFunction(() => {
    const s = document.getElementById("orders-scroll");
    const head = document.querySelector("#orders .head").getBoundingClientRect();
    const last = [...document.querySelectorAll("#orders .row.order:not([hidden])")].map((r) => parseFloat(r.style.top));
    return Math.abs(head.top - s.getBoundingClientRect().top) < 3 && Math.max(...last) > s.scrollHeight - s.clientHeight;
  }, null, T);
  checks.scroll_area = area;
  await page.$eval("#orders-scroll", (s) => { s.scrollTop = 0; });
  await frames(2);

  // sorting: recent activity (default), symbol, status
  const recent = await rows();
  const times = recent.map((r) => r.cells.time);
  if (!times.every(TIME.test.bind(TIME)) || times.some((t, i) => i > 0 && t > times[i - 1])) fail("recent activity first", times);
  await page.selectOption("#f-sort", "symbol");
  await frames(2);
  const bySymbol = (await rows()).map((r) => r.cells.symbol);
  if (bySymbol.some((s, i) => i > 0 && s < bySymbol[i - 1])) fail("sort by symbol", bySymbol);
  await page.selectOption("#f-sort", "status");
  await frames(2);
  const rank = (s) => (/^(Filled)$/.test(s) ? 1 : /Cancelled|Inactive/.test(s) ? 2 : 0);
  const byStatus = (await rows()).map((r) => r.cells.status);
  if (byStatus.some((s, i) => i > 0 && rank(s) < rank(byStatus[i - 1]))) fail("sort by status", byStatus);
  await page.selectOption("#f-sort", "recent");
  checks.sorting = { symbol: bySymbol.slice(0, 3), status: byStatus.slice(0, 3) };

  // search by symbol, then by order id
  await page.fill("#f-search", "msft");
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll("#orders .row.order:not([hidden])")];
    return r.length > 0 && r.every((x) => x.querySelector(".c-symbol").textContent === "MSFT") && / of /.test(document.querySelector("#count").textContent);
  }, null, T);
  const one = recent.find((r) => Number(r.cells.order) > 0);
  await page.fill("#f-search", one.cells.order);
  await page.waitForFunction((id) => {
    const r = [...document.querySelectorAll("#orders .row.order:not([hidden])")];
    return r.length > 0 && r.every((x) => x.querySelector(".c-order").textContent.startsWith(id));
  }, one.cells.order, T);
  checks.search = { symbol: "MSFT", order: one.cells.order };
  await page.fill("#f-search", "");
  await frames(2);

  // one format per kind of number: prices, quantities; no average price before a fill
  const all = await rows();
  for (const r of all) {
    const c = r.cells;
    if (!PRICE.test(c.price) || !QTY.test(c.qty) || !QTY.test(c.filled) || !QTY.test(c.remaining) || !PRICE.test(c.avg)
      || (c.filled === "0" && c.avg !== "–")) { fail("number formats", c); break; }
  }
  checks.formats = all.length;
  await parent("resume", "resumed");

  // sparklines: a line per watched symbol, and the trader's fills marked on one
  await page.waitForFunction(() => [...document.querySelectorAll(".ticker svg.spark polyline")]
    .filter((l) => l.getAttribute("points").split(" ").length >= 5).length >= 2, null, T);
  await page.waitForFunction(() => document.querySelectorAll(".ticker svg.spark circle.fill").length >= 1, null, { timeout: 60000 });
  checks.sparkline_fills = await page.$$eval(".ticker svg.spark circle.fill", (c) => c.length);

  // the fills blotter: time, symbol, side, quantity, price, commission, account / agent
  await page.waitForFunction(() => [...document.querySelectorAll("#fills .row.fill:not([hidden]) .c-commission")]
    .some((c) => c.textContent !== "–"), null, { timeout: 60000 });
  const fills = await page.$$eval("#fills .row.fill:not([hidden])", (rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
  for (const [time, symbol, side, q, p, commission, who] of fills) {
    if (!TIME.test(time) || !symbol || !/^(BUY|SELL)$/.test(side) || !QTY.test(q) || !PRICE.test(p) || !MONEY.test(commission) || !/^DU/.test(who)) {
      fail("fills blotter row", [time, symbol, side, q, p, commission, who]);
      break;
    }
  }
  checks.fills = fills.length;

  // accounts: the day's P&L per account, P&L per position, money with separators
  await page.waitForFunction(() => document.querySelectorAll("#accounts .account .c-day-pnl").length >= 2
    && document.querySelectorAll("#accounts .positions .c-unrealized").length >= 1, null, { timeout: 60000 });
  const acct = await page.$$eval("#accounts .account", (as) => as.map((a) => ({
    account: a.dataset.account, netliq: a.querySelector(".c-netliq")?.lastChild.textContent,
    day: a.querySelector(".c-day-pnl")?.lastChild.textContent, positions: a.querySelectorAll(".positions tbody tr").length })));
  if (!acct.every((a) => MONEY.test(a.netliq ?? "") && /,/.test(a.netliq) && MONEY.test(a.day ?? ""))) fail("account P&L", acct);
  checks.accounts = acct;

  // the link states and the age of the newest event
  await page.waitForFunction(() => document.querySelector("#tws-link").dataset.state === "up"
    && document.querySelector("#relay-link").dataset.state === "up", null, T);
  await page.waitForFunction(() => /newest event [\d.]+ s ago/.test(document.querySelector("#age").textContent)
    && Number(document.querySelector("#age").dataset.ageMs) < 10000, null, T);
  checks.links_up = true;
  await page.screenshot({ path: `${dir}/dashboard.png` });

  // an order's timeline: click the row of a Filled order whose fill the page saw (one
  // already Filled when the page opened starts at "seen" with that state, and has no
  // fill of its own: try the next)
  await page.hover("#orders-scroll");
  await frames(2);
  const tried = new Set();
  let perm = null;
  let kinds = [];
  const until = Date.now() + 60000;
  while (Date.now() < until) {
    const next = (await rows()).find((r) => r.cells.status === "Filled" && !tried.has(r.perm));
    if (!next) {
      await page.mouse.move(5, 5);
      await new Promise((r) => setTimeout(r, 400));
      await page.hover("#orders-scroll");
      await frames(2);
      continue;
    }
    tried.add(next.perm);
    await page.click(`#orders .row.order[data-perm="${next.perm}"]`);
    await page.waitForSelector(`#detail[data-perm="${next.perm}"] li`, T);
    kinds = await page.$$eval("#detail li", (li) => li.map((l) => l.className));
    if (kinds.includes("filled") && kinds.some((k) => k === "created" || k === "seen")) { perm = next.perm; break; }
  }
  if (perm === null) fail("a Filled order's timeline has created/filled", { kinds, tried: tried.size });
  checks.timeline = kinds;
  checks.timeline_tries = tried.size;
  if (perm !== null) {
    await page.screenshot({ path: `${dir}/dashboard-timeline.png` });
    await page.click(`#orders .row.order[data-perm="${perm}"]`);
    await page.waitForFunction(() => document.querySelector("#detail").dataset.perm === "", null, T);
  }
  await page.mouse.move(5, 5);

  // the alerts strip: the parent rejects an order; the rejection stays in view
  await parent("reject", "rejected");
  await page.waitForFunction(() => !document.getElementById("alerts").hidden
    && /ORDER_REJECTED|INSUFFICIENT_FUNDS/.test(document.querySelector("#alerts ol").textContent), null, T);
  await page.$eval("#orders-scroll", (s) => { s.scrollTop = s.scrollHeight / 2; });
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  const inView = await page.$eval("#alerts", (a) => { const b = a.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight && b.height > 0; });
  if (!inView) fail("alerts stay in view", inView);
  checks.alerts = await page.$eval("#alerts ol", (o) => o.textContent.slice(0, 160));
  await page.screenshot({ path: `${dir}/dashboard-alerts.png` });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.$eval("#orders-scroll", (s) => { s.scrollTop = 0; });

  // filters: one account, then agent orders only
  const accounts = await page.$$eval("#f-account option", (o) => o.map((x) => x.value).filter(Boolean));
  if (accounts.length < 2) fail("two accounts in the filter", accounts);
  await page.selectOption("#f-account", accounts[1]);
  await page.waitForFunction((a) => {
    const r = [...document.querySelectorAll("#orders .row.order:not([hidden])")];
    return r.length > 0 && r.every((x) => x.querySelector(".c-origin").textContent.startsWith(a));
  }, accounts[1], T);
  await page.selectOption("#f-account", "");
  await page.check("#f-agent");
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll("#orders .row.order:not([hidden])")];
    return r.length > 0 && r.every((x) => x.classList.contains("agent"));
  }, null, T);
  checks.filters = { accounts, agent_rows: (await rows()).length };
  await page.screenshot({ path: `${dir}/dashboard-filtered.png` });
  await page.uncheck("#f-agent");

  // the parent takes TWS and the relay away; both links show it, with the reason
  await parent("up", "links-down");
  await page.waitForFunction(() => document.querySelector("#tws-link").dataset.state === "down"
    && document.querySelector("#relay-link").dataset.state === "down"
    && document.querySelector("#tws-link").dataset.reason !== "" && document.querySelector("#relay-link").dataset.reason !== "", null, T);
  checks.links_down = await page.evaluate(() => ({ tws: document.querySelector("#tws-link").textContent, relay: document.querySelector("#relay-link").textContent }));
  await page.screenshot({ path: `${dir}/dashboard-links-down.png` });
  console.log(JSON.stringify({ ok: !failed, checks }));
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
