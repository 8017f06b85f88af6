# SPDX-License-Identifier: MIT
"""One conformance suite for every reference server, over TCP and Unix sockets.

The `server` fixture (conftest.py) runs each test against each server and
transport, with a fresh server process per test; its teardown also checks that
the server is still alive and exits with status 0 on SIGTERM.

The protocol (servers/protocol.h): PING -> PONG, WAIT ms -> DONE, BURN n ->
RESULT x, STREAM n -> n pattern bytes + DONE, QUIT closes, anything else is
echoed, a line over 4096 bytes -> "ERR line too long" + close, a bad argument
-> "ERR ..." and the connection goes on.
"""

import functools
import os
import signal
import threading
import time

import pytest

PONG = b"PONG\n"
DONE = b"DONE\n"
TOO_LONG = b"ERR line too long\n"
MAX_LINE = 4096
MiB = 1 << 20

# A server that blocks one client for another fails these by seconds; the
# margins are for a loaded 2-core CI machine.
FAST = 0.2          # a PING while another client WAITs (the bound)
RESPONSIVE = 1.0    # a PING while another client stalls (slow reader, slowloris)


# ---- reference computations ---------------------------------------------------

M64 = (1 << 64) - 1


@functools.lru_cache(maxsize=None)
def burn(n):
    """Python port of proto_burn(): n splitmix64 rounds from a golden-ratio seed."""
    x = 0x9E3779B97F4A7C15
    for _ in range(n):
        x = (x + 0x9E3779B97F4A7C15) & M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
        x ^= x >> 31
    return x


PATTERN = bytes(ord("0") + i % 64 for i in range(64))


def payload(n):
    """The STREAM payload: byte i is chr(ord('0') + i % 64)."""
    return (PATTERN * (n // 64 + 1))[:n]


def test_reference_burn_matches_known_values():
    # the same constants as tests/unit/test_protocol.c: both ports agree
    assert burn(0) == 11400714819323198485
    assert burn(1000) == 1178161401219602615


def timed_ping(conn, bound, what):
    """PING on conn; fails if the PONG takes `bound` seconds or more."""
    t0 = time.monotonic()
    reply = conn.request(b"PING", timeout=max(5.0, 2 * bound))
    elapsed = time.monotonic() - t0
    assert reply == PONG
    assert elapsed < bound, f"PING took {elapsed * 1000:.0f} ms {what} (bound {bound * 1000:.0f} ms)"
    return elapsed


# ---- basic requests -----------------------------------------------------------

def test_ping_replies_pong(server):
    c = server.connect()
    assert c.request(b"PING") == PONG
    assert c.request(b"PING") == PONG


def test_ping_with_crlf_replies_pong(server):
    c = server.connect()
    c.send(b"PING\r\n")
    assert c.readline() == PONG


def test_other_lines_are_echoed_unchanged(server):
    c = server.connect()
    for line in [b"hello", b"hello world  ", b"PINGX", b"ping", b" PING", b"WAITING 5",
                 b"STREAMS", b"QUITE", b"\x01\x02\xff binary", b"x" * 1000]:
        assert c.request(line) == line + b"\n", f"echo of {line[:40]!r}"
    c.send(b"with cr\r\n")
    assert c.readline() == b"with cr\r\n"


def test_empty_line_is_echoed(server):
    c = server.connect()
    assert c.request(b"") == b"\n"
    assert c.request(b"PING") == PONG


def test_line_at_the_4096_byte_limit_is_echoed(server):
    c = server.connect()
    line = bytes(ord("a") + i % 26 for i in range(MAX_LINE))
    assert c.request(line) == line + b"\n"
    assert c.request(b"PING") == PONG


@pytest.mark.parametrize("n", [0, 1, 1000, 100000])
def test_burn_result_matches_reference(server, n):
    c = server.connect()
    assert c.request(b"BURN %d" % n) == b"RESULT %d\n" % burn(n)


def test_stream_sends_exact_payload_then_done(server):
    c = server.connect()
    for n in [0, 1, 63, 64, 65, 4096, 65537, 1000003]:
        c.send(b"STREAM %d\n" % n)
        data = c.read_exact(n)
        assert data == payload(n), f"STREAM {n}: payload differs"
        assert c.readline() == DONE, f"STREAM {n}: no DONE right after the payload"
    # framing intact: nothing extra was sent
    assert c.request(b"PING") == PONG


def test_wait_replies_done_after_the_delay(server):
    c = server.connect()
    t0 = time.monotonic()
    assert c.request(b"WAIT 200") == DONE
    elapsed = time.monotonic() - t0
    assert 0.19 <= elapsed < 1.5, f"WAIT 200 took {elapsed * 1000:.0f} ms"
    t0 = time.monotonic()
    assert c.request(b"WAIT 0") == DONE
    assert time.monotonic() - t0 < 1.0


def test_bad_arguments_reply_err_and_keep_the_connection(server):
    c = server.connect()
    for line in [b"WAIT abc", b"WAIT 99999999", b"WAIT 60001", b"WAIT -1", b"WAIT",
                 b"WAIT 1e3", b"WAIT 5x", b"PING x", b"QUIT now", b"BURN 100000001",
                 b"STREAM 268435457", b"STREAM 18446744073709551616"]:
        reply = c.request(line)
        assert reply.startswith(b"ERR "), f"{line!r} -> {reply!r}, want ERR ..."
        assert reply != TOO_LONG, f"{line!r} -> {reply!r}"
        assert c.request(b"PING") == PONG, f"connection unusable after {line!r}"


def test_quit_closes_the_connection(server):
    c = server.connect()
    c.send(b"QUIT\n")
    c.assert_closed(timeout=2)
    assert server.connect().request(b"PING") == PONG


def test_requests_after_quit_are_not_served(server):
    c = server.connect()
    c.send(b"PING\nQUIT\nPING\n")
    assert c.readline() == PONG
    c.assert_closed(timeout=2)


# ---- framing: pipelining and partial lines ----------------------------------------

def test_pipelined_requests_in_one_send(server):
    c = server.connect()
    c.send(b"PING\nhello\n\nBURN 10\nSTREAM 70\nWAIT 10\nPINGX\nWAIT x\nPING\n")
    want = b"PONG\nhello\n\nRESULT %d\n" % burn(10) + payload(70) + DONE + DONE + b"PINGX\n"
    assert c.read_exact(len(want)) == want
    assert c.readline().startswith(b"ERR ")
    assert c.readline() == PONG
    c.assert_silent(0.05)


def test_requests_after_a_wait_are_answered_in_order(server):
    c = server.connect()
    c.send(b"WAIT 100\nPING\nBURN 1\n")
    assert c.readline() == DONE, "a request pipelined after WAIT was answered before DONE"
    assert c.readline() == PONG
    assert c.readline() == b"RESULT %d\n" % burn(1)


def test_request_arriving_during_a_wait_is_answered_after_it(server):
    # an edge-triggered server must not lose the readiness of input that
    # arrives while the connection is busy waiting
    c = server.connect()
    c.send(b"WAIT 150\n")
    time.sleep(0.05)
    c.send(b"PING\n")
    time.sleep(0.03)
    c.send(b"hello\n")
    assert c.readline() == DONE
    assert c.readline() == PONG
    assert c.readline() == b"hello\n"


def test_request_arriving_during_a_blocked_stream_is_answered_after_it(server):
    size = 8 * MiB
    c = server.connect()
    c.send(b"STREAM %d\n" % size)
    time.sleep(0.1)                 # the server is now blocked on a full socket
    c.send(b"PING\n")
    time.sleep(0.05)
    c.send(b"WAIT 10\n")
    assert c.read_exact(size, timeout=20) == payload(size)
    assert c.readline() == DONE
    assert c.readline() == PONG
    assert c.readline() == DONE


def test_many_pipelined_pings_in_one_send(server):
    c = server.connect()
    n = 5000
    assert c.exchange(b"PING\n" * n, 5 * n) == PONG * n


def test_bulk_pipelined_echo_with_concurrent_io(server):
    # 4 MB each way: both sides' socket buffers fill, so the server must
    # handle partial writes and keep reading as the client reads.
    lines = [b"%07d " % i + PATTERN * 15 for i in range(4000)]
    data = b"".join(line + b"\n" for line in lines)
    assert len(data) > 3 * MiB
    assert server.connect().exchange(data, len(data), timeout=20) == data


def test_request_split_across_sends(server):
    c = server.connect()
    for part in [b"PI", b"N", b"G"]:
        c.send(part)
        time.sleep(0.03)
    c.assert_silent(0.1)            # nothing may be answered before the newline
    c.send(b"\nBU")
    assert c.readline() == PONG
    for part in [b"RN ", b"1", b"0", b"\r"]:
        c.send(part)
        time.sleep(0.03)
    c.assert_silent(0.05)
    c.send(b"\n")
    assert c.readline() == b"RESULT %d\n" % burn(10)
    c.send(b"hel")
    time.sleep(0.03)
    c.send(b"lo\nSTREAM 5\nPI")
    assert c.readline() == b"hello\n"
    assert c.read_exact(10) == payload(5) + DONE
    c.send(b"NG\n")
    assert c.readline() == PONG


# ---- overlong lines ----------------------------------------------------------------

@pytest.mark.parametrize("data, before", [
    (b"a" * (MAX_LINE + 1), b""),                       # one byte over, no newline
    (b"a" * (MAX_LINE + 1) + b"\n", b""),               # newline comes too late
    (b"b" * (64 * 1024), b""),                          # far over
    (b"PING\n" + b"c" * (2 * MAX_LINE), PONG),          # a good request first
], ids=["4097", "4097-newline", "64k", "after-ping"])
def test_overlong_line_gets_err_and_close(server, data, before):
    bad = server.connect()
    try:
        bad.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass                        # the server may close before it read everything
    if before:
        assert bad.readline() == before
    assert bad.readline() == TOO_LONG
    bad.assert_closed(timeout=2)
    # the server goes on serving others
    assert server.connect().request(b"PING") == PONG


# ---- one client must not stall another ------------------------------------------

def test_wait_does_not_block_ping_on_another_connection(server):
    waiter = server.connect()
    other = server.connect()
    assert other.request(b"PING") == PONG   # accepted and served before the WAIT
    t0 = time.monotonic()
    waiter.send(b"WAIT 1000\n")
    time.sleep(0.05)                        # the WAIT is now pending
    for _ in range(3):
        timed_ping(other, FAST, "while another connection WAITs 1000 ms")
    late = server.connect()                 # a connection accepted during the WAIT
    timed_ping(late, FAST, "on a new connection while another WAITs 1000 ms")
    assert time.monotonic() - t0 < 0.9, "the PINGs were not answered before the WAIT ended"
    assert waiter.readline(timeout=3) == DONE
    elapsed = time.monotonic() - t0
    assert 0.95 <= elapsed < 2.0, f"WAIT 1000 took {elapsed * 1000:.0f} ms"


def test_concurrent_waits_overlap(server):
    conns = [server.connect() for _ in range(10)]
    for c in conns:
        assert c.request(b"PING") == PONG
    t0 = time.monotonic()
    for c in conns:
        c.send(b"WAIT 300\n")
    for c in conns:
        assert c.readline(timeout=5) == DONE
    elapsed = time.monotonic() - t0
    # ten sequential waits would take 3 s
    assert 0.29 <= elapsed < 1.5, f"10 concurrent WAIT 300 took {elapsed * 1000:.0f} ms"


def test_stream_to_a_non_reader_does_not_block_others(server):
    size = 64 * MiB
    other = server.connect()
    assert other.request(b"PING") == PONG
    rss_before = server.rss_kb()
    slow = server.connect()
    slow.send(b"STREAM %d\n" % size)        # ...and read nothing for now
    time.sleep(0.2)                          # the socket buffers fill up
    for _ in range(3):
        timed_ping(other, RESPONSIVE, "while another client does not read its STREAM")
    timed_ping(server.connect(), RESPONSIVE, "on a new connection during a stalled STREAM")
    growth_kb = server.rss_kb() - rss_before
    assert growth_kb < 16 * 1024, (f"server RSS grew {growth_kb} KiB for a stalled STREAM: "
                                   "the payload should be sent from a static buffer")
    # the stream resumes and completes once the reader catches up
    assert slow.read_exact(size, timeout=30) == payload(size)
    assert slow.readline() == DONE
    assert slow.request(b"PING") == PONG


def test_slowloris_does_not_block_others(server):
    slow = server.connect()
    stop = threading.Event()
    sent = []

    def drip():                 # one byte of a never-finished line every 100 ms
        while not stop.is_set():
            slow.sock.send(b"x")
            sent.append(1)
            stop.wait(0.1)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        time.sleep(0.25)
        other = server.connect()
        for _ in range(5):
            timed_ping(other, RESPONSIVE, "while a slowloris client drips a line")
            time.sleep(0.1)
        timed_ping(server.connect(), RESPONSIVE, "on a new connection during a slowloris")
    finally:
        stop.set()
        dripper.join()
    assert len(sent) >= 5
    # the partial line was kept across all those reads: finishing it echoes it whole
    slow.send(b"\n")
    assert slow.readline() == b"x" * len(sent) + b"\n"


# ---- abrupt clients ---------------------------------------------------------------

def test_reset_during_stream_leaves_server_serving(server):
    other = server.connect()
    assert other.request(b"PING") == PONG
    fds = server.fd_count()
    victim = server.connect()
    victim.send(b"STREAM %d\n" % (64 * MiB))
    assert victim.read_exact(64 * 1024) == payload(64 * 1024)   # the stream is in flight
    victim.reset()                          # RST (TCP) with the stream unfinished
    for _ in range(3):
        timed_ping(other, RESPONSIVE, "after a client reset during a STREAM")
    server.wait_fd_count(fds)               # the server closed its end: no leak
    assert server.connect().request(b"PING") == PONG
    server.assert_alive()


def test_reset_during_wait_leaves_server_serving(server):
    victim = server.connect()
    victim.send(b"WAIT 100\n")
    time.sleep(0.02)
    victim.reset()                          # DONE will be written to a dead socket
    time.sleep(0.25)
    assert server.connect().request(b"PING") == PONG
    server.assert_alive()


def test_reset_with_unread_replies_queued_leaves_server_serving(server):
    victim = server.connect()
    victim.sock.setblocking(False)
    chunk = (b"y" * 1000 + b"\n") * 64
    deadline = time.monotonic() + 0.5
    sent = 0
    while time.monotonic() < deadline:      # echo requests until the buffers are full
        try:
            sent += victim.sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    assert sent > 100 * 1024
    victim.reset()                          # with the server's replies unread
    time.sleep(0.1)
    assert server.connect().request(b"PING") == PONG
    server.assert_alive()


# ---- many connections, shutdown ---------------------------------------------------

def test_300_simultaneous_connections_are_all_served(server):
    conns = [server.connect() for _ in range(300)]
    for i, c in enumerate(conns):
        c.send(b"conn %d\n" % i)
    for i, c in enumerate(conns):
        assert c.readline() == b"conn %d\n" % i
    for c in conns:
        c.close()
    assert server.connect().request(b"PING") == PONG


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_with_busy_clients_exits_zero_promptly(server, sig):
    for c in [server.connect() for _ in range(5)]:
        assert c.request(b"PING") == PONG
    server.connect().send(b"WAIT 60000\n")
    server.connect().send(b"STREAM %d\n" % (64 * MiB))
    partial = server.connect()
    partial.send(b"unfinished line")
    time.sleep(0.1)
    t0 = time.monotonic()
    status = server.stop(sig)
    assert status is not None, f"{server.name} still running 5 s after {sig.name}"
    assert status == 0, f"{server.name} exited with status {status} on {sig.name}"
    assert time.monotonic() - t0 < 2.0, f"{server.name} took over 2 s to exit"
    if server.transport == "unix":
        assert not os.path.exists(server.address), "the Unix socket file was left behind"


def test_ipv6_ping_echo_and_stream(server6):
    c = server6.connect()
    assert c.request(b"PING") == PONG
    assert c.request(b"hello v6") == b"hello v6\n"
    c.send(b"STREAM 100000\n")
    assert c.read_exact(100000) == payload(100000)
    assert c.readline() == DONE
