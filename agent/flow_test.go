package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vmHWM is a process's peak resident memory in KiB.
func vmHWM(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// A process writing ~10 MiB to a runner that grants credit slowly: all bytes arrive in order, the agent
// never sends past its window (the client checks), and its memory does not grow with the output.
func TestFlowControlSlowReader(t *testing.T) {
	c := startAgent(t)
	c.ping("warm")
	before := vmHWM(t, c.cmd.Process.Pid)
	s := c.open(execOp("seq", "1", "1500000"))
	s.mu.Lock()
	s.manual = true
	s.mu.Unlock()
	<-s.started
	var want bytes.Buffer
	for i := 1; i <= 1500000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.mu.Lock()
		got, credit := s.out[1].Len(), s.credit[1]
		s.mu.Unlock()
		if got == want.Len() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d bytes", got, want.Len())
		}
		if credit < 32768 {
			c.grant(s, 1, 65536)
		}
		time.Sleep(3 * time.Millisecond)
	}
	r := c.result(s)
	if r["exit_code"] != 0.0 || s.output(1) != want.String() {
		t.Fatalf("%v; output differs (%d bytes)", r, len(s.output(1)))
	}
	grown := vmHWM(t, c.cmd.Process.Pid) - before
	t.Logf("agent peak RSS %d KiB before, grew %d KiB for %d bytes", before, grown, want.Len())
	if grown > 3*1024 {
		t.Fatalf("agent grew %d KiB while forwarding %d bytes", grown, want.Len())
	}
}

// Stalled credit stalls the process, it does not buffer: with no WINDOW the agent sends exactly 262144 bytes.
func TestFlowControlStall(t *testing.T) {
	c := startAgent(t)
	s := c.open(execOp("head", "-c", "1000000", "/dev/zero"))
	s.mu.Lock()
	s.manual = true
	s.mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	if n := len(s.output(1)); n != initWindow {
		t.Fatalf("sent %d bytes on an initial window of %d", n, initWindow)
	}
	select {
	case f := <-s.end:
		t.Fatalf("ended before its output was read: %s", f.payload)
	default:
	}
	c.grant(s, 1, 1000000-initWindow)
	if r := c.result(s); r["exit_code"] != 0.0 || len(s.output(1)) != 1000000 {
		t.Fatalf("%v after %d bytes", r, len(s.output(1)))
	}
}

// Output already in the pipe when the process exits is delivered, however long the runner takes to give
// credit: the 100 ms grace is only for pipes that something left running keeps open.
func TestOutputPendingAtExitOutlivesTheGrace(t *testing.T) {
	c := startAgent(t)
	s := c.open(execOp("head", "-c", "300000", "/dev/zero"))
	s.mu.Lock()
	s.manual = true
	s.mu.Unlock()
	time.Sleep(600 * time.Millisecond) // head has exited; 37856 bytes wait for credit
	if n := len(s.output(1)); n != initWindow {
		t.Fatalf("sent %d before credit", n)
	}
	c.grant(s, 1, 65536)
	if r := c.result(s); r["exit_code"] != 0.0 || len(s.output(1)) != 300000 {
		t.Fatalf("%v after %d bytes", r, len(s.output(1)))
	}
}
