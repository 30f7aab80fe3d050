package main

import (
	"encoding/binary"
	"testing"
)

func TestHandshakeAndPing(t *testing.T) {
	c := startAgent(t)
	if c.hello["protocol"] != 1.0 || c.hello["version"] != version || c.hello["pid"] != float64(c.cmd.Process.Pid) {
		t.Fatalf("HELLO %v", c.hello)
	}
	c.ping("")
	c.ping("0123456789012345678901234567890123456789012345678901234567890123")
}

func TestProtocolErrorsCloseTheConnection(t *testing.T) {
	header := func(n uint32, id uint32, typ byte) []byte {
		b := make([]byte, 9)
		binary.BigEndian.PutUint32(b, n)
		binary.BigEndian.PutUint32(b[4:], id)
		b[8] = typ
		return b
	}
	cases := map[string]func(c *client){
		"oversize length": func(c *client) { c.raw(header(maxPayload+1, 1, tData)) },
		"unknown type":    func(c *client) { c.raw(header(0, 1, 13)) },
		"type 0":          func(c *client) { c.raw(header(0, 0, 0)) },
		"bad JSON":        func(c *client) { c.frame(1, tOpen, []byte(`{"op":`)) },
		"not an object":   func(c *client) { c.frame(1, tOpen, []byte(`["exec"]`)) },
		"two objects":     func(c *client) { c.frame(1, tOpen, []byte(`{"op":"stat"}{}`)) },
		"even id":         func(c *client) { c.frame(2, tOpen, []byte(`{"op":"stat","path":"/"}`)) },
		"id not rising": func(c *client) {
			s := c.open(map[string]interface{}{"op": "stat", "path": "/"})
			c.result(s)
			c.frame(s.id, tOpen, []byte(`{"op":"stat","path":"/"}`))
		},
		"never opened":  func(c *client) { c.frame(99, tCancel) },
		"agent's type":  func(c *client) { c.frame(0, tHello, []byte(`{}`)) },
		"ping too long": func(c *client) { c.frame(0, tPing, make([]byte, 65)) },
		"window zero": func(c *client) {
			s := c.open(execOp("sleep", "5"))
			<-s.started
			c.frame(s.id, tWindow, []byte{1, 0, 0, 0, 0})
		},
		"bad signal": func(c *client) {
			s := c.open(execOp("sleep", "5"))
			<-s.started
			c.frame(s.id, tControl, []byte(`{"signal":"PWR"}`))
		},
		"data after eof": func(c *client) {
			s := c.open(execOp("sleep", "5"))
			c.closeInput(s)
			c.frame(s.id, tData, []byte{0, 1})
		},
		"window overrun": func(c *client) {
			// sleep never reads its stdin, so the agent gives no credit back: byte 262145 overruns.
			op := execOp("sleep", "30")
			op["stdin"] = true
			s := c.open(op)
			<-s.started
			chunk := make([]byte, 65536)
			for i := 0; i < 4; i++ {
				c.frame(s.id, tData, []byte{0}, chunk[:maxData])
			}
			c.frame(s.id, tData, []byte{0}, chunk[:5])
		},
		"truncated frame": func(c *client) { c.raw(header(10, 1, tOpen)[:9]); c.raw([]byte("{}")); c.w.Close() },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			c := startAgent(t)
			breakIt(c)
			c.expectClosed()
		})
	}
}

func TestLateFramesForEndedStreamsAreIgnored(t *testing.T) {
	c := startAgent(t)
	s := c.open(map[string]interface{}{"op": "stat", "path": "/"})
	c.result(s)
	c.frame(s.id, tWindow, []byte{1, 0, 0, 1, 0})
	c.frame(s.id, tData, []byte{0, 'x'})
	c.frame(s.id, tCancel)
	c.ping("still here")
}

func TestBadArgumentsAreErrorsNotProtocolErrors(t *testing.T) {
	c := startAgent(t)
	if code := c.errorCode(c.open(map[string]interface{}{"op": "nope"})); code != "unsupported" {
		t.Fatalf("unknown op: %s", code)
	}
	if code := c.errorCode(c.open(map[string]interface{}{"path": "/"})); code != "invalid" {
		t.Fatalf("no op: %s", code)
	}
	if code := c.errorCode(c.open(map[string]interface{}{"op": "exec", "argv": []string{"true"}})); code != "invalid" {
		t.Fatalf("exec without env: %s", code)
	}
	if code := c.errorCode(c.open(map[string]interface{}{"op": "stat", "path": "relative"})); code != "invalid" {
		t.Fatalf("relative path: %s", code)
	}
	if code := c.errorCode(c.open(map[string]interface{}{"op": "stat", "path": 5})); code != "invalid" {
		t.Fatalf("path of the wrong type: %s", code)
	}
	c.ping("x")
}

func TestTooManyStreams(t *testing.T) {
	c := startAgent(t)
	var open []*cstream
	for i := 0; i < maxStreams; i++ {
		s := c.open(map[string]interface{}{"op": "listen", "port": 0})
		open = append(open, s)
	}
	for _, s := range open {
		<-s.started
	}
	if code := c.errorCode(c.open(map[string]interface{}{"op": "stat", "path": "/"})); code != "too_many" {
		t.Fatalf("stream 1025: %s", code)
	}
	c.frame(open[0].id, tCancel)
	c.result(open[0])
	c.result(c.open(map[string]interface{}{"op": "stat", "path": "/"}))
}
