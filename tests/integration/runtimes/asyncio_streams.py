# SPDX-License-Identifier: MIT
"""A Python asyncio streams server (asyncio.start_server, await
reader.readline()): a line HEAVY burns CPU, any other is answered at once.
The coroutine of a connection resumes on the loop's pass after the one that
read its data, after other connections' reads: the work conctrace must
charge to the connection it is for. Its own books: per connection (by the
client's port), the thread CPU clock around each request's work and
reply. Usage: python3 asyncio_streams.py BURN BOOKS.json (SIGTERM writes
the books)."""

import asyncio
import json
import signal
import sys
import time

BURN = int(sys.argv[1])
BOOKS = sys.argv[2]
conns = {}


def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


async def serve(reader, writer):
    port = writer.get_extra_info("peername")[1]
    book = conns[port] = {"requests": 0, "cpu_ns": 0}
    while True:
        line = await reader.readline()
        if not line:
            break
        t0 = time.thread_time_ns()
        x = burn(BURN) if line.startswith(b"HEAVY") else 0
        writer.write(b"%d\n" % (x & 0xff))
        book["cpu_ns"] += time.thread_time_ns() - t0
        book["requests"] += 1
        await writer.drain()
    writer.close()


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # a backlog for the tests' bursts of connections (asyncio's default, 100,
    # drops the handshakes beyond it, which the clients then retry for seconds)
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stderr.write(f"asyncio_streams: listening on port {port} (pid {__import__('os').getpid()})\n")
    sys.stderr.flush()
    await stop.wait()
    with open(BOOKS, "w") as f:
        json.dump({"conns": conns}, f)


asyncio.run(main())
