# SPDX-License-Identifier: MIT
"""An asyncio server's own books of its loop thread's CPU by connection,
for the test servers beside it (asyncio_protocol.py, asyncio_streams.py).

A connection's loop_ns is the loop thread's CPU clock over the callbacks
the server runs for it (a protocol's, a coroutine's steps as it sees
them), and over the gaps on either side of each: the loop's dispatch and
wait, the read the transport makes before a callback, the start of a
Task step before the server's code runs, a close after the last
callback. conctrace may rightly give a gap to either neighbour, so a gap
counts for both: the books hold at least what conctrace gives the
connection, and the host's stalls (a VM's vCPU descheduled, which the
kernel counts as the thread's CPU) wherever they land near it. Garbage
collections on the loop's thread are timed apart (gc.callbacks) and left
out: conctrace gives them to the runtime.

The loop accepts many connections in one pass, each right before it
creates the Task that will make its transport: task_factory() marks each
accept for the book the connection's protocol takes (accepted_book()),
the oldest first, as the loop runs those Tasks in order."""

import asyncio
import collections
import gc
import socket
import threading
import time

_loop_thread = None
_collections = {"ns": 0, "start": 0}
_last = {"book": None, "end": 0, "gc_ns": 0}
_accepted = collections.deque()


def _gc_timer(phase, info):
    if threading.get_ident() != _loop_thread:
        return
    if phase == "start":
        _collections["start"] = time.thread_time_ns()
    else:
        _collections["ns"] += time.thread_time_ns() - _collections["start"]


def install(loop):
    """Keep the books for loop, running on this thread."""
    global _loop_thread
    _loop_thread = threading.get_ident()
    gc.callbacks.append(_gc_timer)
    loop.set_task_factory(task_factory)


def collections_ns():
    """The loop thread's garbage collections' CPU so far."""
    return _collections["ns"]


def spent_since(t0):
    """A clock started at t0 (the thread's CPU): what it reads at now (by
    default, read now) since, less the collections meanwhile."""
    gc0 = _collections["ns"]
    return lambda now=None: (now or time.thread_time_ns()) - t0 - (_collections["ns"] - gc0)


def new_book(**fields):
    return {"loop_ns": 0, **fields}


def starts(book):
    """A callback for book's connection starts: the gap since the last
    callback ended is book's and that callback's connection's. Returns
    the callback's clock, for ends()."""
    now = time.thread_time_ns()
    if _last["end"]:
        gap = now - _last["end"] - (_collections["ns"] - _last["gc_ns"])
        book["loop_ns"] += gap
        if _last["book"] is not None and _last["book"] is not book:
            _last["book"]["loop_ns"] += gap
    return spent_since(now)


def ends(book, spent):
    """The callback ends: one reading of the clock closes it and opens the
    gap after it. Two readings lost what ran between them from every book:
    a host's stall of 2.9 ms there (a VM's vCPU descheduled, counted as the
    thread's CPU) left a light connection at 2.6 times its peers' median
    ratio of conctrace's figure to its books."""
    now = time.thread_time_ns()
    book["loop_ns"] += spent(now)
    _last.update(book=book, end=now, gc_ns=_collections["ns"])


def task_factory(loop, coro):
    """Tasks as asyncio makes them; the one create_server's accept makes
    for each connection marks that accept for the connection's book."""
    if getattr(coro, "__qualname__", "").endswith("._accept_connection2"):
        book = new_book()
        ends(book, starts(book))
        _accepted.append(book)
    return asyncio.Task(coro, loop=loop)


def accepted_book(**fields):
    """The book of the oldest connection accepted whose protocol is not
    made yet (called from the protocol factory), with fields added."""
    book = _accepted.popleft()
    book.update(fields)
    return book


def keep_alive(transport):
    """Keep-alive probes on the connection's socket, as a server that keeps
    idle connections asks, called first in connection_made: also that
    callback's first call on its socket, which names the connection
    conctrace charges the callback to (one that touches no socket is the
    connection's touched last). Called before the callback's book opens,
    so that what ran up to it is a gap, either neighbour's: a host's stall
    of 1.1 ms between the book's opening and this call went (in
    conctrace's figures) to the light connection named before it, 2.0
    times its peers' median ratio, and (in the books) to this one alone."""
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
