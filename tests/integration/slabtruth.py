# SPDX-License-Identifier: MIT
"""Ground truth for kernel memory per connection, from the kernel's own counts.

The figure to check is what N idle connections cost a server in kernel
objects. The kernel does not say which slab object belongs to which process,
so the truth is assembled from three sources, each exact or bounded:

1. Growth of the object count of each UNMERGED slab cache (TCP, TCPv6,
   sock_inode_cache, filp, dentry, task_struct here) between a baseline
   (server listening, no clients) and the held state (N connections open).
   A merged cache (/sys/kernel/slab/NAME is a symlink to ':A-0000128' etc.:
   UNIX, eventpoll_epi, eventpoll_pwq, the lsm_* caches) mixes unrelated
   objects, so its growth is not used; those come from counts (3.).

2. The client's share of that growth, subtracted. The client is a separate
   process (loadgen) and allocates the same objects for its end of each
   connection: one sock, socket inode, file and dentry per socket fd, plus
   the files of its epoll fds, eventfds and pipes, and one task_struct per
   thread. All of it is counted from /proc/CLIENT (fd, fdinfo, status).

3. Counts from the server process itself for what lives in merged caches:
   epoll items (one "tfd:" line per item in /proc/SERVER/fdinfo/EPOLL_FD,
   each an eventpoll_epi plus an eventpoll_pwq), threads (Threads: in
   /proc/SERVER/status) times task_struct slab_size plus the kernel stack
   (KernelStack in /proc/meminfo grows by exactly one stack per thread).
   Over Unix sockets the sock is one of these too (UNIX is merged): its
   count from the server's fds times UNIX's slab_size. For these only the
   COUNT is independent of conctrace: the size is the same slab_size it
   reads. Threads are also checked against the task_struct cache's own
   growth (thread_slab, less other processes' tasks by the exact global
   task count), which measures their size too.

Server-side bytes per connection for a cache = (growth - client's objects)
x slab_size / N, where slab_size (/sys/kernel/slab/NAME/slab_size) is the
object's slot including alignment and metadata, i.e. what it takes from its
slab page.

WHICH COUNTER. /proc/slabinfo active_objs and /sys/kernel/slab/NAME/objects
are the same SLUB figure: total objects minus the free objects on the
per-node partial lists. Free objects in each CPU's active slab and per-CPU
partial slabs count as "active", so the figure overstates by up to
(objects per slab + cpu_partial) per CPU, and by a different amount at each
sample (measured here, see measure_counter_error()): e.g. filp, 21 objects
per slab and cpu_partial 120, can drift by a few hundred objects on 2 CPUs,
which is 5% of 5000. Writing 1 to /sys/kernel/slab/NAME/shrink
(kmem_cache_shrink) flushes every CPU's slabs back to the node lists and
frees empty slabs; right after it, "objects" counts exactly the allocated
objects. Shrinking one cache is harmless for other users: it frees no live
object and prunes no dcache/icache entry (unlike drop_caches); it costs an
IPI to each CPU and a slower next allocation. So each sample shrinks the
caches it reads, and is repeated (the median is used) because other
processes allocate concurrently: dentry and filp move whenever anything on
the machine opens a file (a compiler, another test). The spread of the
samples and the external activity seen by exact global counters
(/proc/net/sockstat, /proc/sys/fs/dentry-state, ...) are reported with the
figures so a noisy window is visible rather than silently absorbed.

Run as a script to print the ground truth for one server:
    python3 tests/integration/slabtruth.py epoll_echo [-n 5000] [--unix]
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLAB = Path("/sys/kernel/slab")
UNMERGED = ("TCP", "TCPv6", "sock_inode_cache", "filp", "dentry", "task_struct", "io_kiocb")
# merged, but one object per file / per inode: measured through their alias,
# whose other tenants make the growth approximate (a few % at N = 5000)
# (lsm_inode_cache is not: procfs inodes pinned by the dentries /proc walkers
# leave behind get blobs too; security_inode_alloc() gives every inode one,
# so the server's blobs are its new socket inodes, from sock_inode_cache)
MERGED_MEASURED = ("lsm_file_cache",)
SOCKET_CACHES = ("TCP", "TCPv6", "UNIX", "sock_inode_cache", "filp", "dentry")
EPOLL_CACHES = ("eventpoll_epi", "eventpoll_pwq")
LSM_CACHES = ("lsm_inode_cache", "lsm_file_cache")
SOCK_CACHE = {"tcp": "TCP", "tcp6": "TCPv6", "unix": "UNIX"}
DEFAULT_KSTACK = 16384


# ---- slab caches -------------------------------------------------------------------

def cache_path(name):
    return SLAB / name


def exists(name):
    return cache_path(name).exists()


def merged(name):
    """A merged cache is a symlink to a shared ':A-0000128'-style cache."""
    return cache_path(name).is_symlink()


def slab_size(name):
    return int((cache_path(name) / "slab_size").read_text())


def slab_sizes(names=UNMERGED + ("UNIX", "pid", "vm_area_struct") + EPOLL_CACHES + LSM_CACHES):
    return {n: slab_size(n) for n in names if exists(n)}


def objects(name):
    """Allocated objects as SLUB counts them (per-CPU free objects included).
    For a merged cache, its alias's count: every tenant's objects."""
    return int((cache_path(name).resolve() / "objects").read_text().split()[0])


def shrink(name):
    """kmem_cache_shrink(): flush the per-CPU slabs, free empty ones. Frees
    no live object; afterwards objects() is exact until the next allocation
    takes a slab onto a CPU again."""
    try:
        (cache_path(name).resolve() / "shrink").write_text("1")
        return True
    except OSError:
        return False


# ---- exact global counters (to see other processes' activity) ---------------------

def global_counters():
    """Exact system-wide counts that move with the same objects, all summed
    over CPUs by the kernel when read: sockets (struct sock, this netns),
    TCP socks allocated, dentries, inodes, tasks, kernel stack bytes."""
    g = {}
    text = Path("/proc/net/sockstat").read_text()
    g["sockets_used"] = int(re.search(r"sockets: used (\d+)", text).group(1))
    g["tcp_alloc"] = int(re.search(r"TCP: .*alloc (\d+)", text).group(1))
    dentry_state = Path("/proc/sys/fs/dentry-state").read_text().split()
    g["nr_dentry"] = int(dentry_state[0])
    # dentries with a reference held: a socket's dentry lives exactly as long
    # as its file (sockfs dentries are unhashed, freed on last dput), while
    # anything that walks /proc/PID/fd -- a test, or an agent on the machine
    # scanning every process -- leaves unused procfs dentries on the LRU.
    g["dentry_in_use"] = int(dentry_state[0]) - int(dentry_state[1])
    g["nr_inodes"] = int(Path("/proc/sys/fs/inode-nr").read_text().split()[0])
    g["nr_files"] = int(Path("/proc/sys/fs/file-nr").read_text().split()[0])  # per-CPU batched
    g["nr_threads"] = int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
    meminfo = Path("/proc/meminfo").read_text()
    g["kernel_stack"] = int(re.search(r"KernelStack:\s+(\d+) kB", meminfo).group(1)) * 1024
    return g


# ---- a snapshot: objects of the caches + global counters --------------------------

class Snapshot:
    """Median of `samples` readings of each cache's object count (each taken
    right after shrinking the cache when shrink=True) and of the global
    counters. `spread` is max - min per key: the noise seen within it."""

    def __init__(self, caches=UNMERGED + MERGED_MEASURED, samples=3, interval=0.05, do_shrink=True):
        readings = []
        for i in range(samples):
            if i:
                time.sleep(interval)
            r = {}
            for c in caches:
                if exists(c):
                    if do_shrink:
                        shrink(c)
                    r[c] = objects(c)
            r.update(global_counters())
            readings.append(r)
        keys = readings[0].keys()
        self.values = {k: int(statistics.median(r[k] for r in readings)) for k in keys}
        self.spread = {k: max(r[k] for r in readings) - min(r[k] for r in readings)
                       for k in keys}
        self.t = time.monotonic()

    def __getitem__(self, k):
        return self.values[k]

    def delta(self, other):
        """self - other, per key."""
        return {k: self.values[k] - other.values[k] for k in self.values if k in other.values}


def measure_counter_error(cache, samples=5):
    """objects() without and with a shrink, back to back: how much free
    per-CPU slab space the unshrunk counter calls active."""
    diffs = []
    for _ in range(samples):
        before = objects(cache)
        shrink(cache)
        diffs.append(before - objects(cache))
        time.sleep(0.02)
    return diffs


def threads_of(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))


def wait_accepted(server_pid, base_sockets, n, timeout=60.0):
    """Wait until the server holds n more socket fds than at base_sockets
    and its thread count has stopped moving (threaded_echo starts a thread
    per accepted connection). Listing /proc/SERVER/fd leaves one unused
    procfs dentry per fd, which is why dentries are measured in use."""
    deadline = time.monotonic() + timeout
    while ProcCounts(server_pid).sockets < base_sockets + n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"server did not accept {n} connections in {timeout}s")
        time.sleep(0.02)
    last, stable = -1, 0
    while stable < 3 and time.monotonic() < deadline:
        t = threads_of(server_pid)
        stable = stable + 1 if t == last else 0
        last = t
        time.sleep(0.05)


# ---- sizes from the kernel's BTF ---------------------------------------------------

def btf_struct_sizes(names, btf="/sys/kernel/btf/vmlinux"):
    """{name: sizeof(struct name)} as the running kernel's BTF has them."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", btf, "format", "raw"],
                         capture_output=True, text=True, check=True).stdout
    sizes = {}
    for m in re.finditer(r"^\[\d+\] STRUCT '(\w+)' size=(\d+)", out, re.M):
        if m.group(1) in names and m.group(1) not in sizes:
            sizes[m.group(1)] = int(m.group(2))
    missing = set(names) - set(sizes)
    assert not missing, f"not in the kernel's BTF: {sorted(missing)}"
    return sizes


def hash_elem_bytes(key_size, value_size):
    """What one element of a BPF_F_NO_PREALLOC hash map adds to its memlock
    (kernel/bpf/hashtab.c, htab_map_mem_usage(), 6.4 on): elem_size, which is
    struct htab_elem + the key and the value each rounded up to 8, plus the
    llist_node of the element allocator."""
    sizes = btf_struct_sizes({"htab_elem", "llist_node"})
    return (sizes["htab_elem"] + (key_size + 7) // 8 * 8 + (value_size + 7) // 8 * 8
            + sizes["llist_node"])


def map_fdinfos(pid):
    """The fdinfo fields of every BPF map PID holds an fd of."""
    maps = []
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        if "map_id:" in text:
            maps.append({k: v.strip() for k, _, v in
                         (line.partition(":") for line in text.splitlines())})
    return maps


# ---- what a process holds ------------------------------------------------------------

class ProcCounts:
    """Counts from /proc/PID: socket fds, other fds by kind, epoll items,
    threads. Listing /proc/PID/fd creates a procfs dentry per fd, so take
    snapshots that measure dentries before this, never after."""

    def __init__(self, pid):
        self.pid = pid
        self.sockets = 0
        self.socket_inodes = set()
        self.anon = 0           # anon_inode:[eventpoll], [eventfd], ... (own file + dentry)
        self.pipes = 0
        self.other_fds = 0
        self.epoll_fds = []
        self.fds = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            self.fds += 1
            if target.startswith("socket:["):
                self.sockets += 1
                self.socket_inodes.add(int(target[8:-1]))
            elif target.startswith("anon_inode:"):
                self.anon += 1
                if target == "anon_inode:[eventpoll]":
                    self.epoll_fds.append(int(fd))
            elif target.startswith("pipe:["):
                self.pipes += 1
            else:
                self.other_fds += 1
        self.epoll_items = 0
        self.epoll_tfds = set()
        for fd in self.epoll_fds:
            try:
                text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
            except OSError:
                continue
            tfds = re.findall(r"^tfd:\s+(\d+)", text, re.M)
            self.epoll_items += len(tfds)
            self.epoll_tfds.update(int(t) for t in tfds)
        status = Path(f"/proc/{pid}/status").read_text()
        self.threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
        # the address space: page-table bytes (exact, from mm->pgtables_bytes)
        # and VMAs, one line of maps each
        self.page_table_bytes = int(re.search(r"^VmPTE:\s+(\d+) kB", status, re.M).group(1)) * 1024
        with open(f"/proc/{pid}/maps", "rb") as f:
            self.vmas = sum(1 for _ in f)

    def socket_epoll_items(self):
        """Epoll items whose target fd is a socket (not the eventfd, the
        listener is included: subtract the baseline's)."""
        n = 0
        for fd in self.epoll_tfds:
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:["):
                    n += 1
            except OSError:
                pass
        return n


def client_objects(client, family):
    """Objects the client process allocated, by cache. Each socket fd: one
    sock, socket inode, file, dentry. Each anon-inode fd (epoll, eventfd):
    a file and a dentry (alloc_file_pseudo). Each pipe fd: a file (the two
    ends share a dentry; the test's own end of the stderr pipe adds one file).
    Stdin/stdout on /dev/null: one file. One task_struct per thread."""
    sock = SOCK_CACHE[family]
    return {
        sock: client.sockets,
        "sock_inode_cache": client.sockets,
        "filp": client.sockets + client.anon + client.pipes + 1 + 1,
        "dentry": client.sockets + client.anon + 1,
        "task_struct": client.threads,
        "lsm_file_cache": client.sockets + client.anon + client.pipes + 1 + 1,
    }


# ---- the truth for one held state ------------------------------------------------------

class Truth:
    """Server-side kernel bytes per connection, by category, for N held
    connections. Built from snapshots before/held, the client's and the
    server's counts before/held."""

    def __init__(self, n, family, before, held, server0, server1, client, after=None):
        self.n = n
        self.family = family
        self.sizes = slab_sizes()
        self.before, self.held, self.after = before, held, after
        self.delta = held.delta(before)
        self.client = client_objects(client, family)
        self.server0, self.server1 = server0, server1
        # objects the server side added, per unmerged cache
        self.server_objects = {c: self.delta[c] - self.client.get(c, 0)
                               for c in UNMERGED if c in self.delta}
        self.sock_cache = SOCK_CACHE[family]
        self.server_sockets = server1.sockets - server0.sockets
        self.epoll_items = server1.epoll_items - server0.epoll_items
        self.threads = server1.threads - server0.threads
        client_threads = client.threads
        tasks = self.delta.get("nr_threads", 0)
        # kernel stack per thread, from KernelStack growth over every new task
        self.kstack = (round(self.delta["kernel_stack"] / tasks)
                       if tasks > 0 else DEFAULT_KSTACK)
        # external activity: what exact global counters moved beyond what
        # the server and the client explain
        ours = self.server_sockets + client.sockets
        self.external = {
            "sockets_used": self.delta["sockets_used"] - ours,
            "tcp_alloc": (self.delta["tcp_alloc"] - ours) if family != "unix"
                         else self.delta["tcp_alloc"],
            "nr_threads": tasks - self.threads - client_threads,
        }

    def per_conn(self, cache):
        """Server-side bytes per connection in an unmerged cache, from its growth."""
        return self.server_objects[cache] * self.sizes[cache] / self.n

    def categories(self):
        """Ground truth per category, bytes per connection."""
        t = {}
        if self.family == "unix":
            # UNIX is merged: one sock per server socket, counted from its fds
            t["sock"] = self.server_sockets * self.sizes["UNIX"] / self.n
        else:
            t["sock"] = self.per_conn(self.sock_cache)
        t["inode"] = self.per_conn("sock_inode_cache")
        t["file"] = self.per_conn("filp")
        # the dentry cache's object growth also holds the unused procfs
        # dentries of whoever listed /proc/PID/fd meanwhile; in-use dentries
        # are exact (see global_counters)
        t["dentry"] = ((self.delta["dentry_in_use"] - self.client["dentry"])
                       * self.sizes["dentry"] / self.n)
        t["epoll"] = self.epoll_items * (self.sizes["eventpoll_epi"]
                                         + self.sizes["eventpoll_pwq"]) / self.n
        # a thread: its task_struct, its struct pid (merged cache: counted),
        # its kernel stack (KernelStack growth per new task)
        t["thread"] = self.threads * (self.sizes["task_struct"] + self.sizes.get("pid", 0)
                                      + self.kstack) / self.n
        t["thread_slab"] = self.per_conn("task_struct")   # cross-check of the count
        t["io_uring"] = self.per_conn("io_kiocb") if "io_kiocb" in self.server_objects else 0.0
        t["page_tables"] = (self.server1.page_table_bytes - self.server0.page_table_bytes) / self.n
        t["vmas"] = ((self.server1.vmas - self.server0.vmas)
                     * self.sizes.get("vm_area_struct", 0) / self.n)
        t["lsm"] = 0.0
        if "lsm_file_cache" in self.delta:      # one blob per file
            t["lsm"] += ((self.delta["lsm_file_cache"] - self.client["lsm_file_cache"])
                         * self.sizes["lsm_file_cache"] / self.n)
        if "lsm_inode_cache" in self.sizes:     # one blob per inode
            t["lsm"] += (self.server_objects["sock_inode_cache"]
                         * self.sizes["lsm_inode_cache"] / self.n)
        return t

    CATEGORIES = ("sock", "inode", "file", "dentry", "lsm", "epoll", "thread", "io_uring",
                  "page_tables", "vmas")

    def noise(self, cat):
        """Bytes per connection a category's truth may be off by, from its
        cache's own samples: their spread before and while held (others'
        allocations between samples: lsm_file_cache, which a machine's
        every open file moves and other 24 B caches may share, spread by
        426 objects in a CI run's window, 5 B a connection of 2,000). 0 for
        the categories counted exactly."""
        cache = {"sock": self.sock_cache if self.family != "unix" else None,
                 "inode": "sock_inode_cache", "file": "filp", "lsm": "lsm_file_cache",
                 "io_uring": "io_kiocb"}.get(cat)
        if not cache or cache not in self.before.spread or cache not in self.held.spread:
            return 0.0
        return ((self.before.spread[cache] + self.held.spread[cache])
                * self.sizes[cache] / self.n)

    def total(self):
        """Kernel bytes per connection held by the server, all categories."""
        c = self.categories()
        return sum(c[k] for k in self.CATEGORIES)

    def fixed(self):
        c = self.categories()
        return c["sock"] + c["inode"] + c["file"] + c["dentry"]

    def report(self):
        c = self.categories()
        lines = [f"ground truth, {self.n} {self.family} connections, server side:"]
        for cache in UNMERGED + MERGED_MEASURED:
            if cache not in self.delta:
                continue
            lines.append(
                f"  {cache:17s} growth {self.delta[cache]:7d}  client {self.client.get(cache, 0):6d}"
                f"  server {self.delta[cache] - self.client.get(cache, 0):7d}  x {self.sizes[cache]:5d} B"
                f" / N = {(self.delta[cache] - self.client.get(cache, 0)) * self.sizes[cache] / self.n:8.1f} B"
                f"   (sample spread {self.before.spread[cache]}/{self.held.spread[cache]}"
                + (f", after-before {self.after[cache] - self.before[cache]:+d}"
                   if self.after else "") + ")")
        lines.append(f"  dentries in use  growth {self.delta['dentry_in_use']:7d}"
                     f"  client {self.client['dentry']:6d}"
                     f"  server {self.delta['dentry_in_use'] - self.client['dentry']:7d}")
        lines.append(f"  server sockets +{self.server_sockets}, epoll items +{self.epoll_items},"
                     f" threads +{self.threads}, kernel stack {self.kstack} B/thread,"
                     f" page tables +{self.server1.page_table_bytes - self.server0.page_table_bytes} B,"
                     f" VMAs +{self.server1.vmas - self.server0.vmas}")
        lines.append("  per connection: " + ", ".join(f"{k} {v:.1f}" for k, v in c.items())
                     + f"; fixed (sock+inode+file+dentry) {self.fixed():.1f} B, total {self.total():.1f} B")
        lines.append(f"  external activity (global counters beyond ours): {self.external}")
        return "\n".join(lines)


# ---- a stand-alone run -----------------------------------------------------------------

def _main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("server")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--unix", action="store_true")
    ap.add_argument("--no-shrink", action="store_true")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[2]
    tmp = tempfile.mkdtemp(prefix="slabtruth-")
    family = "unix" if args.unix else "tcp"
    addr = ["-u", f"{tmp}/s"] if args.unix else ["-b", "127.0.0.1", "-p", "0"]
    server = subprocess.Popen([str(root / "servers" / args.server), *addr],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    client = None
    try:
        line = server.stderr.readline().decode()
        port = re.search(r":(\d+) \(pid", line)
        for c in ("filp", "dentry", "TCP", "sock_inode_cache"):
            print(f"counter error without shrink, {c}: {measure_counter_error(c)}")
        shrink_ok = not args.no_shrink
        s0 = ProcCounts(server.pid)
        before = Snapshot(do_shrink=shrink_ok)
        target = ["-u", f"{tmp}/s"] if args.unix else ["-p", port.group(1), "--sources", "4"]
        client = subprocess.Popen([str(root / "servers" / "loadgen"), *target, "-c", str(args.n),
                                   "-n", "1", "--hold", "30", "-q",
                                   "--ready-file", f"{tmp}/ready"],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        while not os.path.exists(f"{tmp}/ready"):
            if client.poll() is not None:
                sys.exit(f"loadgen exited {client.returncode}")
            time.sleep(0.02)
        wait_accepted(server.pid, s0.sockets, args.n)
        print(f"held after {time.monotonic() - t0:.2f}s")
        time.sleep(0.2)
        held = Snapshot(do_shrink=shrink_ok)
        s1, cl = ProcCounts(server.pid), ProcCounts(client.pid)
        client.terminate()
        client.wait()
        while ProcCounts(server.pid).sockets > s0.sockets:
            time.sleep(0.02)
        time.sleep(0.3)
        after = Snapshot(do_shrink=shrink_ok)
        print(Truth(args.n, family, before, held, s0, s1, cl, after).report())
    finally:
        if client and client.poll() is None:
            client.kill()
            client.wait()
        server.terminate()
        server.wait()


if __name__ == "__main__":
    _main()
