# SPDX-License-Identifier: MIT
"""A Python asyncio streams server (asyncio.start_server, await
reader.readline()): a line HEAVY burns CPU, any other is answered at once.
The coroutine of a connection resumes on the loop's pass after the one that
read its data, after other connections' reads: the work conctrace must
charge to the connection it is for. Its own books: per connection (by the
client's port), cpu_ns, the thread CPU clock around each request's work
and reply; loop_ns, the loop thread's CPU around the connection
(loop_books.py: its callbacks are the reads the stream's protocol is fed,
and the coroutine's code between two awaits of a line). Usage: python3
asyncio_streams.py BURN BOOKS.json (SIGTERM writes the books)."""

import asyncio
import json
import signal
import sys
import time

import loop_books

BURN = int(sys.argv[1])
BOOKS = sys.argv[2]
conns = {}


def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


class Fed(asyncio.StreamReaderProtocol):
    """The protocol asyncio.start_server makes, its reads in the books."""

    def __init__(self, *args, **kwargs):
        # in the Task step that makes the transport
        self.book = loop_books.accepted_book(requests=0, cpu_ns=0)
        loop_books.ends(self.book, loop_books.starts(self.book))
        super().__init__(*args, **kwargs)

    def connection_made(self, transport):
        # the callback's book opens once it names its connection (see
        # loop_books.keep_alive): before, it ran for the one named last
        loop_books.keep_alive(transport)
        spent = loop_books.starts(self.book)
        conns[transport.get_extra_info("peername")[1]] = self.book
        super().connection_made(transport)     # creates serve()'s Task
        loop_books.ends(self.book, spent)

    def data_received(self, data):
        spent = loop_books.starts(self.book)
        super().data_received(data)
        loop_books.ends(self.book, spent)

    def eof_received(self):
        spent = loop_books.starts(self.book)
        keep_open = super().eof_received()
        loop_books.ends(self.book, spent)
        return keep_open


async def serve(reader, writer):
    book = writer.transport.get_protocol().book
    spent = loop_books.starts(book)
    while True:
        loop_books.ends(book, spent)
        line = await reader.readline()
        spent = loop_books.starts(book)
        if not line:
            break
        t0 = time.thread_time_ns()
        x = burn(BURN) if line.startswith(b"HEAVY") else 0
        writer.write(b"%d\n" % (x & 0xff))
        book["cpu_ns"] += time.thread_time_ns() - t0
        book["requests"] += 1
        await writer.drain()
    writer.close()
    loop_books.ends(book, spent)


async def main():
    loop = asyncio.get_running_loop()
    loop_books.install(loop)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # asyncio.start_server(serve, ...), with the protocol above: a backlog
    # for the tests' bursts of connections (asyncio's default, 100, drops
    # the handshakes beyond it, which the clients then retry for seconds)
    server = await loop.create_server(
        lambda: Fed(asyncio.StreamReader(loop=loop), serve, loop=loop), "127.0.0.1", 0,
        backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stderr.write(f"asyncio_streams: listening on port {port} (pid {__import__('os').getpid()})\n")
    sys.stderr.flush()
    await stop.wait()
    with open(BOOKS, "w") as f:
        json.dump({"conns": conns}, f)


asyncio.run(main())
