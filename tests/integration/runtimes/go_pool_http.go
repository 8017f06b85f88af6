// SPDX-License-Identifier: MIT

// A Go net/http server (standard library only) whose /heavy handler hands
// its work to a fixed pool of WORKERS goroutines through a channel and
// waits for the result: issue 16's pool case, where the work of a
// connection runs on another OS thread than the one that read its request.
// Each worker is locked to its own thread, so the pool is WORKERS threads,
// woken through the Go runtime's futex when a job is handed over; it books
// each job's thread CPU to the connection that asked (go_books.go). /light is
// answered at once. Usage: go_pool_http BURN WORKERS BOOKS.json (SIGTERM
// writes the books).
package main

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
)

type job struct {
	b    *book
	done chan uint64
}

func main() {
	ns, booksPath := args("go_pool_http", "BURN", "WORKERS")
	n, workers := ns[0], ns[1]
	jobs := make(chan job)
	for i := 0; i < workers; i++ {
		go func() {
			runtime.LockOSThread()
			for j := range jobs {
				t0 := threadCPU()
				x := burn(n)
				atomic.AddInt64(&j.b.CPUNs, threadCPU()-t0)
				atomic.AddInt64(&j.b.Heavy, 1)
				j.done <- x
			}
		}()
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b := bookFor(r.RemoteAddr)
		x := uint64(0)
		if r.URL.Path == "/heavy" {
			j := job{b, make(chan uint64)}
			jobs <- j
			x = <-j.done
		}
		atomic.AddInt64(&b.Requests, 1)
		w.Write([]byte(strconv.FormatUint(x&0xff, 10) + "\n"))
	})
	ln := listen("go_pool_http", booksPath)
	http.Serve(ln, nil)
}
