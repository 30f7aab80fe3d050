package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func withRlimits(op map[string]interface{}, lims map[string]interface{}) map[string]interface{} {
	op["rlimits"] = lims
	return op
}

// limitRows parses /proc/<pid>/limits into "Max cpu time" → "soft hard".
func limitRows(text string) map[string]string {
	rows := map[string]string{}
	for _, line := range strings.Split(text, "\n")[1:] {
		if len(line) < 47 {
			continue
		}
		f := strings.Fields(line[26:])
		rows[strings.TrimSpace(line[:26])] = f[0] + " " + f[1]
	}
	return rows
}

func agentLimits(t *testing.T, c *client) map[string]string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	return limitRows(string(data))
}

func TestExecRlimitsBindTheChildOnly(t *testing.T) {
	c := startAgent(t)
	before := agentLimits(t, c)
	want := map[string]string{"Max cpu time": "7 8", "Max file size": "1048576 1048576",
		"Max open files": "64 64", "Max processes": "500 500", "Max address space": "1073741824 1073741824",
		"Max core file size": "0 0", "Max stack size": "4194304 4194304"}
	s := c.open(withRlimits(execOp("cat", "/proc/self/limits"), map[string]interface{}{"cpu": 7,
		"fsize": 1 << 20, "nofile": 64, "nproc": 500, "as": 1 << 30, "core": 0, "stack": 4 << 20}))
	if r := c.result(s); r["exit_code"] != 0.0 {
		t.Fatalf("%v %q", r, s.output(2))
	}
	got := limitRows(s.output(1))
	for row, v := range want {
		if got[row] != v {
			t.Errorf("%s: child has %q, want %q", row, got[row], v)
		}
		if before[row] == v {
			t.Fatalf("%s: the agent already has %q, the test proves nothing", row, v)
		}
	}
	// What was not asked for is inherited unchanged.
	if got["Max locked memory"] != before["Max locked memory"] || got["Max pending signals"] != before["Max pending signals"] {
		t.Errorf("unrequested limits changed: %v vs %v", got, before)
	}
	after := agentLimits(t, c)
	for row, v := range before {
		if after[row] != v {
			t.Errorf("agent's %s changed: %q → %q", row, v, after[row])
		}
	}
}

// The command is the process STARTED names (the shim execs in place), with exactly the caller's argv and
// env: the shim's Go runtime must not read GODEBUG from it (inittrace would write to stderr).
func TestExecRlimitsKeepPidArgvAndEnv(t *testing.T) {
	c := startAgent(t)
	lims := map[string]interface{}{"nofile": 100}
	s := c.open(withRlimits(execOp("sh", "-c", `echo $$; printf '<%s>' "$0" "$1"`, "zero", "a b"), lims))
	var started map[string]int
	json.Unmarshal(<-s.started, &started)
	c.result(s)
	if want := strconv.Itoa(started["pid"]) + "\n<zero><a b>"; s.output(1) != want {
		t.Fatalf("stdout %q, want %q", s.output(1), want)
	}
	op := withRlimits(execOp("env"), lims)
	op["env"] = map[string]string{"PATH": "/usr/bin:/bin", "GODEBUG": "inittrace=1", "GOGC": "1"}
	s = c.open(op)
	c.result(s)
	if want := "GODEBUG=inittrace=1\nGOGC=1\nPATH=/usr/bin:/bin\n"; s.output(1) != want || s.output(2) != "" {
		t.Fatalf("stdout %q (want %q) stderr %q", s.output(1), want, s.output(2))
	}
}

func TestExecRlimitCPUKillsTheChildNotTheAgent(t *testing.T) {
	c := startAgent(t)
	t0 := time.Now()
	r := c.result(c.open(withRlimits(execOp("sh", "-c", "while :; do :; done"), map[string]interface{}{"cpu": 1})))
	// hard = soft + 1: SIGXCPU at the soft limit ends the loop, so the runner can name the limit.
	t.Logf("cpu 1: %v", r)
	if r["signal"] != "SIGXCPU" || r["cpu_ms"].(float64) < 500 || time.Since(t0) > 8*time.Second {
		t.Fatalf("after %v: %v", time.Since(t0), r)
	}
	c.ping("alive")
	s := c.open(execOp("sh", "-c", "ulimit -t"))
	c.result(s)
	if strings.TrimSpace(s.output(1)) != "unlimited" {
		t.Fatalf("next exec's cpu limit: %q", s.output(1))
	}
}

// A low address-space limit still lets the command start: the shim prepares execve before it sets limits.
func TestExecRlimitLowAddressSpace(t *testing.T) {
	c := startAgent(t)
	s := c.open(withRlimits(execOp("sh", "-c", "ulimit -v"), map[string]interface{}{"as": 32 << 20, "nproc": 1}))
	if r := c.result(s); r["exit_code"] != 0.0 || s.output(1) != "32768\n" {
		t.Fatalf("%v %q %q", r, s.output(1), s.output(2))
	}
}

func TestExecRlimitsInvalidStartNothing(t *testing.T) {
	c := startAgent(t)
	mark := filepath.Join(t.TempDir(), "ran")
	for _, lims := range []map[string]interface{}{
		{"memlock": 1}, {"cpu": -1}, {"cpu": 1.5}, {"cpu": "10"}, {"cpu": json.RawMessage("1e3")},
		{"cpu": json.RawMessage("10.0")}, {"cpu": json.RawMessage("9007199254740993")}, {"cpu": true},
		{"cpu": nil}, {"nofile": 9007199254740992}, // past fs.nr_open: the kernel refuses it
	} {
		s := c.open(withRlimits(execOp("touch", mark), lims))
		if code := c.errorCode(s); code != "invalid" {
			t.Errorf("%v: %s", lims, code)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("a refused exec ran")
	}
	if code := c.errorCode(c.open(withRlimits(execOp("true"), map[string]interface{}{"nofile": 1 << 40}))); code != "invalid" {
		t.Fatalf("nofile 2^40: %s", code)
	}
	// Null or empty rlimits: no limits.
	for _, lims := range []map[string]interface{}{nil, {}} {
		op := execOp("true")
		op["rlimits"] = lims
		if r := c.result(c.open(op)); r["exit_code"] != 0.0 {
			t.Fatalf("%v: %v", lims, r)
		}
	}
}

func TestExecRlimitsStartErrorsAsWithout(t *testing.T) {
	c := startAgent(t)
	lims := map[string]interface{}{"nofile": 64}
	for argv0, want := range map[string]string{"/nonexistent/x": "not_found", "/etc/hostname": "exec_failed",
		"no-such-command": "not_found", "/tmp": "exec_failed"} {
		for _, op := range []map[string]interface{}{execOp(argv0), withRlimits(execOp(argv0), lims)} {
			if code := c.errorCode(c.open(op)); code != want {
				t.Errorf("%s rlimits=%v: %s, want %s", argv0, op["rlimits"], code, want)
			}
		}
	}
	op := withRlimits(execOp("true"), lims)
	op["cwd"] = "/nonexistent"
	if code := c.errorCode(c.open(op)); code != "not_found" {
		t.Fatalf("missing cwd: %s", code)
	}
	c.ping("alive")
}

func TestExecRlimitsPty(t *testing.T) {
	c := startAgent(t)
	op := withRlimits(execOp("sh", "-c", "tty; ulimit -n"), map[string]interface{}{"nofile": 77})
	op["pty"] = map[string]int{"rows": 24, "cols": 80}
	s := c.open(op)
	r := c.result(s)
	if out := s.output(1); r["exit_code"] != 0.0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "77") {
		t.Fatalf("%v %q", r, out)
	}
}

// The shim holds nothing of the agent: its child has only its own fds, the agent (PID 1) stays out of
// its reach, and orphans are still reaped.
func TestExecRlimitsAsPID1(t *testing.T) {
	prefix := []string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc"}
	if os.Geteuid() != 0 {
		prefix = append([]string{"unshare", "--user", "--map-root-user"}, prefix[1:]...)
	}
	if out, err := exec.Command(prefix[0], append(prefix[1:], "true")...).CombinedOutput(); err != nil {
		t.Fatalf("cannot make a pid namespace here: %v %s", err, out)
	}
	c := startAgent(t, prefix...)
	lims := map[string]interface{}{"nofile": 64}
	s := c.open(withRlimits(execOp("sh", "-c", "echo $PPID; kill -KILL 1; ls /proc/self/fd"), lims))
	if r := c.result(s); r["exit_code"] != 0.0 || s.output(1) != "1\n0\n1\n2\n3\n" {
		t.Fatalf("%v %q", r, s.output(1))
	}
	c.ping("alive")
	c.result(c.open(withRlimits(execOp("sh", "-c", "sleep 0.2 & sleep 0.2 & exit 0"), lims)))
	time.Sleep(700 * time.Millisecond)
	s = c.open(execOp("sh", "-c", "cat /proc/[0-9]*/stat | grep -c ') Z' || true"))
	c.result(s)
	if strings.TrimSpace(s.output(1)) != "0" {
		t.Fatalf("zombies left: %q", s.output(1))
	}
}

func TestExecRlimitsNonDumpable(t *testing.T) {
	var prefix []string
	if os.Geteuid() == 0 {
		prefix = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	}
	c := startAgent(t, prefix...)
	pid := strconv.Itoa(int(c.hello["pid"].(float64)))
	for _, p := range []string{"/proc/self/fd/0", "/proc/" + pid + "/mem", "/proc/" + pid + "/fd/0", "/proc/" + pid + "/environ"} {
		s := c.open(withRlimits(execOp("sh", "-c", "if (exec 3<"+p+") 2>/dev/null; then echo opened; else echo denied; fi"),
			map[string]interface{}{"core": 0}))
		c.result(s)
		want := "denied"
		if strings.Contains(p, "self") {
			want = "opened" // the check can fail: the child's own entries open
		}
		if got := strings.TrimSpace(s.output(1)); got != want {
			t.Errorf("%s: %s", p, got)
		}
	}
}

// go test -run '^$' -bench Exec -benchtime 200x: one exec of true after another, without and with rlimits.
func BenchmarkExecTrue(b *testing.B) { benchExec(b, nil) }
func BenchmarkExecTrueRlimits(b *testing.B) {
	benchExec(b, map[string]interface{}{"nofile": 1024, "core": 0})
}

func benchExec(b *testing.B, lims map[string]interface{}) {
	c := startAgent(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op := execOp("/bin/true")
		if lims != nil {
			op["rlimits"] = lims
		}
		s := c.open(op)
		if f := c.wait(s); f.typ != tResult {
			b.Fatalf("%s", f.payload)
		}
	}
}

// --limits binds the agent itself (and so all it starts), capped at the hard limit it inherited.
func TestAgentLimitsItself(t *testing.T) {
	c := startAgentCmd(t, "prlimit", "--nofile=4096:8192", "--", agentBin, "--limits=nofile=100000,fsize=65536,core=0")
	lims := agentLimits(t, c)
	if lims["Max open files"] != "8192 8192" || lims["Max file size"] != "65536 65536" || lims["Max core file size"] != "0 0" {
		t.Fatalf("agent limits %v", lims)
	}
	s := c.open(execOp("sh", "-c", "ulimit -n; ulimit -f"))
	c.result(s)
	if s.output(1) != "8192\n128\n" {
		t.Fatalf("a command's limits: %q", s.output(1))
	}
	for _, bad := range []string{"--limits=memlock=1", "--limits=nofile=-1", "--limits=nofile", "--limits=", "--bogus=1"} {
		out, err := exec.Command(agentBin, bad).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "paddock-agent: ") {
			t.Errorf("%s: %v %q", bad, err, out)
		}
	}
}
