"""Peer server for the ibws benchmark: Python `websockets` 17 (asyncio).

Subscribers connect to /sub; every text frame the publisher sends on /pub goes to
every subscriber with websockets.broadcast. Usage: python py-websockets.py PORT
"""
import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

subs = set()


async def handler(ws):
    if ws.request.path == "/pub":
        async for msg in ws:
            broadcast(subs, msg)
    else:
        subs.add(ws)
        try:
            await ws.wait_closed()
        finally:
            subs.discard(ws)


async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None, max_queue=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


asyncio.run(main())
