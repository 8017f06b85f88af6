// SPDX-License-Identifier: MIT

// The books the Go servers keep, shared by go_pool_http.go and go_echo.go
// (each built with this file: go build -o BIN go_books.go go_X.go): per
// connection, keyed by the client's address as conctrace's JSON writes it
// ("127.0.0.1:PORT"), the requests served, the bytes the connection's
// socket carried (counted at each Read and Write of the net.Conn: one
// syscall each) and the CPU spent on its heavy requests, read from the
// serving OS thread's own clock (CLOCK_THREAD_CPUTIME_ID, the kernel's
// sum_exec_runtime) with the goroutine locked to that thread, so that the
// figure is one thread's and the Go scheduler cannot move the work away
// while it is measured; go_echo.go also books each request's whole reply
// (reply_ns: from its line read to its reply written), light ones too,
// and that with the serving threads' CPU on either side of each reply
// (around_ns: threadGaps, below, says why). SIGTERM writes them as JSON,
// once every connection the server accepted is closed (its last write
// counted: the client may have its last reply before the Write that sent
// it has returned), and exits 0.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

type book struct {
	Requests int64 `json:"requests"`
	Heavy    int64 `json:"heavy"`
	CPUNs    int64 `json:"cpu_ns"`
	ReplyNs  int64 `json:"reply_ns"`
	AroundNs int64 `json:"around_ns"`
	BytesRx  int64 `json:"bytes_rx"`
	BytesTx  int64 `json:"bytes_tx"`
}

var (
	booksMu sync.Mutex
	books   = map[string]*book{}
	open    sync.WaitGroup // connections accepted, not yet closed
)

// bookFor: the book of a connection by its client's address
func bookFor(addr string) *book {
	booksMu.Lock()
	defer booksMu.Unlock()
	b := books[addr]
	if b == nil {
		b = &book{}
		books[addr] = b
	}
	return b
}

// threadCPU: the calling thread's CPU time, ns (a real syscall, not the
// vDSO: Go's syscall package has no wrapper for the thread clock)
func threadCPU() int64 {
	const clockThreadCPUTimeID = 3
	ns, e := cpuClock(clockThreadCPUTimeID)
	if e != 0 {
		panic(e)
	}
	return ns
}

// cpuClock: a CPU clock's reading, ns (clock_gettime)
func cpuClock(clock int32) (int64, syscall.Errno) {
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock),
		uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano(), e
}

// burn: n rounds of arithmetic the compiler cannot drop (its result is sent);
// never inlined, so that on-CPU stacks name it (test_go.py's pool tests)
//
//go:noinline
func burn(n int) uint64 {
	x := uint64(0)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

// countingConn counts what each Read and Write moved: the bytes of the
// connection's socket, exactly
type countingConn struct {
	net.Conn
	b      *book
	closed sync.Once
}

func (c *countingConn) Close() error {
	err := c.Conn.Close()
	gaps.at(c.b) // what the thread does next may be this one's yet
	c.closed.Do(open.Done)
	return err
}

func (c *countingConn) Read(p []byte) (int, error) {
	// a read that finds nothing parks the goroutine, and conctrace may
	// give it what its thread did since its last mark: the thread's gap
	// counts for this book too (traced: 2.2 ms so, once in 38 runs)
	gaps.at(c.b)
	n, err := c.Conn.Read(p)
	atomic.AddInt64(&c.b.BytesRx, int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	atomic.AddInt64(&c.b.BytesTx, int64(n))
	return n, err
}

// countingListener opens a book for every connection it accepts
type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	open.Add(1)
	b := bookFor(c.RemoteAddr().String())
	gaps.at(b) // the new socket's set-up before it, the new goroutine after
	return &countingConn{Conn: c, b: b}, nil
}

// Per OS thread, the gaps between the marks the server's code makes on it
// (go_echo.go: each reply's start and end, each accept, read and close). The
// CPU a thread spends between two marks (a read, a read that finds
// nothing, the scheduler's search for a goroutine to run, a new socket's
// set-up, a stall of the host's, which the kernel counts as the thread's
// CPU) is in no reply's book, and conctrace may rightly give it to the
// connection marked before it or to the one marked after: a gap counts
// for both books (around_ns), as loop_books.py counts an asyncio loop's.
// Go moves goroutines between threads, so the gaps are kept per thread,
// named by its tid while the goroutine is locked to it. nil (no gaps
// kept) unless a server asks for them (at and finish do nothing then).
type threadGaps struct {
	mu   sync.Mutex
	last map[int]threadMark // by tid: the thread's last mark
}

type threadMark struct {
	end int64 // the thread's clock at the mark
	b   *book
}

var gaps *threadGaps

// opens: a span of b's starts on this thread (the caller has locked the
// goroutine to it): the gap since the thread's last mark counts for both
// books. Returns the thread and its clock, for closes().
func (g *threadGaps) opens(b *book) (int, int64) {
	tid := syscall.Gettid()
	now := threadCPU()
	g.mu.Lock()
	if last, ok := g.last[tid]; ok {
		b.AroundNs += now - last.end
		if last.b != b {
			last.b.AroundNs += now - last.end
		}
	}
	g.mu.Unlock()
	return tid, now
}

// closes: the span opened at t0 on thread tid ends, and marks it; returns
// the span's CPU
func (g *threadGaps) closes(b *book, tid int, t0 int64) int64 {
	now := threadCPU()
	g.mu.Lock()
	b.AroundNs += now - t0
	g.last[tid] = threadMark{now, b}
	g.mu.Unlock()
	return now - t0
}

// at: a mark for b on whichever thread runs the caller
func (g *threadGaps) at(b *book) {
	if g == nil {
		return
	}
	runtime.LockOSThread()
	tid, t := g.opens(b)
	g.closes(b, tid, t)
	runtime.UnlockOSThread()
}

// finish: each thread's gap after its last mark, up to now, counts for
// that mark's book (what conctrace gives a connection closed last: the
// thread's work until it moves on), read from the thread's own clock
// (the kernel's clock id for another thread of the process); a thread
// gone keeps none
func (g *threadGaps) finish() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for tid, last := range g.last {
		// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)
		if ns, e := cpuClock(int32(^tid<<3 | 6)); e == 0 {
			last.b.AroundNs += ns - last.end
		}
	}
}

// listen on loopback, say so as the tests expect, write the books at SIGTERM
func listen(name, booksPath string) net.Listener {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: listen: %v\n", name, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		// the clients closed theirs: the server's close follows at once
		closed := make(chan struct{})
		go func() { open.Wait(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			fmt.Fprintf(os.Stderr, "%s: books: connections still open after 10 s\n", name)
			os.Exit(1)
		}
		gaps.finish()
		booksMu.Lock()
		out, err := json.Marshal(map[string]interface{}{"accepted": len(books), "conns": books})
		booksMu.Unlock()
		if err == nil {
			err = os.WriteFile(booksPath, out, 0o600)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: books: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}()
	fmt.Fprintf(os.Stderr, "%s: listening on port %d (pid %d)\n", name,
		ln.Addr().(*net.TCPAddr).Port, os.Getpid())
	return countingListener{ln}
}

// args: the counts (BURN, and go_pool_http's WORKERS) and the books' path
func args(name string, counts ...string) ([]int, string) {
	if len(os.Args) != len(counts)+2 {
		fmt.Fprintf(os.Stderr, "usage: %s %s BOOKS.json\n", name, strings.Join(counts, " "))
		os.Exit(2)
	}
	ns := make([]int, len(counts))
	for i, what := range counts {
		n, err := strconv.Atoi(os.Args[i+1])
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "%s: %s: not a count: %q\n", name, what, os.Args[i+1])
			os.Exit(2)
		}
		ns[i] = n
	}
	return ns, os.Args[len(os.Args)-1]
}
