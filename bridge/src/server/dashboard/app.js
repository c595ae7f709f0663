// The ibws dashboard: a view over the ibws wasm client. It holds no protocol code of
// its own; connection, auth, reconnect, heartbeat and resume are the client's.
// Plain ES module, embedded in the binary: no front-end build step.
//
// Built for a busy day: events only change data and mark what is dirty; one animation
// frame draws what changed. The orders and fills tables are virtual lists (a scroll
// area, rows of one height, only the visible rows exist, each cell written only when
// its text changed), so the cost of a frame follows what is on screen, not the size of
// the account. While the pointer is over the orders, their order is held (values still
// update in place) so the row under the mouse is the row that gets clicked.
import init, { IbwsClient } from "/ibws_web.js";

const $ = (id) => document.getElementById(id);
const ALL = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];

// Bounds: the page stays light however long it stays open.
const TIMELINE_MAX = 100; // entries per order
const SERIES_MAX = 600; // price points per symbol
const SERIES_WINDOW_MS = 5 * 60 * 1000; // what a sparkline shows
const MARKS_MAX = 200; // fill marks per symbol
const FILLS_MAX = 1000; // rows in the fills blotter
const ORDERS_MAX = 20000; // orders kept (finished ones changed longest ago go first)
const ALERTS_MAX = 50; // kept; the strip shows the newest ALERTS_SHOWN
const ALERTS_SHOWN = 3;
const FEED_MAX = 200;
const REORDER_MS = 250; // the list re-orders at most this often (values change in place at once)
const SPARK_MS = 500; // a sparkline is redrawn at most this often
const ACCOUNTS_MS = 500; // the accounts panel likewise

// ---- state: what the server said -----------------------------------------------

const orders = new Map(); // key -> row as sent; the map's order is the order of last change
const timelines = new Map(); // key -> [{ t, kind, text }]
const agentNames = new Map(); // key -> the agent's name (from mcp_order)
let namesEpoch = 0; // bumped when a name is learnt: rows showing it are written again
const accounts = new Map(); // account -> { account, base_currency, values, positions }
const accountNames = new Set();
const series = new Map(); // symbol -> [{ t, p }]
const marks = new Map(); // symbol -> [{ t, p, side, text }]
const quotes = new Map(); // symbol -> latest quote
const fillLog = []; // newest first
const fillsByExec = new Map(); // exec id -> entry of fillLog
const alerts = []; // newest first
const filter = { account: "", agentOnly: false, search: "", sort: "recent" };
let openKey = null;
let lastEventAt = 0;
let twsReason = "";

// Where to connect: the URL fragment (#url=...&token=...) never reaches server logs;
// the query string is never used for tokens.
function target() {
  const f = new URLSearchParams(location.hash.slice(1));
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return { url: f.get("url") || `${proto}//${location.host}/websocket/ws`, token: f.get("token") || undefined };
}

// ---- formats: one way to show each kind of number and time ---------------------

const numberFormat = (min, max) => new Intl.NumberFormat("en-US", { minimumFractionDigits: min, maximumFractionDigits: max });
const QTY = numberFormat(0, 4);
const PRICE = numberFormat(2, 5);
const MONEY = numberFormat(2, 2);
const HMS = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const DASH = "–";
const isNum = (v) => v !== undefined && v !== null && v !== "" && Number.isFinite(Number(v));
const qty = (v) => (isNum(v) ? QTY.format(Number(v)) : DASH);
const price = (v) => (isNum(v) ? PRICE.format(Number(v)) : DASH);
const money = (v) => (isNum(v) ? MONEY.format(Number(v)) : DASH);
const sign = (v) => (!isNum(v) || Number(v) === 0 ? "" : Number(v) < 0 ? "neg" : "pos");
const clock = (t) => HMS.format(t);
const key = (o) => String(o.perm_id ?? `id${o.client_id ?? 0}:${o.order_id}`);
const describe = (o) => `${o.action} ${qty(o.quantity)} ${o.symbol} ${o.order_type}${isNum(o.price) ? " @ " + price(o.price) : ""}`;
const finished = (o) => /^(Filled|Cancelled|ApiCancelled|Inactive)$/.test(o.status);
const working = (o) => !finished(o);
// who placed it: typed in TWS, a program (its API client id), an agent
function origin(o, k) {
  if (o.agent) return `AI ${agentNames.get(k) ?? "agent"}`;
  if (o.source === "API") return `API ${o.client_id ?? ""}`.trim();
  return o.source ?? "";
}

// ---- drawing: one frame draws whatever events marked dirty ----------------------

const dirty = { view: false, rows: false, detail: false, fills: false, accounts: false, alerts: false, filters: false };
const dirtyQuotes = new Set();
let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(draw);
}

// One pending timer per purpose: a throttled redraw waits once, however many frames
// draw meanwhile.
const timers = new Map();
function later(key, wait, fn) {
  if (timers.has(key)) return;
  timers.set(key, setTimeout(() => { timers.delete(key); fn(); }, wait));
}

// A table drawn as a virtual list: `keys` in display order, `paint(row, key)` fills
// one pooled row's cells. Only the rows in view (and a few either side) exist.
class VirtualList {
  constructor(scroller, grid, columns, paint) {
    this.scroller = scroller;
    this.body = grid.querySelector(".body");
    this.head = grid.querySelector(".head");
    this.columns = columns;
    this.paint = paint;
    this.keys = [];
    this.pool = [];
    this.rowHeight = 0;
    scroller.addEventListener("scroll", () => { this.stale = true; schedule(); }, { passive: true });
  }

  setKeys(keys) {
    this.keys = keys;
    this.stale = true;
  }

  // Rows are bound to keys: a row whose key stays in view keeps its element and only
  // moves (its `top`: no text laid out or written), so a new order at the top costs
  // one painted row, not a repaint of every visible one.
  // Reads the scroll position and size; called at the start of a frame, before any
  // write, so that reading them never forces a layout.
  measure() {
    if (!this.rowHeight) this.rowHeight = this.head.offsetHeight || 24;
    this.scrollTop = this.scroller.scrollTop;
    this.viewHeight = this.scroller.clientHeight || 600;
  }

  draw() {
    this.stale = false;
    const h = this.rowHeight;
    const n = this.keys.length;
    const height = `${n * h}px`;
    if (this.body.style.height !== height) this.body.style.height = height;
    // the body starts below the header, one row down the scroll area
    const top = Math.max(0, this.scrollTop - h);
    const view = this.viewHeight;
    const first = Math.max(0, Math.floor(top / h) - 4);
    const last = Math.min(n, Math.ceil((top + view) / h) + 4);
    const wanted = new Map();
    for (let at = first; at < last; at++) wanted.set(this.keys[at], at);
    const kept = new Map();
    const free = [];
    for (const row of this.pool) {
      if (row.ibwsKey !== undefined && wanted.has(row.ibwsKey) && !kept.has(row.ibwsKey)) kept.set(row.ibwsKey, row);
      else free.push(row);
    }
    for (const [k, at] of wanted) {
      let row = kept.get(k);
      if (!row) {
        row = free.pop() ?? this.makeRow();
        row.ibwsKey = k;
        row.ibwsData = undefined;
      }
      if (row.hidden) row.hidden = false;
      if (row.ibwsAt !== at) { row.style.top = `${at * h}px`; row.ibwsAt = at; }
      this.paint(row, k);
    }
    for (const row of free) {
      if (row.hidden) continue;
      row.hidden = true;
      row.ibwsKey = undefined;
      row.ibwsData = undefined;
      row.dataset.perm = "";
    }
  }

  makeRow() {
    const row = document.createElement("div");
    row.setAttribute("role", "row");
    row.hidden = true;
    this.pool.push(row);
    row.ibwsText = [];
    for (const c of this.columns) {
      const cell = document.createElement("div");
      cell.setAttribute("role", "cell");
      cell.className = c;
      row.append(cell);
    }
    this.body.append(row);
    return row;
  }
}

// Writes a cell only when its text changed: most of a busy frame's rows did not.
function text(row, i, value) {
  if (row.ibwsText[i] !== value) {
    row.ibwsText[i] = value;
    row.children[i].textContent = value;
  }
}
function classes(el, value) {
  if (el.className !== value) el.className = value;
}

const ORDER_COLS = ["c-time", "c-order", "c-symbol", "c-side", "c-qty num", "c-type", "c-price num", "c-status",
  "c-filled num", "c-remaining num", "c-avg num", "c-origin"];
const ordersList = new VirtualList($("orders-scroll"), $("orders"), ORDER_COLS, (row, k) => {
  const o = orders.get(k);
  const open = k === openKey;
  // a row object is replaced on every change: the same object means nothing to write
  if (row.ibwsData === o && row.ibwsOpen === open && row.ibwsEpoch === namesEpoch && o) return;
  row.ibwsData = o;
  row.ibwsOpen = open;
  row.ibwsEpoch = namesEpoch;
  if (row.dataset.perm !== k) row.dataset.perm = k;
  if (!o) { classes(row, "row gone"); for (let i = 0; i < ORDER_COLS.length; i++) text(row, i, i === 7 ? "(forgotten)" : ""); return; }
  classes(row, `row order${o.agent ? " agent" : ""}${open ? " open" : ""}`);
  const filled = Number(o.filled ?? 0);
  text(row, 0, clock(o.changedAt));
  text(row, 1, String(o.order_id));
  text(row, 2, o.symbol);
  text(row, 3, o.action);
  text(row, 4, qty(o.quantity));
  text(row, 5, o.order_type);
  text(row, 6, price(o.price));
  text(row, 7, o.status);
  text(row, 8, qty(filled));
  text(row, 9, qty(o.remaining ?? o.quantity));
  text(row, 10, filled > 0 ? price(o.avg_fill_price) : DASH);
  text(row, 11, [o.account, origin(o, k)].filter(Boolean).join(" · "));
  classes(row.children[3], `c-side ${o.action}`);
  classes(row.children[7], `c-status ${o.status}`);
});

const FILL_COLS = ["c-time", "c-symbol", "c-side", "c-qty num", "c-price num", "c-commission num", "c-who"];
const fillsList = new VirtualList($("fills-scroll"), $("fills"), FILL_COLS, (row, f) => {
  if (row.ibwsData === f && row.ibwsCommission === f.commission) return;
  row.ibwsData = f;
  row.ibwsCommission = f.commission;
  row.dataset.exec = f.exec_id;
  classes(row, `row fill${f.agent ? " agent" : ""}`);
  text(row, 0, f.time);
  text(row, 1, f.symbol);
  text(row, 2, f.side);
  text(row, 3, qty(f.shares));
  text(row, 4, price(f.price));
  text(row, 5, money(f.commission));
  text(row, 6, [f.account, f.agent ? `AI ${f.agent}` : "", f.reconciled ? "while away" : ""].filter(Boolean).join(" · "));
  classes(row.children[2], `c-side ${f.side}`);
});

// While the pointer is over the orders, their order is held: the row under the mouse
// stays the row that gets clicked. Values keep updating in place.
let held = false;
let heldChanges = 0;
$("orders-scroll").addEventListener("pointerenter", () => { held = true; });
$("orders-scroll").addEventListener("pointerleave", () => {
  held = false;
  heldChanges = 0;
  dirty.view = true;
  schedule();
});

let lastReorder = 0;
function matcher() {
  const q = filter.search.trim().toUpperCase();
  return (o) => {
    if (filter.account && o.account !== filter.account) return false;
    if (filter.agentOnly && !o.agent) return false;
    if (!q) return true;
    return o.symbol.toUpperCase().startsWith(q) || String(o.order_id).startsWith(q) || String(o.perm_id ?? "") === q;
  };
}

// The keys in display order. By recency it is one pass over the map (which is kept in
// order of last change); by status, the same pass into three groups; by symbol or id,
// a sort. Redone at most every REORDER_MS (at once when the user changed a filter): rows
// that jump thirty times a second cannot be read, and each jump repaints the list.
function deriveView(now) {
  const wait = lastReorder + REORDER_MS - now;
  if (!dirty.filters && wait > 0) return wait;
  const match = matcher();
  const keys = [];
  for (const [k, o] of orders) if (match(o)) keys.push(k);
  keys.reverse();
  let out = keys;
  if (filter.sort === "status") {
    const groups = [[], [], []];
    for (const k of keys) {
      const o = orders.get(k);
      groups[working(o) ? 0 : o.status === "Filled" ? 1 : 2].push(k);
    }
    out = groups.flat();
  } else if (filter.sort === "symbol") {
    const pairs = keys.map((k) => [orders.get(k).symbol, k]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    out = pairs.map((p) => p[1]);
  } else if (filter.sort === "id") {
    const pairs = keys.map((k) => [orders.get(k).order_id, k]);
    pairs.sort((a, b) => b[0] - a[0]);
    out = pairs.map((p) => p[1]);
  }
  lastReorder = now;
  ordersList.setKeys(out);
  renderCount(out.length);
  return 0;
}

function renderCount(matching) {
  const count = $("count");
  count.dataset.total = orders.size;
  count.dataset.matching = matching;
  count.textContent = matching === orders.size ? `(${qty(orders.size)})` : `(${qty(matching)} of ${qty(orders.size)})`;
}

function draw() {
  frame = 0;
  ordersList.measure();
  fillsList.measure();
  if (dirty.filters || (dirty.view && !held)) {
    const wait = deriveView(Date.now());
    if (wait > 0) later("reorder", wait, schedule);
    else { dirty.view = false; dirty.filters = false; }
  }
  const held_ = $("held");
  const showHeld = held && heldChanges > 0;
  if (held_.hidden === showHeld) held_.hidden = !showHeld;
  const heldText = showHeld ? `order held while the pointer is on the list (${heldChanges} changes)` : "";
  if (showHeld && held_.textContent !== heldText) held_.textContent = heldText;
  if (dirty.rows || ordersList.stale) { dirty.rows = false; ordersList.draw(); }
  if (dirty.fills || fillsList.stale) { dirty.fills = false; fillsList.setKeys(fillLog); fillsList.draw(); $("fills-count").textContent = fillLog.length ? `(${qty(fillLog.length)})` : ""; }
  if (dirty.detail) { dirty.detail = false; renderDetail(); }
  if (dirty.alerts) { dirty.alerts = false; renderAlerts(); }
  if (dirty.accounts) renderAccountsSoon();
  for (const s of dirtyQuotes) renderTicker(s);
  dirtyQuotes.clear();
}

// ---- orders ----------------------------------------------------------------------

function mark(k, kind, text) {
  let tl = timelines.get(k);
  if (!tl) timelines.set(k, (tl = []));
  tl.push({ t: Date.now(), kind, text });
  if (tl.length > TIMELINE_MAX) tl.splice(0, tl.length - TIMELINE_MAX);
  if (k === openKey) dirty.detail = true;
}

// An order's row, as the server sent it (an order_update, or a snapshot's table): the
// row replaces what the page had; nothing is merged or derived here (whether an agent
// placed it is the row's `agent` flag). A first sight gets a "seen" entry unless a
// notification already put one on the timeline.
function upsert(data) {
  const k = key(data);
  const old = orders.get(k);
  const row = { ...data, agent: data.agent === true, changedAt: Date.now() };
  orders.delete(k);
  orders.set(k, row);
  if (orders.size > ORDERS_MAX) forgetOne(k);
  if (row.account && !accountNames.has(row.account)) { accountNames.add(row.account); addAccountOption(row.account); }
  if (!old && !timelines.has(k)) mark(k, "seen", `${describe(row)}: ${row.status}`);
  fill(row, k);
  status(row, old, k);
  if (k === openKey) dirty.detail = true;
  dirty.view = true;
  dirty.rows = true;
  if (held) heldChanges++;
  schedule();
}

// Past ORDERS_MAX: the finished order changed longest ago (among the oldest
// thousand), else the order changed longest ago, and what the page kept about it.
function forgetOne(keep) {
  let victim = null;
  let looked = 0;
  for (const [k, o] of orders) {
    if (k === keep) continue;
    if (victim === null) victim = k;
    if (finished(o)) { victim = k; break; }
    if (++looked >= 1000) break;
  }
  if (victim !== null) { orders.delete(victim); timelines.delete(victim); agentNames.delete(victim); }
}

// A status the timeline has not shown yet (e.g. Submitted, Cancelled without a notice).
function status(o, old, k) {
  if (!old || old.status === o.status) return;
  const kind = o.status === "Filled" ? "filled" : /Cancelled|Inactive/.test(o.status) ? "cancelled" : "status";
  const tl = timelines.get(k) || [];
  if (kind === "filled" && tl.some((e) => e.kind === "filled")) return;
  mark(k, kind, `${old.status} → ${o.status}`);
}

// TWS's execution time ("20261206 10:00:01 US/Eastern" or "20261206-10:00:01") as
// HH:MM:SS, for a fill made while the page (or the bridge) was away.
function execClock(s) {
  const m = /^\d{8}[ -](\d{2}:\d{2}:\d{2})/.exec(s ?? "");
  return m ? m[1] : null;
}

// A fill: once per exec id on the blotter, the order's timeline and its symbol's
// sparkline; a later update with the commission completes the blotter's row.
function fill(o, k) {
  const x = o.execution;
  if (!x) return;
  const known = fillsByExec.get(x.exec_id);
  if (known) {
    if (isNum(x.commission) && known.commission !== x.commission) { known.commission = x.commission; dirty.fills = true; }
    return;
  }
  const now = Date.now();
  const entry = {
    exec_id: x.exec_id, symbol: o.symbol, side: o.action, shares: x.shares, price: x.price, commission: x.commission,
    account: o.account, agent: o.agent ? agentNames.get(k) ?? "agent" : "", reconciled: x.reconciled === true,
    time: (x.reconciled && execClock(x.time)) || clock(now),
  };
  fillLog.unshift(entry);
  fillsByExec.set(x.exec_id, entry);
  while (fillLog.length > FILLS_MAX) fillsByExec.delete(fillLog.pop().exec_id);
  dirty.fills = true;
  const done = o.remaining === 0 || o.status === "Filled";
  mark(k, done ? "filled" : "fill", `${done ? "filled" : "partial fill"}: ${qty(x.shares)} @ ${price(x.price)}` +
    ` (${qty(o.filled)} of ${qty(o.quantity)})${x.reconciled ? ", while away" : ""}`);
  let f = marks.get(o.symbol);
  if (!f) marks.set(o.symbol, (f = []));
  f.push({ t: now, p: Number(x.price), side: o.action, text: `${o.action} ${qty(x.shares)} @ ${price(x.price)}` });
  if (f.length > MARKS_MAX) f.shift();
  dirtyQuotes.add(o.symbol);
}

// ---- the selected order's panel --------------------------------------------------

function select(k) {
  openKey = openKey === k ? null : k;
  dirty.detail = true;
  dirty.rows = true;
  schedule();
}
$("orders").querySelector(".body").addEventListener("click", (ev) => {
  const row = ev.target.closest(".row.order");
  if (row && row.dataset.perm) select(row.dataset.perm);
});

function renderDetail() {
  const box = $("detail");
  const o = openKey && orders.get(openKey);
  box.dataset.perm = o ? openKey : "";
  const h = document.createElement("h2");
  if (!o) {
    h.textContent = "Order";
    const p = document.createElement("p"); p.className = "empty"; p.textContent = "Click an order to see its history.";
    box.replaceChildren(h, p);
    return;
  }
  h.textContent = `Order ${o.order_id}: ${describe(o)}`;
  const dl = document.createElement("dl");
  const filled = Number(o.filled ?? 0);
  for (const [t, v] of [["status", o.status], ["filled", `${qty(filled)} of ${qty(o.quantity)}${filled > 0 ? ` at ${price(o.avg_fill_price)}` : ""}`],
    ["account", o.account ?? DASH], ["placed by", origin(o, openKey) || DASH],
    ...(o.submitter ? [["submitted by", o.submitter + (o.manual_order_indicator === 1 ? " (entered by hand)" : "")]] : []),
    ["perm id", o.perm_id ?? DASH]]) {
    const dt = document.createElement("dt"); dt.textContent = t;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    dl.append(dt, dd);
  }
  const ol = document.createElement("ol");
  for (const e of timelines.get(openKey) || []) {
    const li = document.createElement("li");
    li.className = e.kind;
    const time = document.createElement("time"); time.textContent = clock(e.t);
    const kind = document.createElement("span"); kind.className = "kind"; kind.textContent = e.kind;
    li.append(time, kind, e.text);
    ol.append(li);
  }
  box.replaceChildren(h, dl, ol);
}

// ---- filters ---------------------------------------------------------------------

function addAccountOption(name) {
  const sel = $("f-account");
  const opt = document.createElement("option");
  opt.value = name; opt.textContent = name;
  const after = [...sel.options].find((o) => o.value && o.value > name);
  sel.insertBefore(opt, after ?? null);
}
const refilter = () => { dirty.filters = true; dirty.rows = true; $("orders-scroll").scrollTop = 0; schedule(); };
$("f-account").addEventListener("change", (ev) => { filter.account = ev.target.value; refilter(); });
$("f-agent").addEventListener("change", (ev) => { filter.agentOnly = ev.target.checked; refilter(); });
$("f-sort").addEventListener("change", (ev) => { filter.sort = ev.target.value; refilter(); });
$("f-search").addEventListener("input", (ev) => { filter.search = ev.target.value; refilter(); });

// ---- accounts: values, positions with P&L ----------------------------------------

let accountsAt = 0;
function renderAccountsSoon() {
  const wait = accountsAt + ACCOUNTS_MS - Date.now();
  if (wait > 0) { later("accounts", wait, schedule); return; }
  dirty.accounts = false;
  accountsAt = Date.now();
  renderAccounts();
}

function cell(tr, value, cls) {
  const td = tr.insertCell();
  td.textContent = value;
  if (cls) td.className = cls;
  return td;
}

function renderAccounts() {
  const box = $("accounts");
  if (!accounts.size) return;
  const out = [];
  for (const a of [...accounts.values()].sort((x, y) => (x.account < y.account ? -1 : 1))) {
    const div = document.createElement("div");
    div.className = "account";
    div.dataset.account = a.account;
    // values are keyed Key:CUR; totals come under BASE or under the base currency
    const base = a.base_currency || "BASE";
    const inBase = (k) => a.values[`${k}:BASE`] ?? a.values[`${k}:${base}`] ?? a.values[k];
    const cap = document.createElement("b");
    cap.textContent = `${a.account}${a.base_currency ? ` (${a.base_currency})` : ""}`;
    const pnl = document.createElement("div");
    pnl.className = "pnl";
    // TWS's RealizedPnL is today's; UnrealizedPnL is the open positions' now
    for (const [label, k, cls] of [["net liquidation", "NetLiquidation", "c-netliq"], ["realized today", "RealizedPnL", "c-day-pnl"],
      ["unrealized", "UnrealizedPnL", "c-unrealized"], ["cash", "TotalCashValue", "c-cash"], ["buying power", "BuyingPower", "c-bp"]]) {
      const v = inBase(k);
      if (v === undefined) continue;
      const s = document.createElement("span");
      s.className = k.endsWith("PnL") ? `${cls} ${sign(v)}` : cls;
      const small = document.createElement("small"); small.textContent = label;
      s.append(small, money(v));
      pnl.append(s);
    }
    div.append(cap, pnl);
    if (a.positions.length) {
      const t = document.createElement("table");
      t.className = "positions";
      const head = t.createTHead().insertRow();
      for (const [h, num] of [["symbol"], ["position", 1], ["avg cost", 1], ["price", 1], ["value", 1], ["unrealized", 1], ["realized", 1]]) {
        const th = document.createElement("th"); th.textContent = h; if (num) th.className = "num"; head.append(th);
      }
      const body = t.createTBody();
      for (const p of [...a.positions].sort((x, y) => (x.symbol < y.symbol ? -1 : 1))) {
        const tr = body.insertRow();
        tr.dataset.symbol = p.symbol;
        cell(tr, p.symbol); cell(tr, qty(p.position), "num"); cell(tr, price(p.average_cost), "num");
        cell(tr, price(p.market_price), "num"); cell(tr, money(p.market_value), "num");
        cell(tr, money(p.unrealized_pnl), `num c-unrealized ${sign(p.unrealized_pnl)}`);
        cell(tr, money(p.realized_pnl), `num c-realized ${sign(p.realized_pnl)}`);
      }
      div.append(t);
    }
    out.push(div);
  }
  box.replaceChildren(...out);
}

// ---- alerts and notifications ------------------------------------------------------

// Errors and rejections stay in the strip under the header until dismissed.
function alert(text) {
  alerts.unshift({ t: Date.now(), text });
  if (alerts.length > ALERTS_MAX) alerts.pop();
  dirty.alerts = true;
  schedule();
}
function renderAlerts() {
  const strip = $("alerts");
  strip.hidden = alerts.length === 0;
  $("alert-count").textContent = alerts.length > ALERTS_SHOWN ? `(${alerts.length}, newest ${ALERTS_SHOWN})` : "";
  strip.querySelector("ol").replaceChildren(...alerts.slice(0, ALERTS_SHOWN).map((a) => {
    const li = document.createElement("li");
    const time = document.createElement("time"); time.textContent = clock(a.t);
    li.append(time, a.text);
    li.title = a.text;
    return li;
  }));
}
$("alerts-clear").addEventListener("click", () => { alerts.length = 0; dirty.alerts = true; schedule(); });

function feed(text, cls) {
  const li = document.createElement("li");
  const time = document.createElement("time"); time.textContent = clock(Date.now());
  li.append(time, text);
  li.title = text;
  if (cls) li.className = cls;
  const ul = $("feed");
  ul.prepend(li);
  while (ul.children.length > FEED_MAX) ul.lastChild.remove();
}

// The page's own words for what happened (the wire's `action` is the seed protocol's).
const EVENT_WORDS = { created: "New order", modified: "Modified", cancelled: "Cancelled" };
const AGENT_WORDS = { created: "placed", modified: "modified", cancelled: "cancelled" };

// ---- tickers with sparklines -------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const sparkAt = new Map();

function tickerEl(symbol) {
  let el = document.querySelector(`.ticker[data-symbol="${CSS.escape(symbol)}"]`);
  if (!el) {
    el = document.createElement("div"); el.className = "ticker"; el.dataset.symbol = symbol;
    const b = document.createElement("b"); b.textContent = symbol;
    const q = document.createElement("div"); q.className = "quote";
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 160 44"); svg.setAttribute("preserveAspectRatio", "none");
    el.append(b, q, svg);
    $("tickers").append(el);
  }
  return el;
}

function ticker(m) {
  const q = m.data;
  quotes.set(m.symbol, q);
  const p = q.last ?? (isNum(q.bid) && isNum(q.ask) ? (Number(q.bid) + Number(q.ask)) / 2 : null);
  if (isNum(p)) {
    let s = series.get(m.symbol);
    if (!s) series.set(m.symbol, (s = []));
    s.push({ t: Date.now(), p: Number(p) });
    if (s.length > SERIES_MAX) s.shift();
  }
  dirtyQuotes.add(m.symbol);
  schedule();
}

function renderTicker(symbol) {
  const el = tickerEl(symbol);
  const q = quotes.get(symbol);
  if (q) {
    const t = `${qty(q.bid_size)} × ${price(q.bid)} / ${price(q.ask)} × ${qty(q.ask_size)}  last ${price(q.last)} (${qty(q.last_size)})  vol ${qty(q.volume)}`;
    const qe = el.querySelector(".quote");
    if (qe.textContent !== t) qe.textContent = t;
  }
  const now = Date.now();
  const wait = (sparkAt.get(symbol) ?? 0) + SPARK_MS - now;
  if (wait > 0) { later(`spark:${symbol}`, wait, () => { dirtyQuotes.add(symbol); schedule(); }); return; }
  sparkAt.set(symbol, now);
  spark(symbol, el.querySelector("svg"), now);
}

// The symbol's price over the last minutes, the trader's fills marked (BUY green, SELL red).
function spark(symbol, svg, now) {
  const s = series.get(symbol);
  if (!s || !s.length) return;
  const from = now - SERIES_WINDOW_MS;
  const pts = s.filter((x) => x.t >= from);
  const ms = (marks.get(symbol) || []).filter((x) => x.t >= from);
  const prices = pts.map((x) => x.p).concat(ms.map((x) => x.p));
  const lo = Math.min(...prices), hi = Math.max(...prices);
  const t0 = Math.min(pts[0] ? pts[0].t : now, ...ms.map((x) => x.t));
  const X = (t) => (now === t0 ? 160 : ((t - t0) / (now - t0)) * 156 + 2);
  const Y = (p) => (hi === lo ? 22 : 40 - ((p - lo) / (hi - lo)) * 36);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.map((x) => `${X(x.t).toFixed(1)},${Y(x.p).toFixed(1)}`).join(" "));
  const dots = ms.map((f) => {
    const c = document.createElementNS(SVG, "circle");
    c.setAttribute("class", `fill ${f.side}`);
    c.setAttribute("cx", X(f.t).toFixed(1)); c.setAttribute("cy", Y(f.p).toFixed(1)); c.setAttribute("r", "3");
    const title = document.createElementNS(SVG, "title"); title.textContent = `${clock(f.t)} ${f.text}`;
    c.append(title);
    return c;
  });
  svg.replaceChildren(line, ...dots);
}

// ---- link states and event age -----------------------------------------------------

function link(id, label, state, reason) {
  const el = $(id);
  const cls = `link ${state === true ? "up" : state === false ? "down" : "none"}`;
  const t = `${label} ${state === true ? "connected" : state === false ? `down${reason ? ": " + reason : ""}` : DASH}`;
  if (el.className !== cls) el.className = cls;
  if (el.textContent !== t) { el.textContent = t; el.title = t; }
  el.dataset.state = state === true ? "up" : state === false ? "down" : "none";
  el.dataset.reason = state === false ? reason ?? "" : "";
}

function setTws(up, reason) {
  if (reason) twsReason = reason;
  link("tws-link", "TWS", up, up === false ? twsReason : "");
}

// The bridge that serves this page reports its TWS link and its uplink in /healthz;
// a dashboard watching another server learns TWS's state from the stream instead.
async function pollHealth(sameServer) {
  if (!sameServer) { link("relay-link", "relay", null); return; }
  try {
    const h = await (await fetch("/healthz", { cache: "no-store" })).json();
    setTws(h.tws_connected, h.tws_down_reason);
    if (h.relay) link("relay-link", "relay", h.relay.connected, h.relay.last_error);
    else { link("relay-link", "relay", null); $("relay-link").textContent = "relay: none"; }
  } catch {
    link("tws-link", "TWS", null);
  }
}

function age() {
  const el = $("age");
  if (!lastEventAt) return;
  const s = (Date.now() - lastEventAt) / 1000;
  el.textContent = `newest event ${s < 10 ? s.toFixed(1) : Math.round(s)} s ago`;
  el.dataset.ageMs = String(Date.now() - lastEventAt);
  el.className = s > 30 ? "stale" : "";
}

const seen = (fn) => (e) => { lastEventAt = Date.now(); fn(e); };

async function main() {
  // the bridge serves the wasm beside /ibws_web.js, where init() looks for it
  await init();
  const { url, token } = target();
  $("target").textContent = url;
  $("url").value = url;
  const sameServer = new URL(url).host === location.host;
  const client = IbwsClient.connect(url, { token, subscribe: ALL, clientId: "dashboard" });
  window.ibws = client; // for the console, and for tests
  client.onState((state, code, reason) => {
    $("state").textContent = state; $("state").className = state;
    if (code && state !== "open") feed(`connection ${state} (${code}${reason ? ": " + reason : ""})`, state === "closed" ? "error" : "");
  });
  client.onSnapshot((snap) => {
    orders.clear();
    for (const o of snap.data) upsert(o);
    for (const a of snap.accounts || []) { accounts.set(a.account, { ...a, positions: [...(a.positions || [])] }); if (!accountNames.has(a.account)) { accountNames.add(a.account); addAccountOption(a.account); } }
    if (snap.source_connected != null && !sameServer) setTws(snap.source_connected);
    dirty.accounts = true;
    dirty.filters = true;
    schedule();
  });
  client.onResnapshot(() => feed("missed events could not be replayed: reloading the order table"));
  client.on("order_update", seen((e) => upsert(e.data)));
  // notifications tell what happened; the row itself comes in the order_update beside
  client.on("order_notification", seen((e) => {
    const d = e.data;
    if (e.event === "created" || e.event === "modified" || e.event === "cancelled") mark(key(d), e.event, describe(d));
    feed(`${EVENT_WORDS[e.event] ?? e.event ?? "Order"}: ${describe(d)} #${d.order_id}${d.account ? ` (${d.account})` : ""}`);
    schedule();
  }));
  client.on("mcp_order", seen((e) => {
    const k = key(e.data);
    const who = `AI ${e.agent ?? "agent"}`;
    if (e.agent && agentNames.get(k) !== e.agent) { agentNames.set(k, e.agent); namesEpoch++; }
    mark(k, e.event || "agent", `${who}: ${describe(e.data)}`);
    feed(`${who} ${AGENT_WORDS[e.event] ?? e.event ?? "sent"}: ${describe(e.data)} #${e.data.order_id}`, "mcp");
    dirty.rows = true;
    schedule();
  }));
  client.on("error", seen((e) => {
    if (e.error_code === "TWS_DISCONNECTED" || e.error_code === "TWS_UNREACHABLE") setTws(false, e.message);
    if (e.error_code === "TWS_RECONNECTED") setTws(true);
    const about = [e.account, e.agent && `AI ${e.agent}`, e.req_id != null && `id ${e.req_id}`].filter(Boolean).join(", ");
    const text = `${e.error_code ?? "ERROR"}${e.tws_code != null ? ` (${e.tws_code})` : ""}: ${e.message}${about ? ` [${about}]` : ""}`;
    feed(text, "error");
    if (!/RECONNECTED|RESTORED$/.test(e.error_code ?? "")) alert(text);
  }));
  client.on("account_update", seen((e) => {
    const a = accounts.get(e.data.account) || { account: e.data.account, values: {}, positions: [] };
    Object.assign(a.values, e.data.values);
    if (e.data.base_currency) a.base_currency = e.data.base_currency;
    for (const p of e.data.positions) {
      a.positions = a.positions.filter((q) => q.con_id !== p.con_id);
      if (Number(p.position) !== 0) a.positions.push(p);
    }
    accounts.set(a.account, a);
    if (!accountNames.has(a.account)) { accountNames.add(a.account); addAccountOption(a.account); }
    dirty.accounts = true;
    schedule();
  }));
  client.on("market_data", seen(ticker));
  pollHealth(sameServer);
  setInterval(() => pollHealth(sameServer), 2000);
  setInterval(age, 500);
  addEventListener("resize", () => { ordersList.stale = true; fillsList.stale = true; schedule(); });
}

$("connect").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const p = new URLSearchParams({ url: $("url").value });
  if ($("token").value) p.set("token", $("token").value);
  location.hash = p.toString();
  location.reload();
});

main().catch((e) => { $("state").textContent = "failed"; $("state").className = "closed"; feed(String(e), "error"); });
