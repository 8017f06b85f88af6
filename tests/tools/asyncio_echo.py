# SPDX-License-Identifier: MIT
"""An asyncio line-echo server (stdlib only), its own books kept, for
test_records.py: Python's event loop makes a socketpair of its own (the
self-pipe that wakes it), which is not a connection.

  asyncio_echo.py CONNECTIONS

Listens on 127.0.0.1 (an ephemeral port), prints "listening on tcp
127.0.0.1:PORT (pid PID)", echoes lines until CONNECTIONS connections
have been accepted and closed, then prints "accepted N" and exits.
"""
import asyncio
import os
import sys


async def main(want):
    accepted = 0
    done = asyncio.Event()
    finished = 0

    async def serve(reader, writer):
        nonlocal accepted, finished
        accepted += 1
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        finished += 1
        if finished == want:
            done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on tcp 127.0.0.1:{port} (pid {os.getpid()})", flush=True)
    await done.wait()
    server.close()
    await server.wait_closed()
    print(f"accepted {accepted}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
