# An agent host as a user would run one: the official Python MCP SDK starts `ibws mcp`
# over stdio and calls its tools, while a web client on the bridge's local endpoint
# records what web apps are told. Prints one JSON object: what each step returned and
# what the web client saw (the Rust test judges it).
#
#   python mcp_agent.py IBWS_BINARY TWS_ADDR LISTEN_PORT AUDIT_LOG [EXTRA ibws mcp ARGS...]
import asyncio
import json
import os
import statistics
import sys
import time

import websockets
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BIN, TWS, PORT, AUDIT = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
EXTRA = sys.argv[5:]
TYPES = ["order_update", "order_notification", "mcp_order", "error"]


class Web:
    """A web client on the local endpoint, keeping every event with its arrival time."""

    def __init__(self):
        self.events = []
        self.changed = asyncio.Event()

    async def run(self):
        url = f"ws://127.0.0.1:{PORT}/websocket/ws"
        for _ in range(200):
            try:
                ws = await websockets.connect(url)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the bridge's endpoint never came up")
        await ws.send(json.dumps({"type": "subscribe", "message_types": TYPES}))
        async for raw in ws:
            self.events.append((time.monotonic(), json.loads(raw)))
            self.changed.set()

    async def wait_for(self, pred, since=0.0, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            for t, e in self.events:
                if t >= since and pred(e):
                    return t, e
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass


class Told:
    """MCP notifications the server sends this agent (resources/updated), with arrival times."""

    def __init__(self):
        self.times = []

    async def __call__(self, message):
        root = getattr(message, "root", message)
        if type(root).__name__ == "ResourceUpdatedNotification" or getattr(root, "method", "") == "notifications/resources/updated":
            self.times.append(time.monotonic())

    def first_after(self, t0):
        return next((t for t in self.times if t >= t0), None)


def text(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def call(session, name, args=None):
    r = await session.call_tool(name, args or {})
    body = text(r)
    try:
        body = json.loads(body)
    except ValueError:
        pass
    return {"error": bool(r.is_error), "body": body}


def order_of(e):
    return (e.get("data") or {}).get("order_id")


def stats(ms):
    ms = sorted(ms)
    return {"n": len(ms), "median_ms": statistics.median(ms), "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
            "max_ms": ms[-1]}


async def bench(session, web, told, n):
    """Tool call -> first web event, and -> the agent's own notification, per order. Orders go
    out every MCP_BENCH_INTERVAL_MS (default 50: TWS takes at most 50 messages a second, and the
    bridge paces what it sends to stay under that, so a faster agent measures the queue)."""
    interval = float(os.environ.get("MCP_BENCH_INTERVAL_MS", "50")) / 1000
    to_web, to_agent = [], []
    for i in range(n):
        t0 = time.monotonic()
        r = await call(session, "place_order", {"symbol": "AAPL", "action": "BUY", "quantity": 1, "order_type": "LMT",
                                                "limit_price": 100 + (i % 50) / 100, "account": "DU1234567",
                                                "idempotency_key": f"bench-{i}"})
        oid = r["body"]["order_id"]
        t_web, _ = await web.wait_for(lambda e: order_of(e) == oid, since=t0)
        for _ in range(100):
            if told.first_after(t0):
                break
            await asyncio.sleep(0.001)
        t_told = told.first_after(t0)
        if t_web is None or t_told is None:
            raise RuntimeError(f"order {oid}: no web event or no notification")
        to_web.append((t_web - t0) * 1000)
        to_agent.append((t_told - t0) * 1000)
        await asyncio.sleep(max(0.0, t0 + interval - time.monotonic()))
    return {"tool_call_to_web_event": stats(to_web), "tool_call_to_agent_notification": stats(to_agent)}


async def main():
    web = Web()
    web_task = asyncio.create_task(web.run())
    params = StdioServerParameters(
        command=BIN,
        args=["mcp", "--tws", TWS, "--listen", f"127.0.0.1:{PORT}", "--agent-audit-log", AUDIT, *EXTRA],
        env={"RUST_LOG": "warn"},
    )
    out = {}
    async with stdio_client(params) as (read, write):
        told = Told()
        async with ClientSession(read, write, message_handler=told) as session:
            await session.initialize()
            out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            # TWS connected and accounts known: get_accounts lists them
            for _ in range(100):
                accts = await call(session, "get_accounts")
                if isinstance(accts["body"], list) and accts["body"]:
                    break
                await asyncio.sleep(0.1)
            out["accounts"] = accts
            # the web client is subscribed before anything is traded
            sub, _ = await web.wait_for(lambda e: e["type"] == "subscription")
            assert sub is not None, "the web client never subscribed"
            if "--agent-trading" not in EXTRA:
                out["place_when_off"] = await call(session, "place_order", {
                    "symbol": "AAPL", "action": "BUY", "quantity": 1, "order_type": "LMT", "limit_price": 150,
                    "account": "DU1234567"})
                print(json.dumps(out))
                return
            # as an agent would, look at the market first (a market order's notional is checked
            # against the last price the bridge has seen)
            for _ in range(100):
                quotes = await call(session, "get_quotes")
                if isinstance(quotes["body"], dict) and "last" in quotes["body"].get("AAPL", {}):
                    break
                await asyncio.sleep(0.1)
            out["quotes"] = quotes
            out["resources"] = [str(r.uri) for r in (await session.list_resources()).resources]
            await session.subscribe_resource("ibws://orders")
            if os.environ.get("MCP_BENCH"):
                out["bench"] = await bench(session, web, told, int(os.environ["MCP_BENCH"]))
                print(json.dumps(out))
                return
            base = {"symbol": "AAPL", "action": "BUY", "quantity": 10, "order_type": "LMT", "limit_price": 150,
                    "account": "DU1234567"}

            # preview: an order state back, nothing booked, a confirmation id
            out["preview"] = await call(session, "preview_order", base)

            # place a limit order; the first web event about it, and how long it took
            t0 = time.monotonic()
            out["place"] = await call(session, "place_order", {**base, "idempotency_key": "k-1"})
            oid = out["place"]["body"].get("order_id") if isinstance(out["place"]["body"], dict) else None
            t_first, _ = await web.wait_for(lambda e: order_of(e) == oid, since=t0)
            out["first_web_event_ms"] = None if t_first is None else (t_first - t0) * 1000
            _, mcp = await web.wait_for(lambda e: e["type"] == "mcp_order" and order_of(e) == oid, since=t0)
            out["mcp_order"] = mcp
            for _ in range(50):
                if told.first_after(t0):
                    break
                await asyncio.sleep(0.05)
            t_told = told.first_after(t0)
            out["first_agent_notification_ms"] = None if t_told is None else (t_told - t0) * 1000

            # a retry with the same key places nothing new
            out["retry"] = await call(session, "place_order", {**base, "idempotency_key": "k-1"})

            # modify quantity and price: an order_update with the new values
            t1 = time.monotonic()
            out["modify"] = await call(session, "modify_order", {"order_id": oid, "quantity": 12, "limit_price": 151})
            _, upd = await web.wait_for(
                lambda e: e["type"] == "order_update" and order_of(e) == oid and e["data"].get("quantity") == 12,
                since=t1)
            out["modified_update"] = upd

            # cancel
            t2 = time.monotonic()
            out["cancel"] = await call(session, "cancel_order", {"order_id": oid})
            _, cancelled = await web.wait_for(
                lambda e: e["type"] == "order_update" and order_of(e) == oid and e["data"].get("status") == "Cancelled",
                since=t2)
            out["cancelled_update"] = cancelled

            # a market order that the test's "exchange" fills: its execution at the web client and in
            # get_executions
            t3 = time.monotonic()
            out["market"] = await call(session, "place_order", {
                "symbol": "AAPL", "action": "BUY", "quantity": 5, "order_type": "MKT", "account": "DU1234567",
                "idempotency_key": "k-2"})
            moid = out["market"]["body"].get("order_id") if isinstance(out["market"]["body"], dict) else None
            _, fill = await web.wait_for(
                lambda e: e["type"] == "order_update" and order_of(e) == moid and e["data"].get("execution"),
                since=t3)
            out["market_fill"] = fill
            for _ in range(50):
                ex = await call(session, "get_executions")
                if any(f.get("order_id") == moid for f in ex["body"] or []):
                    break
                await asyncio.sleep(0.1)
            out["executions"] = ex
            out["my_orders"] = await call(session, "get_my_orders")
            res = await session.read_resource("ibws://orders")
            out["orders_resource"] = json.loads(res.contents[0].text)
            out["told_of_fill"] = told.first_after(t3) is not None

            # a rejection by TWS (the test's exchange rejects 13 shares): account and agent on the error
            t4 = time.monotonic()
            out["rejected_place"] = await call(session, "place_order", {**base, "quantity": 13})
            roid = out["rejected_place"]["body"].get("order_id") if isinstance(out["rejected_place"]["body"], dict) else None
            _, rej = await web.wait_for(lambda e: e["type"] == "error" and e.get("req_id") == roid, since=t4)
            out["reject_error"] = rej

            # preview-then-confirm: a wrong id is refused, the right one places once
            cid = out["preview"]["body"].get("confirmation_id") if isinstance(out["preview"]["body"], dict) else None
            out["confirm_wrong"] = await call(session, "place_order", {**base, "confirmation_id": "cf-nope"})
            out["confirm_right"] = await call(session, "place_order", {**base, "confirmation_id": cid})
            out["confirm_again"] = await call(session, "place_order", {**base, "confirmation_id": cid})

            # every guard refuses, and nothing reaches TWS
            out["guards"] = {
                "symbol": await call(session, "place_order", {**base, "symbol": "TSLA", "limit_price": 200}),
                "order_type": await call(session, "place_order", {**base, "order_type": "STP", "stop_price": 140}),
                "quantity": await call(session, "place_order", {**base, "quantity": 1000}),
                "notional": await call(session, "place_order", {**base, "quantity": 90, "limit_price": 600}),
                "live_account": await call(session, "place_order", {**base, "account": "U7654321"}),
                "modify_not_own": await call(session, "modify_order", {"order_id": 999999, "quantity": 1}),
            }
            # the rate limit: the test allows 6 per minute; 5 were sent (place, modify, market, reject,
            # confirm), so one more passes and the next is refused
            t5 = time.monotonic()
            out["rate_ok"] = await call(session, "place_order", {**base, "limit_price": 149})
            out["rate_refused"] = await call(session, "place_order", {**base, "limit_price": 148})
            last = out["rate_ok"]["body"].get("order_id") if isinstance(out["rate_ok"]["body"], dict) else None
            # the last placement's events have arrived before the web client's events are counted
            await web.wait_for(lambda e: e["type"] == "mcp_order" and order_of(e) == last, since=t5)
            out["web_mcp_created"] = sum(
                1 for _, e in web.events if e["type"] == "mcp_order" and e.get("event") == "created")
    web_task.cancel()
    # what the web client saw, in order, for a failing test's message
    out["web_seen"] = [[t, e.get("type"), e.get("event"), order_of(e) if isinstance(e.get("data"), dict) else None]
                       for t, e in web.events][:60]
    print(json.dumps(out))


asyncio.run(main())
