package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

const maxStreams = 1024

var errEnded = errors.New("stream ended")

// conn is one connection to the runner: a reader loop that dispatches frames, and a mutex-guarded writer
// shared by every stream's goroutines.
type conn struct {
	r  *bufio.Reader
	w  io.Writer
	rp *reaper

	wmu  sync.Mutex // guards writes, wbuf, shut and every stream's ended flag
	wbuf []byte
	// shut: the connection is over, nothing more is written (on a serial channel the next one's HELLO
	// must not be followed by this one's output).
	shut bool
	// serial: a VM's port, where SYNC opens the next connection (vminit.go); nonce: the SYNC's, echoed in HELLO.
	serial bool
	nonce  string

	mu      sync.Mutex
	streams map[uint32]*stream
	maxOdd  uint32
	maxEven uint32
	groups  map[int]bool // process groups of running execs, killed when the connection ends
	// spawnMu is held from an exec's fork until its group is in groups, and by each pass of a sweep.
	spawnMu sync.Mutex
}

type stream struct {
	id     uint32
	c      *conn
	in     inbox
	ctx    context.Context
	cancel context.CancelFunc
	ended  bool // under c.wmu

	mu       sync.Mutex
	cond     sync.Cond
	win      [3]int64 // send credit on channels 1 and 2
	aborted  bool     // the runner sent CANCEL
	onCancel func()
	control  func(controlMsg) error
}

func newConn(r io.Reader, w io.Writer, rp *reaper) *conn {
	return &conn{r: bufio.NewReaderSize(r, headerLen+maxPayload), w: w, rp: rp,
		streams: map[uint32]*stream{}, groups: map[int]bool{}}
}

// serve sends HELLO and handles frames until the runner closes the connection (nil) or breaks the protocol.
func (c *conn) serve() error {
	h := map[string]interface{}{"protocol": 1, "version": version, "pid": os.Getpid()}
	if c.serial {
		h["sync"] = c.nonce
	}
	hello, _ := json.Marshal(h)
	if err := c.send(nil, tHello, false, hello); err != nil {
		return err
	}
	for {
		f, err := readFrame(c.r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if f.typ == tSync || f.typ == tPad {
			if !c.serial || f.stream != 0 {
				return perr("SYNC or padding outside a serial channel's stream 0")
			}
			if f.typ == tPad || syncNonce(f.payload) == c.nonce {
				continue // padding, or this connection's own SYNC sent again while the runner waited for HELLO
			}
			return &resync{f.payload}
		}
		if err := checkFrame(f); err != nil {
			return err
		}
		if err := c.dispatch(f); err != nil {
			return err
		}
	}
}

func (c *conn) dispatch(f frame) error {
	switch f.typ {
	case tPing:
		return c.send(nil, tPong, false, f.payload)
	case tOpen:
		return c.open(f)
	}
	st, err := c.lookup(f.stream)
	if st == nil || err != nil {
		return err
	}
	switch f.typ {
	case tData:
		return st.in.push(f.payload[1:])
	case tEOF:
		return st.in.pushEOF()
	case tWindow:
		st.grant(f.payload[0], int64(binary.BigEndian.Uint32(f.payload[1:])))
	case tControl:
		var m controlMsg
		if err := json.Unmarshal(f.payload, &m); err != nil || st.control == nil {
			return perr("bad CONTROL on stream %d", f.stream)
		}
		return st.control(m)
	case tCancel:
		st.abort()
	}
	return nil
}

// lookup finds an open stream; (nil, nil) for one already ended, whose late frames are ignored. Ids are
// not kept once ended, so an id the runner skipped (below its highest) is taken as ended too.
func (c *conn) lookup(id uint32) (*stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.streams[id]; st != nil {
		return st, nil
	}
	if (id%2 == 1 && id <= c.maxOdd) || (id%2 == 0 && id <= c.maxEven) {
		return nil, nil
	}
	return nil, perr("frame for stream %d, never opened", id)
}

func (c *conn) open(f frame) error {
	if f.stream%2 == 0 {
		return perr("runner opened even stream %d", f.stream)
	}
	c.mu.Lock()
	if f.stream <= c.maxOdd {
		c.mu.Unlock()
		return perr("stream %d not above %d", f.stream, c.maxOdd)
	}
	c.maxOdd = f.stream
	full := len(c.streams) >= maxStreams
	st := c.newStreamLocked(f.stream)
	c.mu.Unlock()
	if full {
		return st.fail("too_many", "at most 1024 streams are open at once")
	}
	var head struct {
		Op string `json:"op"`
	}
	json.Unmarshal(f.payload, &head)
	return startOp(st, head.Op, f.payload)
}

func (c *conn) newStreamLocked(id uint32) *stream {
	st := &stream{id: id, c: c}
	st.cond.L = &st.mu
	st.win[1], st.win[2] = initWindow, initWindow
	st.in.init(st)
	st.ctx, st.cancel = context.WithCancel(context.Background())
	c.streams[id] = st
	return st
}

// openAccepted opens an even stream for a connection a listen operation accepted; nil when 1024 are open.
func (c *conn) openAccepted(open interface{}) *stream {
	c.mu.Lock()
	if len(c.streams) >= maxStreams {
		c.mu.Unlock()
		return nil
	}
	c.maxEven += 2
	st := c.newStreamLocked(c.maxEven)
	c.mu.Unlock()
	if st.sendJSON(tOpen, false, open) != nil {
		return nil
	}
	return st
}

// send writes one frame. With final set it is the stream's last (RESULT/ERROR); nothing is sent on a stream
// after that, so a goroutine that lost a race to the end gets errEnded instead of writing.
func (c *conn) send(st *stream, typ byte, final bool, parts ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.shut {
		return errEnded
	}
	var id uint32
	if st != nil {
		if st.ended {
			return errEnded
		}
		st.ended = final
		id = st.id
	}
	c.wbuf = appendFrame(c.wbuf[:0], id, typ, parts...)
	_, err := c.w.Write(c.wbuf)
	if cap(c.wbuf) > 2*(headerLen+maxPayload) {
		c.wbuf = nil
	}
	if final {
		c.mu.Lock()
		delete(c.streams, st.id)
		c.mu.Unlock()
		st.cancel()
		st.mu.Lock()
		st.cond.Broadcast() // wake writeData waiters: the stream is over
		st.mu.Unlock()
	}
	return err
}

func (st *stream) sendJSON(typ byte, final bool, v interface{}) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.c.send(st, typ, final, b)
}

func (st *stream) started(v interface{}) error { return st.sendJSON(tStarted, false, v) }
func (st *stream) result(v interface{}) error  { return st.sendJSON(tResult, true, v) }
func (st *stream) eof(ch byte) error           { return st.c.send(st, tEOF, false, []byte{ch}) }

func (st *stream) fail(code, msg string) error {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return st.sendJSON(tError, true, map[string]string{"code": code, "message": msg})
}

// failErr ends the stream with the code for err (a write error to the runner is returned).
func (st *stream) failErr(err error) error {
	if errors.Is(err, errCancelled) {
		return st.fail("cancelled", "cancelled")
	}
	return st.fail(errCode(err), err.Error())
}

func (st *stream) abort() {
	st.mu.Lock()
	st.aborted = true
	fn := st.onCancel
	st.cond.Broadcast()
	st.mu.Unlock()
	st.in.close()
	st.cancel()
	if fn != nil {
		fn()
	}
}

func (st *stream) isAborted() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.aborted
}

func (c *conn) addGroup(pgid int, on bool) {
	c.mu.Lock()
	if on {
		c.groups[pgid] = true
	} else {
		delete(c.groups, pgid)
	}
	c.mu.Unlock()
}

// runningExecs is how many execs' groups are registered (spawnMu held: none is being started).
func (c *conn) runningExecs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.groups)
}

// killAll ends what the runner started; as PID 1 the kernel would do it anyway when the agent exits.
func (c *conn) killAll() {
	c.wmu.Lock()
	c.shut = true
	c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for pgid := range c.groups {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}
