// A small web app that uses the ibws-web npm package as any web app would: installed
// from the package, bundled by esbuild, type-checked by tsc against the package's
// declarations (generated from the servers' Rust types).
import init, { IbwsClient, type OrderData, type OrdersResponse, type ServerEvent, type ConnectionState } from "ibws-web";

interface Result {
  state: ConnectionState;
  snapshot: number;
  fetched: number;
  updates: number;
  symbols: string[];
  statuses: string[];
  orderIdsAreNumbers: boolean;
}

declare global {
  interface Window {
    ibwsResult: Result;
  }
}

const url = new URLSearchParams(location.search).get("ws") ?? "ws://127.0.0.1:8000/websocket/ws";
await init();
const client = IbwsClient.connect(url, { subscribe: ["order_update", "order_notification"] });

const result: Result = { state: "connecting", snapshot: 0, fetched: 0, updates: 0, symbols: [], statuses: [], orderIdsAreNumbers: true };
window.ibwsResult = result;
const list = document.getElementById("orders")!;

function show(o: OrderData): void {
  const symbol: string = o.symbol;
  const id: number = o.order_id;
  // @ts-expect-error the package's types say order_id is a number, not a string
  const wrong: string = o.order_id;
  void wrong;
  result.orderIdsAreNumbers &&= typeof id === "number";
  if (!result.symbols.includes(symbol)) result.symbols.push(symbol);
  const li = document.createElement("li");
  li.textContent = `${id} ${symbol} ${o.action} ${o.quantity} ${o.status} ${o.price ?? "MKT"}`;
  list.prepend(li);
}

client.onState((s: ConnectionState) => {
  result.state = s;
  document.getElementById("state")!.textContent = s;
  if (s === "open") {
    client.getOrders().then((orders: OrderData[]) => { result.fetched = orders.length; });
  }
});
client.onSnapshot((snap: OrdersResponse) => {
  result.snapshot = snap.data.length;
  snap.data.forEach(show);
});
// the handler's event is narrowed by its type: no check of e.type needed
client.on("order_update", (e) => {
  result.updates += 1;
  result.statuses.push(e.data.status);
  show(e.data);
});
client.on("*", (e: ServerEvent) => void e.type);

// What the types catch (checked by tsc, never run):
function typeChecks(o: OrderData): void {
  // @ts-expect-error a misspelt event type
  client.on("order_updat", () => {});
  client.on("market_data", (e) => {
    const bid: number | null | undefined = e.data.bid;
    void bid;
    // @ts-expect-error market data has no order fields
    void e.data.order_id;
  });
  // @ts-expect-error a wrong action literal
  if (o.action === "BYU") return;
  // @ts-expect-error a wrong status literal
  if (o.status === "Filed") return;
  // options are optional
  IbwsClient.connect(url).close();
}
void typeChecks;
