// SPDX-License-Identifier: MIT
// A Node http server whose /heavy handler runs crypto.pbkdf2 on libuv's
// threadpool (4 threads), the work conctrace must charge to the connection
// that asked for it. Its own books: per connection (by the client's port),
// the pbkdf2 calls it ran and their CPU: the pool threads' CPU while
// serving, as the kernel counts it (/proc/self/task/TID/schedstat), split
// by calls, all alike. The pool's threads are those a burst of calls
// before listening kept busy (V8's own threads and the loop barely moved);
// that burst's CPU per call (call_ns) is kept too, for reference. With
// --expose-gc, /gc runs a full garbage collection, the runtime's work:
// its CPU (the process's, V8's helper threads too) is summed apart. With
// THREAD_CPU_ADDON naming thread_cpu.node (built from thread_cpu.c: Node
// 20 has no call for a thread's CPU clock), each connection's loop_ns
// too: the main thread's CPU around it (see callbackStarts). Usage:
//   [THREAD_CPU_ADDON=thread_cpu.node] node [--expose-gc] node_pool.js ITERATIONS BOOKS.json
// (SIGTERM writes the books)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const iterations = parseInt(process.argv[2], 10);
const books = process.argv[3];

// the CPU of one call on the pool, all its threads busy as when serving
// (on an idle thread alone a call costs less: the pool's threads share
// the CPUs' caches): the process's CPU over 32 calls at once, median of 5
async function calibrate() {
  const runs = [];
  const call = () => new Promise((done) =>
    crypto.pbkdf2('secret', 'salt', iterations, 32, 'sha256', done));
  for (let i = 0; i < 5; i++) {
    const t0 = process.cpuUsage();
    await Promise.all(Array.from({ length: 32 }, call));
    const d = process.cpuUsage(t0);
    runs.push((d.user + d.system) * 1000 / 32);
  }
  runs.sort((a, b) => a - b);
  return runs[2];
}

let callNs = 0;
let gcNs = 0;
const conns = {};

// each thread's CPU, ns (schedstat's first field)
function threadCpu() {
  const cpu = {};
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      cpu[tid] = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch (e) { /* gone */ }
  }
  return cpu;
}

// the threads a burst of calls kept busy: the pool's
function busiest(before, after) {
  const grew = Object.keys(after).map((tid) => [tid, after[tid] - (before[tid] || 0)]);
  const most = Math.max(...grew.map(([, d]) => d));
  return grew.filter(([, d]) => d > most / 4).map(([tid]) => tid);
}

// The main thread's CPU around each connection, as the server sees it:
// the callbacks for it (its accept, its requests' handler, its pbkdf2
// call's completion, its close), and the gaps on either side of each
// (the loop's poll, the read and parse before a handler, the rest of a
// reply after it), which conctrace may rightly give it or its neighbour:
// a gap counts for both.
const threadCpuNs = process.env.THREAD_CPU_ADDON ?
  require(process.env.THREAD_CPU_ADDON).threadCpuNs : null;
let last = { book: null, end: 0 };

function callbackStarts(book) {
  if (!threadCpuNs)
    return 0;
  const now = threadCpuNs();
  if (last.end) {
    book.loop_ns += now - last.end;
    if (last.book && last.book !== book)
      last.book.loop_ns += now - last.end;
  }
  return now;
}

function callbackEnds(book, start) {
  if (!threadCpuNs)
    return;
  const now = threadCpuNs();
  book.loop_ns += now - start;
  last = { book, end: now };
}

let pool = [];
let poolAtListen = {};
const poolCpu = (cpu) => pool.reduce((sum, tid) => sum + (cpu[tid] || 0), 0);

const server = http.createServer((req, res) => {
  const port = req.socket.remotePort;
  const c = conns[port];
  const start = callbackStarts(c);
  c.requests++;
  if (req.url === '/heavy') {
    c.pbkdf2++;
    crypto.pbkdf2('secret', 'salt', iterations, 32, 'sha256', (err, key) => {
      const done = callbackStarts(c);
      res.end(err ? 'error' : key.toString('hex'));
      callbackEnds(c, done);
    });
  } else if (req.url === '/gc' && global.gc) {
    const t0 = process.cpuUsage();
    global.gc();
    const d = process.cpuUsage(t0);
    gcNs += (d.user + d.system) * 1000;
    res.end('ok');
  } else {
    res.end('ok');
  }
  callbackEnds(c, start);
});
server.keepAliveTimeout = 60000;
server.on('connection', (sock) => {
  const c = conns[sock.remotePort] = { requests: 0, pbkdf2: 0, loop_ns: 0 };
  const start = callbackStarts(c);
  sock.on('close', () => callbackEnds(c, callbackStarts(c)));
  callbackEnds(c, start);
});
process.on('SIGTERM', () => {
  const calls = Object.values(conns).reduce((sum, c) => sum + c.pbkdf2, 0);
  const served = poolCpu(threadCpu()) - poolCpu(poolAtListen);
  const perCall = calls ? served / calls : 0;
  for (const c of Object.values(conns))
    c.pool_cpu_ns = c.pbkdf2 * perCall;
  fs.writeFileSync(books, JSON.stringify({ call_ns: callNs, served_call_ns: perCall,
                                           pool_threads: pool.length, gc_ns: gcNs, conns }));
  process.exit(0);
});
const before = threadCpu();
calibrate().then((ns) => {
  callNs = ns;
  pool = busiest(before, threadCpu());
  poolAtListen = threadCpu();
  server.listen(0, '127.0.0.1', () => {
    process.stderr.write(`node_pool: listening on port ${server.address().port} ` +
                         `(pid ${process.pid}), pbkdf2 ${(callNs / 1e6).toFixed(2)} ms\n`);
  });
});
