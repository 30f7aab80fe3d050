package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// alive: the process exists, as a zombie too (a zombie is not reaped yet).
func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

func pids(t *testing.T, out string) []int {
	t.Helper()
	var ps []int
	for _, f := range strings.Fields(out) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("not a pid: %q in %q", f, out)
		}
		ps = append(ps, n)
	}
	return ps
}

func TestExecWallMs(t *testing.T) {
	c := startAgent(t)
	op := execOp("sleep", "10")
	op["wall_ms"] = 300
	t0 := time.Now()
	r := c.result(c.open(op))
	if d := time.Since(t0); d > 2*time.Second || r["signal"] != "SIGKILL" || r["killed"] != "wall" {
		t.Fatalf("after %v: %v", d, r)
	}
	if w := r["wall_ms"].(float64); w < 300 || w > 1500 {
		t.Fatalf("wall_ms %v", w)
	}
	// Done before the deadline: not killed, and the timer does not fire later on anything.
	op = execOp("true")
	op["wall_ms"] = 200
	if r := c.result(c.open(op)); r["exit_code"] != 0.0 || r["killed"] != nil {
		t.Fatalf("%v", r)
	}
	// A process that dies of its own SIGKILL is not the wall's.
	op = execOp("sh", "-c", "kill -KILL $$")
	op["wall_ms"] = 5000
	if r := c.result(c.open(op)); r["signal"] != "SIGKILL" || r["killed"] != nil {
		t.Fatalf("%v", r)
	}
	// CANCEL says so.
	s := c.open(execOp("sleep", "10"))
	<-s.started
	c.frame(s.id, tCancel)
	if r := c.result(s); r["killed"] != "cancel" {
		t.Fatalf("%v", r)
	}
	time.Sleep(300 * time.Millisecond)
	c.ping("alive")
}

func TestExecKillOnExitGroup(t *testing.T) {
	c := startAgent(t)
	op := execOp("sh", "-c", "sleep 30 & sleep 30 & echo $! ; echo out")
	op["kill_on_exit"] = "group"
	t0 := time.Now()
	s := c.open(op)
	r := c.result(s)
	// Gone (reaped, not even a zombie) when RESULT comes, and no exitGrace was waited for pipes they held.
	for _, pid := range pids(t, strings.TrimSuffix(s.output(1), "out\n")) {
		if alive(pid) {
			t.Fatalf("background %d still there at RESULT", pid)
		}
	}
	if d := time.Since(t0); r["exit_code"] != 0.0 || d > 90*time.Millisecond || !strings.HasSuffix(s.output(1), "out\n") {
		t.Fatalf("after %v: %v %q", d, r, s.output(1))
	}
	// Without it the background keeps running (the protocol's default is unchanged).
	s = c.open(execOp("sh", "-c", "sleep 30 & echo $!"))
	c.result(s)
	bg := pids(t, s.output(1))[0]
	defer syscallKill(bg)
	if !alive(bg) {
		t.Fatal("the background sleep of a plain exec is gone")
	}
}

func TestExecKillOnExitSandbox(t *testing.T) {
	c := startAgent(t)
	// Another exec runs meanwhile: its group is not touched.
	other := c.open(execOp("sh", "-c", "sleep 30 & echo $!; wait"))
	<-other.started
	c.waitOutput(other, 1, "\n")
	otherBg := pids(t, other.output(1))[0]

	// A setsid child leaves the group: "group" does not get it, "sandbox" does (the sleep 0.2: its setsid
	// must have happened before the group is killed).
	script := "setsid sleep 30 & echo $!; sleep 30 & echo $!; sh -c 'setsid sh -c \"sleep 30\" & echo $!'; sleep 0.2"
	op := execOp("sh", "-c", script)
	op["kill_on_exit"] = "group"
	s := c.open(op)
	c.result(s)
	escaped := pids(t, s.output(1))
	if len(escaped) != 3 || !alive(escaped[0]) || alive(escaped[1]) {
		t.Fatalf("group: %v, alive %v %v", escaped, alive(escaped[0]), alive(escaped[1]))
	}
	for _, p := range escaped {
		syscallKill(p)
	}

	op["kill_on_exit"] = "sandbox"
	s = c.open(op)
	r := c.result(s)
	for _, pid := range pids(t, s.output(1)) {
		if alive(pid) {
			t.Fatalf("%d still there at RESULT (%q)", pid, s.output(1))
		}
	}
	if r["exit_code"] != 0.0 {
		t.Fatalf("%v", r)
	}
	if !alive(otherBg) {
		t.Fatal("the other exec's background process was killed")
	}
	c.frame(other.id, tCancel)
	c.result(other)
	// The agent still serves; the next exec sees none of it.
	s = c.open(execOp("true"))
	if r := c.result(s); r["exit_code"] != 0.0 {
		t.Fatalf("%v", r)
	}
}

// A fork storm whose children leave the group (setsid), under nproc and wall_ms, while another exec
// runs (so the sweep cannot kill everything with kill(-1)): all of it is gone at RESULT, the other
// exec's processes are not touched. As nobody: root's RLIMIT_NPROC would not bind the storm.
func TestExecKillOnExitSandboxForkStorm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the agent as nobody")
	}
	// In the agent's PATH, not the test's (which may lead where nobody cannot go).
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is needed for the fork storm")
		}
		t.Skip("no python3")
	}
	marker := "paddock-storm-" + strconv.Itoa(os.Getpid())
	storm := func() (found []int) {
		paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), marker) {
				n, _ := strconv.Atoi(strings.Split(p, "/")[2])
				found = append(found, n)
			}
		}
		return found
	}
	t.Cleanup(func() {
		for _, pid := range storm() {
			syscallKill(pid)
		}
	})
	c := startAgent(t, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
	other := c.open(execOp("sh", "-c", "sleep 30 & echo $!; wait"))
	<-other.started
	c.waitOutput(other, 1, "\n")
	otherBg := pids(t, other.output(1))[0]

	bomb := "# " + marker + "\nimport os\nwhile True:\n    try:\n        if os.fork() == 0:\n            try: os.setsid()\n            except OSError: pass\n    except OSError: pass\n"
	op := execOp(py, "-c", bomb)
	op["kill_on_exit"], op["wall_ms"], op["rlimits"] = "sandbox", 1000, map[string]interface{}{"nproc": 40}
	t0 := time.Now()
	r := c.result(c.open(op))
	if d := time.Since(t0); r["killed"] != "wall" || d > 4*time.Second {
		t.Fatalf("after %v: %v", d, r)
	}
	if left := storm(); len(left) > 0 {
		t.Fatalf("%d of the storm still there at RESULT: %v", len(left), left)
	}
	if !alive(otherBg) {
		t.Fatal("the other exec's background process was killed")
	}
	c.frame(other.id, tCancel)
	c.result(other)
	if r := c.result(c.open(execOp("true"))); r["exit_code"] != 0.0 {
		t.Fatalf("%v", r)
	}
}

func TestExecOomScoreAdj(t *testing.T) {
	c := startAgent(t)
	if os.Geteuid() == 0 {
		// Also as another user: the shim then cannot open its own /proc files without turning dumpable.
		checkOomScoreAdj(t, startAgent(t, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
	}
	checkOomScoreAdj(t, c)
}

func checkOomScoreAdj(t *testing.T, c *client) {
	for _, lims := range []map[string]interface{}{nil, {"nofile": 64, "as": 1 << 30}} {
		op := execOp("sh", "-c", "read v </proc/self/oom_score_adj; echo $v")
		if lims != nil {
			op["rlimits"] = lims
		}
		s := c.open(op)
		if r := c.result(s); r["exit_code"] != 0.0 || s.output(1) != "1000\n" {
			t.Fatalf("%v: %v %q %q", lims, r, s.output(1), s.output(2))
		}
	}
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/oom_score_adj")
	if strings.TrimSpace(string(data)) == "1000" {
		t.Fatal("the agent's own oom_score_adj was raised")
	}
}

func TestExecWallAndKillOnExitInvalid(t *testing.T) {
	c := startAgent(t)
	for _, bad := range []map[string]interface{}{{"wall_ms": "10"}, {"wall_ms": 0}, {"wall_ms": -1}, {"wall_ms": 1.5},
		{"wall_ms": 1e12}, {"kill_on_exit": "all"}, {"kill_on_exit": 1}} {
		op := execOp("true")
		for k, v := range bad {
			op[k] = v
		}
		if code := c.errorCode(c.open(op)); code != "invalid" {
			t.Errorf("%v: %s", bad, code)
		}
	}
	op := execOp("true")
	op["wall_ms"], op["kill_on_exit"] = nil, ""
	if r := c.result(c.open(op)); r["exit_code"] != 0.0 {
		t.Fatalf("null/empty: %v", r)
	}
}

func syscallKill(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}
