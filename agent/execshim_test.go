//go:build !goshim

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runNativeShim execs the C shim from its memfd, as forkExec does, and returns its stdout and status report.
func runNativeShim(t *testing.T, path string, args ...string) (string, []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	cmd.Args = append([]string{"paddock-exec", shimMarker}, args...)
	cmd.ExtraFiles = []*os.File{w} // fd 3
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	status, _ := io.ReadAll(r)
	cmd.Wait()
	return out.String(), status
}

func TestNativeShim(t *testing.T) {
	if len(nativeShim()) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no C shim embedded: build it first (scripts/build-agent.sh)")
		}
		t.Skip("no C shim embedded (scripts/build-agent.sh builds it)")
	}
	path := sealedExecutable("paddock-exec", nativeShim())
	if !strings.HasPrefix(path, "/proc/self/fd/") {
		t.Fatalf("memfd: %q", path)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0111 {
		t.Fatalf("the shim's memfd is not execute-only: %v %v", st.Mode(), err)
	}
	// Sealed: not even its owner can write it.
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		_, err = f.Write([]byte("x"))
		f.Close()
		if err == nil {
			t.Fatal("the shim's memfd is writable")
		}
	}
	lims := []rlimit{{"cpu", 7}, {"nofile", 64}, {"core", 0}}
	args := shimArgv("/bin/sh", []string{"sh", "-c", `cat /proc/self/limits; printf '%s|%s' "$0" "$X"`, "zero"}, []string{"X=a b"}, lims)[2:]
	out, status := runNativeShim(t, path, args...)
	rows := limitRows(out[:strings.LastIndex(out, "\n")+1])
	if rows["Max cpu time"] != "7 8" || rows["Max open files"] != "64 64" || rows["Max core file size"] != "0 0" || len(status) != 0 {
		t.Fatalf("limits %v status %q", rows, status)
	}
	if tail := out[strings.LastIndex(out, "\n")+1:]; tail != "zero|a b" {
		t.Fatalf("argv/env: %q", tail)
	}
	// Failures come back as the Go shim reports them (awaitShim).
	for _, c := range []struct {
		args []string
		want string
	}{
		{shimArgv("/nonexistent", []string{"x"}, nil, nil)[2:], "x\x00\x00\x02"},                           // ENOENT
		{shimArgv("/bin/true", []string{"true"}, nil, []rlimit{{"nofile", 1 << 40}})[2:], "r\x00\x00\x01"}, // EPERM: past nr_open
		{[]string{"7=1", "/bin/true", "1", "true"}, "a\x00\x00\x00"},
		{[]string{"", "/bin/true", "2", "true"}, "a\x00\x00\x00"},
		{[]string{"", "/bin/true"}, "a\x00\x00\x00"},
	} {
		if _, status := runNativeShim(t, path, c.args...); string(status) != c.want {
			t.Errorf("%q: status %q, want %q", c.args, status, c.want)
		}
	}
}

// The agent runs its execs with rlimits through the C shim: its memfd is among its fds.
func TestAgentUsesNativeShim(t *testing.T) {
	if len(nativeShim()) == 0 || os.Geteuid() != 0 {
		t.Skip("needs the C shim and root (the agent is non-dumpable: only root may list its fds)")
	}
	c := startAgent(t)
	if r := c.result(c.open(withRlimits(execOp("true"), map[string]interface{}{"nofile": 64}))); r["exit_code"] != 0.0 {
		t.Fatalf("%v", r)
	}
	fds, _ := filepath.Glob("/proc/" + itoa(c.cmd.Process.Pid) + "/fd/*")
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); strings.HasPrefix(l, "/memfd:paddock-exec") {
			return
		}
	}
	t.Fatalf("no memfd:paddock-exec among the agent's fds %v", fds)
}
