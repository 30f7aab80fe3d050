package main

import (
	"encoding/json"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestConnect(t *testing.T) {
	c := startAgent(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(nc) // until the runner's EOF arrives as a half-close
		nc.Write([]byte("pong:" + string(b)))
		nc.Close()
		got <- string(b)
	}()
	s := c.open(map[string]interface{}{"op": "connect", "port": l.Addr().(*net.TCPAddr).Port})
	<-s.started
	c.send(s, []byte("ping"))
	c.closeInput(s)
	c.result(s)
	if <-got != "ping" || s.output(1) != "pong:ping" || !s.eof[1] {
		t.Fatalf("peer/runner saw %q", s.output(1))
	}

	l2, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := l2.Addr().(*net.TCPAddr).Port
	l2.Close()
	if code := c.errorCode(c.open(map[string]interface{}{"op": "connect", "port": port})); code != "refused" {
		t.Fatalf("closed port: %s", code)
	}
}

func TestConnectCancelResets(t *testing.T) {
	c := startAgent(t)
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	defer l.Close()
	peerErr := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		_, err = nc.Read(make([]byte, 1))
		peerErr <- err
	}()
	s := c.open(map[string]interface{}{"op": "connect", "port": l.Addr().(*net.TCPAddr).Port})
	<-s.started
	c.frame(s.id, tCancel)
	c.result(s)
	select {
	case err := <-peerErr:
		if err == nil || err == io.EOF {
			t.Fatalf("peer saw %v, want a reset", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("peer still connected")
	}
}

func TestListen(t *testing.T) {
	c := startAgent(t)
	ls := c.open(map[string]interface{}{"op": "listen", "port": 0})
	var st map[string]int
	json.Unmarshal(<-ls.started, &st)
	nc, err := net.Dial("tcp4", "127.0.0.1:"+itoa(st["port"]))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var as *cstream
	select {
	case as = <-c.accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no accepted stream")
	}
	var open struct {
		Op       string `json:"op"`
		Listener uint32 `json:"listener"`
		PeerPort int    `json:"peer_port"`
	}
	json.Unmarshal(as.open, &open)
	if as.id%2 != 0 || open.Op != "accepted" || open.Listener != ls.id || open.PeerPort != nc.LocalAddr().(*net.TCPAddr).Port {
		t.Fatalf("stream %d OPEN %s", as.id, as.open)
	}
	nc.Write([]byte("from peer"))
	nc.(*net.TCPConn).CloseWrite()
	c.send(as, []byte("to peer"))
	c.closeInput(as)
	b, _ := io.ReadAll(nc)
	c.result(as)
	if string(b) != "to peer" || as.output(1) != "from peer" {
		t.Fatalf("peer got %q, runner got %q", b, as.output(1))
	}
	c.frame(ls.id, tCancel)
	c.result(ls)
	if _, err := net.Dial("tcp4", "127.0.0.1:"+itoa(st["port"])); err == nil {
		t.Fatal("listener still open after CANCEL")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
