package main

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

var errCancelled = errors.New("cancelled")

// inbox holds what the runner sent on channel 0 and not yet consumed. The runner's window bounds it: more
// than initWindow unconsumed bytes is a protocol error, so it never grows past that.
type inbox struct {
	st       *stream
	mu       sync.Mutex
	cond     sync.Cond
	q        [][]byte
	window   int // credit the runner has left
	consumed int // consumed, not yet given back
	eof      bool
	closed   bool // nobody reads any more: bytes are dropped (and credited)
}

func (b *inbox) init(st *stream) {
	b.st = st
	b.cond.L = &b.mu
	b.window = initWindow
}

func (b *inbox) push(p []byte) error {
	b.mu.Lock()
	if b.eof {
		b.mu.Unlock()
		return perr("DATA after EOF on stream %d", b.st.id)
	}
	if len(p) > b.window {
		b.mu.Unlock()
		return perr("window overrun on stream %d", b.st.id)
	}
	b.window -= len(p)
	if b.closed {
		b.consumed += len(p)
		g := b.takeGrant()
		b.mu.Unlock()
		return b.sendGrant(g)
	}
	if len(p) > 0 {
		b.q = append(b.q, p)
	}
	b.cond.Broadcast()
	b.mu.Unlock()
	return nil
}

func (b *inbox) pushEOF() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return perr("second EOF on stream %d", b.st.id)
	}
	b.eof = true
	b.cond.Broadcast()
	return nil
}

// close drops what is queued and what comes later; Read then fails with errCancelled.
func (b *inbox) close() {
	b.mu.Lock()
	for _, p := range b.q {
		b.consumed += len(p)
	}
	b.q = nil
	b.closed = true
	b.cond.Broadcast()
	g := b.takeGrant()
	b.mu.Unlock()
	b.sendGrant(g)
}

// Read gives channel 0's bytes to the operation (io.EOF after the runner's EOF) and credits them back.
func (b *inbox) Read(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.q) == 0 && !b.eof && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, errCancelled
	}
	if len(b.q) == 0 {
		b.mu.Unlock()
		return 0, io.EOF
	}
	n := copy(p, b.q[0])
	if b.q[0] = b.q[0][n:]; len(b.q[0]) == 0 {
		b.q[0] = nil
		b.q = b.q[1:]
	}
	b.consumed += n
	g := b.takeGrant()
	b.mu.Unlock()
	return n, b.sendGrant(g)
}

// takeGrant returns credit to give back once half the window is consumed (fewer, larger WINDOW frames).
func (b *inbox) takeGrant() int {
	if b.consumed < initWindow/2 {
		return 0
	}
	g := b.consumed
	b.consumed = 0
	b.window += g
	return g
}

func (b *inbox) sendGrant(g int) error {
	if g == 0 {
		return nil
	}
	var p [5]byte
	binary.BigEndian.PutUint32(p[1:], uint32(g))
	if err := b.st.c.send(b.st, tWindow, false, p[:]); err != nil && err != errEnded {
		return err
	}
	return nil
}

func (st *stream) grant(ch byte, n int64) {
	st.mu.Lock()
	st.win[ch] += n
	st.cond.Broadcast()
	st.mu.Unlock()
}

// writeData sends p on channel ch, waiting for credit; it never holds more than p.
func (st *stream) writeData(ch byte, p []byte) error {
	for len(p) > 0 {
		st.mu.Lock()
		for st.win[ch] <= 0 && !st.aborted && st.ctx.Err() == nil {
			st.cond.Wait()
		}
		if st.aborted {
			st.mu.Unlock()
			return errCancelled
		}
		if st.ctx.Err() != nil {
			st.mu.Unlock()
			return errEnded
		}
		n := int64(len(p))
		if n > st.win[ch] {
			n = st.win[ch]
		}
		if n > maxData {
			n = maxData
		}
		st.win[ch] -= n
		st.mu.Unlock()
		if err := st.c.send(st, tData, false, []byte{ch}, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// chanWriter is an io.Writer onto one channel of a stream.
type chanWriter struct {
	st *stream
	ch byte
}

func (w chanWriter) Write(p []byte) (int, error) {
	if err := w.st.writeData(w.ch, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
