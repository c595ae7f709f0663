# A client as the seed system's users wrote them: subscribe to the order events on the
# local endpoint and print each message, parsed, until the server closes.
import asyncio
import json

import websockets

URL = "ws://localhost:8000/websocket/ws"
TYPES = ["order_update", "order_notification", "mcp_order"]


async def listen():
    async with websockets.connect(URL) as ws:
        await ws.send(json.dumps({"type": "subscribe", "message_types": TYPES}))
        while True:
            try:
                data = json.loads(await ws.recv())
            except websockets.exceptions.ConnectionClosed:
                print("closed", flush=True)
                return
            except Exception as exc:  # a frame that is not JSON ends the client, as the seed's did
                print(f"failed: {exc}", flush=True)
                return
            print(f"received: {data}", flush=True)


asyncio.run(listen())
