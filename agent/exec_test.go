package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExecStdio(t *testing.T) {
	c := startAgent(t)
	op := execOp("sh", "-c", "cat; echo oops >&2; exit 3")
	op["stdin"] = true
	s := c.open(op)
	var started map[string]int
	json.Unmarshal(<-s.started, &started)
	if started["pid"] <= 0 {
		t.Fatalf("STARTED %v", started)
	}
	c.send(s, []byte("hello\n"))
	c.closeInput(s)
	r := c.result(s)
	if r["exit_code"] != 3.0 || r["signal"] != nil || s.output(1) != "hello\n" || s.output(2) != "oops\n" {
		t.Fatalf("result %v stdout %q stderr %q", r, s.output(1), s.output(2))
	}
	if !s.eof[1] || !s.eof[2] {
		t.Fatal("no EOF on 1 and 2 before RESULT")
	}
	for _, k := range []string{"wall_ms", "cpu_ms", "max_rss_kb"} {
		if _, ok := r[k].(float64); !ok {
			t.Fatalf("%s missing: %v", k, r)
		}
	}
	if r["max_rss_kb"].(float64) <= 0 {
		t.Fatalf("max_rss_kb %v", r["max_rss_kb"])
	}
}

func TestExecExactEnvCwdAndPath(t *testing.T) {
	c := startAgent(t)
	op := execOp("env")
	op["env"] = map[string]string{"PATH": "/nonexistent:/usr/bin:/bin", "A": "b c"}
	op["cwd"] = "/tmp"
	s := c.open(op)
	c.result(s)
	if got := s.output(1); got != "A=b c\nPATH=/nonexistent:/usr/bin:/bin\n" {
		t.Fatalf("env %q", got)
	}
	op = execOp("pwd")
	op["cwd"] = "/tmp"
	s = c.open(op)
	c.result(s)
	if s.output(1) != "/tmp\n" {
		t.Fatalf("pwd %q", s.output(1))
	}
	op = execOp("true")
	op["env"] = map[string]string{}
	if code := c.errorCode(c.open(op)); code != "not_found" {
		t.Fatalf("no PATH: %s", code)
	}
	if code := c.errorCode(c.open(execOp("/nonexistent/x"))); code != "not_found" {
		t.Fatalf("missing binary: %s", code)
	}
	if code := c.errorCode(c.open(execOp("/etc/hostname"))); code != "exec_failed" {
		t.Fatalf("not executable: %s", code)
	}
	op = execOp("true")
	op["cwd"] = "/nonexistent"
	if code := c.errorCode(c.open(op)); code != "not_found" {
		t.Fatalf("missing cwd: %s", code)
	}
}

func TestExecSignals(t *testing.T) {
	c := startAgent(t)
	r := c.result(c.open(execOp("sh", "-c", "kill -TERM $$")))
	if r["signal"] != "SIGTERM" || r["exit_code"] != nil {
		t.Fatalf("self-kill: %v", r)
	}
	s := c.open(execOp("sleep", "30"))
	<-s.started
	c.frame(s.id, tControl, []byte(`{"signal":"INT"}`))
	if r := c.result(s); r["signal"] != "SIGINT" {
		t.Fatalf("CONTROL INT: %v", r)
	}
	// CANCEL kills the whole group: the background sleep too, so RESULT comes at once.
	s = c.open(execOp("sh", "-c", "sleep 30 & echo $!; wait"))
	<-s.started
	c.waitOutput(s, 1, "\n")
	bg, _ := strconv.Atoi(strings.TrimSpace(s.output(1)))
	c.frame(s.id, tCancel)
	if r := c.result(s); r["signal"] != "SIGKILL" {
		t.Fatalf("CANCEL: %v", r)
	}
	time.Sleep(100 * time.Millisecond)
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", bg)); err == nil && !strings.Contains(string(data), ") Z") {
		t.Fatalf("background process %d survived CANCEL: %s", bg, data)
	}
}

func TestExecBackgroundProcessDoesNotHoldTheResult(t *testing.T) {
	c := startAgent(t)
	t0 := time.Now()
	s := c.open(execOp("sh", "-c", "sleep 3 & echo hi"))
	r := c.result(s)
	if time.Since(t0) > 2*time.Second || r["exit_code"] != 0.0 || s.output(1) != "hi\n" {
		t.Fatalf("after %v: %v %q", time.Since(t0), r, s.output(1))
	}
}

func TestConcurrentExecs(t *testing.T) {
	c := startAgent(t)
	t0 := time.Now()
	var ss []*cstream
	for i := 0; i < 8; i++ {
		ss = append(ss, c.open(execOp("sh", "-c", fmt.Sprintf("sleep 0.5; echo %d; exit %d", i, i))))
	}
	for i, s := range ss {
		r := c.result(s)
		if r["exit_code"] != float64(i) || s.output(1) != fmt.Sprintf("%d\n", i) {
			t.Fatalf("exec %d: %v %q", i, r, s.output(1))
		}
		if r["wall_ms"].(float64) < 500 {
			t.Fatalf("wall_ms %v", r["wall_ms"])
		}
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("8 execs of 0.5 s took %v: not concurrent", d)
	}
}

func TestExecCPUTime(t *testing.T) {
	c := startAgent(t)
	// The busy loop runs in a child sh waits for: waited-for descendants count.
	r := c.result(c.open(execOp("sh", "-c", "sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'")))
	if r["cpu_ms"].(float64) < 50 {
		t.Fatalf("cpu_ms %v", r)
	}
}

func TestPty(t *testing.T) {
	c := startAgent(t)
	op := execOp("sh", "-c", "tty; stty size; read x; echo got:$x; stty size")
	op["pty"] = map[string]int{"rows": 24, "cols": 80}
	s := c.open(op)
	c.waitOutput(s, 1, "24 80")
	if !strings.Contains(s.output(1), "/dev/pts/") {
		t.Fatalf("not a terminal: %q", s.output(1))
	}
	c.frame(s.id, tControl, []byte(`{"resize":{"rows":30,"cols":100}}`))
	c.send(s, []byte("abc\n"))
	r := c.result(s)
	out := s.output(1)
	if r["exit_code"] != 0.0 || !strings.Contains(out, "got:abc") || !strings.Contains(out, "30 100") {
		t.Fatalf("%v %q", r, out)
	}
}

// Not PID 1 (so SIGKILL and SIGSTOP work, and 32–34, which the Go runtime leaves at their default, end
// it; as PID 1, TestAgentAsPID1, the kernel drops those): every other signal leaves it serving.
func TestAgentSurvivesSignalsFromInside(t *testing.T) {
	c := startAgent(t)
	r := c.result(c.open(execOp("sh", "-c", "for s in $(seq 1 31) $(seq 35 64); do [ $s = 9 ] || [ $s = 19 ] || kill -$s $PPID 2>/dev/null; done")))
	if r["exit_code"] != 0.0 {
		t.Fatalf("%v", r)
	}
	time.Sleep(100 * time.Millisecond)
	c.ping("alive")
}

// As PID 1 of a fresh pid namespace: signals from inside (even SIGKILL) do not end it, and orphans are reaped.
func TestAgentAsPID1(t *testing.T) {
	prefix := []string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc"}
	if os.Geteuid() != 0 {
		prefix = append([]string{"unshare", "--user", "--map-root-user"}, prefix[1:]...)
	}
	if out, err := exec.Command(prefix[0], append(prefix[1:], "true")...).CombinedOutput(); err != nil {
		t.Fatalf("cannot make a pid namespace here: %v %s", err, out)
	}
	c := startAgent(t, prefix...)
	if c.hello["pid"] != 1.0 {
		t.Fatalf("HELLO %v", c.hello)
	}
	r := c.result(c.open(execOp("sh", "-c", "for s in $(seq 1 64); do kill -$s 1 2>/dev/null; done; echo $PPID")))
	if r["exit_code"] != 0.0 {
		t.Fatalf("%v", r)
	}
	c.ping("alive")
	// Two orphans exit after their parent; PID 1 must reap them or they stay zombies.
	r = c.result(c.open(execOp("sh", "-c", "sleep 0.2 & sleep 0.2 & exit 0")))
	time.Sleep(700 * time.Millisecond)
	s := c.open(execOp("sh", "-c", "cat /proc/[0-9]*/stat | grep -c ') Z' || true"))
	c.result(s)
	if strings.TrimSpace(s.output(1)) != "0" {
		t.Fatalf("zombies left: %q", s.output(1))
	}
}
