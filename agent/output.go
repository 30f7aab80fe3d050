package main

import (
	"errors"
	"os"
	"sync"
	"time"
)

// pipeReader forwards a process's stdout/stderr (or its terminal) to a channel, reading only as fast as
// the runner's window lets it send, so a slow runner stalls the process, not the agent's memory.
type pipeReader struct {
	f    *os.File
	st   *stream
	ch   byte
	done chan struct{}

	mu      sync.Mutex
	total   int64 // bytes read so far
	isExit  bool
	exitAt  time.Time
	grace   time.Duration
	counted bool  // target is set
	target  int64 // total + what was in the pipe when the process exited
}

func (r *pipeReader) run() {
	defer close(r.done)
	buf := make([]byte, 32768)
	for {
		r.mu.Lock()
		if r.isExit {
			if !r.counted {
				// Counted here, between reads: bytes a read in flight took are in total by now, not missed.
				r.target, r.counted = r.total+pending(r.f), true
			}
			if r.total < r.target {
				r.f.SetReadDeadline(time.Time{})
			} else {
				r.f.SetReadDeadline(r.exitAt.Add(r.grace))
			}
		}
		r.mu.Unlock()
		n, err := r.f.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.total += int64(n)
			r.mu.Unlock()
			if r.st.writeData(r.ch, buf[:n]) != nil {
				return
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			r.mu.Lock()
			stop := r.counted && r.total >= r.target
			r.mu.Unlock()
			if stop {
				return
			}
			continue
		}
		if err != nil { // EOF; EIO from a terminal whose last slave closed
			return
		}
	}
}

// exited bounds the wait for end of file: what is in the pipe now, then grace (the deadline wakes a
// blocked read, and run counts what is left).
func (r *pipeReader) exited(at time.Time, grace time.Duration) {
	r.mu.Lock()
	r.isExit, r.exitAt, r.grace = true, at, grace
	r.f.SetReadDeadline(at.Add(grace))
	r.mu.Unlock()
}
