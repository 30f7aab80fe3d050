package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var agentBin string

// buildTags are this test binary's own (goshim_test.go), so the agent under test is built the same way.
var buildTags = ""

// TestMain builds the real agent binary; every test drives it over its stdin/stdout like the runner does.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paddock-agent-test")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0755) // the non-dumpable test runs it as nobody
	agentBin = filepath.Join(dir, "paddock-agent")
	build := exec.Command("go", "build", "-buildvcs=false", "-tags", buildTags, "-o", agentBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cstream struct {
	id      uint32
	started chan json.RawMessage
	end     chan frame // RESULT or ERROR
	mu      sync.Mutex
	cond    sync.Cond
	out     [3]bytes.Buffer
	eof     [3]bool
	credit  [3]int64 // what the agent may still send us on 1 and 2
	manual  bool     // the test grants windows itself
	sendWin int64    // what we may still send on 0
	open    json.RawMessage
}

type client struct {
	t        testing.TB
	cmd      *exec.Cmd
	w        io.WriteCloser
	wmu      sync.Mutex
	stderr   bytes.Buffer
	hello    map[string]interface{}
	closed   chan struct{}
	accepted chan *cstream
	pongs    chan []byte
	mu       sync.Mutex
	streams  map[uint32]*cstream
	next     uint32
	failure  string // a rule the agent broke
}

// startAgent runs the agent (under prefix, e.g. setpriv, when given) and reads its HELLO.
func startAgent(t testing.TB, prefix ...string) *client {
	t.Helper()
	return startAgentCmd(t, append(prefix, agentBin)...)
}

// startAgentCmd runs argv, which holds the agent and its arguments, and reads its HELLO.
func startAgentCmd(t testing.TB, argv ...string) *client {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	c := &client{t: t, cmd: cmd, closed: make(chan struct{}), accepted: make(chan *cstream, 16),
		pongs: make(chan []byte, 4), streams: map[uint32]*cstream{}, next: 1}
	cmd.Stderr = &syncWriter{w: &c.stderr, mu: &c.wmu}
	var err error
	if c.w, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	f, err := readFrame(r)
	if err != nil || f.typ != tHello || f.stream != 0 {
		t.Fatalf("no HELLO: %v %+v", err, f)
	}
	if err := json.Unmarshal(f.payload, &c.hello); err != nil {
		t.Fatal(err)
	}
	go c.readLoop(r)
	t.Cleanup(func() {
		c.w.Close()
		select {
		case <-c.closed:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
		c.wmu.Lock()
		diag := c.stderr.String()
		c.wmu.Unlock()
		if strings.Contains(diag, "panic") || strings.Contains(diag, "DATA RACE") {
			t.Errorf("agent stderr: %s", diag)
		}
		if c.failure != "" {
			t.Errorf("agent broke the protocol: %s", c.failure)
		}
	})
	return c
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (c *client) fail(msg string) {
	c.mu.Lock()
	if c.failure == "" {
		c.failure = msg
	}
	c.mu.Unlock()
}

func (c *client) readLoop(r *bufio.Reader) {
	defer close(c.closed)
	for {
		f, err := readFrame(r)
		if err != nil {
			return
		}
		if f.typ == tPong {
			c.pongs <- f.payload
			continue
		}
		c.mu.Lock()
		s := c.streams[f.stream]
		if f.typ == tOpen && f.stream%2 == 0 && s == nil {
			s = newCstream(f.stream)
			s.open = f.payload
			c.streams[f.stream] = s
			c.mu.Unlock()
			c.accepted <- s
			continue
		}
		c.mu.Unlock()
		if s == nil {
			c.fail("frame for an unknown stream")
			continue
		}
		switch f.typ {
		case tStarted:
			s.started <- f.payload
		case tResult, tError:
			s.end <- f
		case tWindow:
			s.mu.Lock()
			s.sendWin += int64(binary.BigEndian.Uint32(f.payload[1:]))
			s.cond.Broadcast()
			s.mu.Unlock()
		case tEOF:
			s.mu.Lock()
			s.eof[f.payload[0]] = true
			s.mu.Unlock()
		case tData:
			ch, data := f.payload[0], f.payload[1:]
			s.mu.Lock()
			if s.eof[ch] {
				c.fail("DATA after EOF")
			}
			s.credit[ch] -= int64(len(data))
			if s.credit[ch] < 0 {
				c.fail("agent overran the window")
			}
			s.out[ch].Write(data)
			manual := s.manual
			s.mu.Unlock()
			if !manual && len(data) > 0 {
				c.grant(s, ch, uint32(len(data)))
			}
		}
	}
}

func newCstream(id uint32) *cstream {
	s := &cstream{id: id, started: make(chan json.RawMessage, 1), end: make(chan frame, 1),
		sendWin: initWindow}
	s.cond.L = &s.mu
	s.credit[1], s.credit[2] = initWindow, initWindow
	return s
}

func (c *client) raw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.w.Write(b)
	return err
}

func (c *client) frame(id uint32, typ byte, parts ...[]byte) {
	c.raw(appendFrame(nil, id, typ, parts...))
}

func (c *client) grant(s *cstream, ch byte, n uint32) {
	s.mu.Lock()
	s.credit[ch] += int64(n)
	s.mu.Unlock()
	var p [5]byte
	p[0] = ch
	binary.BigEndian.PutUint32(p[1:], n)
	c.frame(s.id, tWindow, p[:])
}

// open starts an operation on the next odd stream.
func (c *client) open(op map[string]interface{}) *cstream {
	b, _ := json.Marshal(op)
	c.mu.Lock()
	s := newCstream(c.next)
	c.next += 2
	c.streams[s.id] = s
	c.mu.Unlock()
	c.frame(s.id, tOpen, b)
	return s
}

// send writes data on channel 0 within the agent's window.
func (c *client) send(s *cstream, data []byte) {
	for len(data) > 0 {
		s.mu.Lock()
		for s.sendWin == 0 {
			s.cond.Wait()
		}
		n := int64(len(data))
		if n > s.sendWin {
			n = s.sendWin
		}
		if n > maxData {
			n = maxData
		}
		s.sendWin -= n
		s.mu.Unlock()
		c.frame(s.id, tData, []byte{0}, data[:n])
		data = data[n:]
	}
}

func (c *client) closeInput(s *cstream) { c.frame(s.id, tEOF, []byte{0}) }

// wait returns the stream's last frame.
func (c *client) wait(s *cstream) frame {
	c.t.Helper()
	select {
	case f := <-s.end:
		return f
	case <-time.After(20 * time.Second):
		c.t.Fatalf("stream %d: no RESULT/ERROR", s.id)
	}
	return frame{}
}

func (c *client) result(s *cstream) map[string]interface{} {
	c.t.Helper()
	f := c.wait(s)
	var m map[string]interface{}
	json.Unmarshal(f.payload, &m)
	if f.typ != tResult {
		c.t.Fatalf("stream %d: want RESULT, got %s", s.id, f.payload)
	}
	return m
}

func (c *client) errorCode(s *cstream) string {
	c.t.Helper()
	f := c.wait(s)
	if f.typ != tError {
		c.t.Fatalf("stream %d: want ERROR, got %s", s.id, f.payload)
	}
	var m map[string]string
	json.Unmarshal(f.payload, &m)
	return m["code"]
}

func (s *cstream) output(ch byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out[ch].String()
}

// waitOutput waits until channel ch contains want.
func (c *client) waitOutput(s *cstream, ch byte, want string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.output(ch), want) {
		if time.Now().After(deadline) {
			c.t.Fatalf("stream %d channel %d: %q never contains %q", s.id, ch, s.output(ch), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectClosed: the agent ends the connection (and exits) after a protocol error.
func (c *client) expectClosed() {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		c.t.Fatal("connection still open")
	}
	c.cmd.Wait()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !strings.Contains(c.stderr.String(), "protocol error") {
		c.t.Fatalf("stderr does not name the protocol error: %q", c.stderr.String())
	}
}

func (c *client) ping(data string) {
	c.t.Helper()
	c.frame(0, tPing, []byte(data))
	select {
	case p := <-c.pongs:
		if string(p) != data {
			c.t.Fatalf("PONG %q for PING %q", p, data)
		}
	case <-time.After(5 * time.Second):
		c.t.Fatal("no PONG")
	}
}

var testEnv = map[string]string{"PATH": "/usr/bin:/bin", "LANG": "C"}

func execOp(argv ...string) map[string]interface{} {
	return map[string]interface{}{"op": "exec", "argv": argv, "env": testEnv, "cwd": "/", "stdin": false}
}
