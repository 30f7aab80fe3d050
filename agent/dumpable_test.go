package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// A process the agent starts, running as the agent's uid, cannot read the agent's memory or reach its
// channel through /proc. Root (CAP_SYS_PTRACE) bypasses the dumpable check, so as root the agent runs as
// nobody here; in a sandbox the runner gives its processes no such capability.
func TestNonDumpable(t *testing.T) {
	var prefix []string
	if os.Geteuid() == 0 {
		prefix = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	}
	c := startAgent(t, prefix...)
	pid := strconv.Itoa(int(c.hello["pid"].(float64)))
	probe := func(path string) string {
		s := c.open(execOp("sh", "-c", "if (exec 3<"+path+") 2>/dev/null; then echo opened; else echo denied; fi"))
		c.result(s)
		return strings.TrimSpace(s.output(1))
	}
	// The check can fail: the same uid opens a dumpable process's (the shell's own) entries.
	if got := probe("/proc/self/fd/0"); got != "opened" {
		t.Fatalf("own fd: %s", got)
	}
	if os.Geteuid() == 0 {
		if got := probe("/proc/$$/mem"); got != "opened" {
			t.Fatalf("own mem: %s", got)
		}
	}
	for _, p := range []string{"/proc/" + pid + "/mem", "/proc/" + pid + "/fd/0", "/proc/" + pid + "/environ"} {
		if got := probe(p); got != "denied" {
			t.Errorf("%s: %s", p, got)
		}
	}
}

// The channel is off fds 0 and 1 (now /dev/null) and close-on-exec: a child has only its own three fds.
func TestChildrenGetOnlyTheirOwnFds(t *testing.T) {
	c := startAgent(t)
	// ls's own fd 3 is the directory it reads. The test process may itself carry inherited fds (the agent
	// must not pass those on either).
	s := c.open(execOp("ls", "/proc/self/fd"))
	c.result(s)
	if got := s.output(1); got != "0\n1\n2\n3\n" {
		t.Fatalf("child fds: %q", got)
	}
	if os.Geteuid() == 0 { // a non-dumpable process's /proc/<pid>/fd is root's only
		for _, fd := range []string{"0", "1"} {
			if target, err := os.Readlink("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/fd/" + fd); err != nil || target != "/dev/null" {
				t.Fatalf("agent fd %s: %q %v", fd, target, err)
			}
		}
	}
}
