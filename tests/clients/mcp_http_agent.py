# An agent host on MCP's streamable HTTP transport (the official Python SDK) against
# `ibws mcp --transport http`: with the token it lists tools, reads accounts and places
# an order; without it, with a wrong one, from a foreign web page (Origin) or under a
# foreign Host name it is refused. Prints one JSON object.
#
#   python mcp_http_agent.py URL TOKEN
import asyncio
import json
import sys
import urllib.error
import urllib.request

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL, TOKEN = sys.argv[1], sys.argv[2]
INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}}}).encode()


def status(headers):
    req = urllib.request.Request(URL, data=INIT, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


async def main():
    out = {
        "no_token": status({}),
        "wrong_token": status({"Authorization": "Bearer " + "x" * len(TOKEN)}),
        "foreign_origin": status({"Authorization": "Bearer " + TOKEN, "Origin": "https://evil.example"}),
        "foreign_host": status({"Authorization": "Bearer " + TOKEN, "Host": "evil.example"}),
    }
    client = create_mcp_http_client(headers={"Authorization": "Bearer " + TOKEN})
    async with streamable_http_client(URL, http_client=client) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            for _ in range(100):
                r = await session.call_tool("get_accounts", {})
                accounts = json.loads(r.content[0].text)
                if accounts:
                    break
                await asyncio.sleep(0.1)
            out["accounts"] = [a["account"] for a in accounts]
            r = await session.call_tool("place_order", {"symbol": "AAPL", "action": "BUY", "quantity": 2,
                                                        "order_type": "LMT", "limit_price": 150,
                                                        "account": "DU1234567"})
            out["place"] = {"error": bool(r.is_error), "body": json.loads(r.content[0].text)}
    print(json.dumps(out))


asyncio.run(main())
