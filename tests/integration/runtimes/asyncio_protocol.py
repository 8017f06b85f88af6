# SPDX-License-Identifier: MIT
"""A Python asyncio server on the Protocol API (loop.create_server, a
buffered protocol's buffer_updated, data_received's twin): a line HEAVY is
worked on, any other is answered at once.

  asyncio_protocol.py inline BURN BOOKS.json
      the work inline, in buffer_updated, on the loop's thread: BURN
      iterations of a Python loop
  asyncio_protocol.py executor ITERATIONS BOOKS.json
      the work on a run_in_executor pool of POOL threads, started before
      serving: hashlib.pbkdf2_hmac with ITERATIONS, which releases the GIL
      while it runs; the reply is written when the job is done
  asyncio_protocol.py gc OBJECTS BOOKS.json
      the work is a full garbage collection (gc.collect()) over OBJECTS
      objects kept alive since start-up: the runtime's work, set off by
      the connection

Its own books, per connection (by the client's port): requests; cpu_ns,
the thread CPU clock around each request's work (in executor mode, on
the worker that ran it), less any garbage collection's, which is summed
apart (gc_ns, timed by gc.callbacks); loop_ns, the loop thread's CPU
around the connection (loop_books.py). SIGTERM writes them."""

import asyncio
import concurrent.futures
import gc
import hashlib
import json
import os
import signal
import sys
import time

import loop_books

MODE, WORK, BOOKS = sys.argv[1], int(sys.argv[2]), sys.argv[3]
POOL = 4
conns = {}


def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x & 0xff


def pbkdf2(n):
    """The job, its CPU time on the worker that ran it."""
    t0 = time.thread_time_ns()
    key = hashlib.pbkdf2_hmac("sha256", b"secret", b"salt", n)
    return key[0], time.thread_time_ns() - t0


class Line(asyncio.BufferedProtocol):
    """A buffered protocol: the transport calls get_buffer() before it
    reads (recv_into) and buffer_updated() after. The books' callback
    (loop_books.starts() to ends()) opens in buffer_updated, once the read
    has named the connection: get_buffer() and the read are in the gap
    before it, either neighbour's (see loop_books.keep_alive). Opened in
    get_buffer(), it held alone the few microseconds before the read,
    which conctrace gives the connection named before: a host's stall
    there (0.6 to 1 ms) is what light connections over 2x their peers'
    ratio were left with, in 2 of 120 runs."""

    def __init__(self, pool):
        # in the Task step that makes the transport
        self.book = loop_books.accepted_book(requests=0, cpu_ns=0)
        spent = loop_books.starts(self.book)
        self.pool = pool
        self.buf = b""
        self.chunk = bytearray(4096)    # a line at a time: a page to fault in
        loop_books.ends(self.book, spent)

    def connection_made(self, transport):
        # the callback's book opens once it names its connection (see
        # loop_books.keep_alive): before, it ran for the one named last
        loop_books.keep_alive(transport)
        spent = loop_books.starts(self.book)
        self.transport = transport
        conns[transport.get_extra_info("peername")[1]] = self.book
        loop_books.ends(self.book, spent)

    def get_buffer(self, sizehint):
        return self.chunk

    def buffer_updated(self, nbytes):
        spent = loop_books.starts(self.book)
        self.buf += self.chunk[:nbytes]
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if not line.startswith(b"HEAVY"):
                self.reply(0)
            elif MODE in ("inline", "gc"):
                work = loop_books.spent_since(time.thread_time_ns())
                x = burn(WORK) if MODE == "inline" else gc.collect() & 0xff
                self.book["cpu_ns"] += work()
                self.reply(x)
            else:
                job = asyncio.get_running_loop().run_in_executor(self.pool, pbkdf2, WORK)
                job.add_done_callback(self.job_done)
        loop_books.ends(self.book, spent)

    def eof_received(self):
        loop_books.ends(self.book, loop_books.starts(self.book))

    def connection_lost(self, exc):
        # the transport closes the socket right after
        loop_books.ends(self.book, loop_books.starts(self.book))

    def job_done(self, job):
        spent = loop_books.starts(self.book)
        x, ns = job.result()
        self.book["cpu_ns"] += ns
        self.reply(x)
        loop_books.ends(self.book, spent)

    def reply(self, x):
        self.book["requests"] += 1
        self.transport.write(b"%d\n" % x)


async def main():
    loop = asyncio.get_running_loop()
    loop_books.install(loop)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # cyclic objects the collector walks at every full collection
    kept = [[i, {}] for i in range(WORK)] if MODE == "gc" else []
    pool = concurrent.futures.ThreadPoolExecutor(POOL)
    # every worker started before serving (the pool starts one per job
    # while none is idle): a thread made mid-run would start on whatever
    # it first names
    await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.05) for _ in range(POOL)))
    # a backlog for the tests' bursts of connections (see asyncio_streams.py)
    server = await loop.create_server(lambda: Line(pool), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stderr.write(f"asyncio_protocol: listening on port {port} (pid {os.getpid()})\n")
    sys.stderr.flush()
    await stop.wait()
    with open(BOOKS, "w") as f:
        json.dump({"conns": conns, "gc_ns": loop_books.collections_ns(), "kept": len(kept)}, f)


asyncio.run(main())
