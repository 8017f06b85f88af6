// SPDX-License-Identifier: MIT

// A Go line server on plain net (standard library only), one goroutine per
// connection, as Go servers are written: a line HEAVY burns CPU in the
// connection's goroutine, any other is answered at once. Go's scheduler
// runs these goroutines on a few OS threads and moves them between
// threads; the burn is measured with the goroutine locked to its thread
// for that time only (go_books.go). Usage: go_echo BURN BOOKS.json
// (SIGTERM writes the books).
package main

import (
	"bufio"
	"bytes"
	"net"
	"runtime"
	"strconv"
)

func serve(c net.Conn, n int) {
	defer c.Close()
	b := c.(*countingConn).b
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		// the thread's clock from the line read to the reply written:
		// what this request cost the server (light ones' own book)
		runtime.LockOSThread()
		tid, t := gaps.opens(b)
		x := uint64(0)
		if bytes.HasPrefix(line, []byte("HEAVY")) {
			t0 := threadCPU()
			x = burn(n)
			b.CPUNs += threadCPU() - t0 // this goroutine's own book
			b.Heavy++
		}
		b.Requests++
		_, err = c.Write([]byte(strconv.FormatUint(x&0xff, 10) + "\n"))
		b.ReplyNs += gaps.closes(b, tid, t)
		runtime.UnlockOSThread()
		if err != nil {
			return
		}
	}
}

func main() {
	ns, booksPath := args("go_echo", "BURN")
	n := ns[0]
	gaps = &threadGaps{last: map[int]threadMark{}}
	ln := listen("go_echo", booksPath)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(c, n)
	}
}
